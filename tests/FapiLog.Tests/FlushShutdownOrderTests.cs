using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using FapiLog.Internal;
using FapiLog.Sinks;
using FapiLog.Tests.Support;
using Xunit;

namespace FapiLog.Tests;

/// <summary>
/// Flush and shutdown against the worker's loop, at the exact points where they used to go wrong: the worker pauses in a
/// test hook between its reads, and the test logs, flushes or closes there.
/// </summary>
public class FlushShutdownOrderTests
{
    [Fact]
    public void A_flush_completes_once_its_events_are_out_while_later_flushes_wait_for_more()
    {
        // Batch size 1, a sink that lets one batch through per Release: the test decides when each event leaves.
        FapiLogOptions options = TestLog.Options(o => { o.QueueCapacity = 8; o.BatchSize = 1; o.Overflow = OverflowStrategy.Drop; });
        var step = new StepSink();
        options.AddSink(step);
        InMemorySink sink = TestLog.Memory(options);
        var pipeline = new LogPipeline(options, FapiLogging.BuildSinks(options), startWorker: false);

        Assert.True(TestLog.Emit(pipeline, 1, 0));
        pipeline.StartWorkerForTesting();
        Assert.True(step.WaitEntered(TestLog.Safety));                                  // event 0 is in the sink
        Task<bool> first = pipeline.FlushAsync(TestLog.Safety, CancellationToken.None);   // waits for event 0 only

        try
        {
            for (long next = 1; next <= 3; next++)
            {
                // Another thread logs one more event and flushes it (a request handler that flushes at its end).
                Assert.True(TestLog.Emit(pipeline, 1, next));
                _ = pipeline.FlushAsync(TestLog.Safety, CancellationToken.None);
                step.Release();                                  // event next-1 goes out ...
                Assert.True(step.WaitEntered(TestLog.Safety));   // ... and the worker has moved on to event next
            }

            // Events 0, 1 and 2 are delivered; the worker has been past the point where it completes flushes three times.
            Assert.Equal(new long[] { 0, 1, 2 }, TestLog.Sequences(sink));
            // The worker completed (or should have) the flush before taking event 1; the task itself finishes on the thread pool.
            Assert.True(first.Wait(TestLog.Safety), "the first flush still waits although event 0 was delivered three batches ago");
            Assert.True(first.Result);
        }
        finally
        {
            step.ReleaseAll();
        }

        Assert.True(pipeline.Shutdown(TestLog.Safety));
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, false)]
    [InlineData(false, true)]
    public void An_event_logged_and_flushed_between_the_workers_reads_is_delivered_and_the_flush_succeeds(bool close, bool systemClock)
    {
        // Between the worker's read of the tail (nothing pending) and its read of the flush target, another thread logs
        // an event and flushes it. With a close too (Shutdown's BeginShutdown preempted right after _queue.Close(),
        // before it stores _finalTail), the worker is to deliver the event and exit. Without one, the worker had seen the
        // flush's target but not its event, cleared the flush's wake-up before it went idle, found nothing new when it
        // looked again, and slept the whole FlushInterval (an hour here): the flush timed out.
        FapiLogOptions options = TestLog.Options(o =>
        {
            o.QueueCapacity = 8;
            o.BatchSize = 4;
            o.FlushInterval = TimeSpan.FromHours(1);
            if (systemClock)
            {
                o.TimeProvider = TimeProvider.System;
            }
        });
        InMemorySink sink = TestLog.Memory(options);
        var pipeline = new LogPipeline(options, FapiLogging.BuildSinks(options), startWorker: false);
        Task<bool>? flush = null;
        int calls = 0;
        pipeline._afterPendingForTesting = () =>
        {
            if (Interlocked.Increment(ref calls) == 1)
            {
                Assert.True(TestLog.Emit(pipeline, 1, 42));
                Volatile.Write(ref flush, pipeline.FlushAsync(TestLog.Safety, CancellationToken.None));
                if (close)
                {
                    pipeline.Queue.Close();
                }
            }
        };
        pipeline.StartWorkerForTesting();

        Assert.True(SpinWait.SpinUntil(() => Volatile.Read(ref flush) is not null, TestLog.Safety));
        bool flushed = flush!.Wait(TestLog.Safety) && flush.Result;
        int delivered = sink.Events.Count;
        bool shutdown = pipeline.Shutdown(TestLog.Safety);   // completes BeginShutdown
        FapiLogStatistics stats = pipeline.GetStatistics();
        Assert.True(flushed && delivered == 1 && stats.Delivered == 1 && shutdown,
            $"flush={flushed} delivered before the shutdown={delivered} shutdown={shutdown} stats: {stats}");
    }

    [Fact]
    public void An_event_claimed_just_before_shutdown_does_not_make_shutdown_wait_for_the_flush_interval()
    {
        FapiLogOptions options = TestLog.Options(o =>
        {
            o.QueueCapacity = 8; o.BatchSize = 4; o.TimeProvider = TimeProvider.System; o.FlushInterval = TimeSpan.FromHours(1);
        });
        InMemorySink sink = TestLog.Memory(options);
        var pipeline = new LogPipeline(options, FapiLogging.BuildSinks(options), startWorker: false);
        int calls = 0;
        using var hookDone = new ManualResetEventSlim(false);
        pipeline._afterPendingForTesting = () =>
        {
            if (Interlocked.Increment(ref calls) == 1)
            {
                Assert.True(TestLog.Emit(pipeline, 1, 42));
                // All of BeginShutdown (close, store _finalTail, set the wake event) runs in the gap; called on the worker
                // thread, Shutdown does exactly that and returns without waiting (as another thread's would, up to its wait).
                Assert.False(pipeline.Shutdown(TestLog.Safety));
                hookDone.Set();
            }
        };
        pipeline.StartWorkerForTesting();
        Assert.True(hookDone.Wait(TestLog.Safety));

        // Before, the worker slept for the whole flush interval (an hour here) with the event in the queue.
        bool shutdown = pipeline.Shutdown(TestLog.Safety);
        FapiLogStatistics stats = pipeline.GetStatistics();
        Assert.True(shutdown && sink.Events.Count == 1, $"shutdown={shutdown} events in sink={sink.Events.Count} stats: {stats}");
    }
}
