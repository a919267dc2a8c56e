using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using FapiLog.Internal;
using FapiLog.Sinks;
using FapiLog.Tests.Support;
using Xunit;

namespace FapiLog.Tests;

public class BatchingTests
{
    [Fact]
    public void Events_wait_for_the_flush_interval_then_go_out_together()
    {
        var time = new FakeTime();
        FapiLogOptions options = TestLog.Options(o => { o.TimeProvider = time; o.FlushInterval = TimeSpan.FromSeconds(2); o.BatchSize = 100; });
        InMemorySink sink = TestLog.Memory(options);
        LogPipeline pipeline = TestLog.Start(options);

        for (int i = 0; i < 3; i++)
        {
            Assert.True(TestLog.Emit(pipeline, 1, i));
        }

        // The worker noticed the first event and armed a timer for its deadline; until the clock reaches it, nothing moves.
        Assert.True(time.WaitForTimers(1, TestLog.Safety));
        time.Advance(TimeSpan.FromSeconds(1.9));
        Assert.Equal(0, sink.Count);
        Assert.Equal(3, pipeline.GetStatistics().Pending);

        time.Advance(TimeSpan.FromSeconds(0.1));
        Assert.True(sink.WaitForCount(3, TestLog.Safety));
        Assert.Equal(new[] { 3 }, sink.BatchSizes);
        Assert.Equal(new long[] { 0, 1, 2 }, sink.Events.Select(e => (long)e["Sequence"]!));
        Assert.True(pipeline.Shutdown(TestLog.Safety));
    }

    [Fact]
    public void Events_logged_before_the_worker_first_looks_still_wait_for_the_interval()
    {
        // The order a slow machine can produce: the events are queued before the worker thread has run at all.
        var time = new FakeTime();
        FapiLogOptions options = TestLog.Options(o => { o.TimeProvider = time; o.FlushInterval = TimeSpan.FromSeconds(2); o.BatchSize = 100; });
        InMemorySink sink = TestLog.Memory(options);
        var pipeline = new LogPipeline(options, FapiLogging.BuildSinks(options), startWorker: false);
        for (int i = 0; i < 3; i++)
        {
            Assert.True(TestLog.Emit(pipeline, 1, i));
        }

        pipeline.StartWorkerForTesting();
        Assert.True(time.WaitForTimers(1, TestLog.Safety));
        time.Advance(TimeSpan.FromSeconds(1.9));
        Assert.Equal(0, sink.Count);

        time.Advance(TimeSpan.FromSeconds(0.1));
        Assert.True(sink.WaitForCount(3, TestLog.Safety));
        Assert.Equal(new[] { 3 }, sink.BatchSizes);
        Assert.True(pipeline.Shutdown(TestLog.Safety));
    }

    [Fact]
    public void A_full_batch_is_shipped_without_waiting_for_the_interval()
    {
        FapiLogOptions options = TestLog.Options(o => o.BatchSize = 10);
        InMemorySink sink = TestLog.Memory(options);
        LogPipeline pipeline = TestLog.Start(options);

        for (int i = 0; i < 25; i++)
        {
            Assert.True(TestLog.Emit(pipeline, 1, i));
        }

        // The clock never moves, so only the batch-size trigger can deliver these.
        Assert.True(sink.WaitForCount(20, TestLog.Safety));
        Assert.Equal(new[] { 10, 10 }, sink.BatchSizes.Take(2));
        Assert.Equal(Enumerable.Range(0, 20).Select(i => (long)i), sink.Events.Take(20).Select(e => (long)e["Sequence"]!));

        Assert.True(pipeline.Flush(TestLog.Safety));
        Assert.Equal(25, sink.Count);
        Assert.True(pipeline.Shutdown(TestLog.Safety));
    }

    [Fact]
    public void With_the_system_clock_a_few_pending_events_let_the_worker_sleep_until_a_producer_completes_a_batch()
    {
        FapiLogOptions options = TestLog.Options(o => { o.TimeProvider = TimeProvider.System; o.BatchSize = 10; });
        InMemorySink sink = TestLog.Memory(options);
        var pipeline = new LogPipeline(options, FapiLogging.BuildSinks(options), startWorker: false);
        // Queued before the worker first looks, so that it certainly sees an event pending, an hour from being due.
        Assert.True(TestLog.Emit(pipeline, 1, 0));
        pipeline.StartWorkerForTesting();

        // A worker that polled while anything was pending would wake every millisecond for that hour and never get here.
        Assert.True(SpinWait.SpinUntil(() => pipeline.Queue.WorkerIdle, TestLog.Safety));
        Assert.Equal(1, pipeline.GetStatistics().Pending);
        Assert.Equal(0, sink.Count);

        // The producer that completes the batch wakes it.
        for (int i = 1; i < 10; i++)
        {
            Assert.True(TestLog.Emit(pipeline, 1, i));
        }

        Assert.True(sink.WaitForCount(10, TestLog.Safety));
        Assert.Equal(new[] { 10 }, sink.BatchSizes);
        Assert.True(pipeline.Shutdown(TestLog.Safety));
    }

    [Theory]
    [InlineData(5_000)] // 0.5 ms
    [InlineData(1)] // one tick, the least FAPILOG_FLUSH_INTERVAL takes (1e-7)
    public void An_idle_worker_with_a_flush_interval_below_a_millisecond_sleeps_instead_of_spinning(long ticks)
    {
        FapiLogOptions options = TestLog.Options(o => { o.TimeProvider = TimeProvider.System; o.FlushInterval = TimeSpan.FromTicks(ticks); });
        var pipeline = new LogPipeline(options, FapiLogging.BuildSinks(options), startWorker: false);
        var waits = new List<int>();
        using var enough = new ManualResetEventSlim(false);
        pipeline._idleWaitForTesting = milliseconds =>
        {
            lock (waits)
            {
                waits.Add(milliseconds);
                if (waits.Count == 20)
                {
                    enough.Set();
                }
            }
        };
        pipeline.StartWorkerForTesting();

        // Nothing is logged: every look at the queue ends in a wait. A wait of 0 ms returns at once, so the worker went
        // round its loop millions of times a second, a core busy for as long as the process ran.
        Assert.True(enough.Wait(TestLog.Safety));
        Assert.True(pipeline.Shutdown(TestLog.Safety));
        lock (waits)
        {
            Assert.All(waits, milliseconds => Assert.True(milliseconds >= 1, $"a wait of {milliseconds} ms"));
        }
    }

    [Fact]
    public void A_queue_smaller_than_a_batch_is_shipped_once_it_is_half_full()
    {
        FapiLogOptions options = TestLog.Options(o => { o.QueueCapacity = 4; o.BatchSize = 8; });
        InMemorySink sink = TestLog.Memory(options);
        LogPipeline pipeline = TestLog.Start(options);

        for (int i = 0; i < 4; i++)
        {
            Assert.True(TestLog.Emit(pipeline, 1, i));
        }

        // The clock never moves and the batch can never fill: once, the worker slept while the queue sat full.
        Assert.True(sink.WaitForCount(2, TestLog.Safety));
        Assert.All(sink.BatchSizes, size => Assert.InRange(size, 2, 4));
        Assert.True(pipeline.Shutdown(TestLog.Safety));
        Assert.Equal(4, sink.Count);
    }

    [Fact]
    public void Batches_never_exceed_the_batch_size()
    {
        FapiLogOptions options = TestLog.Options(o => { o.BatchSize = 7; o.QueueCapacity = 100; });
        var gate = new GateSink();
        options.AddSink(gate);
        InMemorySink sink = TestLog.Memory(options);
        LogPipeline pipeline = TestLog.Start(options);

        for (int i = 0; i < 50; i++)
        {
            Assert.True(TestLog.Emit(pipeline, 1, i));
        }

        gate.Open();
        Assert.True(pipeline.Flush(TestLog.Safety));
        Assert.Equal(50, sink.Count);
        Assert.All(sink.BatchSizes, size => Assert.InRange(size, 1, 7));
        Assert.True(pipeline.Shutdown(TestLog.Safety));
    }

    [Fact]
    public void Flush_delivers_everything_logged_before_it_and_returns_true()
    {
        FapiLogOptions options = TestLog.Options();
        InMemorySink sink = TestLog.Memory(options);
        LogPipeline pipeline = TestLog.Start(options);

        for (int i = 0; i < 5; i++)
        {
            TestLog.Emit(pipeline, 1, i);
        }

        Assert.True(pipeline.Flush(TestLog.Safety));
        Assert.Equal(5, sink.Count);
        Assert.Equal(5, pipeline.GetStatistics().Delivered);
        Assert.True(pipeline.Flush(TestLog.Safety)); // nothing pending: completes at once
        Assert.True(pipeline.Shutdown(TestLog.Safety));
    }

    [Fact]
    public void A_flush_requested_as_the_worker_completes_the_one_before_it_is_not_lost()
    {
        // The worker completed a flush and, before it went idle, another was requested for the same position: its wake-up
        // came before the worker reset its event, and the check after the reset compared the flush target with the one read
        // at the top of the loop, which was the same number. The worker slept through it, for the whole flush interval.
        // CI met it once in FlushAsync after Flush with nothing logged.
        LogPipeline pipeline = new(TestLog.Options(), [], startWorker: false);
        var flushes = new Task<bool>[2];
        int idle = 0;
        int requested = 0;
        pipeline._beforeIdleResetForTesting = () =>
        {
            // The first two times the worker is about to go idle (before anything was flushed, then right after it completed
            // the first flush), a flush is requested from another thread and registered before the worker goes on.
            int time = Interlocked.Increment(ref idle);
            if (time <= 2)
            {
                flushes[time - 1] = Task.Factory.StartNew(
                    () => pipeline.FlushAsync(TestLog.Safety, CancellationToken.None).GetAwaiter().GetResult(),
                    CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
                Assert.True(SpinWait.SpinUntil(() => pipeline.FlushTargetForTesting >= 0, TestLog.Safety));
                Interlocked.Increment(ref requested);
            }
        };
        pipeline.StartWorkerForTesting();

        Assert.True(SpinWait.SpinUntil(() => Volatile.Read(ref requested) == 2, TestLog.Safety));
        Assert.True(flushes[0].Wait(TestLog.Safety) && flushes[0].Result, "the first flush did not complete");
        Assert.True(flushes[1].Wait(TestLog.Safety) && flushes[1].Result, "the flush requested as the first completed was lost");
        Assert.True(pipeline.Shutdown(TestLog.Safety));
    }

    [Fact]
    public void Flush_with_nothing_ever_logged_completes()
    {
        LogPipeline pipeline = TestLog.Start(TestLog.Options());
        Assert.True(pipeline.Flush(TestLog.Safety));
        Assert.True(pipeline.FlushAsync(TestLog.Safety, default).GetAwaiter().GetResult());
        Assert.True(pipeline.Shutdown(TestLog.Safety));
    }

    [Fact]
    public void A_failing_sink_counts_its_events_as_failed_and_the_other_sinks_still_get_them()
    {
        FapiLogOptions options = TestLog.Options();
        options.AddSink(new FailingSink());
        InMemorySink sink = TestLog.Memory(options);
        LogPipeline pipeline = TestLog.Start(options);

        for (int i = 0; i < 4; i++)
        {
            TestLog.Emit(pipeline, 1, i);
        }

        Assert.True(pipeline.Flush(TestLog.Safety));
        FapiLogStatistics stats = pipeline.GetStatistics();
        Assert.Equal(4, sink.Count);
        Assert.Equal(4, stats.Failed);
        Assert.Equal(0, stats.Delivered);
        Assert.Equal(0, stats.Pending);
        Assert.True(pipeline.Shutdown(TestLog.Safety));
    }

    [Fact]
    public void A_failing_sink_whose_Name_throws_does_not_stop_the_worker()
    {
        // The failure report names the sink; a Name that throws there used to escape the worker's catch and end it.
        FapiLogOptions options = TestLog.Options();
        options.AddSink(new FailingSinkWithBrokenName());
        InMemorySink sink = TestLog.Memory(options);
        LogPipeline pipeline = TestLog.Start(options);

        TestLog.Emit(pipeline, 1, 0);
        Assert.True(pipeline.Flush(TestLog.Safety));
        TestLog.Emit(pipeline, 1, 1);
        Assert.True(pipeline.Flush(TestLog.Safety));

        Assert.Equal(2, sink.Count);
        FapiLogStatistics stats = pipeline.GetStatistics();
        Assert.Equal(2, stats.Failed);
        Assert.Equal(0, stats.DroppedWorkerStopped);
        Assert.True(pipeline.Shutdown(TestLog.Safety));
    }

    private sealed class FailingSinkWithBrokenName : LogSink
    {
        public override string Name => throw new InvalidOperationException("no name");

        public override void Write(in LogBatch batch, CancellationToken cancellationToken) => throw new InvalidOperationException("sink is broken");
    }
}
