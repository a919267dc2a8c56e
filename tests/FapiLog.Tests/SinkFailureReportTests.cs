using System;
using System.IO;
using System.Linq;
using System.Threading;
using FapiLog.Internal;
using FapiLog.Tests.Support;
using Xunit;

namespace FapiLog.Tests;

/// <summary>What stderr says about a sink that fails for a while and then works again (they replace Console.Error).</summary>
[Collection(Loki.ConsoleCollection.Name)]
public sealed class SinkFailureReportTests
{
    [Fact]
    public void A_sink_failing_for_a_while_gets_one_line_per_interval_that_counts_every_failed_event_and_one_when_it_works_again()
    {
        (LogPipeline pipeline, SwitchSink sink, FakeTime time) = StartWithSwitchSink();
        string[] lines = CaptureStderr(() =>
        {
            // A full disk, say: every batch fails, one event each.
            Log(pipeline, 5);
            time.Advance(SinkFailureReporter.Interval + TimeSpan.FromSeconds(1));
            Log(pipeline, 1);

            // Room again.
            sink.Failing = false;
            Log(pipeline, 2);

            // A failure within the interval of the last failure line says nothing yet; the shutdown says it.
            sink.Failing = true;
            Log(pipeline, 2);
            Assert.True(pipeline.Shutdown(TestLog.Safety));
        });

        Assert.Equal(
        [
            "FapiLog: sink 'SwitchSink' failed 1 event(s): IOException: No space left on device",
            "FapiLog: sink 'SwitchSink' failed 5 event(s) since its last report 61 s ago; the latest failure: IOException: No space left on device",
            "FapiLog: sink 'SwitchSink' works again after failing for 61 s.",
            "FapiLog: sink 'SwitchSink' failed 2 more event(s) since its last report; the latest failure: IOException: No space left on device",
        ], lines);
        Assert.Equal(1 + 5 + 2, pipeline.GetStatistics().Failed);
        Assert.Equal(2, pipeline.GetStatistics().Delivered);
    }

    [Fact]
    public void Failures_after_a_recovery_within_the_interval_are_reported_with_the_next_recovery_once_the_interval_has_passed()
    {
        (LogPipeline pipeline, SwitchSink sink, FakeTime time) = StartWithSwitchSink();
        string[] lines = CaptureStderr(() =>
        {
            Log(pipeline, 1);
            sink.Failing = false;
            Log(pipeline, 1);

            // A sink that flaps (fails, works, fails, works) within the interval: no line for each change.
            for (int i = 0; i < 3; i++)
            {
                sink.Failing = true;
                Log(pipeline, 1);
                sink.Failing = false;
                Log(pipeline, 1);
            }

            time.Advance(SinkFailureReporter.Interval);
            Log(pipeline, 1);
            Assert.True(pipeline.Shutdown(TestLog.Safety));
        });

        Assert.Equal(
        [
            "FapiLog: sink 'SwitchSink' failed 1 event(s): IOException: No space left on device",
            "FapiLog: sink 'SwitchSink' works again after failing for 0 s.",
            "FapiLog: sink 'SwitchSink' failed 3 event(s) since its last report 60 s ago and works again; the latest failure: IOException: No space left on device",
        ], lines);
    }

    [Fact]
    public void A_failure_line_after_a_works_again_line_counts_its_time_from_that_line()
    {
        // A soak run's stderr said "failed 200 event(s) since its last report 60 s ago" 20 s after a "works again" line
        // that had reported the failures before it: the count was since that line, the time since the failure line before.
        (LogPipeline pipeline, SwitchSink sink, FakeTime time) = StartWithSwitchSink();
        string[] lines = CaptureStderr(() =>
        {
            Log(pipeline, 1);
            time.Advance(TimeSpan.FromSeconds(30));
            sink.Failing = false;
            Log(pipeline, 1);

            // Within the interval of the failure line: held back until it has passed.
            time.Advance(TimeSpan.FromSeconds(10));
            sink.Failing = true;
            Log(pipeline, 2);
            time.Advance(TimeSpan.FromSeconds(20));
            Log(pipeline, 1);
            Assert.True(pipeline.Shutdown(TestLog.Safety));
        });

        Assert.Equal(
        [
            "FapiLog: sink 'SwitchSink' failed 1 event(s): IOException: No space left on device",
            "FapiLog: sink 'SwitchSink' works again after failing for 30 s.",
            "FapiLog: sink 'SwitchSink' failed 3 event(s) since its last report 30 s ago; the latest failure: IOException: No space left on device",
        ], lines);
        Assert.Equal(4, pipeline.GetStatistics().Failed);
    }

    [Fact]
    public void Shutdown_does_not_report_again_a_Loki_failure_its_sender_reported_before_Loki_worked_again()
    {
        // The Loki sink's flush throws for every entry given up since the last flush, which under a pipeline is the whole
        // run. A soak run's stderr ended with "sink 'Loki' failed: … gave up 100 of 100 entries (http_429 …)" at shutdown,
        // 100 s after the sender had reported that failure and 50 s after "works again": a stale failure, said as new.
        using var receiver = new Loki.LokiReceiver((i, _) => i == 0 ? new Loki.ResponsePlan(503, Body: "ingester down") : Loki.ResponsePlan.NoContent);
        var time = new FakeTime();
        (LogPipeline pipeline, FapiLog.Loki.LokiSink sink) = StartLokiOneAttempt(receiver, time);
        string[] lines = CaptureStderr(() =>
        {
            Assert.True(Loki.LokiTestEvents.LogOrder(pipeline, 1, "x", 1m));
            Assert.True(pipeline.Flush(TestLog.Safety));
            time.Advance(SinkFailureReporter.Interval + TimeSpan.FromSeconds(1));
            Assert.True(Loki.LokiTestEvents.LogOrder(pipeline, 2, "y", 1m));
            Assert.True(pipeline.Flush(TestLog.Safety));
            Assert.True(pipeline.Shutdown(TestLog.Safety));
        });

        string[] reports = lines.Where(l => l.StartsWith("FapiLog: sink 'Loki'", StringComparison.Ordinal)).ToArray();
        Assert.True(reports.Length == 2, string.Join("\n", lines));
        Assert.StartsWith("FapiLog: sink 'Loki' failed 1 event(s): LokiPushException: ", reports[0], StringComparison.Ordinal);
        Assert.Equal("FapiLog: sink 'Loki' works again after failing for 61 s.", reports[1]);
        Assert.Equal(1, pipeline.GetStatistics().Failed);
    }

    [Fact]
    public void A_Loki_failure_that_only_a_works_again_line_counted_is_named_on_stderr()
    {
        // Shutdown no longer says the Loki flush's summary once the sender has reported Loki working again. A failure held
        // back within the minute of the line before (a 400 after a 503) was then only counted by the "works again" line,
        // never named: the summary, which named it, was the one line that would have.
        using var receiver = new Loki.LokiReceiver((i, _) => i switch
        {
            0 => new Loki.ResponsePlan(503, Body: "ingester down"),
            1 => new Loki.ResponsePlan(400, Body: "entry too far behind"),
            _ => Loki.ResponsePlan.NoContent,
        });
        var time = new FakeTime();
        (LogPipeline pipeline, FapiLog.Loki.LokiSink sink) = StartLokiOneAttempt(receiver, time);
        string[] lines = CaptureStderr(() =>
        {
            for (int i = 1; i <= 3; i++)
            {
                Assert.True(Loki.LokiTestEvents.LogOrder(pipeline, i, "x", 1m));
                Assert.True(pipeline.Flush(TestLog.Safety));
            }

            Assert.True(pipeline.Shutdown(TestLog.Safety));
        });

        string[] reports = lines.Where(l => l.StartsWith("FapiLog: sink 'Loki'", StringComparison.Ordinal)).ToArray();
        Assert.True(reports.Length == 2, string.Join("\n", lines));
        Assert.StartsWith("FapiLog: sink 'Loki' failed 1 event(s): LokiPushException: ", reports[0], StringComparison.Ordinal);
        Assert.Contains("(http_503, 1 attempt(s))", reports[0], StringComparison.Ordinal);
        Assert.StartsWith("FapiLog: sink 'Loki' works again after failing for 0 s; 1 more event(s) failed since the last report; the latest failure: LokiPushException: ",
            reports[1], StringComparison.Ordinal);
        Assert.Contains("(http_400, 1 attempt(s)): HTTP 400 Bad Request: entry too far behind", reports[1], StringComparison.Ordinal);
        Assert.Equal(2, pipeline.GetStatistics().Failed);
        Assert.Equal(1, pipeline.GetStatistics().Delivered);
    }

    [Fact]
    public void A_Loki_that_refuses_and_then_takes_pushes_again_is_reported_working_again_by_its_sender()
    {
        // The Loki sink's Write only buffers: whether Loki took the events is known on its sender, which says so.
        using var receiver = new Loki.LokiReceiver((i, _) => i == 0 ? new Loki.ResponsePlan(503, Body: "ingester down") : Loki.ResponsePlan.NoContent);
        (LogPipeline pipeline, FapiLog.Loki.LokiSink sink) = StartLokiOneAttempt(receiver, TimeProvider.System);
        string[] lines = CaptureStderr(() =>
        {
            Assert.True(Loki.LokiTestEvents.LogOrder(pipeline, 1, "x", 1m));
            Assert.True(pipeline.Flush(TestLog.Safety));
            Assert.True(Loki.LokiTestEvents.LogOrder(pipeline, 2, "y", 1m));
            Assert.True(pipeline.Flush(TestLog.Safety));
            Assert.True(pipeline.Shutdown(TestLog.Safety));
        });

        // The sink's own summary at disposal follows; these two are the failure reports.
        Assert.True(lines.Count(l => l.StartsWith("FapiLog: sink 'Loki'", StringComparison.Ordinal)) == 2, string.Join("\n", lines));
        Assert.StartsWith("FapiLog: sink 'Loki' failed 1 event(s): LokiPushException: ", lines[0], StringComparison.Ordinal);
        Assert.Contains("503", lines[0], StringComparison.Ordinal);
        Assert.StartsWith("FapiLog: sink 'Loki' works again after failing for ", lines[1], StringComparison.Ordinal);
        Assert.Equal(1, pipeline.GetStatistics().Failed);
        Assert.Equal(1, pipeline.GetStatistics().Delivered);
    }

    [Fact]
    public void A_sink_taken_over_by_a_pipeline_with_another_clock_is_throttled_by_the_time_that_passed_not_by_comparing_the_clocks()
    {
        var sink = new SwitchSink();
        FapiLogOptions first = TestLog.Options(o => o.BatchSize = 1);
        // A year ahead of the second pipeline's clock: a timestamp of one means nothing on the other.
        ((FakeTime)first.TimeProvider).Advance(TimeSpan.FromDays(365));
        first.AddSink(sink);
        FapiLogOptions second = TestLog.Options(o => o.BatchSize = 1);
        var time = (FakeTime)second.TimeProvider;
        second.AddSink(sink);
        string[] lines = CaptureStderr(() =>
        {
            LogPipeline replaced = TestLog.Start(first);
            Log(replaced, 1);
            replaced.HandOver([sink]);
            Assert.True(replaced.Shutdown(TestLog.Safety));

            LogPipeline next = TestLog.Start(second);
            // Its worker has taken the sink over before the clock moves.
            Assert.True(next.Flush(TestLog.Safety));
            time.Advance(SinkFailureReporter.Interval + TimeSpan.FromSeconds(1));
            Log(next, 2);
            Assert.True(next.Shutdown(TestLog.Safety));
        });

        Assert.Equal(
        [
            "FapiLog: sink 'SwitchSink' failed 1 event(s): IOException: No space left on device",
            "FapiLog: sink 'SwitchSink' failed 1 event(s): IOException: No space left on device",
            "FapiLog: sink 'SwitchSink' failed 1 more event(s) since its last report; the latest failure: IOException: No space left on device",
        ], lines);
    }

    [Fact]
    public void The_counts_on_stderr_add_up_to_Failed_also_when_the_drop_warning_written_into_the_sink_fails()
    {
        // The warning is FapiLog's own, not an event of the application's: Failed does not count it, nor must stderr.
        var sink = new SwitchSink();
        FapiLogOptions options = TestLog.Options(o => o.QueueCapacity = 4);
        options.AddSink(sink);
        var pipeline = new LogPipeline(options, FapiLogging.BuildSinks(options), startWorker: false);
        string[] lines = CaptureStderr(() =>
        {
            for (int i = 0; i < 6; i++)
            {
                TestLog.Emit(pipeline, 0, i);
            }

            pipeline.StartWorkerForTesting();
            Assert.True(pipeline.Shutdown(TestLog.Safety));
        });

        FapiLogStatistics statistics = pipeline.GetStatistics();
        Assert.Equal(2, statistics.DroppedQueueFull);
        Assert.Equal(4, statistics.Failed);
        Assert.Contains(lines, l => l.StartsWith("FapiLog dropped", StringComparison.Ordinal));
        long reported = lines
            .Select(l => System.Text.RegularExpressions.Regex.Match(l, @"^FapiLog: sink 'SwitchSink' failed (\d+) (more )?event\(s\)"))
            .Where(m => m.Success)
            .Sum(m => long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(reported == statistics.Failed, string.Join("\n", lines));
    }

    /// <summary>Logs <paramref name="count"/> events, each flushed on its own (one batch each).</summary>
    /// <summary>A pipeline on a test clock that delivers one event per batch to a <see cref="SwitchSink"/>, failing until switched.</summary>
    private static (LogPipeline Pipeline, SwitchSink Sink, FakeTime Time) StartWithSwitchSink()
    {
        var sink = new SwitchSink();
        FapiLogOptions options = TestLog.Options(o => o.BatchSize = 1);
        options.AddSink(sink);
        return (TestLog.Start(options), sink, (FakeTime)options.TimeProvider);
    }

    /// <summary>A pipeline that flushes only when asked, into a Loki sink that gives a batch up after one attempt.</summary>
    private static (LogPipeline Pipeline, FapiLog.Loki.LokiSink Sink) StartLokiOneAttempt(Loki.LokiReceiver receiver, TimeProvider time)
    {
        var options = new FapiLogOptions { FlushInterval = TimeSpan.FromHours(1), DropWarningInterval = TimeSpan.FromHours(1), TimeProvider = time };
        options.Loki.Url = receiver.Url;
        options.Loki.MaxAttempts = 1;
        var sink = new FapiLog.Loki.LokiSink(options.Loki);
        return (new LogPipeline(options, [sink]), sink);
    }

    private static void Log(LogPipeline pipeline, int count)
    {
        for (int i = 0; i < count; i++)
        {
            Assert.True(TestLog.Emit(pipeline, 0, i));
            Assert.True(pipeline.Flush(TestLog.Safety));
        }
    }

    private static string[] CaptureStderr(Action action)
    {
        using var stderr = new StderrCapture();
        action();
        return stderr.Lines();
    }

    /// <summary>Fails every batch while <see cref="Failing"/> is set, as a file sink on a full disk does.</summary>
    private sealed class SwitchSink : LogSink
    {
        private volatile bool _failing = true;

        public bool Failing
        {
            get => _failing;
            set => _failing = value;
        }

        public override void Write(in LogBatch batch, CancellationToken cancellationToken)
        {
            if (_failing)
            {
                throw new IOException("No space left on device");
            }
        }
    }
}
