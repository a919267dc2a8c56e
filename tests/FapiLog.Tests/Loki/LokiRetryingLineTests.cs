using System;
using System.Linq;
using System.Threading;
using FapiLog.Internal;
using FapiLog.Loki;
using FapiLog.Tests.Support;
using Xunit;

namespace FapiLog.Tests.Loki;

/// <summary>The Loki sink's "trying again" and "went through" lines on stderr.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class LokiRetryingLineTests
{
    private static LokiSink FastRetrying(Uri url, int maxAttempts = 10) => LokiTestEvents.FastRetrying(url, maxAttempts);

    [Fact]
    public void After_a_push_was_given_up_a_later_push_is_not_said_to_have_gone_through()
    {
        // Push 1: 503, 503 (MaxAttempts 2): "trying again", then given up and reported. Push 2 (within the minute, so no
        // "trying again" of its own): 503, then 204. It said "went through at attempt 2" after push 1's failure report, as
        // if push 1 had gone through.
        using var receiver = new LokiReceiver((i, _) => i <= 2 ? new ResponsePlan(503, Body: "ingester down") : ResponsePlan.NoContent);
        var pipeline = new LogPipeline(TestLog.Options(), [FastRetrying(receiver.Url, maxAttempts: 2)]);
        using var stderr = new StderrCapture();
        Assert.True(LokiTestEvents.LogOrder(pipeline, 1, "alice", 1));
        pipeline.Flush(TestLog.Safety);
        Assert.True(LokiTestEvents.LogOrder(pipeline, 2, "bob", 2));
        Assert.True(pipeline.Shutdown(TestLog.Safety));

        Assert.Equal(4, receiver.Requests.Count);
        Assert.Equal(1, pipeline.GetStatistics().Failed);
        string[] lines = stderr.Lines();
        Assert.Single(lines, l => l.Contains("trying again", StringComparison.Ordinal));
        Assert.True(!lines.Any(l => l.Contains("went through", StringComparison.Ordinal)), string.Join("\n", lines));
    }

    [Fact]
    public void A_push_said_to_be_tried_again_that_then_goes_through_split_after_a_413_is_said_to_have_gone_through()
    {
        // One push of two entries: 503 ("trying again"), then 413, then each half goes through at its first attempt.
        // Everything was delivered, but stderr's last word on Loki was "trying again".
        using var receiver = new LokiReceiver((i, _) => i switch
        {
            0 => new ResponsePlan(503, Body: "ingester down"),
            1 => new ResponsePlan(413, Body: "too large"),
            _ => ResponsePlan.NoContent,
        });
        var pipeline = new LogPipeline(TestLog.Options(o => o.BatchSize = 2), [FastRetrying(receiver.Url)], startWorker: false);
        using var stderr = new StderrCapture();
        Assert.True(LokiTestEvents.LogOrder(pipeline, 1, "alice", 1));
        Assert.True(LokiTestEvents.LogOrder(pipeline, 2, "bob", 2));
        pipeline.StartWorkerForTesting();
        Assert.True(pipeline.Shutdown(TestLog.Safety));

        Assert.Equal(4, receiver.Requests.Count);
        Assert.Equal(2, pipeline.GetStatistics().Delivered);
        string[] lines = stderr.Lines();
        Assert.Single(lines, l => l.Contains("trying again", StringComparison.Ordinal));
        Assert.True(lines.Any(l => l.Contains("went through", StringComparison.Ordinal)), string.Join("\n", lines));
    }

    [Fact]
    public void A_Loki_sink_taken_over_by_a_pipeline_with_another_clock_says_trying_again_once_the_minute_has_passed()
    {
        // SinkFailureReporter.UseClock carries the failure times over when a sink changes clocks; the time of the last
        // "trying again" line was not carried: against the new clock, a year behind, the minute never passed.
        using var receiver = new LokiReceiver((i, _) => i % 2 == 0 ? new ResponsePlan(503, Body: "ingester down") : ResponsePlan.NoContent);
        LokiSink loki = FastRetrying(receiver.Url);
        FapiLogOptions first = TestLog.Options();
        ((FakeTime)first.TimeProvider).Advance(TimeSpan.FromDays(365));
        FapiLogOptions second = TestLog.Options();
        var time = (FakeTime)second.TimeProvider;
        using var stderr = new StderrCapture();

        var replaced = new LogPipeline(first, [loki]);
        Assert.True(LokiTestEvents.LogOrder(replaced, 1, "alice", 1));
        Assert.True(replaced.Flush(TestLog.Safety));
        replaced.HandOver([loki]);
        Assert.True(replaced.Shutdown(TestLog.Safety));

        var next = new LogPipeline(second, [loki]);
        Assert.True(next.Flush(TestLog.Safety));   // its worker has taken the sink over
        time.Advance(LokiSink.RetryingLineInterval + TimeSpan.FromMinutes(1));
        Assert.True(LokiTestEvents.LogOrder(next, 2, "bob", 2));
        Assert.True(next.Shutdown(TestLog.Safety));

        Assert.Equal(4, receiver.Requests.Count);
        string[] lines = stderr.Lines();
        Assert.True(lines.Count(l => l.Contains("trying again", StringComparison.Ordinal)) == 2, string.Join("\n", lines));
    }

    [Fact]
    public void After_a_push_given_up_at_shutdown_during_its_backoff_a_later_push_is_not_said_to_have_gone_through()
    {
        // Push 1: 503 with Retry-After (an hour's backoff): "trying again"; the flush's token fires during the backoff, and
        // push 1 is given up (Shutdown) and reported. Push 2, within the minute (no "trying again" of its own): 503, then 204.
        // It said "went through at attempt 2" after push 1's failure report, as after a give-up at the last attempt.
        using var receiver = new LokiReceiver((i, _) => i switch
        {
            0 => new ResponsePlan(503, RetryAfter: "3600", Body: "ingester down"),
            1 => new ResponsePlan(503, Body: "ingester down"),
            _ => ResponsePlan.NoContent,
        });
        using var loki = new LokiSink(new LokiOptions
        {
            Url = receiver.Url,
            MinBackoff = TimeSpan.FromMilliseconds(5),
            MaxBackoff = TimeSpan.FromHours(1),
        });
        using var stderr = new StderrCapture();

        loki.Write(LokiTestEvents.Batch(LokiTestEvents.Orders(1, firstId: 1)), CancellationToken.None);
        Assert.True(SpinWait.SpinUntil(() => stderr.Text.Contains("trying again", StringComparison.Ordinal), TestLog.Safety));
        using (var shutdown = new CancellationTokenSource())
        {
            shutdown.Cancel();
            Assert.Throws<LokiPushException>(() => loki.Flush(shutdown.Token));
        }

        loki.Push(LokiTestEvents.Batch(LokiTestEvents.Orders(1, firstId: 2)));

        Assert.Equal(3, receiver.Requests.Count);
        string[] lines = stderr.Lines();
        Assert.Single(lines, l => l.Contains("trying again", StringComparison.Ordinal));
        Assert.True(!lines.Any(l => l.Contains("went through", StringComparison.Ordinal)), string.Join("\n", lines));
    }
}
