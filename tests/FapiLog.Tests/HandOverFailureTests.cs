using System;
using System.IO;
using System.Reflection;
using System.Threading;
using System.Threading.Tasks;
using FapiLog.Internal;
using FapiLog.Loki;
using FapiLog.Sinks;
using FapiLog.Tests.Loki;
using FapiLog.Tests.Support;
using Xunit;

namespace FapiLog.Tests;

/// <summary>A Configure that fails, or is refused, after looking at the sinks older pipelines have: nothing is left handed over, and a sink handed over already is not refused.</summary>
[Collection(GlobalPipelineCollection.Name)]
public sealed class HandOverFailureTests : IDisposable
{
    public HandOverFailureTests() => FapiLogging.ResetForTesting();

    public void Dispose() => FapiLogging.ResetForTesting();

    private static string NewFolder()
    {
        string folder = Path.Combine(Path.GetTempPath(), "fapilog-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        return folder;
    }

    [Fact]
    public void A_Configure_that_fails_to_start_does_not_keep_the_running_pipeline_from_disposing_a_shared_sink()
    {
        // P1 has S. Configure(S, FilePath = a folder) fails while the new pipeline is built: nothing replaces P1, and P1's
        // shutdown must still dispose S (it did not when the hand-over came before the build).
        var shared = new DisposeRecordingSink();
        FapiLogging.Configure(o => { o.Console = false; o.AddSink(shared); o.ShutdownTimeout = TestLog.Safety; });
        string folder = NewFolder();
        try
        {
            var ex = Assert.Throws<FapiLogConfigurationException>(() => FapiLogging.Configure(o =>
            {
                o.Console = false;
                o.AddSink(shared);
                o.FilePath = folder;
            }));
            Assert.Equal(nameof(FapiLogOptions.FilePath), ex.Setting);
        }
        finally
        {
            Directory.Delete(folder);
        }

        Assert.True(FapiLogging.Shutdown(TestLog.Safety));
        Assert.True(shared.Disposed, "the failed Configure left the sink handed over to a pipeline that was never installed");
    }

    [Fact]
    public void A_Configure_that_fails_to_start_does_not_leave_a_shared_Loki_sink_sending_after_shutdown()
    {
        using var receiver = new LokiReceiver();
        var lokiOptions = new FapiLogOptions();
        lokiOptions.Loki.Url = receiver.Url;
        var loki = new LokiSink(lokiOptions.Loki);
        FapiLogging.Configure(o => { o.Console = false; o.AddSink(loki); o.ShutdownTimeout = TestLog.Safety; });
        Assert.True(TestLog.EmitInstalled(1, 0));
        Assert.True(FapiLogging.Flush(TestLog.Safety)); // the sender thread runs
        string folder = NewFolder();
        try
        {
            Assert.Throws<FapiLogConfigurationException>(() => FapiLogging.Configure(o =>
            {
                o.Console = false;
                o.AddSink(loki);
                o.FilePath = folder;
            }));
        }
        finally
        {
            Directory.Delete(folder);
        }

        Assert.True(FapiLogging.Shutdown(TestLog.Safety));
        var sender = (Thread?)typeof(LokiSink).GetField("_sender", BindingFlags.NonPublic | BindingFlags.Instance)!.GetValue(loki);
        Assert.NotNull(sender);
        Assert.True(loki._disposeCalled, "nothing disposes the Loki sink after everything shut down");
        Assert.True(sender!.Join(TestLog.Safety), "the Loki sender thread outlives the shutdown");
    }

    [Fact]
    public void A_refused_Configure_does_not_keep_an_earlier_holder_from_disposing_its_sink()
    {
        // P1 has F (a file) and is disposing it (worker held after deciding). P2 (with G) replaced P1. Configure(F, G): P2
        // accepts the hand-over of F and G, then P1 refuses and Configure throws, rightly. P2 stays the running pipeline;
        // its shutdown must still dispose G.
        string folder = NewFolder();
        var file = new JsonFileSink(Path.Combine(folder, "app.jsonl"));
        var g = new DisposeRecordingSink();
        FapiLogging.Configure(o => { o.Console = false; o.AddSink(file); o.ShutdownTimeout = TestLog.Safety; });
        LogPipeline first = FapiLogging.CurrentPipeline!;
        var hold = new DisposalHold(first);

        Task second = Task.Factory.StartNew(
            () => FapiLogging.Configure(o => { o.Console = false; o.AddSink(g); o.ShutdownTimeout = TestLog.Safety; }),
            TaskCreationOptions.LongRunning);
        try
        {
            Assert.True(hold.WaitReached());
            var ex = Assert.Throws<FapiLogConfigurationException>(() => FapiLogging.Configure(o =>
            {
                o.Console = false;
                o.AddSink(file);
                o.AddSink(g);
            }));
            Assert.Contains("is disposing it now", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            hold.Release();
            Assert.True(second.Wait(TestLog.Safety));
        }

        Assert.True(FapiLogging.Shutdown(TestLog.Safety));
        Directory.Delete(folder, recursive: true);
        Assert.True(g.Disposed, "the running pipeline kept the sink handed over by a Configure that threw");
    }

    [Fact]
    public void A_file_sink_handed_over_already_is_not_refused_because_its_first_pipeline_disposes_its_other_sinks()
    {
        // P1 has F; P2 takes F over (P1 will not dispose it). P1's worker reaches its disposal (of its other sinks: F is
        // skipped). P3 comes with F: P1 is not disposing F, so P3 must take it from P2.
        string folder = NewFolder();
        var file = new JsonFileSink(Path.Combine(folder, "app.jsonl"));
        FapiLogging.Configure(o => { o.Console = false; o.AddSink(file); o.ShutdownTimeout = TestLog.Safety; });
        LogPipeline first = FapiLogging.CurrentPipeline!;
        var hold = new DisposalHold(first);

        Task second = Task.Factory.StartNew(
            () => FapiLogging.Configure(o => { o.Console = false; o.AddSink(file); o.ShutdownTimeout = TestLog.Safety; }),
            TaskCreationOptions.LongRunning);
        Task? third = null;
        try
        {
            Assert.True(hold.WaitReached());
            LogPipeline secondPipeline = FapiLogging.CurrentPipeline!;
            Assert.NotSame(first, secondPipeline);
            // Run apart: once installed, P3's Configure waits for P2's shutdown, and P2's worker for P1's exit.
            third = Task.Factory.StartNew(
                () => FapiLogging.Configure(o => { o.Console = false; o.AddSink(file); }),
                TaskCreationOptions.LongRunning);
            Assert.True(SpinWait.SpinUntil(() => third.IsCompleted || !ReferenceEquals(FapiLogging.CurrentPipeline, secondPipeline), TestLog.Safety));
            Assert.False(third.IsFaulted, "refused a sink its first pipeline had handed over: " + third.Exception?.InnerException?.Message);
        }
        finally
        {
            hold.Release();
            Assert.True(second.Wait(TestLog.Safety));
            third?.ContinueWith(static _ => { }).Wait(TestLog.Safety);
        }

        Assert.False(file._disposeCalled);
        Assert.True(TestLog.EmitInstalled(3, 0));
        Assert.True(FapiLogging.Flush(TestLog.Safety));
        Assert.True(FapiLogging.Shutdown(TestLog.Safety));
        Assert.True(file._disposeCalled);
        Assert.Contains("Producer 3 event 0", File.ReadAllText(Path.Combine(folder, "app.jsonl")), StringComparison.Ordinal);
        Directory.Delete(folder, recursive: true);
    }

    private sealed class DisposeRecordingSink : LogSink
    {
        public volatile bool Disposed;

        public override void Write(in LogBatch batch, CancellationToken cancellationToken)
        {
        }

        protected override void Dispose(bool disposing)
        {
            Disposed = true;
            base.Dispose(disposing);
        }
    }
}
