using System;
using System.Linq;
using FapiLog.Tests.Support;
using Xunit;

namespace FapiLog.Tests;

/// <summary>
/// A FAPILOG_* variable that is no setting (a typo) is said on stderr; it was ignored without a word. Alone: the variables
/// are the process's, and other tests read them.
/// </summary>
[Collection(Loki.ConsoleCollection.Name)]
public sealed class UnknownVariableTests
{
    [Fact]
    public void A_misspelt_variable_is_said_once_with_the_setting_it_most_likely_meant()
    {
        Environment.SetEnvironmentVariable("FAPILOG_LOKI_ULR", "http://127.0.0.1:3100");
        using var stderr = new StderrCapture();
        try
        {
            new FapiLogOptions().ApplyEnvironment();
            new FapiLogOptions().ApplyEnvironment();
        }
        finally
        {
            Environment.SetEnvironmentVariable("FAPILOG_LOKI_ULR", null);
        }

        Assert.Equal(
            ["FapiLog: the environment variable FAPILOG_LOKI_ULR is not a FapiLog setting, and is ignored (did you mean FAPILOG_LOKI_URL?)."],
            stderr.Lines().Where(l => l.Contains("FAPILOG_LOKI_ULR", StringComparison.Ordinal)));
    }

    [Fact]
    public void The_settings_the_load_tests_own_variables_and_configuration_keys_are_not_said()
    {
        Environment.SetEnvironmentVariable("FAPILOG_BATCH_SIZE", "50");
        Environment.SetEnvironmentVariable("FAPILOG_LOADTEST_RATE", "10");
        // A configuration key for the host's environment provider, bound by the hosting package.
        Environment.SetEnvironmentVariable("FapiLog__MinimumLevel", "Warning");
        using var stderr = new StderrCapture();
        try
        {
            Assert.Equal(50, new FapiLogOptions().ApplyEnvironment().BatchSize);
        }
        finally
        {
            Environment.SetEnvironmentVariable("FAPILOG_BATCH_SIZE", null);
            Environment.SetEnvironmentVariable("FAPILOG_LOADTEST_RATE", null);
            Environment.SetEnvironmentVariable("FapiLog__MinimumLevel", null);
        }

        Assert.DoesNotContain(stderr.Lines(), l => l.Contains("is not a FapiLog setting", StringComparison.Ordinal));
    }

    [Fact]
    public void Variables_given_by_a_function_are_not_compared_with_the_process_environment()
    {
        Environment.SetEnvironmentVariable("FAPILOG_LOKI_TENANTT", "shop");
        using var stderr = new StderrCapture();
        try
        {
            new FapiLogOptions().ApplyEnvironment(_ => null);
        }
        finally
        {
            Environment.SetEnvironmentVariable("FAPILOG_LOKI_TENANTT", null);
        }

        Assert.DoesNotContain(stderr.Lines(), l => l.Contains("FAPILOG_LOKI_TENANTT", StringComparison.Ordinal));
    }
}
