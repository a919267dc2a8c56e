using System;
using System.Collections.Generic;

namespace FapiLog;

/// <summary>A configuration value is invalid. The message names the setting, the value and what was expected.</summary>
public sealed class FapiLogConfigurationException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="setting">The option or environment variable, e.g. <c>QueueCapacity</c> or <c>FAPILOG_QUEUE_CAPACITY</c>.</param>
    /// <param name="value">The rejected value as given (never a secret).</param>
    /// <param name="expected">What a valid value looks like.</param>
    public FapiLogConfigurationException(string setting, string? value, string expected)
        : base(Describe(setting, value, expected))
    {
        Setting = setting;
        Value = value;
    }

    /// <summary>Creates the exception for a value that failed when it was used (a file that cannot be opened).</summary>
    internal FapiLogConfigurationException(string setting, string? value, string expected, Exception innerException)
        : base(Describe(setting, value, expected), innerException)
    {
        Setting = setting;
        Value = value;
    }

    private FapiLogConfigurationException(string setting, string? value, string message, bool _)
        : base(message)
    {
        Setting = setting;
        Value = value;
    }

    /// <summary>
    /// For a key that names no setting (a misspelt <c>FapiLog:QueueCapcity</c> in appsettings.json): says so, with the
    /// setting it most likely meant, instead of calling its value invalid.
    /// </summary>
    /// <param name="setting">The key as written, with its section.</param>
    /// <param name="value">The value, as it may be shown (hidden when it may be a secret).</param>
    /// <param name="kind">"FapiLog" or "Loki".</param>
    /// <param name="known">The settings there are.</param>
    internal static FapiLogConfigurationException UnknownKey(string setting, string? value, string kind, IReadOnlyList<string> known)
    {
        int separator = setting.LastIndexOf(':');
        string key = separator < 0 ? setting : setting[(separator + 1)..];
        string? meant = FapiLog.Internal.Spelling.Closest(key, known);
        string suggestion = meant is null ? string.Empty : $" (did you mean {meant}?)";
        return new FapiLogConfigurationException(
            setting,
            value,
            $"Unknown {kind} setting {setting}{suggestion}: the {kind} settings are {string.Join(", ", known)}.",
            false);
    }

    private static string Describe(string setting, string? value, string expected)
    {
        // What was expected may end in a sentence of its own (an I/O error's message, when a file cannot be opened):
        // one full stop closes it, not two.
        string end = expected?.EndsWith('.') == true ? string.Empty : ".";
        return $"Invalid FapiLog setting {setting}: '{value ?? "(null)"}' is not valid; expected {expected}{end}";
    }

    /// <summary>The option or environment variable that was rejected.</summary>
    public string Setting { get; }

    /// <summary>The rejected value.</summary>
    public string? Value { get; }
}
