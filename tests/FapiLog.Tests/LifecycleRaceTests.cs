using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using FapiLog.Internal;
using FapiLog.Sinks;
using FapiLog.Tests.Support;
using Microsoft.Extensions.Logging;
using Xunit;

namespace FapiLog.Tests;

/// <summary>
/// The global pipeline's lifecycle (Configure, Flush, Shutdown) racing with itself and with log calls from other threads:
/// every call is accounted for, nothing is delivered twice, nothing hangs and no exception reaches a caller.
/// </summary>
[Collection(GlobalPipelineCollection.Name)]
public sealed class LifecycleRaceTests : IDisposable
{
    public LifecycleRaceTests() => FapiLogging.ResetForTesting();

    public void Dispose() => FapiLogging.ResetForTesting();

    /// <summary>What a generated method does, aimed at whatever pipeline is installed; true when the event was taken.</summary>
    private static bool Emit(long producer, long sequence)
    {
        if (!FapiLogRuntime.IsEnabled(LogLevel.Information))
        {
            return false;
        }

        LogEventWriter w = FapiLogRuntime.Begin(TestLog.Sequenced);
        if (!w.IsActive)
        {
            return false;
        }

        w.Write(producer);
        w.Write(sequence);
        w.Commit();
        return true;
    }

    private static Task Run(Action action) => Task.Factory.StartNew(action, TaskCreationOptions.LongRunning);

    [Fact]
    public void Flush_while_configure_replaces_the_pipeline_waits_for_the_events_logged_into_the_old_one()
    {
        var gate = new GateSink();
        FapiLogging.Configure(o => { o.Console = false; o.BatchSize = 1; o.AddSink(gate); o.ShutdownTimeout = TestLog.Safety; });
        LogPipeline first = FapiLogging.CurrentPipeline!;
        Assert.True(Emit(1, 0));
        Assert.True(gate.WaitEntered(TestLog.Safety));

        // The old pipeline's shutdown waits for the gate; meanwhile the new one is installed.
        Task reconfigure = Run(() => FapiLogging.Configure(o => { o.Console = false; o.AddSink(new InMemorySink()); }));
        Assert.True(SpinWait.SpinUntil(() => !ReferenceEquals(FapiLogging.CurrentPipeline, first), TestLog.Safety));
        try
        {
            // The event was logged before these calls and stays in the old pipeline's sink for as long as they may wait:
            // they must not report it flushed (they did, having looked at the new, empty pipeline only).
            Assert.False(FapiLogging.Flush(TimeSpan.FromSeconds(1)));
            Assert.False(FapiLogging.FlushAsync(TimeSpan.FromSeconds(1)).GetAwaiter().GetResult());
        }
        finally
        {
            gate.Open();
        }

        Assert.True(FapiLogging.Flush(TestLog.Safety));
        Assert.Equal(1, Interlocked.Read(ref gate.Received));
        Assert.True(reconfigure.Wait(TestLog.Safety));
    }

    [Fact]
    public void Shutdown_while_configure_replaces_the_pipeline_also_waits_for_the_old_one()
    {
        var gate = new GateSink();
        FapiLogging.Configure(o => { o.Console = false; o.BatchSize = 1; o.AddSink(gate); o.ShutdownTimeout = TestLog.Safety; });
        LogPipeline first = FapiLogging.CurrentPipeline!;
        Assert.True(Emit(1, 0));
        Assert.True(gate.WaitEntered(TestLog.Safety));

        Task reconfigure = Run(() => FapiLogging.Configure(o => { o.Console = false; o.AddSink(new InMemorySink()); }));
        Assert.True(SpinWait.SpinUntil(() => !ReferenceEquals(FapiLogging.CurrentPipeline, first), TestLog.Safety));

        // The old pipeline cannot finish (its sink is held shut until cancelled): Shutdown must say so, not report success
        // while an event logged before it is still undelivered, and must tell that sink to give up.
        Assert.False(FapiLogging.Shutdown(TimeSpan.FromSeconds(1)));
        Assert.True(first.Stopped.Wait(TestLog.Safety));
        Assert.True(reconfigure.Wait(TestLog.Safety));
        FapiLogStatistics stats = FapiLogging.Statistics;
        Assert.Equal(1, stats.Enqueued);
        Assert.Equal(1, stats.Failed);
        Assert.Equal(0, stats.Pending);
    }
}
