using System;
using System.IO;
using System.Linq;
using System.Threading;
using FapiLog.Loki;
using FapiLog.Tests.Support;
using Xunit;

namespace FapiLog.Tests.Loki;

/// <summary>The Loki sink's send buffer: Write returns while Loki is slow, and what the buffer cannot hold is counted.</summary>
/// <remarks>Some of these silence <see cref="Console.Error"/> for a while, so they run alone, as every test that replaces it does.</remarks>
[Collection(ConsoleCollection.Name)]
public sealed class LokiSendBufferTests
{
    private static LokiOptions HungLoki(LokiReceiver receiver) => new()
    {
        Url = receiver.Url,
        MaxAttempts = 1000,
        MinBackoff = TimeSpan.FromMinutes(10),
        MaxBackoff = TimeSpan.FromMinutes(10),
        MaxBufferedBytes = LokiOptions.MinBufferedBytes,
    };

    /// <summary>
    /// Writes batches of <paramref name="size"/> orders until the sink gives one up (at most <paramref name="limit"/> batches);
    /// returns the entries it took and the refusal.
    /// </summary>
    private static (int Accepted, LokiPushException? Refused) WriteUntilRefused(
        LokiSink sink, int size, int limit = 100_000, CancellationToken cancellationToken = default)
    {
        int accepted = 0;
        for (int i = 0; i < limit; i++)
        {
            try
            {
                sink.Write(LokiTestEvents.Batch(LokiTestEvents.Orders(size, firstId: accepted + 1)), cancellationToken);
                accepted += size;
            }
            catch (LokiPushException ex)
            {
                return (accepted, ex);
            }
        }

        return (accepted, null);
    }

    /// <summary>
    /// <see cref="WriteUntilRefused"/> with batches of 10 on a thread of its own, for a Write that waits for room; any other
    /// exception is kept too, so that it fails the test instead of the test host.
    /// </summary>
    private sealed class WriterUntilRefused
    {
        private WriterUntilRefused()
        {
        }

        public Thread Thread { get; private set; } = null!;

        public int Accepted { get; private set; }

        public Exception? Caught { get; private set; }

        public static WriterUntilRefused Start(LokiSink sink, CancellationToken cancellationToken)
        {
            var writer = new WriterUntilRefused();
            writer.Thread = new Thread(() =>
            {
                try
                {
                    (writer.Accepted, writer.Caught) = WriteUntilRefused(sink, 10, cancellationToken: cancellationToken);
                }
                catch (Exception ex)
                {
                    writer.Caught = ex;
                }
            });
            writer.Thread.Start();
            return writer;
        }
    }

    [Fact]
    public void Write_returns_while_the_push_hangs_and_Flush_waits_for_it()
    {
        using var release = new ManualResetEventSlim();
        using var receiver = new LokiReceiver((_, _) =>
        {
            release.Wait(LokiReceiver.SafetyTimeout);
            return new ResponsePlan(204);
        });
        using var sink = new LokiSink(new LokiOptions { Url = receiver.Url });

        sink.Write(LokiTestEvents.Batch(LokiTestEvents.Orders(3)), CancellationToken.None);
        receiver.WaitForRequests(1);
        sink.Write(LokiTestEvents.Batch(LokiTestEvents.Orders(2)), CancellationToken.None);
        Assert.Equal(0, sink.Statistics.EntriesSent);
        Assert.Equal(5, sink.Statistics.BufferedEntries);
        Assert.True(sink.Statistics.BufferedBytes > 0);

        var flushed = new Thread(() => sink.Flush(CancellationToken.None));
        flushed.Start();
        release.Set();
        Assert.True(flushed.Join(LokiReceiver.SafetyTimeout), "Flush did not return");

        // Both batches, in the order written, and nothing left in the buffer.
        Assert.Equal(5, sink.Statistics.EntriesSent);
        Assert.Equal(2, receiver.Requests.Count);
        Assert.Equal([3, 2], receiver.Requests.Select(r => r.AllEntries().Count()));
        Assert.Equal(0, sink.Statistics.BufferedBytes);
        Assert.Equal(0, sink.Statistics.BufferedEntries);
        Assert.Equal(0, sink.Statistics.BufferedBytes);
    }

    [Theory]
    [InlineData(OverflowStrategy.Drop)]
    [InlineData(OverflowStrategy.Sample)]
    public void Under_Drop_or_Sample_a_batch_that_does_not_fit_is_given_up_at_once_and_counted(OverflowStrategy strategy)
    {
        using var receiver = new LokiReceiver((_, _) => new ResponsePlan(0, Hang: true));
        using var sink = new LokiSink(HungLoki(receiver));
        sink._pipelineOverflow = (int)strategy;
        using var silenced = new StderrCapture();
        sink.Write(LokiTestEvents.Batch(LokiTestEvents.Orders(10)), CancellationToken.None);
        receiver.WaitForRequests(1);

        (int accepted, LokiPushException? refused) = WriteUntilRefused(sink, 10);
        accepted += 10;
        Assert.NotNull(refused);
        Assert.Equal(LokiFailureReasons.BufferFull, refused.Reason);
        Assert.Equal(10, refused.FailedEntries);
        Assert.Contains("Loki.MaxBufferedBytes", refused.Message, StringComparison.Ordinal);
        Assert.Equal(10, sink.Statistics.GetEntriesFailed(LokiFailureReasons.BufferFull));
        Assert.InRange(sink.Statistics.BufferedBytes, 1, LokiOptions.MinBufferedBytes);
        Assert.True(accepted > 10, "the buffer held only the batch being pushed");
    }

    [Fact]
    public void The_send_buffer_holds_no_more_memory_than_MaxBufferedBytes_also_for_batches_of_one_event()
    {
        // A quiet service while Loki is down: one small event per flush interval. Each batch once took a fresh 64 KiB line
        // buffer and 128-entry tables (about 75 KiB) but counted only its ~300 rendered bytes, so the 16 MiB default held
        // gigabytes before anything was given up.
        using var receiver = new LokiReceiver((_, _) => new ResponsePlan(0, Hang: true));
        using var sink = new LokiSink(HungLoki(receiver));
        sink._pipelineOverflow = (int)OverflowStrategy.Drop;
        using var silenced = new StderrCapture();
        sink.Write(LokiTestEvents.Batch(LokiTestEvents.Orders(1)), CancellationToken.None);
        receiver.WaitForRequests(1);

        (int accepted, LokiPushException? refusal) = WriteUntilRefused(sink, 1);
        accepted++;
        bool refused = refusal?.Reason == LokiFailureReasons.BufferFull;

        Assert.True(refused, "the buffer never filled up");
        Assert.True(accepted > 1, "the buffer held only the batch being pushed");
        Assert.InRange(sink.HeldBytes, 1, LokiOptions.MinBufferedBytes);
    }

    [Theory]
    [InlineData(LokiOptions.MinBufferedBytes, 5)]
    [InlineData(LokiOptions.DefaultMaxBufferedBytes, 1000)]
    public void After_one_large_event_is_buffered_a_batch_of_small_ones_that_fits_is_taken(int maxBufferedBytes, int smallEvents)
    {
        // Loki hangs on the first batch, one event with a 12 KB line (a large payload, a long stack trace). The next
        // batch, small events with room to spare, must be taken, not given up as buffer_full by an estimate taken from
        // the large one.
        using var receiver = new LokiReceiver((_, _) => new ResponsePlan(0, Hang: true));
        LokiOptions options = HungLoki(receiver);
        options.MaxBufferedBytes = maxBufferedBytes;
        using var sink = new LokiSink(options);
        sink._pipelineOverflow = (int)OverflowStrategy.Drop;
        using var silenced = new StderrCapture();
        sink.Write(LokiTestEvents.Batch(LokiTestEvents.Orders(1, customerLength: 6_000)), CancellationToken.None);
        receiver.WaitForRequests(1);
        long held = sink.Statistics.BufferedBytes;

        sink.Write(LokiTestEvents.Batch(LokiTestEvents.Orders(smallEvents, firstId: 100)), CancellationToken.None);

        Assert.Equal(1 + smallEvents, sink.Statistics.BufferedEntries);
        Assert.InRange(sink.Statistics.BufferedBytes, held + 1, maxBufferedBytes);
    }

    [Fact]
    public void After_a_large_batch_was_sent_the_buffer_still_takes_many_small_ones()
    {
        // The large batch's buffers are not kept for reuse by small batches, each of which would then count (and hold) them.
        int request = 0;
        using var receiver = new LokiReceiver((_, _) => Interlocked.Increment(ref request) == 1 ? ResponsePlan.NoContent : new ResponsePlan(0, Hang: true));
        using var sink = new LokiSink(HungLoki(receiver));
        sink._pipelineOverflow = (int)OverflowStrategy.Drop;
        using var silenced = new StderrCapture();
        sink.Push(LokiTestEvents.Batch(LokiTestEvents.Orders(100, customerLength: 400)), CancellationToken.None);
        Assert.Equal(100, sink.Statistics.EntriesSent);

        sink.Write(LokiTestEvents.Batch(LokiTestEvents.Orders(1)), CancellationToken.None);
        receiver.WaitForRequests(2);
        (int accepted, LokiPushException? refusal) = WriteUntilRefused(sink, 1);
        accepted++;
        bool refused = refusal?.Reason == LokiFailureReasons.BufferFull;

        Assert.True(accepted > 10, $"the buffer took only {accepted} one-event batches");
        Assert.InRange(sink.HeldBytes, 1, LokiOptions.MinBufferedBytes);
    }

    [Fact]
    public void Outside_a_pipeline_a_full_buffer_waits_and_a_cancelled_token_gives_the_batch_up_as_shutdown()
    {
        using var receiver = new LokiReceiver((_, _) => new ResponsePlan(0, Hang: true));
        using var sink = new LokiSink(HungLoki(receiver));
        using var abort = new CancellationTokenSource();
        using var silenced = new StderrCapture();
        WriterUntilRefused writer = WriterUntilRefused.Start(sink, abort.Token);
        Assert.True(SpinWait.SpinUntil(() => sink.IsWaitingForRoom, LokiReceiver.SafetyTimeout), "Write never waited for room");
        Assert.Equal(0, sink.Statistics.EntriesFailed);
        abort.Cancel();
        Assert.True(writer.Thread.Join(LokiReceiver.SafetyTimeout), "Write did not wake up on cancellation");
        Assert.Equal(LokiFailureReasons.Shutdown, Assert.IsType<LokiPushException>(writer.Caught).Reason);
        Assert.Equal(10, sink.Statistics.GetEntriesFailed(LokiFailureReasons.Shutdown));
        Assert.True(writer.Accepted > 10);
    }

    [Fact]
    public void A_batch_written_once_the_token_has_fired_is_given_up_as_shutdown_and_not_pushed()
    {
        // The token fires when shutdown has run out of time, and the abort gives up what the buffer holds. A batch the
        // worker handed out after that, with room in the buffer, was queued and pushed by the sender the give-up had freed.
        using var receiver = new LokiReceiver();
        using var sink = new LokiSink(new LokiOptions { Url = receiver.Url });
        using var abort = new CancellationTokenSource();
        abort.Cancel();

        LokiPushException refused = Assert.Throws<LokiPushException>(() => sink.Write(LokiTestEvents.Batch(LokiTestEvents.Orders(3)), abort.Token));
        Assert.Equal(LokiFailureReasons.Shutdown, refused.Reason);
        Assert.Equal(3, refused.FailedEntries);
        Assert.Equal(3, sink.Statistics.GetEntriesFailed(LokiFailureReasons.Shutdown));
        Assert.Equal(0, sink.Statistics.BufferedEntries);

        AssertNextBatchIsTheFirstSent(sink, receiver);
    }

    [Fact]
    public void A_batch_whose_token_fires_while_it_is_rendered_after_the_give_up_has_read_the_buffer_is_given_up_as_shutdown()
    {
        // The token was looked at before the batch was rendered only. A shutdown that ran out of time while the worker was
        // rendering (an exception's Message that takes its time) fired it, and GiveUpHeld read the batches to give up: the
        // batch queued after that was pushed (or retried, Loki down) by the sender after Shutdown had returned.
        using var receiver = new LokiReceiver();
        using var sink = new LokiSink(new LokiOptions { Url = receiver.Url });
        using var abort = new CancellationTokenSource();
        using var rendering = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var records = new LogRecord[1];
        LokiTestEvents.Payment(ref records[0], LokiTestEvents.BaseTicks, 1, new SlowMessageException(rendering, release));
        Exception? caught = null;
        var writer = new Thread(() =>
        {
            try
            {
                sink.Write(LokiTestEvents.Batch(records), abort.Token);
            }
            catch (Exception ex)
            {
                caught = ex;
            }
        }) { IsBackground = true };
        writer.Start();
        try
        {
            Assert.True(rendering.Wait(LokiReceiver.SafetyTimeout), "the batch was never rendered");
            // What a shutdown that gives up does meanwhile: fire the token, then give up what the sink holds.
            abort.Cancel();
            sink.GiveUpHeld();
        }
        finally
        {
            release.Set();
            Assert.True(writer.Join(LokiReceiver.SafetyTimeout), "the write never returned");
        }

        LokiPushException refused = Assert.IsType<LokiPushException>(caught);
        Assert.Equal(LokiFailureReasons.Shutdown, refused.Reason);
        Assert.Equal(1, sink.Statistics.GetEntriesFailed(LokiFailureReasons.Shutdown));
        Assert.Equal(0, sink.Statistics.BufferedEntries);

        AssertNextBatchIsTheFirstSent(sink, receiver);
    }

    /// <summary>An exception whose message, read when its event is rendered, waits for the test the first time.</summary>
    private sealed class SlowMessageException(ManualResetEventSlim reading, ManualResetEventSlim release) : Exception
    {
        public override string Message
        {
            get
            {
                reading.Set();
                release.Wait(LokiReceiver.SafetyTimeout);
                return "payment declined";
            }
        }
    }

    [Fact]
    public void A_write_waiting_for_room_when_the_sink_is_disposed_is_given_up_as_shutdown()
    {
        // The sink is disposed while a writer waits for room. Room comes as the sender gives the buffer up; the writer's
        // batch once went into the buffer then, after the sender might have stopped for good (a batch nobody sent or
        // counted), and a sender started at that point would have used the disposed sink's cancellation source.
        using var receiver = new LokiReceiver((_, _) => new ResponsePlan(0, Hang: true));
        var sink = new LokiSink(HungLoki(receiver));
        WriterUntilRefused writer = WriterUntilRefused.Start(sink, CancellationToken.None);
        Assert.True(SpinWait.SpinUntil(() => sink.IsWaitingForRoom, LokiReceiver.SafetyTimeout), "Write never waited for room");
        sink.Dispose();

        Assert.True(writer.Thread.Join(LokiReceiver.SafetyTimeout), "Write did not return after the sink was disposed");
        // Not taken (and then ObjectDisposedException from the next Write): given up by the Write that waited.
        LokiPushException refused = Assert.IsType<LokiPushException>(writer.Caught);
        Assert.Equal(LokiFailureReasons.Shutdown, refused.Reason);
        Assert.Contains("disposed", refused.Message, StringComparison.Ordinal);
        Assert.Equal(writer.Accepted + 10, sink.Statistics.GetEntriesFailed(LokiFailureReasons.Shutdown));
        Assert.Equal(0, sink.Statistics.BufferedEntries);
    }

    /// <summary>Writes one batch of orders per size, in order.</summary>
    private static void WriteBatches(LokiSink sink, params int[] sizes)
    {
        foreach (int size in sizes)
        {
            sink.Write(LokiTestEvents.Batch(LokiTestEvents.Orders(size)), CancellationToken.None);
        }
    }

    [Fact]
    public void Flush_reports_the_entries_given_up_since_the_previous_flush_once()
    {
        int request = 0;
        using var receiver = new LokiReceiver((_, _) => Interlocked.Increment(ref request) <= 2 ? new ResponsePlan(400, Body: "bad") : new ResponsePlan(204));
        using var sink = new LokiSink(new LokiOptions { Url = receiver.Url, MaxAttempts = 1 });
        using var silenced = new StderrCapture();
        WriteBatches(sink, 3, 4, 5);

        LokiPushException ex = Assert.Throws<LokiPushException>(() => sink.Flush(CancellationToken.None));
        Assert.Equal("http_400", ex.Reason);
        Assert.Equal(400, ex.StatusCode);
        Assert.Equal(7, ex.FailedEntries);
        Assert.Equal(7, ex.BatchEntries);
        Assert.Equal(5, sink.Statistics.EntriesSent);

        // Said once: the next flush has nothing to report.
        sink.Flush(CancellationToken.None);
    }

    [Fact]
    public void Flush_quotes_the_latest_failure_since_the_previous_flush_and_counts_them_all()
    {
        // Under a pipeline the sink is flushed at shutdown only: the first failure since then may be hours old, and a
        // tenant header fixed since or a Loki that went down since would be hidden behind it.
        using var receiver = new LokiReceiver((i, _) => i switch
        {
            0 => new ResponsePlan(400, Body: "entry too far behind"),
            1 => new ResponsePlan(401, Body: "no org id"),
            _ => ResponsePlan.NoContent,
        });
        using var sink = new LokiSink(new LokiOptions { Url = receiver.Url, MaxAttempts = 1 });
        using var silenced = new StderrCapture();
        WriteBatches(sink, 3, 4, 5);

        LokiPushException ex = Assert.Throws<LokiPushException>(() => sink.Flush(CancellationToken.None));

        Assert.Equal("http_401", ex.Reason);
        Assert.Equal(401, ex.StatusCode);
        Assert.Contains("no org id", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("too far behind", ex.Message, StringComparison.Ordinal);
        Assert.Contains("in 2 batches", ex.Message, StringComparison.Ordinal);
        Assert.Equal(7, ex.FailedEntries);
        Assert.Equal(7, ex.BatchEntries);
    }

    [Fact]
    public void Dispose_gives_up_what_is_still_buffered_counts_it_and_says_so()
    {
        using var receiver = new LokiReceiver((_, _) => new ResponsePlan(0, Hang: true));
        var sink = new LokiSink(HungLoki(receiver));
        using var stderr = new StderrCapture();
        sink.Write(LokiTestEvents.Batch(LokiTestEvents.Orders(4)), CancellationToken.None);
        receiver.WaitForRequests(1);
        sink.Write(LokiTestEvents.Batch(LokiTestEvents.Orders(6)), CancellationToken.None);
        sink.Dispose();

        Assert.Equal(10, sink.Statistics.GetEntriesFailed(LokiFailureReasons.Shutdown));
        Assert.Contains("10 entries could not be delivered", stderr.Text, StringComparison.Ordinal);
        Assert.Throws<ObjectDisposedException>(() => sink.Write(LokiTestEvents.Batch(LokiTestEvents.Orders(1)), CancellationToken.None));
    }

    /// <summary>A batch of 2 written now is the first request Loki sees: none was made for a batch refused before it.</summary>
    private static void AssertNextBatchIsTheFirstSent(LokiSink sink, LokiReceiver receiver)
    {
        sink.Write(LokiTestEvents.Batch(LokiTestEvents.Orders(2)), CancellationToken.None);
        sink.Flush(CancellationToken.None);
        Assert.Single(receiver.Requests);
        Assert.Equal(2, sink.Statistics.EntriesSent);
    }
}
