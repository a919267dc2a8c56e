using System;
using System.Collections.Generic;
using System.Globalization;
using System.Net.Http;
using System.Reflection;
using System.Text;
using FapiLog.Internal;
using FapiLog.Loki;

namespace FapiLog;

/// <summary>The body format of Loki push requests.</summary>
public enum LokiFormat
{
    /// <summary>Protobuf (<c>logproto.PushRequest</c>) compressed with snappy block format: the smallest and fastest. The default.</summary>
    Protobuf,

    /// <summary>The JSON push format (<c>{"streams":[...]}</c>), optionally gzip-compressed (<see cref="LokiOptions.Gzip"/>).</summary>
    Json,
}

/// <summary>
/// Settings of the Grafana Loki sink (see the README's "Loki integration"). The sink is added to the pipeline when
/// <see cref="Url"/> is set; everything is checked at configuration, and a bad value throws
/// <see cref="FapiLogConfigurationException"/> naming the setting (secrets are never echoed).
/// </summary>
/// <remarks>
/// Label names must match <c>[a-zA-Z_][a-zA-Z0-9_]*</c> and must not start with <c>__</c>; invalid names are rejected,
/// not rewritten, so that what you query is what you configured. <c>level</c> is reserved: the sink adds it to every stream.
/// </remarks>
public sealed class LokiOptions
{
    /// <summary>The most labels a stream may carry (Loki's default <c>max_label_names_per_series</c>), <c>level</c> included.</summary>
    public static readonly int MaxLabels = 15;

    /// <summary>Loki's default <c>max_label_name_length</c>; longer static label names are rejected.</summary>
    public static readonly int MaxLabelNameBytes = 1024;

    /// <summary>Loki's default <c>max_label_value_length</c> in UTF-8 bytes; longer static label values are rejected.</summary>
    public static readonly int MaxLabelValueBytes = 2048;

    /// <summary>The label the sink adds to every stream with the event's level.</summary>
    public const string LevelLabel = "level";

    /// <summary>The push path appended to <see cref="Url"/>.</summary>
    public const string PushPath = "loki/api/v1/push";

    /// <summary>Loki's base URL, e.g. <c>http://localhost:3100</c>; the push path is added. Env <c>FAPILOG_LOKI_URL</c>.</summary>
    public Uri? Url { get; set; }

    /// <summary>
    /// Static labels of every stream (the sink adds <c>level</c>). Starts with <c>service_name</c> = the entry assembly's name,
    /// which Grafana's log views key on; remove or overwrite it as you like. Keep them few and of low cardinality: ids
    /// belong in the line. Env <c>FAPILOG_LOKI_LABELS</c> (<c>app=shop,env=prod</c>) adds or replaces the listed labels.
    /// </summary>
    public IDictionary<string, string> Labels { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["service_name"] = DefaultServiceName(),
    };

    /// <summary>The body format. Default <see cref="LokiFormat.Protobuf"/> (snappy); env <c>FAPILOG_LOKI_FORMAT</c> (protobuf, json).</summary>
    public LokiFormat Format { get; set; } = LokiFormat.Protobuf;

    /// <summary>Gzip JSON bodies (<c>Content-Encoding: gzip</c>); ignored for protobuf, which is snappy-compressed. Default false; env <c>FAPILOG_LOKI_GZIP</c>.</summary>
    public bool Gzip { get; set; }

    /// <summary>The tenant sent as <c>X-Scope-OrgID</c> (multi-tenant Loki), or null. Env <c>FAPILOG_LOKI_TENANT</c>.</summary>
    public string? Tenant { get; set; }

    /// <summary>User name for HTTP basic authentication (with <see cref="Password"/>). Env <c>FAPILOG_LOKI_USERNAME</c>.</summary>
    public string? Username { get; set; }

    /// <summary>Password for HTTP basic authentication. Never logged or shown. Env <c>FAPILOG_LOKI_PASSWORD</c>.</summary>
    public string? Password { get; set; }

    /// <summary>A bearer token (<c>Authorization: Bearer …</c>), instead of basic authentication. Never logged or shown. Env <c>FAPILOG_LOKI_BEARER_TOKEN</c>.</summary>
    public string? BearerToken { get; set; }

    /// <summary>
    /// Extra request headers (e.g. a gateway's API key). Values must not be empty and are never logged or shown. Env
    /// <c>FAPILOG_LOKI_HEADERS</c> (<c>Name=value,Other=value</c>).
    /// </summary>
    public IDictionary<string, string> Headers { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Longest time one push request may take before it counts as a timeout and is retried, at most 10 min. Default 10 s; env <c>FAPILOG_LOKI_TIMEOUT</c> (seconds).</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The first retry delay; it doubles per attempt, with jitter in [d, 2d). Default 500 ms; env <c>FAPILOG_LOKI_MIN_BACKOFF</c> (seconds).</summary>
    public TimeSpan MinBackoff { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>The largest retry delay (also caps <c>Retry-After</c>). Default 5 min; env <c>FAPILOG_LOKI_MAX_BACKOFF</c> (seconds).</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Attempts per request, the first included; then the batch is dropped and counted. Default 10; env <c>FAPILOG_LOKI_MAX_ATTEMPTS</c>.</summary>
    public int MaxAttempts { get; set; } = 10;

    /// <summary>Largest uncompressed size of one push (line and metadata bytes); a larger batch is split into several requests. Default 1 MiB; env <c>FAPILOG_LOKI_MAX_BATCH_BYTES</c>.</summary>
    public int MaxBatchBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// Most bytes of rendered entries the sink holds for sending: batches wait here while a push is retried, so that the
    /// other sinks carry on while Loki is slow or down. When a batch does not fit, a pipeline with
    /// <see cref="OverflowStrategy.Block"/> waits for room (backpressure, nothing given up); with <see cref="OverflowStrategy.Drop"/>
    /// or <see cref="OverflowStrategy.Sample"/> the batch is given up at once and counted as
    /// <see cref="Loki.LokiFailureReasons.BufferFull"/>. A batch larger than this is taken when the buffer is empty.
    /// Default 16 MiB; env <c>FAPILOG_LOKI_MAX_BUFFERED_BYTES</c>.
    /// </summary>
    public int MaxBufferedBytes { get; set; } = DefaultMaxBufferedBytes;

    /// <summary>The default of <see cref="MaxBufferedBytes"/>.</summary>
    internal const int DefaultMaxBufferedBytes = 16 * 1024 * 1024;

    /// <summary>
    /// Longest line in bytes; a longer line is cut where it crosses the limit, the cut value ends with a marker giving the
    /// original size, and the line stays a JSON object. Default 256,000 bytes: Loki's default
    /// <c>max_line_size</c> is "256KB", which Loki reads as 256,000 bytes (not 256 KiB), and rejects longer lines with a 400.
    /// Env <c>FAPILOG_LOKI_MAX_LINE_BYTES</c>.
    /// </summary>
    public int MaxLineBytes { get; set; } = DefaultMaxLineBytes;

    /// <summary>Loki's default <c>max_line_size</c> ("256KB", decimal kilobytes) in bytes.</summary>
    internal const int DefaultMaxLineBytes = 256_000;

    /// <summary>
    /// Your own handler for proxies, client certificates (mTLS) or custom TLS validation; it is not disposed by the sink.
    /// Null (the default) uses a <see cref="SocketsHttpHandler"/>, with TLS as the platform does it for https URLs.
    /// A <see cref="SocketsHttpHandler"/> or <see cref="HttpClientHandler"/> is driven synchronously like the default;
    /// any other handler (e.g. a <see cref="DelegatingHandler"/> chain) through <c>SendAsync</c>, which uses the thread pool.
    /// </summary>
    public HttpMessageHandler? HttpMessageHandler { get; set; }

    internal void ApplyEnvironment(Func<string, string?> getVariable)
    {
        string? url = SettingParser.Get(getVariable, "FAPILOG_LOKI_URL");
        if (url is not null)
        {
            Url = ParseUrl(url, "FAPILOG_LOKI_URL");
        }

        if (SettingParser.Get(getVariable, "FAPILOG_LOKI_LABELS") is { } labels)
        {
            foreach ((string name, string value) in ParsePairs(labels, "FAPILOG_LOKI_LABELS", secretValues: false))
            {
                ValidateLabel(name, value, "FAPILOG_LOKI_LABELS");
                Labels[name] = value;
                (_environmentLabels ??= new HashSet<string>(StringComparer.Ordinal)).Add(name);
            }
        }

        if (SettingParser.Get(getVariable, "FAPILOG_LOKI_FORMAT") is { } format)
        {
            Format = format.ToLowerInvariant() switch
            {
                "protobuf" or "proto" => LokiFormat.Protobuf,
                "json" => LokiFormat.Json,
                _ => throw new FapiLogConfigurationException("FAPILOG_LOKI_FORMAT", format, "protobuf or json"),
            };
        }

        if (SettingParser.Get(getVariable, "FAPILOG_LOKI_GZIP") is { } gzip)
        {
            Gzip = gzip.ToLowerInvariant() switch
            {
                "true" or "1" or "yes" => true,
                "false" or "0" or "no" => false,
                _ => throw new FapiLogConfigurationException("FAPILOG_LOKI_GZIP", gzip, "true or false"),
            };
        }

        // Each value is checked here, not only in Validate: there the message could only name the Loki.* setting, which the
        // user did not set.
        Tenant = CheckedVariable(getVariable, "FAPILOG_LOKI_TENANT", ValidateTenant) ?? Tenant;
        Username = CheckedVariable(getVariable, "FAPILOG_LOKI_USERNAME", ValidateUsername) ?? Username;
        Password = CheckedVariable(getVariable, "FAPILOG_LOKI_PASSWORD", ValidatePassword) ?? Password;
        BearerToken = CheckedVariable(getVariable, "FAPILOG_LOKI_BEARER_TOKEN", ValidateBearerToken) ?? BearerToken;

        if (SettingParser.Get(getVariable, "FAPILOG_LOKI_HEADERS") is { } headers)
        {
            foreach ((string name, string value) in ParsePairs(headers, "FAPILOG_LOKI_HEADERS", secretValues: true))
            {
                // Checked here, not only in Validate: there the message could only name Loki.Headers, which the user
                // did not set.
                ValidateHeader(name, value, "FAPILOG_LOKI_HEADERS");
                Headers[name] = value;
            }
        }

        if (SettingParser.Get(getVariable, "FAPILOG_LOKI_TIMEOUT") is { } timeout)
        {
            RequestTimeout = SettingParser.ParseSeconds(timeout, "FAPILOG_LOKI_TIMEOUT", MaxRequestTimeout.TotalSeconds);
        }

        if (SettingParser.Get(getVariable, "FAPILOG_LOKI_MIN_BACKOFF") is { } minBackoff)
        {
            MinBackoff = SettingParser.ParseSeconds(minBackoff, "FAPILOG_LOKI_MIN_BACKOFF", 3600);
        }

        if (SettingParser.Get(getVariable, "FAPILOG_LOKI_MAX_BACKOFF") is { } maxBackoff)
        {
            MaxBackoff = SettingParser.ParseSeconds(maxBackoff, "FAPILOG_LOKI_MAX_BACKOFF", 3600);
        }

        if (SettingParser.Get(getVariable, "FAPILOG_LOKI_MAX_ATTEMPTS") is { } attempts)
        {
            MaxAttempts = SettingParser.ParseInt(attempts, "FAPILOG_LOKI_MAX_ATTEMPTS", 1, 1000);
        }

        if (SettingParser.Get(getVariable, "FAPILOG_LOKI_MAX_BATCH_BYTES") is { } batchBytes)
        {
            MaxBatchBytes = SettingParser.ParseInt(batchBytes, "FAPILOG_LOKI_MAX_BATCH_BYTES", MinBatchBytes, MaxBatchBytesLimit);
        }

        if (SettingParser.Get(getVariable, "FAPILOG_LOKI_MAX_LINE_BYTES") is { } lineBytes)
        {
            MaxLineBytes = SettingParser.ParseInt(lineBytes, "FAPILOG_LOKI_MAX_LINE_BYTES", MinLineBytes, MaxBatchBytesLimit);
        }

        if (SettingParser.Get(getVariable, "FAPILOG_LOKI_MAX_BUFFERED_BYTES") is { } bufferedBytes)
        {
            MaxBufferedBytes = SettingParser.ParseInt(bufferedBytes, "FAPILOG_LOKI_MAX_BUFFERED_BYTES", MinBufferedBytes, int.MaxValue);
        }
    }

    // The label names FAPILOG_LOKI_LABELS set, so that a count over the limit can name the variable.
    private HashSet<string>? _environmentLabels;

    /// <summary>The longest <see cref="RequestTimeout"/>, in code and in <c>FAPILOG_LOKI_TIMEOUT</c> alike.</summary>
    internal static readonly TimeSpan MaxRequestTimeout = TimeSpan.FromMinutes(10);

    internal const int MinLineBytes = 256;
    internal const int MinBatchBytes = 1024;
    internal const int MaxBatchBytesLimit = 64 * 1024 * 1024;
    internal const int MinBufferedBytes = 64 * 1024;

    internal void Validate()
    {
        if (Url is null)
        {
            // Without a URL there is no sink; the other settings are still checked so that mistakes show early.
        }
        else
        {
            ParseUrl(Url.OriginalString, "Loki.Url", Url);
        }

        if (Labels.Count > MaxLabels - 1)
        {
            // The variable's labels are added to those of the default and the code, so the count is over their sum; when
            // the variable took part, it is the one to name, since that is what the user set.
            bool fromEnvironment = _environmentLabels is not null && _environmentLabels.Overlaps(Labels.Keys);
            ThrowHelper.ThrowConfiguration(fromEnvironment ? "FAPILOG_LOKI_LABELS" : "Loki.Labels", string.Join(",", Labels.Keys),
                $"at most {MaxLabels - 1} static labels (Loki allows {MaxLabels} per stream and the sink adds '{LevelLabel}')"
                + (fromEnvironment ? "; FAPILOG_LOKI_LABELS adds to service_name and to the labels set in code or configuration" : string.Empty));
        }

        foreach (KeyValuePair<string, string> label in Labels)
        {
            ValidateLabel(label.Key, label.Value, "Loki.Labels");
        }

        if (!Enum.IsDefined(Format))
        {
            ThrowHelper.ThrowConfiguration("Loki.Format", Format.ToString(), "Protobuf or Json");
        }

        if (Tenant is not null)
        {
            ValidateTenant(Tenant, "Loki.Tenant");
        }

        if ((Username is null) != (Password is null))
        {
            // The half that is missing is named, and its value is null: it is the one to set (or the other to remove).
            ThrowHelper.ThrowConfiguration(Username is null ? "Loki.Username" : "Loki.Password", null,
                "Username and Password set together (basic authentication; FAPILOG_LOKI_USERNAME and FAPILOG_LOKI_PASSWORD), or neither");
        }

        if (Username is not null)
        {
            ValidateUsername(Username, "Loki.Username");
        }

        if (Password is not null)
        {
            ValidatePassword(Password, "Loki.Password");
        }

        if (BearerToken is not null)
        {
            ValidateBearerToken(BearerToken, "Loki.BearerToken");
        }

        if (BearerToken is not null && Username is not null)
        {
            ThrowHelper.ThrowConfiguration("Loki.BearerToken", "(hidden)", "either a bearer token or basic authentication (Username/Password), not both");
        }

        foreach (KeyValuePair<string, string> header in Headers)
        {
            ValidateHeader(header.Key, header.Value, "Loki.Headers");
        }

        CheckDuration(RequestTimeout, "Loki.RequestTimeout", MaxRequestTimeout);
        CheckDuration(MinBackoff, "Loki.MinBackoff", TimeSpan.FromHours(1));
        CheckDuration(MaxBackoff, "Loki.MaxBackoff", TimeSpan.FromHours(1));
        if (MaxBackoff < MinBackoff)
        {
            ThrowHelper.ThrowConfiguration("Loki.MaxBackoff", MaxBackoff.ToString("c", CultureInfo.InvariantCulture),
                $"a duration at least Loki.MinBackoff ({MinBackoff.ToString("c", CultureInfo.InvariantCulture)})");
        }

        if (MaxAttempts < 1 || MaxAttempts > 1000)
        {
            ThrowHelper.ThrowConfiguration("Loki.MaxAttempts", MaxAttempts.ToString(CultureInfo.InvariantCulture), "a whole number from 1 to 1000");
        }

        if (MaxBatchBytes < MinBatchBytes || MaxBatchBytes > MaxBatchBytesLimit)
        {
            ThrowHelper.ThrowConfiguration("Loki.MaxBatchBytes", MaxBatchBytes.ToString(CultureInfo.InvariantCulture),
                $"a number of bytes from {MinBatchBytes} to {MaxBatchBytesLimit}");
        }

        if (MaxLineBytes < MinLineBytes || MaxLineBytes > MaxBatchBytesLimit)
        {
            ThrowHelper.ThrowConfiguration("Loki.MaxLineBytes", MaxLineBytes.ToString(CultureInfo.InvariantCulture),
                $"a number of bytes from {MinLineBytes} to {MaxBatchBytesLimit}");
        }

        if (MaxBufferedBytes < MinBufferedBytes)
        {
            ThrowHelper.ThrowConfiguration("Loki.MaxBufferedBytes", MaxBufferedBytes.ToString(CultureInfo.InvariantCulture),
                $"a number of bytes from {MinBufferedBytes} to {int.MaxValue}");
        }
    }

    /// <summary>The Loki sink for these settings, or null when no URL is set.</summary>
    internal LogSink? CreateSink() => Url is null ? null : new LokiSink(this);

    /// <summary>The push endpoint: <see cref="Url"/> plus <see cref="PushPath"/> (kept when the URL already ends with it).</summary>
    internal Uri GetPushUri()
    {
        Uri url = Url ?? throw new InvalidOperationException("Loki.Url is not set.");
        // Trailing slashes go first: ".../loki/api/v1/push/" already names the endpoint and must not get the path twice.
        string text = url.GetLeftPart(UriPartial.Path).TrimEnd('/');
        if (text.EndsWith("/" + PushPath, StringComparison.Ordinal))
        {
            return new Uri(text + url.Query);
        }

        return new Uri(text + "/" + PushPath + url.Query);
    }

    /// <summary>Describes the settings with every secret hidden.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder("LokiOptions { ");
        sb.Append("Url = ").Append(Url is null ? "(unset)" : Redact(Url)).Append(", Labels = {");
        bool first = true;
        foreach (KeyValuePair<string, string> label in Labels)
        {
            sb.Append(first ? " " : ", ").Append(label.Key).Append("=\"").Append(label.Value).Append('"');
            first = false;
        }

        sb.Append(" }, Format = ").Append(Format);
        sb.Append(", Gzip = ").Append(Gzip);
        sb.Append(", Tenant = ").Append(Tenant ?? "(unset)");
        sb.Append(", Auth = ").Append(BearerToken is not null ? "bearer (hidden)" : Username is not null ? "basic (hidden)" : "none");
        sb.Append(", Headers = [").Append(string.Join(", ", Headers.Keys)).Append("] (values hidden)");
        sb.Append(", RequestTimeout = ").Append(RequestTimeout.ToString("c", CultureInfo.InvariantCulture));
        sb.Append(", Backoff = ").Append(MinBackoff.ToString("c", CultureInfo.InvariantCulture)).Append("..").Append(MaxBackoff.ToString("c", CultureInfo.InvariantCulture));
        sb.Append(", MaxAttempts = ").Append(MaxAttempts.ToString(CultureInfo.InvariantCulture));
        sb.Append(", MaxBatchBytes = ").Append(MaxBatchBytes.ToString(CultureInfo.InvariantCulture));
        sb.Append(", MaxLineBytes = ").Append(MaxLineBytes.ToString(CultureInfo.InvariantCulture));
        sb.Append(", MaxBufferedBytes = ").Append(MaxBufferedBytes.ToString(CultureInfo.InvariantCulture));
        sb.Append(", HttpMessageHandler = ").Append(HttpMessageHandler is null ? "default" : HttpMessageHandler.GetType().Name);
        sb.Append(" }");
        return sb.ToString();
    }

    /// <summary>A URL as it may be shown: scheme, host, port and path, never user information or the query.</summary>
    internal static string Redact(Uri url)
        => url.IsAbsoluteUri ? url.GetComponents(UriComponents.SchemeAndServer | UriComponents.Path, UriFormat.UriEscaped) : "(relative URL)";

    /// <summary>
    /// Refuses a URL that carries <c>user:password@</c>: the URL is shown in messages and on stderr, where the credentials
    /// would leak, so they belong in <see cref="Username"/> and <see cref="Password"/>. The refused URL is shown with that
    /// part as <c>(hidden)@</c>: shown without it, it would look like a URL that nothing is wrong with.
    /// </summary>
    internal static void RejectUserInformation(Uri parsed, string setting)
    {
        if (parsed.UserInfo.Length > 0)
        {
            string shown = Redact(parsed);
            int host = shown.IndexOf("://", StringComparison.Ordinal) + 3;
            throw new FapiLogConfigurationException(setting, shown.Insert(host, "(hidden)@"),
                "a URL without user information; set Loki.Username and Loki.Password (or the FAPILOG_LOKI_USERNAME/PASSWORD variables) instead");
        }
    }

    private static Uri ParseUrl(string text, string setting, Uri? parsed = null)
    {
        if (parsed is null && !Uri.TryCreate(text.Trim(), UriKind.Absolute, out parsed))
        {
            throw new FapiLogConfigurationException(setting, RedactText(text), "an absolute http:// or https:// URL such as http://localhost:3100");
        }

        if (!parsed.IsAbsoluteUri || (parsed.Scheme != Uri.UriSchemeHttp && parsed.Scheme != Uri.UriSchemeHttps))
        {
            throw new FapiLogConfigurationException(setting, RedactText(text), "an absolute http:// or https:// URL such as http://localhost:3100");
        }

        RejectUserInformation(parsed, setting);

        return parsed;
    }

    internal static string RedactText(string text)
    {
        // A refused URL may carry "user:password@": show nothing before the last '@' (a password may itself contain '@',
        // '?' or '#', so this comes first and takes the last one; hiding too much of a broken URL is the safe side).
        int at = text.LastIndexOf('@');
        if (at >= 0)
        {
            text = "(hidden)" + text.Substring(at);
        }

        // It may also carry a query (an API key) or a fragment: show neither, as Redact does for a good one.
        int query = text.IndexOfAny(['?', '#']);
        return query < 0 ? text : text.Substring(0, query) + "?(hidden)";
    }

    /// <summary>The variable's value, checked with <paramref name="validate"/> under the variable's name; null when unset.</summary>
    private static string? CheckedVariable(Func<string, string?> getVariable, string name, Action<string, string> validate)
    {
        string? value = SettingParser.Get(getVariable, name);
        if (value is not null)
        {
            validate(value, name);
        }

        return value;
    }

    private static void ValidateTenant(string tenant, string setting)
    {
        if (TenantProblem(tenant) is { } expected)
        {
            ThrowHelper.ThrowConfiguration(setting, tenant, expected);
        }
    }

    private static void ValidateUsername(string username, string setting)
    {
        if (username.Contains(':') || !IsHeaderValue(username))
        {
            ThrowHelper.ThrowConfiguration(setting, "(hidden)", "a user name without ':' or control characters");
        }
    }

    private static void ValidatePassword(string password, string setting)
    {
        if (!IsHeaderValue(password))
        {
            ThrowHelper.ThrowConfiguration(setting, "(hidden)", "a password without control characters");
        }
    }

    private static void ValidateBearerToken(string token, string setting)
    {
        if (token.Length == 0 || !IsAsciiHeaderValue(token))
        {
            ThrowHelper.ThrowConfiguration(setting, "(hidden)", "a non-empty token of printable ASCII characters");
        }
    }

    internal static void ValidateLabel(string name, string value, string setting)
    {
        if (!IsLabelName(name))
        {
            ThrowHelper.ThrowConfiguration(setting, name,
                "label names that match [a-zA-Z_][a-zA-Z0-9_]* and do not start with '__' (invalid names are rejected, not rewritten)");
        }

        if (name == LevelLabel)
        {
            ThrowHelper.ThrowConfiguration(setting, name, $"a label other than '{LevelLabel}', which the sink sets from each event's level");
        }

        if (string.IsNullOrEmpty(value))
        {
            ThrowHelper.ThrowConfiguration(setting, name + "=" + value, "a non-empty label value (Loki removes empty labels)");
        }

        if (name.Length > MaxLabelNameBytes)
        {
            ThrowHelper.ThrowConfiguration(setting, name.Substring(0, 32) + "…", $"a label name of at most {MaxLabelNameBytes} characters (Loki's max_label_name_length)");
        }

        // A lone surrogate would go out as U+FFFD, which is not the value configured, and Loki's label parser refuses
        // U+FFFD itself as an invalid UTF-8 rune: every protobuf push would get a 400.
        if (value.Contains('\uFFFD') || !IsWellFormedUtf16(value))
        {
            ThrowHelper.ThrowConfiguration(setting, name + "=" + value,
                "a label value of well-formed Unicode text without U+FFFD (a lone surrogate or a replacement character, as decoding the wrong encoding leaves, is refused by Loki)");
        }

        // Loki measures values in UTF-8 bytes: 1000 '€' are 3000 bytes, and every push would get a 400.
        if (System.Text.Encoding.UTF8.GetByteCount(value) > MaxLabelValueBytes)
        {
            ThrowHelper.ThrowConfiguration(setting, name + "=" + value.Substring(0, 32) + "…",
                $"a label value of at most {MaxLabelValueBytes} UTF-8 bytes (Loki's max_label_value_length)");
        }
    }

    private static bool IsWellFormedUtf16(string value)
    {
        for (int i = 0; i < value.Length; i++)
        {
            if (char.IsHighSurrogate(value[i]) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(value[i]))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Whether a label value from the variable holds another label after a <c>;</c>, <c>|</c> or space
    /// (<c>shop;env=prod</c>): a piece after such a separator that begins with a label name and <c>=</c>. A value with an
    /// <c>=</c> of its own (<c>a1b2== (rc1)</c>, <c>a = b</c>) is one value.
    /// </summary>
    private static bool JoinsAnotherLabel(string value)
    {
        string[] pieces = value.Split([';', '|', ' '], StringSplitOptions.RemoveEmptyEntries);
        for (int i = 1; i < pieces.Length; i++)
        {
            int eq = pieces[i].IndexOf('=', StringComparison.Ordinal);
            if (eq > 0 && IsLabelName(pieces[i][..eq]))
            {
                return true;
            }
        }

        return false;
    }

    internal static bool IsLabelName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.StartsWith("__", StringComparison.Ordinal))
        {
            return false;
        }

        for (int i = 0; i < name.Length; i++)
        {
            char c = name[i];
            bool ok = c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or '_' || (i > 0 && c is >= '0' and <= '9');
            if (!ok)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Checks one extra header; <paramref name="setting"/> is what the message names (the option, the variable or the configuration key).</summary>
    internal static void ValidateHeader(string name, string? value, string setting)
    {
        bool token = name.Length > 0;
        foreach (char c in name)
        {
            token &= c > ' ' && c < 127 && "()<>@,;:\\\"/[]?={}".IndexOf(c) < 0;
        }

        if (!token)
        {
            ThrowHelper.ThrowConfiguration(setting, name, "header names that are HTTP tokens");
        }

        if (name.StartsWith("Content-", StringComparison.OrdinalIgnoreCase) || name.Equals("Host", StringComparison.OrdinalIgnoreCase)
            || name.Equals("Authorization", StringComparison.OrdinalIgnoreCase) || name.Equals("X-Scope-OrgID", StringComparison.OrdinalIgnoreCase))
        {
            ThrowHelper.ThrowConfiguration(setting, name,
                "a header the sink does not set itself (use Tenant for X-Scope-OrgID and Username/Password or BearerToken for Authorization)");
        }

        // An empty value is almost always a secret that did not arrive (X-Api-Key=${KEY} with KEY unset): sent as is, every
        // push would be refused as unauthorized and retried, far from the cause. Saying that it is empty shows nothing.
        if (value is not null && string.IsNullOrWhiteSpace(value))
        {
            ThrowHelper.ThrowConfiguration(setting, name + " (empty value)", "a non-empty header value; leave the header out rather than send it empty");
        }

        if (value is null || !IsAsciiHeaderValue(value))
        {
            ThrowHelper.ThrowConfiguration(setting, name + " (value hidden)", "a header value of printable ASCII characters");
        }
    }

    /// <summary>
    /// A value sent as an HTTP header as it is: printable ASCII only, since HttpClient refuses anything else on every
    /// request (which would turn one bad setting into endless retries counted as connection failures).
    /// </summary>
    /// <summary>The longest tenant id Loki takes (grafana/dskit's MaxTenantIDLength).</summary>
    internal const int MaxTenantLength = 150;

    /// <summary>
    /// What a tenant id should be, when <paramref name="tenant"/> is one Loki would answer every push for with 400; null
    /// when it takes it. Loki's push handler reads <c>X-Scope-OrgID</c> with grafana/dskit's tenant rules: one tenant (the
    /// <c>|</c> of several is for queries), of 1 to 150 letters, digits and <c>! - _ . * ' ( )</c>, not <c>.</c> or
    /// <c>..</c>, optionally followed by <c>:</c> and a subtenant id of the same kind (newer versions).
    /// </summary>
    internal static string? TenantProblem(string tenant)
    {
        if (tenant.Contains('|'))
        {
            return "one tenant id (ids joined by '|' are for queries; Loki refuses a push to several tenants)";
        }

        int colon = tenant.IndexOf(':');
        bool valid = colon < 0
            ? IsTenantId(tenant)
            : IsTenantId(tenant.AsSpan(0, colon)) && IsTenantId(tenant.AsSpan(colon + 1));
        return valid
            ? null
            : $"a tenant id of 1 to {MaxTenantLength} letters, digits and ! - _ . * ' ( ) (not '.' or '..'), optionally followed by ':' and a subtenant id of the same kind, or null";
    }

    private static bool IsTenantId(ReadOnlySpan<char> id)
    {
        if (id.Length is 0 or > MaxTenantLength || id is "." || id is "..")
        {
            return false;
        }

        foreach (char c in id)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('!' or '-' or '_' or '.' or '*' or '\'' or '(' or ')'))
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsAsciiHeaderValue(string value)
    {
        foreach (char c in value)
        {
            if (c < ' ' || c > '~')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A value without control characters (user name and password: they travel base64-encoded, so any other character is fine).</summary>
    private static bool IsHeaderValue(string value)
    {
        foreach (char c in value)
        {
            if (c < ' ' || c == 127)
            {
                return false;
            }
        }

        return true;
    }

    private static void CheckDuration(TimeSpan value, string setting, TimeSpan max)
    {
        if (value <= TimeSpan.Zero || value > max)
        {
            ThrowHelper.ThrowConfiguration(setting, value.ToString("c", CultureInfo.InvariantCulture),
                $"a duration above zero and at most {max.ToString("c", CultureInfo.InvariantCulture)}");
        }
    }

    private static IEnumerable<(string Name, string Value)> ParsePairs(string text, string setting, bool secretValues)
    {
        var pairs = new List<(string, string)>();
        string[] parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        for (int i = 0; i < parts.Length; i++)
        {
            string part = parts[i];
            int eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                // The entry, not the whole variable, is what to fix. A header entry without a name may be a value cut off
                // at a comma (an API key holding one) or a key given alone: only its place is shown.
                throw secretValues
                    ? new FapiLogConfigurationException(setting, $"entry {i + 1} of {parts.Length} (hidden)",
                        "comma-separated Name=value pairs, e.g. X-Api-Key=…,X-Other=… (a value cannot contain ',')")
                    : new FapiLogConfigurationException(setting, part, "comma-separated name=value pairs, e.g. app=shop,env=prod");
            }

            string value = part.Substring(eq + 1).Trim();
            if (!secretValues && JoinsAnotherLabel(value))
            {
                // app=shop;env=prod: two labels joined by another separator became one label whose value is
                // "shop;env=prod", and nothing said so.
                throw new FapiLogConfigurationException(setting, part, "comma-separated name=value pairs, e.g. app=shop,env=prod (labels are separated by ',', not ';', '|' or a space)");
            }

            pairs.Add((part.Substring(0, eq).Trim(), value));
        }

        return pairs;
    }

    private static string DefaultServiceName()
    {
        string? name = null;
        try
        {
            name = Assembly.GetEntryAssembly()?.GetName().Name;
        }
        catch (Exception)
        {
            // Some hosts have no entry assembly or forbid reflection on it; fall back below.
        }

        return string.IsNullOrWhiteSpace(name) ? "unknown_service" : name;
    }
}
