using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using FapiLog.Internal;
using FapiLog.Sinks;
using FapiLog.Tests.Support;
using Xunit;

namespace FapiLog.Tests;

public class ShutdownTests
{
    [Fact]
    public void Shutdown_delivers_everything_accepted_before_it_and_nothing_after()
    {
        FapiLogOptions options = TestLog.Options(o => o.BatchSize = 1000);
        InMemorySink sink = TestLog.Memory(options);
        LogPipeline pipeline = TestLog.Start(options);
        for (int i = 0; i < 42; i++)
        {
            Assert.True(TestLog.Emit(pipeline, 1, i));
        }

        Assert.True(pipeline.Shutdown(TestLog.Safety));

        Assert.Equal(42, sink.Count);
        Assert.False(TestLog.Emit(pipeline, 1, 42));
        Assert.False(TestLog.Emit(pipeline, 1, 43));
        FapiLogStatistics stats = pipeline.GetStatistics();
        Assert.Equal(42, stats.Enqueued);
        Assert.Equal(42, stats.Delivered);
        Assert.Equal(2, stats.DroppedShutdown);
        Assert.Equal(0, stats.Pending);
        Assert.Equal(42, sink.Count); // the calls after shutdown were counted, never processed
    }

    [Fact]
    public void Shutdown_lets_stderr_take_its_lines_only_within_what_is_left_of_its_timeout()
    {
        // The wait for stderr at the end came on top of the timeout (a stall period, or one per line for a slow reader).
        LogPipeline pipeline = TestLog.Start(TestLog.Options());
        TimeSpan? given = null;
        pipeline._stderrDrainForTesting = t => given = t;
        TimeSpan timeout = TimeSpan.FromHours(1);

        long before = System.Diagnostics.Stopwatch.GetTimestamp();
        Assert.True(pipeline.Shutdown(timeout));
        TimeSpan took = System.Diagnostics.Stopwatch.GetElapsedTime(before);

        Assert.NotNull(given);
        Assert.True(given < timeout, $"stderr was given {given}, the whole timeout again");
        Assert.True(given >= timeout - took, $"stderr was given {given}, less than the {timeout - took} left");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Shutdown_called_from_a_sink_returns_at_once_and_the_pipeline_still_finishes(bool async)
    {
        // The worker cannot wait for itself. The synchronous Shutdown returned at once there; the asynchronous one waited
        // for the whole timeout (an hour here) when the sink blocked on it.
        FapiLogOptions options = TestLog.Options(o => o.BatchSize = 1);
        var sink = new ShutdownFromWriteSink(async);
        options.AddSink(sink);
        LogPipeline pipeline = TestLog.Start(options);
        sink.Pipeline = pipeline;

        Assert.True(TestLog.Emit(pipeline, 1, 0));

        Assert.True(pipeline.Stopped.Wait(TestLog.Safety), "the worker is still inside the sink's shutdown call");
        Assert.False(sink.Result);
        Assert.True(pipeline.Shutdown(TestLog.Safety));
        Assert.Equal(1, pipeline.GetStatistics().Delivered);
    }

    private sealed class ShutdownFromWriteSink(bool async) : LogSink
    {
        public LogPipeline? Pipeline { get; set; }

        public bool? Result { get; private set; }

        public override void Write(in LogBatch batch, System.Threading.CancellationToken cancellationToken)
        {
            Result = async
                ? Pipeline!.ShutdownAsync(TimeSpan.FromHours(1), default).GetAwaiter().GetResult()
                : Pipeline!.Shutdown(TimeSpan.FromHours(1));
        }
    }

    [Fact]
    public void Shutdown_is_idempotent_and_safe_from_many_threads_at_once()
    {
        FapiLogOptions options = TestLog.Options();
        InMemorySink sink = TestLog.Memory(options);
        LogPipeline pipeline = TestLog.Start(options);
        for (int i = 0; i < 10; i++)
        {
            TestLog.Emit(pipeline, 1, i);
        }

        Task<bool>[] calls = Enumerable.Range(0, 8)
            .Select(i => i % 2 == 0
                ? Task.Factory.StartNew(() => pipeline.Shutdown(TestLog.Safety), TaskCreationOptions.LongRunning)
                : pipeline.ShutdownAsync(TestLog.Safety, default))
            .ToArray();

        Assert.True(Task.WaitAll(calls, TestLog.Safety));
        Assert.All(calls, c => Assert.True(c.Result));
        Assert.True(pipeline.Shutdown(TestLog.Safety));
        Assert.Equal(10, sink.Count);
    }

    [Fact]
    public void Shutdown_disposes_the_sinks_once_after_the_final_flush()
    {
        var sink = new RecordingSink();
        FapiLogOptions options = TestLog.Options();
        options.AddSink(sink);
        LogPipeline pipeline = TestLog.Start(options);
        TestLog.Emit(pipeline, 1, 0);

        Assert.True(pipeline.Shutdown(TestLog.Safety));
        Assert.True(pipeline.Shutdown(TestLog.Safety));

        Assert.Equal(new[] { "write:1", "flush", "dispose" }, sink.Calls);
    }

    [Fact]
    public void Shutdown_returns_within_its_timeout_when_a_sink_hangs_and_cancels_the_sink()
    {
        var gate = new GateSink(honourCancellation: true);
        FapiLogOptions options = TestLog.Options(o => o.BatchSize = 1);
        options.AddSink(gate);
        LogPipeline pipeline = TestLog.Start(options);
        TestLog.Emit(pipeline, 1, 0);
        Assert.True(gate.WaitEntered(TestLog.Safety));

        Assert.False(pipeline.Shutdown(TimeSpan.FromMilliseconds(100)));

        // The sink saw the cancellation and the worker wound down; the event was not delivered and is counted as failed.
        Assert.True(pipeline.Stopped.Wait(TestLog.Safety));
        Assert.Equal(1, pipeline.GetStatistics().Failed);
    }

    [Fact]
    public void Flush_after_shutdown_returns_at_once()
    {
        LogPipeline pipeline = TestLog.Start(TestLog.Options());
        Assert.True(pipeline.Shutdown(TestLog.Safety));
        Assert.True(pipeline.Flush(TestLog.Safety));
    }

    private sealed class RecordingSink : LogSink
    {
        public System.Collections.Generic.List<string> Calls { get; } = new();

        public override void Write(in LogBatch batch, System.Threading.CancellationToken cancellationToken) => Calls.Add("write:" + batch.Count);

        public override void Flush(System.Threading.CancellationToken cancellationToken) => Calls.Add("flush");

        protected override void Dispose(bool disposing) => Calls.Add("dispose");
    }
}

/// <summary>What shutdown reports on stderr (replaces Console.Error, so it runs alone).</summary>
[Collection(Loki.ConsoleCollection.Name)]
public sealed class ShutdownReportTests
{
    [Fact]
    public void The_report_counts_the_events_a_sink_gives_up_on_when_shutdown_tells_it_to()
    {
        var sink = new GivesUpWhenToldSink();
        FapiLogOptions options = TestLog.Options(o => o.BatchSize = 1);
        options.AddSink(sink);
        LogPipeline pipeline = TestLog.Start(options);
        sink.Pipeline = pipeline;
        Assert.True(TestLog.Emit(pipeline, 1, 0));
        Assert.True(sink.Entered.Wait(TestLog.Safety));

        using var stderr = new StderrCapture();
        Assert.False(pipeline.Shutdown(TimeSpan.FromMilliseconds(100)));

        // The sink wound down (and the worker counted the event as failed) before the report was written: the event
        // was still not delivered, and the report must say so.
        Assert.Equal(1, pipeline.GetStatistics().Failed);
        Assert.Contains("shutdown did not finish within 0.1 s; 1 event(s) were not delivered", stderr.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void When_the_worker_dies_flushes_for_what_the_sinks_had_succeed_and_only_the_stranded_events_are_named()
    {
        // The worker hands a batch to every sink and then releases it from the queue; here it dies in between (the fault
        // is injected there), with a second event queued behind the batch. The death line named the batch among the
        // queued events that "will not be delivered", though the sinks had written it, and a flush that waited for the
        // batch alone returned false.
        var gate = new GateSink();
        FapiLogOptions options = TestLog.Options(o => o.BatchSize = 1);
        options.AddSink(gate);
        InMemorySink memory = TestLog.Memory(options);
        LogPipeline pipeline = TestLog.Start(options);
        using var stderr = new StderrCapture();
        Assert.True(TestLog.Emit(pipeline, 1, 0));
        Assert.True(gate.WaitEntered(TestLog.Safety));
        Task<bool> flushFirst = pipeline.FlushAsync(TestLog.Safety, CancellationToken.None);
        Assert.True(TestLog.Emit(pipeline, 1, 1)); // stranded: the worker dies before it takes it
        Task<bool> flushBoth = pipeline.FlushAsync(TestLog.Safety, CancellationToken.None);
        pipeline.FaultWorkerForTesting();
        gate.Open();
        Assert.True(pipeline.Stopped.Wait(TestLog.Safety));

        Assert.True(flushFirst.Wait(TestLog.Safety));
        Assert.True(flushFirst.Result);
        Assert.True(flushBoth.Wait(TestLog.Safety));
        Assert.False(flushBoth.Result);
        Assert.Equal([0L], TestLog.Sequences(memory));
        Assert.Single(stderr.Lines(), l => l.StartsWith("FapiLog: the background worker stopped unexpectedly; 1 queued event(s) will not be delivered", StringComparison.Ordinal));
        FapiLogStatistics s = pipeline.GetStatistics();
        Assert.Equal(1, s.Delivered);
        Assert.Equal(1, s.Pending);
    }

    /// <summary>
    /// Hangs until the pipeline gives up on it, then fails at once: the cancellation callback, which runs inside the
    /// pipeline's give-up, waits until the worker has counted the failure, the fastest a sink can wind down.
    /// </summary>
    private sealed class GivesUpWhenToldSink : LogSink
    {
        public LogPipeline? Pipeline { get; set; }

        public System.Threading.ManualResetEventSlim Entered { get; } = new();

        public override void Write(in LogBatch batch, System.Threading.CancellationToken cancellationToken)
        {
            var giveUp = new System.Threading.ManualResetEventSlim();
            LogPipeline pipeline = Pipeline!;
            cancellationToken.UnsafeRegister(_ =>
            {
                giveUp.Set();
                System.Threading.SpinWait.SpinUntil(() => pipeline.GetStatistics().Failed >= 1, TestLog.Safety);
            }, null);
            Entered.Set();
            giveUp.Wait();
            throw new OperationCanceledException(cancellationToken);
        }
    }
}
