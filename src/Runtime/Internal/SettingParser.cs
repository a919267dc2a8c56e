using System;
using System.Globalization;
using Microsoft.Extensions.Logging;

namespace FapiLog.Internal;

/// <summary>Parses setting values from the environment (or configuration); every failure names the setting and the value.</summary>
internal static class SettingParser
{
    /// <summary>The trimmed value of a variable, or null when it is unset or blank.</summary>
    public static string? Get(Func<string, string?> getVariable, string name)
    {
        string? value = getVariable(name);
        return string.IsNullOrWhiteSpace(value) ? null : value.Trim();
    }

    public static LogLevel ParseLevel(string value, string setting)
    {
        switch (value.ToLowerInvariant())
        {
            case "trace": case "verbose": return LogLevel.Trace;
            case "debug": return LogLevel.Debug;
            case "information": case "info": return LogLevel.Information;
            case "warning": case "warn": return LogLevel.Warning;
            case "error": return LogLevel.Error;
            case "critical": case "fatal": return LogLevel.Critical;
            case "none": return LogLevel.None;
            default: throw new FapiLogConfigurationException(setting, value, "one of trace, debug, information, warning, error, critical, none");
        }
    }

    public static int ParseInt(string value, string setting, int min, int max)
    {
        if (!int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int result) || result < min || result > max)
        {
            throw new FapiLogConfigurationException(setting, value, $"a whole number from {min} to {max}");
        }

        return result;
    }

    /// <summary>What <c>FileMaxBytes</c> accepts, for error messages.</summary>
    public const string FileMaxBytesExpectation = "0 (never roll) or a whole number of bytes from 1024 up";

    /// <summary>A file size limit: 0 or at least <see cref="FapiLog.Sinks.JsonFileSink.MinRollBytes"/>.</summary>
    public static long ParseFileMaxBytes(string value, string setting)
    {
        if (!long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out long result)
            || (result != 0 && result < FapiLog.Sinks.JsonFileSink.MinRollBytes))
        {
            throw new FapiLogConfigurationException(setting, value, FileMaxBytesExpectation);
        }

        return result;
    }

    public static double ParseFraction(string value, string setting, bool allowZero = true)
    {
        if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double result)
            || !(result <= 1 && (allowZero ? result >= 0 : result > 0)))
        {
            throw new FapiLogConfigurationException(setting, value, allowZero ? "a number from 0 to 1" : "a number above 0 and at most 1");
        }

        return result;
    }

    /// <summary>A duration given in seconds (fractions allowed), above 0 and at most <paramref name="maxSeconds"/>.</summary>
    public static TimeSpan ParseSeconds(string value, string setting, double maxSeconds)
    {
        // Shorter than one tick (100 ns) would become zero, which the option itself then rejects under its own name.
        if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds) || !(seconds >= 1e-7 && seconds <= maxSeconds))
        {
            throw new FapiLogConfigurationException(setting, value, $"a number of seconds above 0 and at most {maxSeconds.ToString(CultureInfo.InvariantCulture)} (fractions allowed, e.g. 0.5)");
        }

        return TimeSpan.FromSeconds(seconds);
    }
}
