using System;
using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace FapiLog.Hosting;

/// <summary>
/// Binds the <c>FapiLog</c> configuration section onto <see cref="FapiLogOptions"/>. Written by hand rather than with
/// <see cref="ConfigurationBinder"/> so that every bad value fails with a <see cref="FapiLogConfigurationException"/> naming
/// the key (<c>FapiLog:QueueCapacity</c>), durations accept plain seconds as the environment variables do (the binder
/// would read <c>"2"</c> as two days), and a misspelt key is an error instead of being ignored.
/// </summary>
public static class FapiLogConfigurationBinder
{
    /// <summary>The configuration section AddFapiLog reads: <c>FapiLog</c>.</summary>
    public const string SectionName = "FapiLog";

    /// <summary>
    /// Applies the values present in <paramref name="section"/> to <paramref name="options"/>; keys that are absent keep their
    /// current value. Durations are a number of seconds (<c>2</c>, <c>0.5</c>) or a <see cref="TimeSpan"/> (<c>00:00:02</c>).
    /// </summary>
    /// <exception cref="FapiLogConfigurationException">A value cannot be read, or a key is not a FapiLog setting.</exception>
    public static void Bind(IConfiguration section, FapiLogOptions options)
    {
        ArgumentNullException.ThrowIfNull(section);
        ArgumentNullException.ThrowIfNull(options);
        string prefix = section is IConfigurationSection s ? s.Path + ":" : string.Empty;

        foreach (IConfigurationSection child in section.GetChildren())
        {
            string key = child.Key;
            string setting = prefix + key;
            string? value = child.Value;
            switch (key.ToUpperInvariant())
            {
                case "LOKI":
                    if (!string.IsNullOrWhiteSpace(value))
                    {
                        // Likely a URL given to the section itself, which may carry credentials: shown as a refused URL is.
                        throw new FapiLogConfigurationException(setting, LokiOptions.RedactText(value), "a section such as \"Loki\": { \"Url\": \"http://localhost:3100\" }");
                    }

                    BindLoki(child, options.Loki);
                    continue;
                case "SINKS":
                case "TIMEPROVIDER":
                    throw new FapiLogConfigurationException(setting, value, "no value here: sinks and the clock are set in code (AddFapiLog(o => o.AddSink(...)))");
            }

            if (value is null)
            {
                if (child.GetChildren() is IEnumerable<IConfigurationSection> nested && HasAny(nested))
                {
                    // A misspelt section (Lokki) is an unknown key first, not a known one given the wrong shape.
                    throw FindProperty(typeof(FapiLogOptions), key) is null
                        ? FapiLogConfigurationException.UnknownKey(setting, null, "FapiLog", Settings(typeof(FapiLogOptions)))
                        : new FapiLogConfigurationException(setting, null, "a single value, not a section");
                }

                continue;
            }

            value = value.Trim();
            if (value.Length == 0)
            {
                // An empty value means "not set", as for the environment variables.
                continue;
            }

            switch (key.ToUpperInvariant())
            {
                case "MINIMUMLEVEL":
                    options.MinimumLevel = FapiLog.Internal.SettingParser.ParseLevel(value, setting);
                    break;
                case "QUEUECAPACITY":
                    options.QueueCapacity = ParseInt(value, setting);
                    break;
                case "OVERFLOW":
                    options.Overflow = ParseEnum<OverflowStrategy>(value, setting, "one of Drop, Block, Sample");
                    break;
                case "SAMPLERATE":
                    options.SampleRate = ParseDouble(value, setting);
                    break;
                case "SAMPLEHIGHWATERMARK":
                    options.SampleHighWaterMark = ParseDouble(value, setting);
                    break;
                case "BATCHSIZE":
                    options.BatchSize = ParseInt(value, setting);
                    break;
                case "FLUSHINTERVAL":
                    options.FlushInterval = ParseDuration(value, setting);
                    break;
                case "SHUTDOWNTIMEOUT":
                    options.ShutdownTimeout = ParseDuration(value, setting);
                    break;
                case "BLOCKTIMEOUT":
                    options.BlockTimeout = string.Equals(value, "infinite", StringComparison.OrdinalIgnoreCase)
                        ? System.Threading.Timeout.InfiniteTimeSpan
                        : ParseDuration(value, setting, "a number of seconds (e.g. 2 or 0.5) or a duration such as 00:00:02, not negative, or infinite");
                    break;
                case "DROPWARNINGINTERVAL":
                    options.DropWarningInterval = ParseDuration(value, setting);
                    break;
                case "CAPTURETRACECONTEXT":
                    options.CaptureTraceContext = ParseBool(value, setting);
                    break;
                case "CONSOLE":
                    if (string.Equals(value, "json", StringComparison.OrdinalIgnoreCase))
                    {
                        options.Console = true;
                        options.ConsoleJson = true;
                    }
                    else
                    {
                        options.Console = ParseBool(value, setting, "true, false or json");
                    }

                    break;
                case "CONSOLEJSON":
                    options.ConsoleJson = ParseBool(value, setting);
                    break;
                case "FILEPATH":
                case "FILE":
                    options.FilePath = value;
                    break;
                case "FILEMAXBYTES":
                    options.FileMaxBytes = FapiLog.Internal.SettingParser.ParseFileMaxBytes(value, setting);
                    break;
                case "FILERETAINEDFILES":
                    options.FileRetainedFiles = ParseInt(value, setting);
                    break;
                default:
                    BindOther(options, key, setting, value);
                    break;
            }
        }
    }

    private static bool HasAny(IEnumerable<IConfigurationSection> sections)
    {
        using IEnumerator<IConfigurationSection> e = sections.GetEnumerator();
        return e.MoveNext();
    }

    /// <summary>
    /// The Loki settings: <c>Url</c> is checked here (an absolute http or https URL); the others, which the Loki sink's
    /// options define, are bound by name onto <see cref="LokiOptions"/>'s public settable properties.
    /// </summary>
    private static void BindLoki(IConfigurationSection loki, LokiOptions options)
    {
        foreach (IConfigurationSection child in loki.GetChildren())
        {
            string setting = child.Path;
            if (string.Equals(child.Key, "Url", StringComparison.OrdinalIgnoreCase))
            {
                if (child.Value is null && HasAny(child.GetChildren()))
                {
                    // FapiLog:Loki:Url:Primary: read as no URL at all, the host started without Loki and said nothing.
                    throw new FapiLogConfigurationException(setting, null, "a single value, not a section");
                }

                string? url = child.Value?.Trim();
                if (string.IsNullOrEmpty(url))
                {
                    continue;
                }

                if (!Uri.TryCreate(url, UriKind.Absolute, out Uri? parsed) || (parsed.Scheme != Uri.UriSchemeHttp && parsed.Scheme != Uri.UriSchemeHttps))
                {
                    // Shown without user information or query, as the Loki options show any URL they refuse.
                    throw new FapiLogConfigurationException(setting, LokiOptions.RedactText(url), "an absolute http:// or https:// URL such as http://localhost:3100");
                }

                // Refused here, by its key, rather than later as Loki.Url, which is not what the user wrote.
                LokiOptions.RejectUserInformation(parsed, setting);
                options.Url = parsed;
                continue;
            }

            PropertyInfo? property = FindProperty(typeof(LokiOptions), child.Key);
            if (property is null)
            {
                // A misspelt key may be a misspelt secret (BearerTokn): its value is not shown, its name is enough.
                throw FapiLogConfigurationException.UnknownKey(setting, Hidden(child.Value), "Loki", Settings(typeof(LokiOptions)));
            }

            if (child.Value is not null && string.IsNullOrWhiteSpace(child.Value))
            {
                // An empty value means "not set", as for every other key (FapiLog__Loki__Tenant= in a container's environment).
                continue;
            }

            try
            {
                if (child.Value is null)
                {
                    // A section: the name/value maps (Labels, Headers) take one entry per key; nothing else is a section.
                    if (property.GetValue(options) is IDictionary<string, string> map)
                    {
                        BindMap(child, map, property.Name);
                    }
                    else if (HasAny(child.GetChildren()))
                    {
                        throw new FapiLogConfigurationException(setting, null, "a single value, not a section");
                    }
                }
                else if (property.CanWrite)
                {
                    property.SetValue(options, ConvertScalar(child.Value.Trim(), property.PropertyType, setting));
                }
                else
                {
                    // Headers given in FAPILOG_LOKI_HEADERS's one-line form: the values may be API keys.
                    throw new FapiLogConfigurationException(setting, Hidden(child.Value), "a section, not a single value, such as \"" + property.Name + "\": { \"Name\": \"value\" }");
                }
            }
            catch (TargetInvocationException ex) when (ex.InnerException is FapiLogConfigurationException inner)
            {
                throw inner;
            }
            catch (TargetInvocationException ex) when (ex.InnerException is ArgumentException inner)
            {
                throw new FapiLogConfigurationException(setting, IsSecret(property) ? Hidden(child.Value) : child.Value, inner.Message);
            }
        }
    }

    /// <summary>Settings added to <see cref="FapiLogOptions"/> after this binder was written: bound by property name.</summary>
    private static void BindOther(FapiLogOptions options, string key, string setting, string value)
    {
        PropertyInfo? property = FindProperty(typeof(FapiLogOptions), key);
        if (property is null || !property.CanWrite)
        {
            // A misspelt or misplaced key may hold a secret (LokiUrl with credentials, a Loki Password one level too high):
            // its value is not kept, its name is enough.
            throw FapiLogConfigurationException.UnknownKey(setting, Hidden(value), "FapiLog", Settings(typeof(FapiLogOptions)));
        }

        property.SetValue(options, ConvertScalar(value, property.PropertyType, setting));
    }

    private static object? ConvertScalar(string value, Type type, string setting)
    {
        Type target = Nullable.GetUnderlyingType(type) ?? type;
        if (target == typeof(string))
        {
            return value;
        }

        if (target == typeof(TimeSpan))
        {
            return ParseDuration(value, setting);
        }

        if (target == typeof(bool))
        {
            return ParseBool(value, setting);
        }

        if (target.IsEnum)
        {
            return ParseEnumName(target, value, setting, "one of " + string.Join(", ", Enum.GetNames(target)));
        }

        if (target == typeof(Uri))
        {
            if (Uri.TryCreate(value, UriKind.Absolute, out Uri? uri))
            {
                return uri;
            }

            throw new FapiLogConfigurationException(setting, value, "an absolute URL");
        }

        if (target.IsPrimitive || target == typeof(decimal))
        {
            try
            {
                return Convert.ChangeType(value, target, CultureInfo.InvariantCulture);
            }
            catch (Exception ex) when (ex is FormatException or InvalidCastException or OverflowException)
            {
                throw new FapiLogConfigurationException(setting, value, "a value of type " + target.Name);
            }
        }

        throw new FapiLogConfigurationException(setting, value, "nothing here: a " + target.Name + " is set in code, not in configuration");
    }

    /// <summary>
    /// One entry per key of <paramref name="section"/> (<c>"Labels": { "team": "payments" }</c>), added to or replacing those of
    /// <paramref name="map"/>. Written out rather than left to <see cref="ConfigurationBinder"/>, whose reflection native
    /// AOT and trimming cannot follow. Labels and headers are checked here, so that a bad one is named by its key
    /// (<c>FapiLog:Loki:Headers:X-Api-Key</c>, or <c>FapiLog__Loki__Headers__X-Api-Key</c> in the environment) rather
    /// than by the option.
    /// </summary>
    private static void BindMap(IConfigurationSection section, IDictionary<string, string> map, string option)
    {
        foreach (IConfigurationSection entry in section.GetChildren())
        {
            if (entry.Value is { } value)
            {
                if (option == nameof(LokiOptions.Labels))
                {
                    LokiOptions.ValidateLabel(entry.Key, value, entry.Path);
                }
                else if (option == nameof(LokiOptions.Headers))
                {
                    LokiOptions.ValidateHeader(entry.Key, value, entry.Path);
                }

                map[entry.Key] = value;
            }
            else if (HasAny(entry.GetChildren()))
            {
                throw new FapiLogConfigurationException(entry.Path, null, "a single value, not a section");
            }
        }
    }

    /// <summary>What a message shows for a value that may be a secret: that there was one, not what it was.</summary>
    private static string? Hidden(string? value) => value is null ? null : "(hidden)";

    /// <summary>The Loki settings whose values are secrets: never shown in a message.</summary>
    private static bool IsSecret(PropertyInfo property)
        => property.Name is nameof(LokiOptions.Password) or nameof(LokiOptions.BearerToken) or nameof(LokiOptions.Headers);

    private static PropertyInfo? FindProperty([DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicProperties)] Type type, string name)
    {
        foreach (PropertyInfo property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (string.Equals(property.Name, name, StringComparison.OrdinalIgnoreCase) && property.GetIndexParameters().Length == 0)
            {
                return property;
            }
        }

        return null;
    }

    /// <summary>The settings that configuration can set on <paramref name="type"/>: not those only code can give (objects).</summary>
    private static List<string> Settings([DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicProperties)] Type type)
    {
        var names = new List<string>();
        foreach (PropertyInfo property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.Name is not "Sinks" and not "TimeProvider" and not "HttpMessageHandler")
            {
                names.Add(property.Name);
            }
        }

        names.Sort(StringComparer.Ordinal);
        return names;
    }

    private static int ParseInt(string value, string setting)
    {
        if (!int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int result))
        {
            throw new FapiLogConfigurationException(setting, value, "a whole number");
        }

        return result;
    }

    private static double ParseDouble(string value, string setting)
    {
        if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double result))
        {
            throw new FapiLogConfigurationException(setting, value, "a number such as 0.25");
        }

        return result;
    }

    private static bool ParseBool(string value, string setting, string expected = "true or false")
    {
        if (bool.TryParse(value, out bool result))
        {
            return result;
        }

        return value switch
        {
            "1" => true,
            "0" => false,
            _ => throw new FapiLogConfigurationException(setting, value, expected),
        };
    }

    private static TEnum ParseEnum<TEnum>(string value, string setting, string expected)
        where TEnum : struct, Enum
        => (TEnum)ParseEnumName(typeof(TEnum), value, setting, expected);

    /// <summary>
    /// Exactly one of the enum's names, in any case. <see cref="Enum.TryParse(Type, string, bool, out object)"/> would also take
    /// numbers and comma-separated lists (<c>"Drop, Block"</c> is <c>Block</c> there), which a setting must not mean.
    /// </summary>
    private static object ParseEnumName(Type enumType, string value, string setting, string expected)
    {
        foreach (string name in Enum.GetNames(enumType))
        {
            if (string.Equals(name, value, StringComparison.OrdinalIgnoreCase))
            {
                return Enum.Parse(enumType, name);
            }
        }

        throw new FapiLogConfigurationException(setting, value, expected);
    }

    private const string DurationExpected = "a number of seconds (e.g. 2 or 0.5) or a duration such as 00:00:02, not negative";

    /// <summary>A number of seconds (<c>2</c>, <c>0.5</c>) or a <see cref="TimeSpan"/> in its invariant form (<c>00:00:02</c>).</summary>
    /// <param name="value">The configured text.</param>
    /// <param name="setting">The key, for the message.</param>
    /// <param name="expected">What the message says is accepted, for a setting that takes more (BlockTimeout's <c>infinite</c>).</param>
    /// <remarks>
    /// Negative durations are refused here, naming the key: <c>-0.001</c> (or <c>-00:00:00.001</c>) is
    /// <see cref="System.Threading.Timeout.InfiniteTimeSpan"/>, which BlockTimeout's validation takes, so it was read as
    /// "block for good" where only the word <c>infinite</c> means that.
    /// </remarks>
    internal static TimeSpan ParseDuration(string value, string setting, string expected = DurationExpected)
    {
        if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds))
        {
            if (seconds >= 0 && seconds <= TimeSpan.MaxValue.TotalSeconds)
            {
                return TimeSpan.FromSeconds(seconds);
            }
        }
        else if (value.Contains(':', StringComparison.Ordinal) && TimeSpan.TryParse(value, CultureInfo.InvariantCulture, out TimeSpan span) && span >= TimeSpan.Zero)
        {
            return span;
        }

        throw new FapiLogConfigurationException(setting, value, expected);
    }
}
