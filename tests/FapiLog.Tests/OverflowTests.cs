using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using FapiLog.Internal;
using FapiLog.Sinks;
using FapiLog.Tests.Support;
using Microsoft.Extensions.Logging;
using Xunit;

namespace FapiLog.Tests;

public class OverflowTests
{
    [Fact]
    public void Drop_accepts_exactly_the_capacity_and_counts_every_drop()
    {
        // Capacity 10 is not a power of two: the ring is 16 long, but exactly 10 are admitted.
        FapiLogOptions options = TestLog.Options(o => { o.QueueCapacity = 10; o.Overflow = OverflowStrategy.Drop; });
        // Holds the batch the worker takes once the queue is half full, so that nothing leaves the queue meanwhile.
        var gate = new GateSink();
        options.AddSink(gate);
        InMemorySink sink = TestLog.Memory(options);
        LogPipeline pipeline = TestLog.Start(options);

        int accepted = Enumerable.Range(0, 25).Count(i => TestLog.Emit(pipeline, 1, i));

        Assert.Equal(10, accepted);
        FapiLogStatistics stats = pipeline.GetStatistics();
        Assert.Equal(10, stats.Enqueued);
        Assert.Equal(15, stats.DroppedQueueFull);
        Assert.Equal(25, stats.Attempted);

        gate.Open();
        Assert.True(pipeline.Flush(TestLog.Safety));
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), TestLog.Sequences(sink));
        Assert.True(pipeline.Shutdown(TestLog.Safety));
        Assert.Equal(10, pipeline.GetStatistics().Delivered);
    }

    [Fact]
    public void Drops_are_reported_to_the_sinks_with_their_counts_and_the_configured_clock()
    {
        var time = new FakeTime();
        FapiLogOptions options = TestLog.Options(o => { o.QueueCapacity = 4; o.TimeProvider = time; });
        var gate = new GateSink();
        options.AddSink(gate);
        InMemorySink sink = TestLog.Memory(options);
        LogPipeline pipeline = TestLog.Start(options);

        for (int i = 0; i < 10; i++)
        {
            TestLog.Emit(pipeline, 1, i);
        }

        gate.Open();
        Assert.True(pipeline.Shutdown(TestLog.Safety));
        CapturedLogEvent warning = Assert.Single(sink.Events, e => e.EventName == "FapiLog.EventsDropped");
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Equal(6L, warning["Dropped"]);
        Assert.Equal(6L, warning["QueueFull"]);
        Assert.Contains("dropped 6 event(s)", warning.Message);

        // Stamped by the pipeline's clock, like the events beside it.
        Assert.Equal(time.GetUtcNow(), warning.Timestamp);
        Assert.All(sink.Events, e => Assert.Equal(time.GetUtcNow(), e.Timestamp));
    }

    [Fact]
    public void The_drop_warning_goes_out_while_the_queue_stays_full_not_only_once_it_drains()
    {
        // A slow sink (Loki down, say) and steady traffic: every time the worker looks, a full batch is waiting. The
        // warning is due from the first drop on; it once waited until the backlog drained, i.e. for the whole outage.
        FapiLogOptions options = TestLog.Options(o => { o.QueueCapacity = 4; o.BatchSize = 2; o.Overflow = OverflowStrategy.Drop; });
        var step = new StepSink();
        options.AddSink(step);
        var pipeline = new LogPipeline(options, FapiLogging.BuildSinks(options), startWorker: false);
        long sequence = 0;
        for (int i = 0; i < 6; i++)
        {
            TestLog.Emit(pipeline, 1, sequence++);
        }

        Assert.Equal(2, pipeline.GetStatistics().DroppedQueueFull);
        pipeline.StartWorkerForTesting();
        for (int batch = 0; batch < 4; batch++)
        {
            Assert.True(step.WaitEntered(TestLog.Safety)); // the worker is inside the sink with the oldest two events
            // Refill what the previous batch freed, and one more that is dropped: the queue never drains.
            while (TestLog.Emit(pipeline, 1, sequence++))
            {
            }

            step.Release();
        }

        // Four batches went through; the warning was due before the second one.
        Assert.True(step.Warnings >= 1, "no drop warning reached the sink while the queue stayed full");
        step.ReleaseAll();
        Assert.True(pipeline.Shutdown(TestLog.Safety));
    }

    [Fact]
    public void A_flush_completes_once_its_events_are_delivered_while_the_queue_stays_full()
    {
        // Under steady overload a full batch waits every time the worker looks; a flush once waited for the backlog to
        // drain, i.e. it timed out although its own events had long been delivered.
        FapiLogOptions options = TestLog.Options(o => { o.QueueCapacity = 4; o.BatchSize = 2; o.Overflow = OverflowStrategy.Drop; });
        var step = new StepSink();
        options.AddSink(step);
        InMemorySink sink = TestLog.Memory(options);
        var pipeline = new LogPipeline(options, FapiLogging.BuildSinks(options), startWorker: false);
        long sequence = 0;
        while (TestLog.Emit(pipeline, 1, sequence++))
        {
        }

        pipeline.StartWorkerForTesting();
        Assert.True(step.WaitEntered(TestLog.Safety)); // events 0 and 1 are in the sink
        Task<bool> flush = pipeline.FlushAsync(TestLog.Safety, CancellationToken.None); // asks for events 0 to 3
        for (int batch = 0; batch < 2; batch++)
        {
            step.Release();
            Assert.True(step.WaitEntered(TestLog.Safety));
            while (TestLog.Emit(pipeline, 1, sequence++))
            {
            }
        }

        // Events 0 to 3 went through and 4 and 5 are in the sink now; the queue is full again behind them.
        Assert.Equal(new long[] { 0, 1, 2, 3 }, TestLog.Sequences(sink));
        try
        {
            // The worker completes the flush before it takes the next batch; the task itself finishes on the thread pool.
            Assert.True(flush.Wait(TestLog.Safety), "the flush is still waiting although its events were delivered");
            Assert.True(flush.Result);
        }
        finally
        {
            step.ReleaseAll();
        }

        Assert.True(pipeline.Shutdown(TestLog.Safety));
    }

    [Fact]
    public void Block_waits_for_room_and_resumes_when_the_worker_frees_it()
    {
        var gate = new GateSink();
        FapiLogOptions options = TestLog.Options(o => { o.QueueCapacity = 4; o.BatchSize = 4; o.Overflow = OverflowStrategy.Block; o.BlockTimeout = TimeSpan.FromMinutes(5); });
        options.AddSink(gate);
        InMemorySink sink = TestLog.Memory(options);
        LogPipeline pipeline = TestLog.Start(options);
        for (int i = 0; i < 4; i++)
        {
            Assert.True(TestLog.Emit(pipeline, 1, i));
        }

        Assert.True(gate.WaitEntered(TestLog.Safety)); // the worker holds all 4 slots inside the sink
        Task<bool> blocked = Task.Factory.StartNew(() => TestLog.Emit(pipeline, 1, 4), TaskCreationOptions.LongRunning);
        Assert.True(SpinWait.SpinUntil(() => pipeline.Queue.BlockedProducers == 1, TestLog.Safety));
        Assert.False(blocked.IsCompleted);

        gate.Open(); // the worker finishes the batch and frees the slots
        Assert.True(blocked.Wait(TestLog.Safety));
        Assert.True(blocked.Result);

        Assert.True(pipeline.Shutdown(TestLog.Safety));
        FapiLogStatistics stats = pipeline.GetStatistics();
        Assert.Equal(5, stats.Enqueued);
        Assert.Equal(0, stats.Dropped);
        Assert.Equal(5, stats.Delivered);
        Assert.Equal(Enumerable.Range(0, 5).Select(i => (long)i), sink.Events.Select(e => (long)e["Sequence"]!));
    }

    [Fact]
    public void A_blocked_producer_wakes_the_worker_instead_of_waiting_for_the_flush_interval()
    {
        // The clock never moves and the batch never fills: only a fill signal (a blocked producer's "space needed", or the
        // half-full queue's) can free room.
        FapiLogOptions options = TestLog.Options(o => { o.QueueCapacity = 3; o.BatchSize = 1000; o.Overflow = OverflowStrategy.Block; o.BlockTimeout = Timeout.InfiniteTimeSpan; });
        InMemorySink sink = TestLog.Memory(options);
        LogPipeline pipeline = TestLog.Start(options);

        Assert.Equal(10, Enumerable.Range(0, 10).Count(i => TestLog.Emit(pipeline, 1, i)));

        Assert.True(pipeline.Shutdown(TestLog.Safety));
        Assert.Equal(0, pipeline.GetStatistics().Dropped);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), sink.Events.Select(e => (long)e["Sequence"]!));
    }

    [Fact]
    public void Block_does_not_deadlock_when_a_sink_logs_while_the_queue_is_full()
    {
        // A sink that logs (its own [FapiLog] method on a failure, say) runs on the worker: with the queue full, waiting
        // for room means waiting for itself. It once hung the worker, and with it every producer, until shutdown.
        FapiLogOptions options = TestLog.Options(o => { o.QueueCapacity = 2; o.BatchSize = 2; o.Overflow = OverflowStrategy.Block; o.BlockTimeout = Timeout.InfiniteTimeSpan; });
        var logging = new SelfLoggingSink();
        options.AddSink(logging);
        InMemorySink sink = TestLog.Memory(options);
        var pipeline = new LogPipeline(options, FapiLogging.BuildSinks(options), startWorker: false);
        logging.Pipeline = pipeline;
        Assert.True(TestLog.Emit(pipeline, 1, 0));
        Assert.True(TestLog.Emit(pipeline, 1, 1));

        pipeline.StartWorkerForTesting(); // the worker takes both events: the sink logs while they still fill the queue

        Assert.True(logging.Logged.Wait(TestLog.Safety), "the worker is stuck waiting for room only it can make");
        Assert.False(logging.Accepted);
        Assert.True(pipeline.Shutdown(TestLog.Safety));
        FapiLogStatistics stats = pipeline.GetStatistics();
        Assert.Equal(1, stats.DroppedQueueFull);
        Assert.Equal(2, stats.Delivered);
        Assert.Equal(new long[] { 0, 1 }, TestLog.Sequences(sink));
    }

    /// <summary>Logs one event into its own pipeline from inside its first Write.</summary>
    private sealed class SelfLoggingSink : LogSink
    {
        public LogPipeline? Pipeline;
        public bool Accepted;
        public readonly ManualResetEventSlim Logged = new(false);

        public override void Write(in LogBatch batch, CancellationToken cancellationToken)
        {
            if (!Logged.IsSet && batch.Count > 0 && batch[0].Descriptor == TestLog.Sequenced)
            {
                Accepted = TestLog.Emit(Pipeline!, 2, 100);
                Logged.Set();
            }
        }
    }

    [Fact]
    public void Block_waits_for_a_long_block_timeout_instead_of_giving_up_at_once()
    {
        // Where Stopwatch counts nanoseconds, converting a timeout above about 15 minutes once overflowed into a deadline in
        // the past: the call gave up the moment it stopped spinning.
        var gate = new GateSink();
        FapiLogOptions options = TestLog.Options(o => { o.QueueCapacity = 2; o.BatchSize = 2; o.Overflow = OverflowStrategy.Block; o.BlockTimeout = TimeSpan.FromHours(1); });
        options.AddSink(gate);
        LogPipeline pipeline = TestLog.Start(options);
        Assert.True(TestLog.Emit(pipeline, 1, 0));
        Assert.True(TestLog.Emit(pipeline, 1, 1));
        Assert.True(gate.WaitEntered(TestLog.Safety)); // the worker holds both slots inside the sink

        Task<bool> blocked = Task.Factory.StartNew(() => TestLog.Emit(pipeline, 1, 2), TaskCreationOptions.LongRunning);
        Assert.True(SpinWait.SpinUntil(() => pipeline.Queue.BlockedProducers == 1 || blocked.IsCompleted, TestLog.Safety));
        gate.Open();

        Assert.True(blocked.Wait(TestLog.Safety));
        Assert.Equal(0, pipeline.GetStatistics().DroppedBlockTimeout);
        Assert.True(blocked.Result);
        Assert.True(pipeline.Shutdown(TestLog.Safety));
        Assert.Equal(3, pipeline.GetStatistics().Delivered);
    }

    [Fact]
    public void Block_gives_up_after_the_block_timeout_and_counts_the_drop()
    {
        var gate = new GateSink();
        FapiLogOptions options = TestLog.Options(o => { o.QueueCapacity = 2; o.BatchSize = 2; o.Overflow = OverflowStrategy.Block; o.BlockTimeout = TimeSpan.FromMilliseconds(20); });
        options.AddSink(gate);
        LogPipeline pipeline = TestLog.Start(options);
        Assert.True(TestLog.Emit(pipeline, 1, 0));
        Assert.True(TestLog.Emit(pipeline, 1, 1));
        Assert.True(gate.WaitEntered(TestLog.Safety));

        Assert.False(TestLog.Emit(pipeline, 1, 2));

        FapiLogStatistics stats = pipeline.GetStatistics();
        Assert.Equal(1, stats.DroppedBlockTimeout);
        Assert.Equal(2, stats.Enqueued);
        gate.Open();
        Assert.True(pipeline.Shutdown(TestLog.Safety));
    }

    [Fact]
    public void Block_does_not_deadlock_when_the_worker_has_died()
    {
        var gate = new GateSink();
        FapiLogOptions options = TestLog.Options(o => { o.QueueCapacity = 2; o.BatchSize = 2; o.Overflow = OverflowStrategy.Block; o.BlockTimeout = Timeout.InfiniteTimeSpan; });
        options.AddSink(gate);
        LogPipeline pipeline = TestLog.Start(options);
        TestLog.Emit(pipeline, 1, 0);
        TestLog.Emit(pipeline, 1, 1);
        Assert.True(gate.WaitEntered(TestLog.Safety));
        Task<bool> blocked = Task.Factory.StartNew(() => TestLog.Emit(pipeline, 1, 2), TaskCreationOptions.LongRunning);
        Assert.True(SpinWait.SpinUntil(() => pipeline.Queue.BlockedProducers == 1, TestLog.Safety));

        // The worker dies right after this batch, before it frees the slots.
        pipeline.FaultWorkerForTesting();
        gate.Open();

        Assert.True(blocked.Wait(TestLog.Safety));
        Assert.False(blocked.Result);
        Assert.True(pipeline.Stopped.Wait(TestLog.Safety));
        Assert.False(TestLog.Emit(pipeline, 1, 3)); // later calls do not wait either
        Assert.Equal(2, pipeline.GetStatistics().DroppedWorkerStopped);
    }

    [Fact]
    public void After_the_worker_died_calls_are_refused_and_flush_and_shutdown_report_what_is_stranded()
    {
        FapiLogOptions options = TestLog.Options(o => o.QueueCapacity = 4);
        InMemorySink sink = TestLog.Memory(options);
        var pipeline = new LogPipeline(options, FapiLogging.BuildSinks(options), startWorker: false);
        Assert.True(TestLog.Emit(pipeline, 1, 0)); // queued before the worker dies: nothing will deliver it
        pipeline.FaultWorkerForTesting();
        pipeline.StartWorkerForTesting();
        Assert.True(pipeline.Stopped.Wait(TestLog.Safety));

        // Once accepted (and counted as enqueued) while there was room, and Flush and Shutdown said all was delivered.
        Assert.False(TestLog.Emit(pipeline, 1, 1));
        Assert.False(pipeline.Flush(TestLog.Safety));
        Assert.False(pipeline.Shutdown(TestLog.Safety));
        FapiLogStatistics s = pipeline.GetStatistics();
        Assert.Equal(1, s.Enqueued);
        Assert.Equal(1, s.Pending);
        Assert.Equal(1, s.DroppedWorkerStopped);
        Assert.Equal(0, s.DroppedShutdown);
        Assert.Equal(0, sink.Count);
    }

    [Fact]
    public void Block_does_not_deadlock_when_shutdown_begins_while_waiting()
    {
        var gate = new GateSink();
        FapiLogOptions options = TestLog.Options(o => { o.QueueCapacity = 2; o.BatchSize = 1000; o.Overflow = OverflowStrategy.Block; o.BlockTimeout = Timeout.InfiniteTimeSpan; o.ShutdownTimeout = TimeSpan.FromSeconds(30); });
        options.AddSink(gate);
        LogPipeline pipeline = TestLog.Start(options);
        TestLog.Emit(pipeline, 1, 0);
        TestLog.Emit(pipeline, 1, 1);
        Task<bool> blocked = Task.Factory.StartNew(() => TestLog.Emit(pipeline, 1, 2), TaskCreationOptions.LongRunning);
        Assert.True(SpinWait.SpinUntil(() => pipeline.Queue.BlockedProducers == 1, TestLog.Safety));

        Task<bool> shutdown = Task.Factory.StartNew(() => pipeline.Shutdown(TestLog.Safety), TaskCreationOptions.LongRunning);

        Assert.True(blocked.Wait(TestLog.Safety));
        Assert.False(blocked.Result);
        gate.Open();
        Assert.True(shutdown.Wait(TestLog.Safety));
        Assert.True(shutdown.Result);
        FapiLogStatistics stats = pipeline.GetStatistics();
        Assert.Equal(1, stats.DroppedShutdown);
        Assert.Equal(2, stats.Delivered);
    }

    /// <summary>A Block pipeline of capacity 1 without a worker, its one slot taken: a further call waits for room.</summary>
    private static LogPipeline FullBlockingPipeline(TimeSpan blockTimeout)
    {
        FapiLogOptions options = TestLog.Options(o => { o.QueueCapacity = 1; o.BatchSize = 1; o.Overflow = OverflowStrategy.Block; o.BlockTimeout = blockTimeout; });
        var pipeline = new LogPipeline(options, FapiLogging.BuildSinks(options), startWorker: false);
        Assert.True(TestLog.Emit(pipeline, 1, 0));
        return pipeline;
    }

    private static void ShutDownAll(LogPipeline[] pipelines)
    {
        foreach (LogPipeline pipeline in pipelines)
        {
            pipeline.StartWorkerForTesting();
            Assert.True(pipeline.Shutdown(TestLog.Safety));
        }
    }

    [Fact]
    public void A_waiting_call_follows_replaced_pipelines_a_bounded_number_of_times_then_counts_one_shutdown_drop()
    {
        // Each pipeline is full when the waiting call reaches it and is replaced while the call waits there: the call
        // follows the replacements, but not for ever.
        int replacements = LogQueue.MaxReplacementsFollowed + 1;
        LogPipeline[] pipelines = Enumerable.Range(0, replacements + 1).Select(_ => FullBlockingPipeline(Timeout.InfiniteTimeSpan)).ToArray();
        Task<bool> blocked = Task.Factory.StartNew(() => TestLog.Emit(pipelines[0], 2, 0), TaskCreationOptions.LongRunning);
        try
        {
            for (int i = 0; i < replacements; i++)
            {
                LogQueue waitedIn = pipelines[i].Queue;
                Assert.True(SpinWait.SpinUntil(() => waitedIn.BlockedProducers == 1 || blocked.IsCompleted, TestLog.Safety));
                Assert.False(blocked.IsCompleted, $"the call gave up in pipeline {i}");
                pipelines[i].BeginReplacement(pipelines[i + 1]);
            }

            Assert.True(blocked.Wait(TestLog.Safety));
            Assert.False(blocked.Result);
        }
        finally
        {
            ShutDownAll(pipelines);
        }

        // Counted once, where it gave up; no pipeline took it.
        Assert.Equal(1, pipelines[replacements - 1].GetStatistics().DroppedShutdown);
        Assert.Equal(1, pipelines.Sum(p => p.GetStatistics().Dropped));
        Assert.All(pipelines, p => Assert.Equal(1, p.GetStatistics().Enqueued));
    }

    [Fact]
    public void A_waiting_call_that_follows_a_replaced_pipeline_keeps_its_block_timeout()
    {
        // The first pipeline bounds the wait, the second does not: the call must still end, at the bound it began with.
        LogPipeline[] pipelines = [FullBlockingPipeline(TimeSpan.FromSeconds(1)), FullBlockingPipeline(Timeout.InfiniteTimeSpan)];
        Task<bool> blocked = Task.Factory.StartNew(() => TestLog.Emit(pipelines[0], 2, 0), TaskCreationOptions.LongRunning);
        try
        {
            Assert.True(SpinWait.SpinUntil(() => pipelines[0].Queue.BlockedProducers == 1 || blocked.IsCompleted, TestLog.Safety));
            pipelines[0].BeginReplacement(pipelines[1]);
            Assert.True(blocked.Wait(TestLog.Safety), "the call waited on in the new pipeline without a bound");
            Assert.False(blocked.Result);
        }
        finally
        {
            ShutDownAll(pipelines);
        }

        // (Where depends on whether the bound passed before the replacement: counted once either way.)
        Assert.Equal(1, pipelines.Sum(p => p.GetStatistics().DroppedBlockTimeout));
        Assert.Equal(1, pipelines.Sum(p => p.GetStatistics().Dropped));
    }

    [Fact]
    public void Block_does_not_deadlock_when_the_sink_hangs()
    {
        var hung = new GateSink(honourCancellation: false);
        FapiLogOptions options = TestLog.Options(o => { o.QueueCapacity = 2; o.BatchSize = 2; o.Overflow = OverflowStrategy.Block; o.BlockTimeout = TimeSpan.FromMilliseconds(50); o.ShutdownTimeout = TimeSpan.FromMilliseconds(200); });
        options.AddSink(hung);
        LogPipeline pipeline = TestLog.Start(options);
        TestLog.Emit(pipeline, 1, 0);
        TestLog.Emit(pipeline, 1, 1);
        Assert.True(hung.WaitEntered(TestLog.Safety)); // the worker is stuck inside the sink with both slots

        Assert.False(TestLog.Emit(pipeline, 1, 2));
        Assert.Equal(1, pipeline.GetStatistics().DroppedBlockTimeout);

        Assert.False(pipeline.Shutdown(TimeSpan.FromMilliseconds(200))); // bounded: reports and returns
        Assert.False(TestLog.Emit(pipeline, 1, 3));
        Assert.Equal(1, pipeline.GetStatistics().DroppedShutdown);
        hung.Open();
        Assert.True(pipeline.Stopped.Wait(TestLog.Safety));
    }

    [Fact]
    public void Sample_keeps_the_configured_share_above_the_high_water_mark_and_never_samples_errors()
    {
        FapiLogOptions options = TestLog.Options(o =>
        {
            o.QueueCapacity = 100;
            o.BatchSize = 1000;
            o.Overflow = OverflowStrategy.Sample;
            o.SampleRate = 0.1;
            o.SampleHighWaterMark = 0.5;
        });
        // Holds whatever batch the worker takes (it ships a half-full queue), so that nothing leaves the queue meanwhile.
        var gate = new GateSink();
        options.AddSink(gate);
        InMemorySink sink = TestLog.Memory(options);
        LogPipeline pipeline = TestLog.Start(options);

        // Below the mark (50 of 100) everything is kept.
        Assert.Equal(50, Enumerable.Range(0, 50).Count(i => TestLog.Emit(pipeline, 1, i)));
        // Above it, exactly one in ten Information events is kept, spread evenly.
        Assert.Equal(10, Enumerable.Range(50, 100).Count(i => TestLog.Emit(pipeline, 1, i)));
        Assert.Equal(90, pipeline.GetStatistics().SampledOut);
        // Errors and Critical are never sampled out: 40 fill the queue to 100...
        Assert.Equal(20, Enumerable.Range(0, 20).Count(i => TestLog.Emit(pipeline, TestLog.Failure, i)));
        Assert.Equal(20, Enumerable.Range(0, 20).Count(i => TestLog.Emit(pipeline, TestLog.Critical, i)));
        // ...and only a full queue drops them.
        Assert.False(TestLog.Emit(pipeline, TestLog.Failure, 99));
        Assert.False(TestLog.Emit(pipeline, 1, 999));

        FapiLogStatistics stats = pipeline.GetStatistics();
        Assert.Equal(100, stats.Enqueued);
        Assert.Equal(90, stats.SampledOut);
        Assert.Equal(2, stats.DroppedQueueFull);
        Assert.Equal(192, stats.Attempted);

        gate.Open();
        Assert.True(pipeline.Flush(TestLog.Safety));
        Assert.Equal(20, sink.Events.Count(e => e.Level == LogLevel.Error));
        Assert.Equal(20, sink.Events.Count(e => e.Level == LogLevel.Critical));
        long[] keptAboveMark = sink.Events.Where(e => e.EventName == "Sequenced" && (long)e["Sequence"]! >= 50).Select(e => (long)e["Sequence"]!).ToArray();
        Assert.Equal(new long[] { 59, 69, 79, 89, 99, 109, 119, 129, 139, 149 }, keptAboveMark);
        Assert.True(pipeline.Shutdown(TestLog.Safety));
    }

    [Fact]
    public void A_call_that_waits_for_room_under_Block_keeps_the_time_it_was_made()
    {
        // "Timestamps are the call's own": the clock was read once the slot was claimed, so a call that waited 10 s for
        // room was stamped 10 s late (found by a review).
        var gate = new GateSink();
        FapiLogOptions options = TestLog.Options(o => { o.QueueCapacity = 4; o.BatchSize = 4; o.Overflow = OverflowStrategy.Block; o.BlockTimeout = TimeSpan.FromMinutes(5); });
        var clock = (FakeTime)options.TimeProvider!;
        options.AddSink(gate);
        InMemorySink sink = TestLog.Memory(options);
        LogPipeline pipeline = TestLog.Start(options);
        for (int i = 0; i < 4; i++)
        {
            Assert.True(TestLog.Emit(pipeline, 1, i));
        }

        Assert.True(gate.WaitEntered(TestLog.Safety)); // the worker holds all 4 slots inside the sink
        DateTimeOffset calledAt = clock.GetUtcNow();
        Task<bool> blocked = Task.Factory.StartNew(() => TestLog.Emit(pipeline, 1, 4), TaskCreationOptions.LongRunning);
        Assert.True(SpinWait.SpinUntil(() => pipeline.Queue.BlockedProducers == 1, TestLog.Safety));

        clock.Advance(TimeSpan.FromSeconds(10)); // the call waits 10 s for room
        gate.Open();
        Assert.True(blocked.Wait(TestLog.Safety));
        Assert.True(blocked.Result);
        Assert.True(pipeline.Shutdown(TestLog.Safety));

        Assert.Equal(calledAt, sink.Events.Single(e => (long)e["Sequence"]! == 4).Timestamp);
        Assert.Equal(calledAt, sink.Events.Single(e => (long)e["Sequence"]! == 0).Timestamp);
    }
}
