using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using FapiLog.Sinks;
using Xunit;

namespace FapiLog.Tests;

/// <summary>The promises of the public API's doc comments, checked one by one.</summary>
[Collection(GlobalPipelineCollection.Name)]
public sealed class ApiSurfaceTests : IDisposable
{
    public ApiSurfaceTests() => FapiLogging.ResetForTesting();

    public void Dispose() => FapiLogging.ResetForTesting();

    private static void ConfigureInMemory(InMemorySink sink) => FapiLogging.Configure(new FapiLogOptions { Console = false }.AddSink(sink));

    [Fact]
    public void Flush_and_Shutdown_take_TimeSpan_MaxValue_as_no_limit()
    {
        var sink = new InMemorySink();
        ConfigureInMemory(sink);

        Assert.True(FapiLogging.Flush(TimeSpan.MaxValue));
        Assert.True(FapiLogging.FlushAsync(TimeSpan.MaxValue).GetAwaiter().GetResult());
        Assert.True(FapiLogging.Shutdown(TimeSpan.MaxValue));
        Assert.True(FapiLogging.ShutdownAsync(TimeSpan.MaxValue).GetAwaiter().GetResult());
    }

    [Fact]
    public void Flush_and_Shutdown_take_Timeout_InfiniteTimeSpan_as_no_limit()
    {
        ConfigureInMemory(new InMemorySink());

        Assert.True(FapiLogging.Flush(Timeout.InfiniteTimeSpan));
        Assert.True(FapiLogging.FlushAsync(Timeout.InfiniteTimeSpan).GetAwaiter().GetResult());
        Assert.True(FapiLogging.Shutdown(Timeout.InfiniteTimeSpan));
    }

    [Fact]
    public void A_negative_Shutdown_timeout_is_refused_before_the_pipeline_is_touched()
    {
        ConfigureInMemory(new InMemorySink());

        Assert.Throws<ArgumentOutOfRangeException>("timeout", () => FapiLogging.Shutdown(TimeSpan.FromSeconds(-1)));
        Assert.Throws<ArgumentOutOfRangeException>("timeout", () => FapiLogging.ShutdownAsync(TimeSpan.FromSeconds(-1)).GetAwaiter().GetResult());
        Assert.Throws<ArgumentOutOfRangeException>("timeout", () => FapiLogging.Flush(TimeSpan.FromSeconds(-1)));
        Assert.Throws<ArgumentOutOfRangeException>("timeout", () => FapiLogging.FlushAsync(TimeSpan.FromSeconds(-1)).GetAwaiter().GetResult());

        // The pipeline still runs: nothing was shut down by the refused call.
        Assert.False(FapiLogging.CurrentPipeline!.IsShutDown);
    }

    public static TheoryData<string, Action<FapiLogOptions>> OutOfRangeOptions() => new()
    {
        { "QueueCapacity", o => o.QueueCapacity = int.MaxValue },
        { "QueueCapacity", o => o.QueueCapacity = FapiLogOptions.MaxQueueCapacity + 1 },
        { "QueueCapacity", o => o.QueueCapacity = 0 },
        { "BatchSize", o => o.BatchSize = int.MaxValue },
        { "SampleRate", o => o.SampleRate = double.NaN },
        { "SampleRate", o => o.SampleRate = double.PositiveInfinity },
        { "SampleRate", o => o.SampleRate = -0.1 },
        { "SampleHighWaterMark", o => o.SampleHighWaterMark = double.NaN },
        { "SampleHighWaterMark", o => o.SampleHighWaterMark = 0 },
        { "FlushInterval", o => o.FlushInterval = TimeSpan.MaxValue },
        { "FlushInterval", o => o.FlushInterval = TimeSpan.MinValue },
        { "FlushInterval", o => o.FlushInterval = Timeout.InfiniteTimeSpan },
        { "ShutdownTimeout", o => o.ShutdownTimeout = TimeSpan.FromTicks(-1) },
        { "ShutdownTimeout", o => o.ShutdownTimeout = TimeSpan.MaxValue },
        { "BlockTimeout", o => o.BlockTimeout = TimeSpan.MaxValue },
        { "BlockTimeout", o => o.BlockTimeout = TimeSpan.FromSeconds(-2) },
        { "DropWarningInterval", o => o.DropWarningInterval = TimeSpan.Zero },
        { "MinimumLevel", o => o.MinimumLevel = (Microsoft.Extensions.Logging.LogLevel)42 },
        { "Overflow", o => o.Overflow = (OverflowStrategy)42 },
        { "FileMaxBytes", o => o.FileMaxBytes = -1 },
        { "FileRetainedFiles", o => o.FileRetainedFiles = int.MaxValue },
        { "TimeProvider", o => o.TimeProvider = null! },
        { "Loki.RequestTimeout", o => o.Loki.RequestTimeout = TimeSpan.MaxValue },
        { "Loki.MinBackoff", o => o.Loki.MinBackoff = TimeSpan.MinValue },
        { "Loki.MaxAttempts", o => o.Loki.MaxAttempts = int.MaxValue },
        { "Loki.MaxBatchBytes", o => o.Loki.MaxBatchBytes = int.MaxValue },
        { "Loki.MaxLineBytes", o => o.Loki.MaxLineBytes = -1 },
        { "Loki.Labels", o => o.Loki.Labels["app"] = null! },
        { "Loki.Headers", o => o.Loki.Headers["X-Key"] = null! },
    };

    [Theory]
    [MemberData(nameof(OutOfRangeOptions))]
    public void Every_out_of_range_option_fails_at_configuration_naming_the_option(string setting, Action<FapiLogOptions> configure)
    {
        var options = new FapiLogOptions { Console = false };
        configure(options);

        var ex = Assert.Throws<FapiLogConfigurationException>(() => FapiLogging.Configure(options));
        Assert.Equal(setting, ex.Setting);
        Assert.False(FapiLogging.IsConfigured);
    }

    [Theory]
    [InlineData("FAPILOG_LOKI_TIMEOUT", "1200")]
    [InlineData("FAPILOG_LOKI_TIMEOUT", "3600")]
    public void A_Loki_variable_beyond_the_options_range_is_refused_under_the_variables_name(string variable, string value)
    {
        var env = new Dictionary<string, string> { [variable] = value };
        var options = new FapiLogOptions();

        var ex = Assert.Throws<FapiLogConfigurationException>(() => options.ApplyEnvironment(name => env.GetValueOrDefault(name)).Validate());
        Assert.Equal(variable, ex.Setting);
    }

    [Theory]
    [InlineData("FAPILOG_LOKI_TIMEOUT", "600")]
    [InlineData("FAPILOG_LOKI_MIN_BACKOFF", "3600")]
    [InlineData("FAPILOG_LOKI_MAX_BACKOFF", "3600")]
    public void A_Loki_variable_at_the_top_of_its_range_is_accepted(string variable, string value)
    {
        // The backoffs are checked against each other too: give the other one a value that fits.
        var env = new Dictionary<string, string> { ["FAPILOG_LOKI_MIN_BACKOFF"] = "1", ["FAPILOG_LOKI_MAX_BACKOFF"] = "3600" };
        env[variable] = value;
        new FapiLogOptions().ApplyEnvironment(name => env.GetValueOrDefault(name)).Validate();
    }
}
