using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.RegularExpressions;
using FapiLog.Tests.Support;
using Xunit;

namespace FapiLog.Tests;

/// <summary>
/// What a signal that ends the process leaves behind, in a real child process: every event the queue took in reached the
/// sinks, or stderr says it did not; every drop counted was said.
/// </summary>
public sealed class SignalExitTests : IDisposable
{
    private readonly string _file = Path.Combine(Path.GetTempPath(), "fapilog-signal-" + Guid.NewGuid().ToString("N") + ".jsonl");

    public void Dispose() => File.Delete(_file);

    private long[] Sequences() => !File.Exists(_file) ? [] : File.ReadAllLines(_file)
        .Select(l => JsonDocument.Parse(l).RootElement)
        .Where(e => e.GetProperty("event").GetString() == "Tick")
        .Select(e => e.GetProperty("Sequence").GetInt64())
        .ToArray();

    [Theory]
    [InlineData(15)] // SIGTERM
    [InlineData(2)]  // SIGINT
    public void Events_another_thread_logs_while_a_signals_flush_runs_are_delivered_too(int signal)
    {
        // 100 events, then the signal: its flush hands them to the sinks, and while the sinks write them another thread of
        // the application logs 100 more (an application still at work when Ctrl+C or docker stop comes), which the queue
        // takes in. The flush covered only the first 100; the signal then ended the process, and the other 100 vanished
        // without a word on stderr (found by a review).
        using RunningChild p = ChildProcess.Start("signal-while-logging", _file, "100");
        Assert.Equal("ready", p.ReadLine());

        ChildProcess.SendSignal(p, signal);
        p.WaitForExit();
        string errors = p.StandardError;
        long[] delivered = Sequences();

        Assert.NotEqual(0, p.ExitCode);
        // The handler flushes again while events keep coming (within its budget): all 200 are delivered, once each.
        Assert.True(delivered.Order().SequenceEqual(Enumerable.Range(0, 200).Select(i => (long)i)),
            $"{delivered.Length} of 200 delivered; stderr: <{errors}>");
    }

    [Fact]
    public void A_thread_that_logs_without_pause_does_not_hold_a_signal_for_the_whole_shutdown_timeout()
    {
        // The handler flushes again for events logged while its flush ran, a few rounds at most: chasing a thread that
        // never stops would hold Ctrl+C for the whole ShutdownTimeout (1 h here, so this test would hang). Each batch the
        // sink writes makes the child's other thread log 10 more, so every round finds new events.
        using RunningChild p = ChildProcess.Start("signal-endless-logging", _file, "0");
        Assert.Equal("ready", p.ReadLine());

        ChildProcess.SendSignal(p, 15);
        p.WaitForExit();
        string errors = p.StandardError;

        // Ended by the signal after the rounds; the 10 events the last round made the thread log are said.
        Assert.NotEqual(0, p.ExitCode);
        Assert.True(errors.Contains("FapiLog: SIGTERM: events were still being logged after the flush; 10 event(s) were not delivered", StringComparison.Ordinal), errors);
    }

    [Theory]
    [InlineData(15)] // SIGTERM
    [InlineData(2)]  // SIGINT
    public void Drops_kept_back_by_the_warning_interval_are_said_before_a_signal_ends_the_process(int signal)
    {
        // Two bursts on a full queue (Drop): 3 events dropped, said (stderr and the sinks), then 4 more within the
        // DropWarningInterval of that line, kept back for the next report. A shutdown says them (FinishSinks forces the
        // report); the signal's flush does not, and the process ends with the 4 drops said nowhere.
        using RunningChild p = ChildProcess.Start("signal-after-drops", _file, "10");
        Assert.Equal("ready dropped=7", p.ReadLine());

        ChildProcess.SendSignal(p, signal);
        p.WaitForExit();
        string errors = p.StandardError;

        Assert.NotEqual(0, p.ExitCode);
        int said = Regex.Matches(errors, @"FapiLog dropped (\d+) event\(s\)").Sum(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(said == 7, $"7 events were dropped, {said} said on stderr: <{errors}>");
    }

    [Theory]
    [InlineData(1)] // SIGHUP: the terminal or the SSH session that ran the process went away
    [InlineData(3)] // SIGQUIT: what the Generic Host itself takes as a request to stop gracefully
    public void A_terminating_signal_other_than_SIGTERM_and_SIGINT_does_not_lose_the_queue_silently(int signal)
    {
        using RunningChild p = ChildProcess.Start("sigterm", _file, "400");
        Assert.Equal("ready", p.ReadLine());

        ChildProcess.SendSignal(p, signal);
        p.WaitForExit();
        string errors = p.StandardError;
        long[] delivered = Sequences();

        Assert.NotEqual(0, p.ExitCode);
        Assert.True(delivered.Length == 400 || errors.Contains($"{400 - delivered.Length} event(s)", StringComparison.Ordinal),
            $"{delivered.Length} of 400 events delivered, and stderr says nothing of the rest: <{errors}>");
    }

    [Theory]
    [InlineData(15)] // SIGTERM
    [InlineData(2)]  // SIGINT
    public void Sink_failures_kept_back_by_the_report_interval_are_said_before_a_signal_ends_the_process(int signal)
    {
        // A sink fails every batch: the first 50 events' failure is said at once; the next 50 fail within the minute of that
        // line and are kept back for the next report, which a shutdown makes (Main returning says "failed 50 more
        // event(s)"). The signal's flush fails them and the process ends with them said nowhere.
        using RunningChild p = ChildProcess.Start("signal-sink-fails", _file, "50");
        Assert.Equal("ready", p.ReadLine());

        ChildProcess.SendSignal(p, signal);
        p.WaitForExit();
        string errors = p.StandardError;

        Assert.NotEqual(0, p.ExitCode);
        Assert.Equal(100, Sequences().Length);
        Assert.Contains("failed 50 event(s)", errors, StringComparison.Ordinal);
        Assert.Contains("failed 50 more event(s)", errors, StringComparison.Ordinal);
    }
}
