using System;
using System.Collections;
using System.Collections.Generic;

namespace FapiLog.Internal;

/// <summary>
/// Says on stderr, once per name and process, a <c>FAPILOG_*</c> environment variable that is no FapiLog setting (a typo
/// such as <c>FAPILOG_LOKI_ULR</c>, or a lower-case name on Linux, whose variables are case-sensitive): it was ignored
/// without a word, and the application ran without the Loki sink or the level it was meant to have. Not an error: the
/// variable may be meant for something else. The load test's own <c>FAPILOG_LOADTEST_*</c> variables are not FapiLog's, nor
/// are configuration keys given as variables (<c>FapiLog__MinimumLevel</c>).
/// </summary>
internal static class UnknownVariables
{
    private const string Prefix = "FAPILOG_";
    private const string LoadTestPrefix = "FAPILOG_LOADTEST_";

    // FapiLog__MinimumLevel, FapiLog__Loki__Tenant: the configuration key FapiLog:MinimumLevel, read by the host's
    // environment configuration provider and bound by the hosting package, not a FAPILOG_* setting.
    private const string ConfigurationPrefix = "FAPILOG__";

    private static readonly HashSet<string> s_reported = new(StringComparer.Ordinal);

    /// <summary>How the process's environment compares names: case-insensitively on Windows only.</summary>
    public static StringComparer NameComparer => OperatingSystem.IsWindows() ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal;

    /// <summary>Says each <c>FAPILOG_*</c> variable of the environment that is not in <paramref name="read"/>, once.</summary>
    public static void Report(HashSet<string> read)
    {
        IDictionary variables;
        try
        {
            variables = Environment.GetEnvironmentVariables();
        }
        catch (Exception ex) when (ex is System.Security.SecurityException or InvalidOperationException)
        {
            return;
        }

        foreach (DictionaryEntry variable in variables)
        {
            if (variable.Key is not string name
                || !name.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase)
                || name.StartsWith(LoadTestPrefix, StringComparison.OrdinalIgnoreCase)
                || name.StartsWith(ConfigurationPrefix, StringComparison.OrdinalIgnoreCase)
                || read.Contains(name))
            {
                continue;
            }

            lock (s_reported)
            {
                if (!s_reported.Add(name))
                {
                    continue;
                }
            }

            string? meant = Spelling.Closest(name, read);
            Stderr.Write($"FapiLog: the environment variable {name} is not a FapiLog setting, and is ignored" +
                (meant is null ? "." : $" (did you mean {meant}?)."));
        }
    }
}
