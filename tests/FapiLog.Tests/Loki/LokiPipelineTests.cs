using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using FapiLog.Internal;
using FapiLog.Loki;
using FapiLog.Sinks;
using FapiLog.Tests.Support;
using Xunit;

namespace FapiLog.Tests.Loki;

/// <summary>Tests that replace Console.Error run alone.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ConsoleCollection
{
    public const string Name = "Console";
}

/// <summary>The Loki sink inside a real pipeline: end-to-end delivery through faults, and bounded shutdown.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class LokiPipelineTests
{
    private static ResponsePlan Flaky(int index) => (index % 4) switch
    {
        1 => new ResponsePlan(500, Body: "ingester down"),
        2 when index % 3 == 2 => new ResponsePlan(0, Hang: true),
        2 => new ResponsePlan(429, RetryAfter: "0"),
        _ => ResponsePlan.NoContent,
    };

    /// <summary>
    /// A Loki behind a proxy that takes at most two entries a request (413 above) and refuses (400) a request that holds
    /// one of <paramref name="refused"/>.
    /// </summary>
    private static LokiReceiver RefusingSome(params long[] refused) => new((_, request) =>
        request.AllEntries().Count() > 2 ? new ResponsePlan(413, Body: "too large")
        : request.AllEntries().Any(e => refused.Contains(e.Json.GetProperty("OrderId").GetInt64())) ? new ResponsePlan(400, Body: "bad entry")
        : ResponsePlan.NoContent);

    private static LokiSink FastRetrying(Uri url) => LokiTestEvents.FastRetrying(url);

    [Fact]
    public void A_batch_Loki_takes_in_part_counts_the_events_it_took_as_delivered_and_only_the_others_as_failed()
    {
        // One pipeline batch of four goes out in requests of two: Loki takes the one with orders 3 and 4 and refuses the
        // one with 1 and 2. All four were counted failed, and none delivered, while Loki's own statistics said 2 and 2.
        using var receiver = RefusingSome(1);
        FapiLogOptions options = TestLog.Options(o => o.BatchSize = 4);
        LokiSink loki = FastRetrying(receiver.Url);
        var pipeline = new LogPipeline(options, [loki], startWorker: false);
        for (int i = 1; i <= 4; i++)
        {
            Assert.True(LokiTestEvents.LogOrder(pipeline, i, "alice", i));
        }

        pipeline.StartWorkerForTesting();
        Assert.True(pipeline.Shutdown(TestLog.Safety));

        Assert.Equal(2, loki.Statistics.EntriesSent);
        Assert.Equal(2, loki.Statistics.EntriesFailed);
        FapiLogStatistics stats = pipeline.GetStatistics();
        Assert.Equal(4, stats.Enqueued);
        Assert.Equal(2, stats.Delivered);
        Assert.Equal(2, stats.Failed);
    }

    [Theory]
    // Of four events (sent in requests of two: orders 1 and 2, then 3 and 4), the first Loki refuses orders 1 and 2, the
    // second 3 and 4, the third 1 and 2 again: no event reached every sink, so all four failed, each counted once.
    [InlineData("1 3 2", 0, 4)]
    // Both refuse orders 3 and 4 (an in-memory sink beside them takes all): 1 and 2 are delivered.
    [InlineData("4 3", 2, 2)]
    public void Loki_sinks_that_fail_parts_of_a_batch_count_each_event_once_failed_when_any_failed_it(string refusedBySink, long delivered, long failed)
    {
        LokiReceiver[] receivers = refusedBySink.Split(' ').Select(order => RefusingSome(long.Parse(order, System.Globalization.CultureInfo.InvariantCulture))).ToArray();
        try
        {
            FapiLogOptions options = TestLog.Options(o => o.BatchSize = 4);
            LogSink[] sinks = [.. receivers.Select(r => FastRetrying(r.Url)), new InMemorySink()];
            var pipeline = new LogPipeline(options, sinks, startWorker: false);
            for (int i = 1; i <= 4; i++)
            {
                Assert.True(LokiTestEvents.LogOrder(pipeline, i, "alice", i));
            }

            pipeline.StartWorkerForTesting();
            Assert.True(pipeline.Shutdown(TestLog.Safety));

            FapiLogStatistics stats = pipeline.GetStatistics();
            Assert.Equal(delivered, stats.Delivered);
            Assert.Equal(failed, stats.Failed);
        }
        finally
        {
            foreach (LokiReceiver receiver in receivers)
            {
                receiver.Dispose();
            }
        }
    }

    [Fact]
    public void A_push_that_will_be_tried_again_is_said_on_stderr_at_once_and_so_is_its_success_once_a_minute_at_most()
    {
        // The failure report came only once a batch was given up, after every attempt (about six minutes with the
        // defaults): a wrong URL, or a Loki that is down, looked meanwhile like a sink that works.
        using var receiver = new LokiReceiver((i, _) => i is 0 or 1 or 3 ? new ResponsePlan(503, Body: "ingester down") : ResponsePlan.NoContent);
        FapiLogOptions options = TestLog.Options();
        var pipeline = new LogPipeline(options, [FastRetrying(receiver.Url)]);
        using var stderr = new StderrCapture();
        Assert.True(LokiTestEvents.LogOrder(pipeline, 1, "alice", 1));
        Assert.True(pipeline.Flush(TestLog.Safety));
        // A second outage within the minute says nothing new (a Loki that flaps), and its push goes through quietly.
        Assert.True(LokiTestEvents.LogOrder(pipeline, 2, "bob", 2));
        Assert.True(pipeline.Shutdown(TestLog.Safety));

        Assert.Equal(5, receiver.Requests.Count);
        Assert.Equal(2, pipeline.GetStatistics().Delivered);
        string[] lines = stderr.Lines();
        string retrying = Assert.Single(lines, l => l.Contains("trying again", StringComparison.Ordinal));
        Assert.Contains($"Loki push to {receiver.Url}", retrying, StringComparison.Ordinal);
        Assert.Contains("http_503", retrying, StringComparison.Ordinal);
        Assert.Contains("up to 10 attempts in all", retrying, StringComparison.Ordinal);
        Assert.Single(lines, l => l.Contains("went through at attempt 3", StringComparison.Ordinal));
        Assert.Equal(2, lines.Length);
    }

    [Fact]
    public void With_Block_nothing_is_lost_or_duplicated_whatever_the_receiver_does_within_the_retry_bound()
    {
        using var receiver = new LokiReceiver((i, _) => Flaky(i));
        var options = new FapiLogOptions
        {
            QueueCapacity = 64,
            Overflow = OverflowStrategy.Block,
            BlockTimeout = Timeout.InfiniteTimeSpan,
            BatchSize = 20,
            FlushInterval = TimeSpan.FromMilliseconds(20),
        };
        options.Loki.Url = receiver.Url;
        options.Loki.MinBackoff = TimeSpan.FromMilliseconds(5);
        options.Loki.MaxBackoff = TimeSpan.FromMilliseconds(20);
        options.Loki.RequestTimeout = TimeSpan.FromMilliseconds(300);
        var sink = new LokiSink(options.Loki);
        var pipeline = new LogPipeline(options, [sink]);
        try
        {
            const int PerProducer = 250;
            var producers = Enumerable.Range(0, 2).Select(p => new Thread(() =>
            {
                for (int i = 0; i < PerProducer; i++)
                {
                    Assert.True(LokiTestEvents.LogOrder(pipeline, (p * PerProducer) + i + 1, "producer" + p, i));
                }
            })).ToList();
            producers.ForEach(t => t.Start());
            producers.ForEach(t => Assert.True(t.Join(LokiReceiver.SafetyTimeout)));
            Assert.True(pipeline.Flush(LokiReceiver.SafetyTimeout));

            // What Loki stores: the entries of the answered 2xx pushes, an entry with the same stream, timestamp and line kept
            // once. A push answered 2xx after RequestTimeout (a loaded machine) is sent again with the same body, and Loki
            // keeps one copy; a retry that changed a timestamp or line would show here as a duplicate OrderId.
            IReadOnlyList<ReceivedRequest> requests = receiver.Requests;
            List<long> delivered = requests.Where((_, i) => Flaky(i).Status is >= 200 and < 300)
                .SelectMany(r => r.Decode())
                .SelectMany(s => s.Entries.Select(e => (s.LabelText, e.Nanoseconds, e.Line, Entry: e)))
                .DistinctBy(e => (e.LabelText, e.Nanoseconds, e.Line))
                .Select(e => e.Entry.Json.GetProperty("OrderId").GetInt64()).ToList();
            Assert.Equal(Enumerable.Range(1, 2 * PerProducer).Select(i => (long)i), delivered.Order());
            Assert.True(sink.Statistics.Retries > 0);
            Assert.Equal(0, sink.Statistics.EntriesFailed);
            FapiLogStatistics stats = pipeline.GetStatistics();
            Assert.Equal(2 * PerProducer, stats.Delivered);
            Assert.Equal(0, stats.Failed);
            Assert.Equal(0, stats.Dropped);
        }
        finally
        {
            pipeline.Shutdown(TimeSpan.FromSeconds(5));
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Shutdown_while_Loki_is_down_or_hung_returns_within_the_bound_and_reports(bool hung)
    {
        using var receiver = new LokiReceiver((_, _) => hung ? new ResponsePlan(0, Hang: true) : new ResponsePlan(503, Body: "down"));
        var options = new FapiLogOptions
        {
            QueueCapacity = 100,
            BatchSize = 10,
            FlushInterval = TimeSpan.FromMilliseconds(20),
            ShutdownTimeout = TimeSpan.FromMilliseconds(500),
        };
        options.Loki.Url = receiver.Url;
        options.Loki.MaxAttempts = 1000;
        options.Loki.MinBackoff = TimeSpan.FromMilliseconds(50);
        options.Loki.MaxBackoff = TimeSpan.FromMilliseconds(200);
        var sink = new LokiSink(options.Loki);
        var pipeline = new LogPipeline(options, [sink]);
        using var stderr = new StderrCapture();
        for (int i = 1; i <= 25; i++)
        {
            Assert.True(LokiTestEvents.LogOrder(pipeline, i, "x", 1m));
        }

        receiver.WaitForRequests(1);
        bool finished = true;
        var shutdown = new Thread(() => finished = pipeline.Shutdown(options.ShutdownTimeout));
        shutdown.Start();
        Assert.True(shutdown.Join(LokiReceiver.SafetyTimeout), "Shutdown did not return");
        Assert.False(finished);
        Assert.True(pipeline.Stopped.Wait(LokiReceiver.SafetyTimeout), "the worker did not stop after the abort");

        FapiLogStatistics stats = pipeline.GetStatistics();
        Assert.Equal(0, stats.Delivered);
        Assert.Equal(25, stats.Failed);
        Assert.Equal(25, sink.Statistics.GetEntriesFailed(LokiFailureReasons.Shutdown));
        string reported = stderr.Text;
        Assert.Contains("were not delivered", reported, StringComparison.Ordinal);
        Assert.Contains("Loki push to", reported, StringComparison.Ordinal);
        Assert.Contains("25 entries could not be delivered", reported, StringComparison.Ordinal);
    }

    [Fact]
    public void The_shutdown_report_says_why_Loki_has_not_taken_the_events_in_the_same_line()
    {
        // The sink's own give-up line is written by its sender thread after the abort, which may be after Shutdown has
        // returned and the process has ended: the pipeline's line, written before Shutdown returns, must carry the reason.
        using var receiver = new LokiReceiver((_, _) => new ResponsePlan(503, Body: "ingester down for maintenance"));
        (LogPipeline pipeline, LokiSink sink) = StartBackingOffAfterFirstAnswer(receiver);
        using var stderr = new StderrCapture();
        Assert.True(LokiTestEvents.LogOrder(pipeline, 1, "x", 1m));
        // The first attempt was answered and the sender waits out its backoff: the failure is known now.
        Assert.True(SpinWait.SpinUntil(() => sink.Statistics.Retries >= 1, LokiReceiver.SafetyTimeout), "no retry was scheduled");

        Assert.False(pipeline.Shutdown(TimeSpan.FromMilliseconds(100)));

        string line = stderr.Text.Split('\n').Single(l => l.Contains("shutdown did not finish", StringComparison.Ordinal));
        Assert.Contains("503", line, StringComparison.Ordinal);
        Assert.Contains("ingester down for maintenance", line, StringComparison.Ordinal);
    }

    [Fact]
    public void A_shutdown_that_gives_up_on_Loki_has_counted_every_buffered_event_as_failed_when_it_returns()
    {
        // A soak run that stopped while Loki answered 429 found 17,000 events still pending, and the send buffer still
        // holding them, after Shutdown had returned: the sender gave the batches up one by one, encoding each first, and
        // the process ended before it was through. The counts must add up when Shutdown returns.
        using var receiver = new LokiReceiver((_, _) => new ResponsePlan(503, Body: "ingester down"));
        (LogPipeline pipeline, LokiSink sink) = StartBackingOffAfterFirstAnswer(receiver);
        // Not disposed: the sender thread may call the hook below once more after the test (a wait on a disposed event
        // would throw there and end the test process).
        var sender = new ManualResetEventSlim();
        using var silenced = new StderrCapture();
        try
        {
            Assert.True(LokiTestEvents.LogOrder(pipeline, 0, "first", 1m));
            Assert.True(SpinWait.SpinUntil(() => sink.Statistics.Retries >= 1, LokiReceiver.SafetyTimeout), "no retry was scheduled");

            // The sender waits out its backoff on the first batch; once it has given that one up, it goes no further, so
            // that whatever is counted of the rest when Shutdown returns was counted by the shutdown itself.
            sink._sentForTesting = () => sender.Wait(LokiReceiver.SafetyTimeout);
            FillSendBufferAndGiveUp(pipeline, sink);
            Assert.Equal(0, sink.Statistics.BufferedBytes);
        }
        finally
        {
            sender.Set();
            Assert.True(pipeline.Stopped.Wait(LokiReceiver.SafetyTimeout));
        }

        // Let go by the sender afterwards, counted once.
        Assert.Equal(31, pipeline.GetStatistics().Failed);
        Assert.Equal(31, sink.Statistics.EntriesFailed);
        Assert.Equal(0, sink.HeldBytes);
    }

    /// <summary>
    /// Logs 30 events behind the first, which Loki's sender holds in its backoff, waits until all 31 are in the send
    /// buffer, and checks that a shutdown that gives up (0.1 s) has counted every one of them as given up when it returns.
    /// </summary>
    private static void FillSendBufferAndGiveUp(LogPipeline pipeline, LokiSink sink)
    {
        for (int i = 1; i <= 30; i++)
        {
            Assert.True(LokiTestEvents.LogOrder(pipeline, i, "x", 1m));
        }

        Assert.True(SpinWait.SpinUntil(() => sink.Statistics.BufferedEntries == 31, LokiReceiver.SafetyTimeout), "the events never reached the send buffer");

        Assert.False(pipeline.Shutdown(TimeSpan.FromMilliseconds(100)));

        FapiLogStatistics stats = pipeline.GetStatistics();
        LokiStatistics counted = sink.Statistics;
        Assert.Equal(0, stats.Pending);
        Assert.Equal(31, stats.Failed);
        Assert.Equal(0, counted.BufferedEntries);
        Assert.Equal(31, counted.GetEntriesFailed(LokiFailureReasons.Shutdown));
    }

    /// <summary>A sink whose flush hangs, ignoring the token, until the test lets it go.</summary>
    private sealed class HungFlushSink(ManualResetEventSlim release) : LogSink
    {
        public override void Write(in LogBatch batch, CancellationToken cancellationToken)
        {
        }

        public override void Flush(CancellationToken cancellationToken) => release.Wait(LokiReceiver.SafetyTimeout);
    }

    [Fact]
    public void A_shutdown_that_gives_up_counts_what_Loki_holds_also_when_another_sink_held_the_worker_up()
    {
        // The abort reached the Loki sink only through its flush. Behind a sink whose flush hangs (or a second Loki sink),
        // the worker had not got there when Shutdown returned: the send buffer was still counted as pending, and the
        // sender went on waiting to retry, as if nothing had given up.
        using var receiver = new LokiReceiver((_, _) => new ResponsePlan(503, Body: "ingester down"));
        FapiLogOptions options = BackingOffAfterFirstAnswer(receiver);
        using var release = new ManualResetEventSlim();
        var loki = new LokiSink(options.Loki);
        var pipeline = new LogPipeline(options, [new HungFlushSink(release), loki]);
        using var silenced = new StderrCapture();
        try
        {
            Assert.True(LokiTestEvents.LogOrder(pipeline, 0, "first", 1m));
            Assert.True(SpinWait.SpinUntil(() => loki.Statistics.Retries >= 1, LokiReceiver.SafetyTimeout), "no retry was scheduled");
            // The worker is in the other sink's flush until the test lets it go, after the checks.
            FillSendBufferAndGiveUp(pipeline, loki);
        }
        finally
        {
            release.Set();
            Assert.True(pipeline.Stopped.Wait(LokiReceiver.SafetyTimeout));
        }

        // Counted once, and nothing was sent after the first attempt.
        Assert.Equal(31, pipeline.GetStatistics().Failed);
        Assert.Equal(31, loki.Statistics.EntriesFailed);
        Assert.Single(receiver.Requests);
        Assert.Equal(0, loki.HeldBytes);
    }

    [Fact]
    public void A_shutdown_that_gives_up_waits_for_a_request_whose_handler_ignores_cancellation_once()
    {
        // The abort cancels the flush the worker is in, and then tells each Loki sink to give up what it holds: the
        // request of a handler that does not unwind when cancelled must be waited for (0.1 s) once, not by both.
        using var receiver = new LokiReceiver((_, _) => new ResponsePlan(0, Hang: true));
        using var handler = new SlowToCancelHandler();
        var options = new FapiLogOptions { BatchSize = 10, FlushInterval = TimeSpan.FromMilliseconds(20) };
        options.Loki.Url = receiver.Url;
        options.Loki.HttpMessageHandler = handler;
        var sink = new LokiSink(options.Loki);
        int waits = 0;
        sink._inFlightWaitForTesting = () => Interlocked.Increment(ref waits);
        var pipeline = new LogPipeline(options, [sink]);
        using var silenced = new StderrCapture();
        try
        {
            Assert.True(LokiTestEvents.LogOrder(pipeline, 1, "a", 1m));
            receiver.WaitForRequests(1);
            Assert.False(pipeline.Shutdown(TimeSpan.FromMilliseconds(100)));
            Assert.Equal(1, Volatile.Read(ref waits));
        }
        finally
        {
            handler.Unwind();
            Assert.True(pipeline.Stopped.Wait(LokiReceiver.SafetyTimeout));
        }

        Assert.Equal(1, pipeline.GetStatistics().Failed);
        Assert.Equal(1, sink.Statistics.GetEntriesFailed(LokiFailureReasons.Shutdown));
    }

    /// <summary>Batches of 10 to a Loki sink whose sender, once its first push is refused, waits out a 30-minute backoff.</summary>
    private static (LogPipeline Pipeline, LokiSink Sink) StartBackingOffAfterFirstAnswer(LokiReceiver receiver)
    {
        FapiLogOptions options = BackingOffAfterFirstAnswer(receiver);
        var sink = new LokiSink(options.Loki);
        return (new LogPipeline(options, [sink]), sink);
    }

    /// <summary>Batches of 10 to Loki at <paramref name="receiver"/>, retried after a 30-minute backoff once refused.</summary>
    private static FapiLogOptions BackingOffAfterFirstAnswer(LokiReceiver receiver)
    {
        var options = new FapiLogOptions
        {
            QueueCapacity = 100,
            BatchSize = 10,
            FlushInterval = TimeSpan.FromMilliseconds(20),
        };
        options.Loki.Url = receiver.Url;
        options.Loki.MinBackoff = TimeSpan.FromMinutes(30);
        options.Loki.MaxBackoff = TimeSpan.FromMinutes(30);
        return options;
    }

    /// <summary>Batches of 10, a short shutdown, and the smallest send buffer, pushing to a Loki that never answers.</summary>
    private static FapiLogOptions SmallBufferHungLoki(LokiReceiver receiver, OverflowStrategy overflow, int queueCapacity)
    {
        var options = new FapiLogOptions
        {
            QueueCapacity = queueCapacity,
            BatchSize = 10,
            Overflow = overflow,
            FlushInterval = TimeSpan.FromMilliseconds(20),
            ShutdownTimeout = TimeSpan.FromMilliseconds(200),
        };
        options.Loki.Url = receiver.Url;
        options.Loki.MaxAttempts = 1000;
        options.Loki.MaxBufferedBytes = LokiOptions.MinBufferedBytes;
        return options;
    }

    [Fact]
    public void While_Loki_hangs_the_other_sinks_get_every_event_and_the_send_buffer_gives_up_what_does_not_fit()
    {
        // A Loki that never answers once held the worker, so the console and the file went quiet and the queue overflowed.
        // Now the other sinks get everything; Loki's sender holds what fits in its buffer and the rest is given up, counted.
        using var receiver = new LokiReceiver((_, _) => new ResponsePlan(0, Hang: true));
        FapiLogOptions options = SmallBufferHungLoki(receiver, OverflowStrategy.Drop, queueCapacity: 1000);
        var sink = new LokiSink(options.Loki);
        var memory = new InMemorySink();
        var pipeline = new LogPipeline(options, [sink, memory]);
        using var silenced = new StderrCapture();
        try
        {
            Assert.True(LokiTestEvents.LogOrder(pipeline, 0, "first", 1m));
            receiver.WaitForRequests(1);

            // The sender is stuck in a push that never returns.
            for (int i = 1; i < 1000; i++)
            {
                Assert.True(LokiTestEvents.LogOrder(pipeline, i, "x", 1m));
            }

            Assert.True(memory.WaitForCount(1000, LokiReceiver.SafetyTimeout), $"the other sink got {memory.Count} of 1000");
            // Every Loki write has happened (the other sink comes after it); the last batch's count follows it.
            long givenUp = sink.Statistics.GetEntriesFailed(LokiFailureReasons.BufferFull);
            Assert.True(SpinWait.SpinUntil(() => pipeline.GetStatistics().Failed == givenUp, LokiReceiver.SafetyTimeout));
            FapiLogStatistics stats = pipeline.GetStatistics();
            Assert.Equal(0, stats.Dropped);
            Assert.InRange(givenUp, 1, 999);
            Assert.InRange(sink.Statistics.BufferedBytes, 1, options.Loki.MaxBufferedBytes);

            // Counted as delivered only once Loki has them: the batches the buffer holds are still pending.
            Assert.Equal(0, stats.Delivered);
            Assert.Equal(givenUp, stats.Failed);
            Assert.Equal(1000 - givenUp, stats.Pending);
        }
        finally
        {
            Assert.False(pipeline.Shutdown(options.ShutdownTimeout));
            Assert.True(pipeline.Stopped.Wait(LokiReceiver.SafetyTimeout));
        }

        // Shutdown gave up what the buffer held: every event is accounted for, none as delivered.
        FapiLogStatistics final = pipeline.GetStatistics();
        Assert.Equal(0, final.Delivered);
        Assert.Equal(1000, final.Failed);
        Assert.Equal(1000, sink.Statistics.EntriesFailed);
    }

    [Fact]
    public void With_Block_a_full_send_buffer_holds_the_worker_and_gives_nothing_up()
    {
        // Under Block the buffer is backpressure: the worker waits for room, the queue fills, the producer waits; nothing is
        // given up until shutdown runs out of time.
        using var receiver = new LokiReceiver((_, _) => new ResponsePlan(0, Hang: true));
        FapiLogOptions options = SmallBufferHungLoki(receiver, OverflowStrategy.Block, queueCapacity: 100);
        options.BlockTimeout = Timeout.InfiniteTimeSpan;
        var sink = new LokiSink(options.Loki);
        var pipeline = new LogPipeline(options, [sink]);
        using var silenced = new StderrCapture();
        var producer = new Thread(() =>
        {
            for (int i = 0; i < 5000; i++)
            {
                LokiTestEvents.LogOrder(pipeline, i, "x", 1m);
            }
        });
        try
        {
            producer.Start();
            Assert.True(SpinWait.SpinUntil(() => sink.IsWaitingForRoom && pipeline.Queue.BlockedProducers == 1, LokiReceiver.SafetyTimeout),
                "the worker never waited for room with the producer waiting behind it");

            FapiLogStatistics stats = pipeline.GetStatistics();
            Assert.Equal(0, sink.Statistics.EntriesFailed);
            Assert.Equal(0, stats.Failed + stats.Dropped);
            Assert.InRange(sink.Statistics.BufferedBytes, 1, options.Loki.MaxBufferedBytes);
            Assert.True(stats.Enqueued > options.QueueCapacity + options.BatchSize, $"{stats.Enqueued} enqueued: the buffer took nothing beyond the queue");
        }
        finally
        {
            Assert.False(pipeline.Shutdown(options.ShutdownTimeout));
            Assert.True(pipeline.Stopped.Wait(LokiReceiver.SafetyTimeout));
            Assert.True(producer.Join(LokiReceiver.SafetyTimeout), "the producer stayed blocked after shutdown");
        }

        FapiLogStatistics final = pipeline.GetStatistics();
        Assert.Equal(0, sink.Statistics.GetEntriesFailed(LokiFailureReasons.BufferFull));
        Assert.Equal(final.Enqueued, final.Failed);
        Assert.Equal(final.Enqueued, sink.Statistics.GetEntriesFailed(LokiFailureReasons.Shutdown));
    }

    [Fact]
    public void With_Block_drops_are_said_on_stderr_while_the_worker_waits_for_room_in_the_send_buffer()
    {
        // The soak run's finding: Loki down, the worker waits for room, the queue fills, calls give up after BlockTimeout,
        // and stderr said nothing until the worker got out of the sink (48 s there, minutes at the longest backoff).
        using var receiver = new LokiReceiver((_, _) => new ResponsePlan(0, Hang: true));
        FapiLogOptions options = SmallBufferHungLoki(receiver, OverflowStrategy.Block, queueCapacity: 100);
        var time = new Support.FakeTime();
        options.TimeProvider = time;
        options.BlockTimeout = TimeSpan.FromMilliseconds(1);
        options.DropWarningInterval = TimeSpan.FromSeconds(10);
        var sink = new LokiSink(options.Loki);
        var pipeline = new LogPipeline(options, [sink]);
        using var stderr = new StderrCapture();
        try
        {
            // Until the buffer is full and the worker waits for room; calls may give up meanwhile (the first drop is due at
            // once, whoever says it). Then until a call gives up behind the waiting worker.
            int logged = 0;
            while (!sink.IsWaitingForRoom)
            {
                Assert.True(logged++ < 1_000_000, "the worker never waited for room");
                LokiTestEvents.LogOrder(pipeline, logged, "x", 1m);
            }

            while (LokiTestEvents.LogOrder(pipeline, logged++, "x", 1m))
            {
            }

            // Past the interval, the worker still held: the drops since the first line are said now.
            time.Advance(options.DropWarningInterval);
            Assert.True(sink.IsWaitingForRoom);
            long said = stderr.Text.Split('\n')
                .Select(l => System.Text.RegularExpressions.Regex.Match(l, @"^FapiLog dropped (\d+) event\(s\)"))
                .Where(m => m.Success)
                .Sum(m => long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
            FapiLogStatistics stats = pipeline.GetStatistics();
            Assert.True(said == stats.DroppedBlockTimeout, $"stderr said {said} of {stats.DroppedBlockTimeout} dropped:\n{stderr.Text}");
        }
        finally
        {
            Assert.False(pipeline.Shutdown(options.ShutdownTimeout));
            Assert.True(pipeline.Stopped.Wait(LokiReceiver.SafetyTimeout));
        }
    }

    [Fact]
    public void A_flush_while_Loki_hangs_does_not_hold_up_the_other_sinks_and_completes_when_Loki_answers()
    {
        // The worker once waited inside the Loki sink's flush, for minutes while Loki was down, and the console waited with it.
        using var release = new ManualResetEventSlim();
        using var receiver = new LokiReceiver((_, _) =>
        {
            release.Wait(LokiReceiver.SafetyTimeout);
            return new ResponsePlan(204);
        });
        var options = new FapiLogOptions { BatchSize = 10, FlushInterval = TimeSpan.FromMilliseconds(20) };
        options.Loki.Url = receiver.Url;
        var memory = new InMemorySink();
        var pipeline = new LogPipeline(options, [new LokiSink(options.Loki), memory]);
        try
        {
            Assert.True(LokiTestEvents.LogOrder(pipeline, 1, "a", 1m));
            receiver.WaitForRequests(1);
            Task<bool> flushed = pipeline.FlushAsync(Timeout.InfiniteTimeSpan, CancellationToken.None);

            // The flush waits for Loki; the other sink gets the next event meanwhile.
            Assert.True(LokiTestEvents.LogOrder(pipeline, 2, "b", 1m));
            Assert.True(memory.WaitForCount(2, LokiReceiver.SafetyTimeout), "the other sink waited for Loki's flush");
            Assert.False(flushed.IsCompleted);
            Assert.Equal(0, pipeline.GetStatistics().Delivered);

            release.Set();
            Assert.True(flushed.Wait(LokiReceiver.SafetyTimeout) && flushed.Result, "the flush did not complete once Loki answered");
            Assert.True(pipeline.GetStatistics().Delivered >= 1);
        }
        finally
        {
            release.Set();
            Assert.True(pipeline.Shutdown(LokiReceiver.SafetyTimeout));
        }

        Assert.Equal(2, pipeline.GetStatistics().Delivered);
    }

    [Fact]
    public void After_the_worker_died_a_flush_does_not_report_success_while_Loki_still_holds_the_events()
    {
        // The worker handed the batch to the Loki sender and then died: nothing flushes or disposes the sink, but the
        // sender still holds the event. Flush and Shutdown once said all was delivered because the queue was empty (a
        // shutdown that Loki outlasts now gives the event up: see the test below).
        using var release = new ManualResetEventSlim();
        using LokiReceiver receiver = HoldingLoki(release, out FapiLogOptions options);
        var pipeline = new LogPipeline(options, [new LokiSink(options.Loki)]);
        using var silenced = new StderrCapture();
        try
        {
            Assert.True(LokiTestEvents.LogOrder(pipeline, 1, "a", 1m));
            receiver.WaitForRequests(1);
            Assert.True(SpinWait.SpinUntil(() => pipeline.Queue.Head >= 1, LokiReceiver.SafetyTimeout));
            Task<bool> flush = pipeline.FlushAsync(Timeout.InfiniteTimeSpan, CancellationToken.None);
            // What the statistics say at the moment the flush reports success: the event must be done by then.
            Task<long> doneAtFlush = flush.ContinueWith(
                t => t.Result ? pipeline.GetStatistics().Delivered + pipeline.GetStatistics().Failed : -1,
                CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            pipeline.FaultWorkerForTesting();
            Assert.True(pipeline.Stopped.Wait(LokiReceiver.SafetyTimeout));

            Assert.Equal(1, pipeline.GetStatistics().Pending);
            Assert.False(pipeline.Flush(TimeSpan.Zero), "a flush said the event held by Loki's sender was delivered");

            release.Set();
            Assert.True(pipeline.Flush(LokiReceiver.SafetyTimeout));
            Assert.Equal(1, pipeline.GetStatistics().Delivered);
            Assert.True(doneAtFlush.Wait(LokiReceiver.SafetyTimeout));
            Assert.Equal(1, doneAtFlush.Result);
            Assert.True(pipeline.Shutdown(LokiReceiver.SafetyTimeout));
        }
        finally
        {
            release.Set();
        }
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public async Task After_the_worker_died_a_shutdown_that_Loki_outlasts_gives_up_what_it_holds_counts_it_and_says_so_once(bool async, bool stranded)
    {
        // A shutdown whose live worker does not finish gives up what Loki holds, counted, and says so. After the worker
        // died, the shutdown waited for Loki's sender and, when that wait ran out, returned false and left the event
        // pending, the sender still at it after Shutdown had returned, and nothing said. With events stranded in the queue
        // it did not even wait.
        using var release = new ManualResetEventSlim();
        using LokiReceiver receiver = HoldingLoki(release, out FapiLogOptions options);
        var gate = new GateSink();
        var loki = new LokiSink(options.Loki);
        var pipeline = new LogPipeline(options, stranded ? [gate, loki] : [loki]);
        if (!stranded)
        {
            gate.Open();
        }

        using var stderr = new StderrCapture();
        try
        {
            Assert.True(LokiTestEvents.LogOrder(pipeline, 1, "a", 1m));
            if (stranded)
            {
                // A second event comes while the worker is in the first one's batch, which it hands to Loki and then dies
                // before releasing it: the second is stranded in the queue, the first held by Loki's sender (not stranded:
                // the death line counted it as lost, and the give-up line again).
                Assert.True(gate.WaitEntered(LokiReceiver.SafetyTimeout));
                Assert.True(LokiTestEvents.LogOrder(pipeline, 2, "b", 2m));
                pipeline.FaultWorkerForTesting();
                gate.Open();
            }
            else
            {
                Assert.True(SpinWait.SpinUntil(() => pipeline.Queue.Head >= 1, LokiReceiver.SafetyTimeout));
                pipeline.FaultWorkerForTesting();
            }

            Assert.True(pipeline.Stopped.Wait(LokiReceiver.SafetyTimeout));
            receiver.WaitForRequests(1); // the sender holds the event: its push waits for the test
            Assert.Equal(stranded ? 2 : 1, pipeline.GetStatistics().Pending);

            TimeSpan timeout = TimeSpan.FromMilliseconds(100);
            Assert.False(async ? await pipeline.ShutdownAsync(timeout, CancellationToken.None) : pipeline.Shutdown(timeout));
            Assert.Single(stderr.Lines(), l => l.StartsWith($"FapiLog: shutdown did not finish within 0.1 s; {(stranded ? 2 : 1)} event(s) were not delivered", StringComparison.Ordinal));
            // A reader adding up the lines counts each event once: the death line names the stranded event only, and the
            // give-up line, which counts it again beside the one Loki held, says so.
            Assert.Single(stderr.Lines(), l => l.StartsWith($"FapiLog: the background worker stopped unexpectedly; {(stranded ? 1 : 0)} queued event(s)", StringComparison.Ordinal));
            Assert.Equal(stranded, stderr.Text.Contains("2 event(s) were not delivered to every sink, 1 of them named already when the worker stopped (", StringComparison.Ordinal));

            // Counted as given up at shutdown, as a shutdown that gives up on a live worker counts it (the sender counts
            // the push it was told to cancel); the stranded event stays pending, as the death line said.
            Assert.True(SpinWait.SpinUntil(() => pipeline.GetStatistics().Pending == (stranded ? 1 : 0), LokiReceiver.SafetyTimeout), "the event held by Loki stayed pending");
            FapiLogStatistics stats = pipeline.GetStatistics();
            Assert.Equal(0, stats.Delivered);
            Assert.Equal(1, stats.Failed);
            Assert.Equal(1, loki.Statistics.GetEntriesFailed(LokiFailureReasons.Shutdown));

            // A second shutdown (the exit hook after yours) does not say it again.
            _ = async ? await pipeline.ShutdownAsync(timeout, CancellationToken.None) : pipeline.Shutdown(timeout);
            Assert.Single(stderr.Lines(), l => l.Contains("shutdown did not finish", StringComparison.Ordinal));
        }
        finally
        {
            release.Set();
            gate.Open();
            loki.Dispose();
        }

        // Nothing was delivered after the give-up, once Loki answered.
        Assert.Equal(0, pipeline.GetStatistics().Delivered);
        Assert.Equal(1, pipeline.GetStatistics().Failed);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task After_the_worker_died_a_shutdown_leaves_what_a_Loki_sink_handed_over_to_the_next_pipeline_holds_and_says_nothing(bool async)
    {
        // Configure again with the same Loki sink after the worker died: the sink is the next pipeline's now, and what it
        // holds is that pipeline's to wait for (a shutdown leaves a handed-over sink's batches alone). The shutdown that
        // Loki outlasted said on stderr that the event was not delivered, and the sender delivered it right after.
        using var release = new ManualResetEventSlim();
        using LokiReceiver receiver = HoldingLoki(release, out FapiLogOptions options);
        var loki = new LokiSink(options.Loki);
        var pipeline = new LogPipeline(options, [loki]);
        using var stderr = new StderrCapture();
        try
        {
            Assert.True(LokiTestEvents.LogOrder(pipeline, 1, "a", 1m));
            Assert.True(SpinWait.SpinUntil(() => pipeline.Queue.Head >= 1, LokiReceiver.SafetyTimeout));
            pipeline.FaultWorkerForTesting();
            Assert.True(pipeline.Stopped.Wait(LokiReceiver.SafetyTimeout));
            receiver.WaitForRequests(1); // the sender holds the event: its push waits for the test

            pipeline.HandOver([loki]);
            TimeSpan timeout = TimeSpan.FromMilliseconds(100);
            Assert.False(async ? await pipeline.ShutdownAsync(timeout, CancellationToken.None) : pipeline.Shutdown(timeout));
            Assert.DoesNotContain(stderr.Lines(), l => l.Contains("shutdown did not finish", StringComparison.Ordinal));
            Assert.Equal(1, pipeline.GetStatistics().Pending);

            // The sender still pushes it, and it is counted as delivered.
            release.Set();
            Assert.True(SpinWait.SpinUntil(() => pipeline.GetStatistics().Delivered == 1, LokiReceiver.SafetyTimeout), "the handed-over event was not delivered");
            Assert.Equal(0, pipeline.GetStatistics().Failed);
        }
        finally
        {
            release.Set();
            loki.Dispose();
        }
    }

    /// <summary>A fake Loki that holds every push until <paramref name="release"/> is set, and options that send to it.</summary>
    private static LokiReceiver HoldingLoki(ManualResetEventSlim release, out FapiLogOptions options)
    {
        var receiver = new LokiReceiver((_, _) =>
        {
            release.Wait(LokiReceiver.SafetyTimeout);
            return ResponsePlan.NoContent;
        });
        options = new FapiLogOptions { BatchSize = 10, FlushInterval = TimeSpan.FromMilliseconds(20) };
        options.Loki.Url = receiver.Url;
        return receiver;
    }

    /// <summary>Logs into a pipeline before every request, as a handler from IHttpClientFactory logs through the ILogger bridge.</summary>
    private sealed class LoggingHandler() : DelegatingHandler(new SocketsHttpHandler())
    {
        public LogPipeline? Pipeline;
        public long Logged;

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            // Before the request on the sender's thread, after it wherever the response is awaited (the thread pool).
            LokiTestEvents.LogOrder(Pipeline!, -1, "request", 0m);
            HttpResponseMessage response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            LokiTestEvents.LogOrder(Pipeline!, -2, "response", 0m);
            Interlocked.Increment(ref Logged);
            return response;
        }
    }

    [Fact]
    public void Under_Block_a_log_call_from_the_Loki_sender_never_waits_for_room_in_the_queue()
    {
        // While Loki is down the send buffer fills, the worker waits for room in it and the queue fills behind it. A log
        // call made on the sender's thread (a handler that logs) then waited for room in the queue that only the sender
        // could make, for ever: Loki was never pushed to again, not even once it was back.
        int down = 1;
        using var receiver = new LokiReceiver((_, _) => Volatile.Read(ref down) == 1 ? new ResponsePlan(503) : ResponsePlan.NoContent);
        using var handler = new LoggingHandler();
        var options = new FapiLogOptions
        {
            QueueCapacity = 16,
            BatchSize = 8,
            Overflow = OverflowStrategy.Block,
            BlockTimeout = Timeout.InfiniteTimeSpan,
            FlushInterval = TimeSpan.FromMilliseconds(20),
            ShutdownTimeout = TimeSpan.FromMilliseconds(200),
        };
        options.Loki.Url = receiver.Url;
        options.Loki.HttpMessageHandler = handler;
        options.Loki.MaxAttempts = 1000;
        options.Loki.MinBackoff = TimeSpan.FromMilliseconds(1);
        options.Loki.MaxBackoff = TimeSpan.FromMilliseconds(50);
        options.Loki.MaxBufferedBytes = LokiOptions.MinBufferedBytes;
        var sink = new LokiSink(options.Loki);
        var pipeline = new LogPipeline(options, [sink], startWorker: false);
        handler.Pipeline = pipeline;
        pipeline.StartWorkerForTesting();
        using var silenced = new StderrCapture();
        using var stop = new CancellationTokenSource();
        var producer = new Thread(() =>
        {
            for (int i = 0; !stop.IsCancellationRequested; i++)
            {
                LokiTestEvents.LogOrder(pipeline, i, "x", 1m);
            }
        });
        try
        {
            producer.Start();
            Assert.True(SpinWait.SpinUntil(() => sink.IsWaitingForRoom && pipeline.Queue.BlockedProducers >= 1, LokiReceiver.SafetyTimeout),
                "the worker never waited for room with the producer waiting behind it");
            stop.Cancel();
            long loggedBefore = Interlocked.Read(ref handler.Logged);

            // Loki is back: the sender pushes again, its own log calls are taken or dropped but never wait, and all drains.
            Volatile.Write(ref down, 0);
            Assert.True(SpinWait.SpinUntil(() => Interlocked.Read(ref handler.Logged) > loggedBefore + 2, LokiReceiver.SafetyTimeout),
                "the sender's log call waited for room in the queue");
            Assert.True(producer.Join(LokiReceiver.SafetyTimeout), "the producer stayed blocked");
            Assert.True(pipeline.Flush(LokiReceiver.SafetyTimeout));
            Assert.Equal(0, sink.Statistics.EntriesFailed);
        }
        finally
        {
            stop.Cancel();
            pipeline.Shutdown(options.ShutdownTimeout);
            Assert.True(pipeline.Stopped.Wait(LokiReceiver.SafetyTimeout));
            Assert.True(producer.Join(LokiReceiver.SafetyTimeout));
        }
    }

    /// <summary>Passes requests on; a cancelled one finishes unwinding only when the test says so (a handler of your own may take a while).</summary>
    private sealed class SlowToCancelHandler() : DelegatingHandler(new SocketsHttpHandler())
    {
        private readonly TaskCompletionSource _unwind = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Unwind() => _unwind.TrySetResult();

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            try
            {
                return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested)
            {
                await _unwind.Task.ConfigureAwait(false);
                throw;
            }
        }
    }

    [Fact]
    public void A_sink_taken_over_by_the_next_pipeline_sends_its_batches_after_the_old_pipeline_s_shutdown_timed_out()
    {
        // What Configure does with the same LokiSink while Loki hangs: the old pipeline's shutdown runs out of time and gives
        // up what it holds, and the new pipeline's worker starts writing to the sink. Its batches are not the old shutdown's.
        int requests = 0;
        using var receiver = new LokiReceiver((_, _) => Interlocked.Increment(ref requests) == 1 ? new ResponsePlan(0, Hang: true) : ResponsePlan.NoContent);
        using var handler = new SlowToCancelHandler();
        var options = new FapiLogOptions { BatchSize = 10, FlushInterval = TimeSpan.FromMilliseconds(20), ShutdownTimeout = TimeSpan.FromMilliseconds(200) };
        options.Loki.Url = receiver.Url;
        options.Loki.HttpMessageHandler = handler;
        var sink = new LokiSink(options.Loki);
        var old = new LogPipeline(options, [sink]);
        var next = new LogPipeline(options, [sink], startWorker: false);
        old.HandOver(next.Sinks);
        using var silenced = new StderrCapture();
        try
        {
            Assert.True(LokiTestEvents.LogOrder(old, 1, "old", 1m));
            receiver.WaitForRequests(1);
            Assert.False(old.Shutdown(options.ShutdownTimeout));
            next.StartWorker();

            // The new worker hands an event to the sink while the old request is still unwinding from its cancellation.
            Assert.True(LokiTestEvents.LogOrder(next, 2, "new", 1m));
            Assert.True(SpinWait.SpinUntil(() => next.Queue.Head >= 1, LokiReceiver.SafetyTimeout), "the new worker did not write");
            handler.Unwind();
            Assert.True(old.Stopped.Wait(LokiReceiver.SafetyTimeout), "the old worker did not stop");

            Assert.True(next.Flush(LokiReceiver.SafetyTimeout));
            Assert.True(LokiTestEvents.LogOrder(next, 3, "new", 1m));
            Assert.True(next.Flush(LokiReceiver.SafetyTimeout));

            Assert.Equal(1, old.GetStatistics().Failed);
            FapiLogStatistics stats = next.GetStatistics();
            Assert.Equal(0, stats.Failed);
            Assert.Equal(2, stats.Delivered);
            Assert.Equal(1, sink.Statistics.GetEntriesFailed(LokiFailureReasons.Shutdown));
            Assert.Equal(2, sink.Statistics.EntriesSent);
        }
        finally
        {
            handler.Unwind();
            Assert.True(next.Shutdown(LokiReceiver.SafetyTimeout));
        }
    }
}
