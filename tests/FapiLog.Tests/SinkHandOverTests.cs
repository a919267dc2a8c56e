using System;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using FapiLog.Internal;
using FapiLog.Sinks;
using FapiLog.Tests.Support;
using Xunit;

namespace FapiLog.Tests;

/// <summary>
/// A sink given to <c>Configure</c> again after a pipeline without it: its earlier pipeline, retired, may still be inside
/// it. Only the pipeline replaced was looked at, so the new worker wrote to the sink alongside the old one, and the old one
/// disposed it under the new one on its way out.
/// </summary>
[Collection(GlobalPipelineCollection.Name)]
public sealed class SinkHandOverTests : IDisposable
{
    public SinkHandOverTests() => FapiLogging.ResetForTesting();

    public void Dispose() => FapiLogging.ResetForTesting();

    [Fact]
    public void A_sink_configured_again_after_a_pipeline_without_it_is_not_written_while_the_first_worker_is_inside_it()
    {
        // P1 has S and hangs in it; P2 (without S) replaces P1, whose shutdown gives up; P3 (with S again) replaces P2.
        var shared = new HeldSink();
        FapiLogging.Configure(o => { o.Console = false; o.BatchSize = 1; o.AddSink(shared); o.ShutdownTimeout = TimeSpan.FromMilliseconds(50); });
        LogPipeline first = FapiLogging.CurrentPipeline!;
        Assert.True(TestLog.EmitInstalled(1, 0));
        Assert.True(shared.WaitEntered(TestLog.Safety)); // P1's worker is inside S

        FapiLogging.Configure(o => { o.Console = false; o.AddSink(new InMemorySink()); o.ShutdownTimeout = TimeSpan.FromMilliseconds(50); });
        Assert.False(first.Stopped.IsCompleted);
        FapiLogging.Configure(o => { o.Console = false; o.BatchSize = 1; o.AddSink(shared); });
        LogPipeline third = FapiLogging.CurrentPipeline!;
        try
        {
            Assert.True(TestLog.EmitInstalled(3, 0));
            Assert.False(third.WorkerStarted);
        }
        finally
        {
            shared.Open();
        }

        // Once P1's worker is out of S, P3's starts, delivers, and S was never entered by two at once.
        Assert.True(shared.WaitEntered(TestLog.Safety));
        Assert.True(FapiLogging.Flush(TestLog.Safety));
        Assert.Equal(1, shared.MostAtOnce);
        Assert.False(shared.Disposed);
    }

    [Fact]
    public void A_sink_configured_again_after_a_pipeline_without_it_is_not_disposed_by_the_first_pipeline_while_the_last_one_uses_it()
    {
        var shared = new HeldSink();
        FapiLogging.Configure(o => { o.Console = false; o.BatchSize = 1; o.AddSink(shared); o.ShutdownTimeout = TimeSpan.FromMilliseconds(50); });
        LogPipeline first = FapiLogging.CurrentPipeline!;
        Assert.True(TestLog.EmitInstalled(1, 0));
        Assert.True(shared.WaitEntered(TestLog.Safety));

        FapiLogging.Configure(o => { o.Console = false; o.AddSink(new InMemorySink()); o.ShutdownTimeout = TimeSpan.FromMilliseconds(50); });
        FapiLogging.Configure(o => { o.Console = false; o.BatchSize = 1; o.AddSink(shared); });
        shared.Open();
        Assert.True(first.Stopped.Wait(TestLog.Safety));

        // S belongs to the running pipeline: the first one's exit must not dispose it.
        Assert.False(shared.Disposed, "the first pipeline disposed a sink the running pipeline writes to");
        Assert.True(TestLog.EmitInstalled(3, 1));
        Assert.True(FapiLogging.Flush(TestLog.Safety));
        Assert.False(shared.WrittenAfterDispose);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_sink_configured_again_while_its_first_pipeline_disposes_it_is_refused_when_it_fails_once_disposed(bool reusable)
    {
        // P1's worker had decided to dispose S (not handed over) when P3 came with S: the hand-over was too late, S was
        // disposed under P3, and P3 wrote to a disposed sink. A file sink, which then fails every batch, is now refused,
        // naming it; an in-memory sink, which works on once disposed, is taken.
        string file = Path.Combine(Path.GetTempPath(), "fapilog-" + Guid.NewGuid().ToString("N"), "app.jsonl");
        LogSink shared = reusable ? new InMemorySink() : new JsonFileSink(file);
        FapiLogging.Configure(o => { o.Console = false; o.AddSink(shared); o.ShutdownTimeout = TestLog.Safety; });
        LogPipeline first = FapiLogging.CurrentPipeline!;
        var hold = new DisposalHold(first);

        // P2, without S, replaces P1; its Configure waits for P1's shutdown, in which P1's worker reaches its sinks' disposal.
        var second = new Thread(() => FapiLogging.Configure(o => { o.Console = false; o.AddSink(new InMemorySink()); }));
        second.Start();
        try
        {
            Assert.True(hold.WaitReached());
            if (reusable)
            {
                FapiLogging.Configure(o => { o.Console = false; o.AddSink(shared); });
            }
            else
            {
                var ex = Assert.Throws<FapiLogConfigurationException>(() => FapiLogging.Configure(o => { o.Console = false; o.AddSink(shared); }));
                Assert.Equal("Sinks", ex.Setting);
                Assert.Equal(shared.Name, ex.Value);
                Assert.Contains("is disposing it now", ex.Message, StringComparison.Ordinal);
            }
        }
        finally
        {
            hold.Release();
            Assert.True(second.Join(TestLog.Safety));
        }

        Assert.True(shared._disposeCalled);
        if (reusable)
        {
            Assert.True(TestLog.EmitInstalled(3, 0));
            Assert.True(FapiLogging.Flush(TestLog.Safety));
            Assert.Single(((InMemorySink)shared).Events);
        }
        else
        {
            Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
        }
    }

    [Fact]
    public void A_sink_configured_again_while_another_Configure_still_shuts_down_its_first_pipeline_is_not_written_from_two_workers()
    {
        // No timeout and no hung sink needed: P1's worker is still delivering while two Configure calls follow each other.
        var shared = new HeldSink();
        FapiLogging.Configure(o => { o.Console = false; o.BatchSize = 1; o.AddSink(shared); o.ShutdownTimeout = TestLog.Safety; });
        LogPipeline first = FapiLogging.CurrentPipeline!;
        Assert.True(TestLog.EmitInstalled(1, 0));
        Assert.True(shared.WaitEntered(TestLog.Safety)); // P1's worker is inside S

        // Another thread replaces P1 with P2 (no S) and waits in P1's shutdown.
        Task replace = Task.Factory.StartNew(() => FapiLogging.Configure(o => { o.Console = false; o.AddSink(new InMemorySink()); }), TaskCreationOptions.LongRunning);
        Assert.True(SpinWait.SpinUntil(() => !ReferenceEquals(FapiLogging.CurrentPipeline, first), TestLog.Safety));
        try
        {
            // This thread configures S again: P3 replaces P2, which never had S.
            FapiLogging.Configure(o => { o.Console = false; o.BatchSize = 1; o.AddSink(shared); });
            Assert.False(first.Stopped.IsCompleted);
            Assert.True(TestLog.EmitInstalled(3, 0));
            Assert.False(FapiLogging.CurrentPipeline!.WorkerStarted);
        }
        finally
        {
            shared.Open();
        }

        Assert.True(replace.Wait(TestLog.Safety));
        Assert.True(FapiLogging.Flush(TestLog.Safety));
        Assert.Equal(1, shared.MostAtOnce);
    }

    /// <summary>Holds its first write until opened (ignoring cancellation); counts writes in progress at once; records Dispose.</summary>
    private sealed class HeldSink : LogSink
    {
        private readonly ManualResetEventSlim _open = new(false);
        private readonly SemaphoreSlim _entered = new(0);
        private int _inside;
        private int _most;
        private int _writes;

        public volatile bool Disposed;
        public volatile bool WrittenAfterDispose;

        public int MostAtOnce => Volatile.Read(ref _most);

        public void Open() => _open.Set();

        public bool WaitEntered(TimeSpan timeout) => _entered.Wait(timeout);

        public override void Write(in LogBatch batch, CancellationToken cancellationToken)
        {
            if (Disposed)
            {
                WrittenAfterDispose = true;
            }

            int inside = Interlocked.Increment(ref _inside);
            int most;
            while (inside > (most = Volatile.Read(ref _most)) && Interlocked.CompareExchange(ref _most, inside, most) != most)
            {
            }

            try
            {
                _entered.Release();
                if (Interlocked.Increment(ref _writes) == 1)
                {
                    _open.Wait();
                }
            }
            finally
            {
                Interlocked.Decrement(ref _inside);
            }
        }

        protected override void Dispose(bool disposing)
        {
            Disposed = true;
            base.Dispose(disposing);
        }
    }
}
