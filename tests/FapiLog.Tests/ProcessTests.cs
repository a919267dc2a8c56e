using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Threading.Tasks;
using FapiLog.Tests.Support;
using Xunit;

namespace FapiLog.Tests;

/// <summary>Exit, crash, signal and starvation behaviour, each in a real child process.</summary>
public sealed class ProcessTests : IDisposable
{
    private readonly string _file = Path.Combine(Path.GetTempPath(), "fapilog-proc-" + Guid.NewGuid().ToString("N") + ".jsonl");

    public void Dispose() => File.Delete(_file);

    private long[] Sequences() => File.ReadAllLines(_file)
        .Select(l => JsonDocument.Parse(l).RootElement)
        .Where(e => e.GetProperty("event").GetString() == "Tick")
        .Select(e => e.GetProperty("Sequence").GetInt64())
        .ToArray();

    [Fact]
    public void Returning_from_main_flushes_everything_through_the_process_exit_hook()
    {
        using RunningChild p = ChildProcess.Start("exit", _file, "500");
        p.WaitForExit();

        Assert.Equal(0, p.ExitCode);
        Assert.Equal(Enumerable.Range(0, 500).Select(i => (long)i), Sequences());
    }

    [Fact]
    public void An_unhandled_exception_is_logged_and_everything_before_it_is_flushed()
    {
        using RunningChild p = ChildProcess.Start("unhandled", _file, "300");
        p.WaitForExit();

        Assert.NotEqual(0, p.ExitCode);
        Assert.Equal(Enumerable.Range(0, 300).Select(i => (long)i), Sequences());
        JsonElement crash = File.ReadAllLines(_file).Select(l => JsonDocument.Parse(l).RootElement)
            .Single(e => e.GetProperty("event").GetString() == "FapiLog.UnhandledException");
        Assert.Equal("critical", crash.GetProperty("level").GetString());
        Assert.Equal("unhandled on purpose", crash.GetProperty("exception").GetProperty("message").GetString());
    }

    [Fact]
    public void A_crash_before_the_first_log_call_is_logged_to_the_sinks_the_environment_configures()
    {
        // No log call and no Configure yet: the first log call would have configured the pipeline from FAPILOG_*, and so
        // must the crash event. It went nowhere: the handler found no pipeline and gave up.
        var environment = new Dictionary<string, string> { ["FAPILOG_FILE"] = _file };
        using RunningChild p = ChildProcess.StartWith(environment, "crash-unconfigured", _file, "0");
        p.WaitForExit();
        string error = p.StandardError;

        Assert.NotEqual(0, p.ExitCode);
        Assert.Contains("crash before any log call", error, StringComparison.Ordinal); // the runtime's own report stays
        Assert.True(File.Exists(_file), "nothing was written to the file sink: " + error);
        JsonElement crash = Assert.Single(File.ReadAllLines(_file).Select(l => JsonDocument.Parse(l).RootElement));
        Assert.Equal("FapiLog.UnhandledException", crash.GetProperty("event").GetString());
        Assert.Equal("critical", crash.GetProperty("level").GetString());
        Assert.Equal("crash before any log call", crash.GetProperty("exception").GetProperty("message").GetString());
    }

    [Fact]
    public void A_crash_before_the_first_log_call_with_a_bad_setting_in_the_environment_still_ends_the_process_and_names_it()
    {
        var environment = new Dictionary<string, string> { ["FAPILOG_FILE"] = _file, ["FAPILOG_QUEUE_CAPACITY"] = "-5" };
        using RunningChild p = ChildProcess.StartWith(environment, "crash-unconfigured", _file, "0");
        p.WaitForExit();
        string error = p.StandardError;

        Assert.NotEqual(0, p.ExitCode);
        Assert.Contains("crash before any log call", error, StringComparison.Ordinal);
        Assert.Contains("FAPILOG_QUEUE_CAPACITY", error, StringComparison.Ordinal);
        Assert.False(File.Exists(_file));
    }

    [Theory]
    [InlineData("crash-first-log-call", "Unhandled exception. FapiLog.FapiLogConfigurationException")]
    [InlineData("crash-first-log-call-in-static-constructor", " ---> FapiLog.FapiLogConfigurationException")]
    public void A_crash_that_is_the_first_log_call_failing_on_a_bad_setting_names_it_on_stderr_once(string mode, string runtimeReport)
    {
        // The first log call reports the bad value on stderr and throws; nothing catches it. The crash handler, finding no
        // pipeline, configured from the same environment again and wrote the same error a second time.
        var environment = new Dictionary<string, string> { ["FAPILOG_FILE"] = _file, ["FAPILOG_QUEUE_CAPACITY"] = "-5" };
        using RunningChild p = ChildProcess.StartWith(environment, mode, _file, "0");
        p.WaitForExit();
        Assert.NotEqual(0, p.ExitCode);
        string[] lines = p.StandardError.Split('\n');
        // The runtime's own report of the crash stays; FapiLog's line is the one the first log call wrote.
        Assert.Contains(lines, l => l.Contains(runtimeReport, StringComparison.Ordinal));
        string ours = Assert.Single(lines, l => l.StartsWith("FapiLog: ", StringComparison.Ordinal));
        Assert.Contains("FAPILOG_QUEUE_CAPACITY", ours, StringComparison.Ordinal);
        Assert.False(File.Exists(_file));
    }

    [Theory]
    [InlineData("crash-configure-error", "FapiLog.FapiLogConfigurationException")]
    [InlineData("crash-after-env-fixed", "System.InvalidOperationException")]
    public void A_crash_after_a_configuration_error_the_environment_did_not_cause_now_is_still_logged(string mode, string type)
    {
        // The handler skips configuring only for the very error the environment gave a log call. A configuration error
        // from Configure, or a crash after the application fixed the variable, still has an environment to configure from.
        var environment = new Dictionary<string, string> { ["FAPILOG_FILE"] = _file, ["FAPILOG_QUEUE_CAPACITY"] = "-5" };
        if (mode == "crash-configure-error")
        {
            environment.Remove("FAPILOG_QUEUE_CAPACITY");
        }

        using RunningChild p = ChildProcess.StartWith(environment, mode, _file, "0");
        p.WaitForExit();
        Assert.NotEqual(0, p.ExitCode);
        Assert.True(File.Exists(_file), "nothing was written to the file sink: " + p.StandardError);
        JsonElement crash = Assert.Single(File.ReadAllLines(_file).Select(l => JsonDocument.Parse(l).RootElement));
        Assert.Equal("FapiLog.UnhandledException", crash.GetProperty("event").GetString());
        Assert.Equal(type, crash.GetProperty("exception").GetProperty("type").GetString());
    }

    [Fact]
    public void Sigterm_flushes_everything_before_the_process_ends()
    {
        using RunningChild p = ChildProcess.Start("sigterm", _file, "400");
        Assert.Equal("ready", p.ReadLine());

        ChildProcess.SendSigterm(p);
        p.WaitForExit();

        Assert.Equal(Enumerable.Range(0, 400).Select(i => (long)i), Sequences());
    }

    [Theory]
    [InlineData(15)] // SIGTERM
    [InlineData(2)]  // SIGINT
    public void A_signal_that_ends_the_process_while_a_sink_hangs_says_on_stderr_how_many_events_were_not_delivered(int signal)
    {
        using RunningChild p = ChildProcess.Start("sigterm-hung", _file, "100");
        Assert.Equal("ready", p.ReadLine());

        ChildProcess.SendSignal(p, signal);
        p.WaitForExit();
        string errors = p.StandardError;

        // The flush before the signal's default action gave up after ShutdownTimeout; the process then ended. Once, it
        // ended without a word: nothing said that the 100 events never reached the sinks.
        Assert.NotEqual(0, p.ExitCode);
        Assert.Contains("100 event(s) were not delivered", errors, StringComparison.Ordinal);
    }

    [Fact]
    public void A_signal_that_ends_the_process_while_Loki_refuses_says_why_in_the_same_line()
    {
        // The Loki sender's own give-up line comes after the abort, and the signal's default action may end the process
        // first: the flush report, written before the handler returns, must carry the reason.
        using var receiver = new Loki.LokiReceiver((_, _) => new Loki.ResponsePlan(503, Body: "ingester down for maintenance"));
        var environment = new Dictionary<string, string> { ["TESTHOST_LOKI_URL"] = receiver.Url.ToString() };
        using RunningChild p = ChildProcess.StartWith(environment, "sigterm-loki-down", _file, "10");
        Assert.Equal("ready", p.ReadLine());
        ChildProcess.SendSigterm(p);
        p.WaitForExit();

        string report = Assert.Single(p.StandardError.Split('\n'), l => l.Contains("the flush did not finish", StringComparison.Ordinal));
        Assert.Contains("http_503", report, StringComparison.Ordinal);
        Assert.Contains("ingester down for maintenance", report, StringComparison.Ordinal);
    }

    [Fact]
    public void The_exit_hook_does_not_wait_again_for_a_worker_an_earlier_shutdown_gave_up_on()
    {
        // Main's shutdown gives up after 1 s on a sink that ignores cancellation; ShutdownTimeout is 10 minutes. The exit
        // hook's shutdown used to wait those 10 minutes again for the same worker and report the loss a second time.
        using RunningChild p = ChildProcess.Start("ignoring-sink-shutdown", _file, "100");
        Assert.Equal("shutdown=False", p.ReadLine());
        // Not a time limit on FapiLog: the other outcome is a child that waits ten minutes (the exit hook waiting again for
        // the worker that Main's shutdown gave up on), which is stopped and failed here.
        p.WaitForExit();
        string errors = p.StandardError;

        Assert.Equal(0, p.ExitCode);
        Assert.Equal(1, errors.Split('\n').Count(l => l.Contains("FapiLog: shutdown did not finish", StringComparison.Ordinal)));
        Assert.Contains("100 event(s) were not delivered", errors, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(15)] // SIGTERM
    [InlineData(2)]  // SIGINT
    public void A_Generic_Host_stopped_by_a_signal_with_a_sink_that_ignores_cancellation_reports_the_loss_once(int signal)
    {
        // The host's stop gives up on the flush after ShutdownTimeout (2 s); its disposal does not wait again, and neither
        // may the exit hook after it (it did: a second 2 s and a second report of the same 100 events).
        using RunningChild p = ChildProcess.Start("host-ignoring-sink", _file, "100");
        Assert.Equal("ready", p.ReadLine());

        ChildProcess.SendSignal(p, signal);
        p.WaitForExit();
        string errors = p.StandardError;

        Assert.Equal(0, p.ExitCode);
        Assert.Equal(1, errors.Split('\n').Count(l => l.Contains("not delivered", StringComparison.Ordinal)));
    }

    [Fact]
    public void A_signal_the_application_cancels_is_left_to_the_application_without_a_flush_or_a_report()
    {
        // .NET runs every handler of a signal, also after one has cancelled it. The Generic Host cancels SIGTERM and stops
        // gracefully, flushing as it goes; FapiLog's handler once flushed as well, in parallel, and with a slow sink
        // reported "the flush did not finish ... not delivered yet" on top of the host's own shutdown report.
        using RunningChild p = ChildProcess.Start("sigterm-cancelled-hung", _file, "10");
        Assert.Equal("ready", p.ReadLine());

        ChildProcess.SendSigterm(p);
        Assert.Equal("handled", p.ReadLine());
        p.WaitForExit();
        string errors = p.StandardError;

        Assert.Equal(0, p.ExitCode);
        Assert.DoesNotContain("SIGTERM", errors, StringComparison.Ordinal);
        // What was lost is reported once, by the shutdown at exit.
        Assert.Contains("FapiLog: shutdown did not finish within 2 s; 10 event(s) were not delivered", errors, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(15)] // SIGTERM
    [InlineData(2)]  // SIGINT
    public void A_Generic_Host_stops_on_a_signal_at_once_rather_than_after_a_flush_of_its_slow_sink(int signal)
    {
        // The host starts FapiLog itself (no module initializer). Its sink holds every write until the host begins to stop;
        // ShutdownTimeout is 10 minutes. Once, FapiLog's signal handler ran before the host's and waited that long for the
        // flush: the host did not even begin to stop.
        using RunningChild p = ChildProcess.Start("host-slow-sink", _file, "50");
        Assert.Equal("ready", p.ReadLine());

        ChildProcess.SendSignal(p, signal);
        p.WaitForExit();

        Assert.True(p.ExitCode == 0, $"exit {p.ExitCode}: {p.StandardError}");
        long[] ticks = File.ReadAllLines(_file)
            .Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.TryGetProperty("Sequence", out _))
            .Select(e => e.GetProperty("Sequence").GetInt64())
            .ToArray();
        Assert.Equal(Enumerable.Range(0, 50).Select(i => (long)i), ticks);
    }

    [Fact]
    public void An_unhandled_exception_on_a_background_thread_is_logged_after_everything_before_it()
    {
        using RunningChild p = ChildProcess.Start("crash-thread", _file, "200");
        p.WaitForExit();

        Assert.NotEqual(0, p.ExitCode);
        Assert.Equal(Enumerable.Range(0, 200).Select(i => (long)i), Sequences());
        JsonElement crash = File.ReadAllLines(_file).Select(l => JsonDocument.Parse(l).RootElement)
            .Single(e => e.GetProperty("event").GetString() == "FapiLog.UnhandledException");
        Assert.Equal("crash on a background thread", crash.GetProperty("exception").GetProperty("message").GetString());
    }

    [Fact]
    public void A_crash_ends_the_process_even_when_its_event_finds_the_queue_full_under_Block_without_a_time_limit()
    {
        // The queue is full and a hung sink holds it; BlockTimeout is infinite, ShutdownTimeout 2 s. Once, the crash
        // handler waited for room for its Critical event for good, and the crashing process never ended.
        using RunningChild p = ChildProcess.Start("crash-block-hung", _file, "10");
        p.WaitForExit();

        string errors = p.StandardError;
        Assert.NotEqual(0, p.ExitCode);
        Assert.Contains("crash while the queue is full", errors, StringComparison.Ordinal);
        // The crash event spent the 2 s waiting for room, and the shutdown after it gave up at once: the line said
        // "within 0 s", what was left of the timeout, not what the crash was given.
        Assert.Contains("FapiLog: shutdown did not finish within 2 s; 10 event(s) were not delivered", errors, StringComparison.Ordinal);
    }

    [Fact]
    public void An_application_that_configures_and_logs_through_the_ILogger_bridge_only_loses_nothing_when_Main_returns()
    {
        // Configure + new FapiLogLoggerProvider(), no [FapiLog] method and so no generated module initializer: nothing
        // registered the exit hook, and the 50 queued events vanished with the process.
        using RunningChild p = ChildProcess.Start("bridge-exit", _file, "50");
        p.WaitForExit();

        Assert.True(p.ExitCode == 0, p.StandardError);
        Assert.Equal(Enumerable.Range(0, 50).Select(i => (long)i), Sequences());
    }

    [Fact]
    public void A_crash_inside_Console_WriteLine_still_logs_it_and_everything_before_it_to_the_console()
    {
        // Console.WriteLine("{0} {1}", x) throws its FormatException while it holds Console.Out's lock, and the crash
        // handler runs before that lock is released. The console sink takes the same lock for every batch: the worker
        // waited for a lock only the crashing thread could give back, the shutdown gave up after ShutdownTimeout and
        // reported all 101 events as not delivered (with stdout a file, none ever came out).
        var environment = new Dictionary<string, string> { ["NO_COLOR"] = "1" };
        using RunningChild p = ChildProcess.StartWith(environment, "crash-in-console-write", _file, "100");
        p.WaitForExit();
        string output = p.StandardOutput;
        string errors = p.StandardError;

        Assert.NotEqual(0, p.ExitCode);
        Assert.Contains("System.FormatException", errors, StringComparison.Ordinal);
        Assert.DoesNotContain("FapiLog: shutdown did not finish", errors, StringComparison.Ordinal);
        string[] lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Count(l => l.Contains("Tick: Tick ", StringComparison.Ordinal)) == 100, "stdout:\n" + output + "\nstderr:\n" + errors);
        Assert.Single(lines, l => l.Contains("FapiLog.UnhandledException", StringComparison.Ordinal));
    }

    [Fact]
    public void Configure_after_the_exit_hook_shut_down_leaves_no_event_silently_queued()
    {
        // A ProcessExit handler of the user's runs after FapiLog's hook, configures FapiLog again and logs 20 events. Once,
        // Configure started a new pipeline that took them in and was never shut down: the process ended with them queued,
        // neither delivered nor counted as dropped, and nothing said so.
        using RunningChild p = ChildProcess.Start("configure-at-exit", _file, "20");
        p.WaitForExit();
        string output = p.StandardOutput;

        Assert.True(p.ExitCode == 0, output);
        Assert.Equal(Enumerable.Range(0, 20).Select(i => (long)i), Sequences().Where(s => s < 20));
        Assert.Contains("late attempted=40 ", output, StringComparison.Ordinal);
        Assert.Contains(" pending=0", output, StringComparison.Ordinal);
    }

    [Fact]
    public void A_first_log_call_after_the_exit_hook_leaves_no_event_silently_queued()
    {
        // Nothing was logged or configured before the process began to exit; a ProcessExit handler of the user's (run after
        // FapiLog's hook) logs 20 events, the first of which configures FapiLog from the environment. That pipeline was
        // started running, took the events in and was never shut down: the process ended with them queued, neither
        // delivered nor counted as dropped, and nothing said so.
        var environment = new Dictionary<string, string> { ["FAPILOG_FILE"] = _file };
        using RunningChild p = ChildProcess.StartWith(environment, "log-at-exit-unconfigured", _file, "20");
        p.WaitForExit();
        string output = p.StandardOutput;

        Assert.True(p.ExitCode == 0, output + p.StandardError);
        Assert.Contains("late attempted=20 enqueued=0 shutdown=20 pending=0", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("meter-set-level")]
    [InlineData("meter-configure")]
    [InlineData("meter-first-call")]
    public void The_meter_is_published_outside_the_configuration_lock_whatever_uses_FapiLog_first(string mode)
    {
        // A fresh process, so that the meter is created here. SetMinimumLevel as the first use published the instruments
        // while it held the configuration lock, which a collection reads the statistics under: with a collector that
        // locks in both places (OpenTelemetry's), the two threads waited for each other.
        var environment = new Dictionary<string, string> { ["FAPILOG_FILE"] = _file, ["FAPILOG_CONSOLE"] = "false" };
        using RunningChild p = ChildProcess.StartWith(environment, mode, _file, "0");
        p.WaitForExit();
        string output = p.StandardOutput;
        Assert.True(p.ExitCode == 0, output + p.StandardError);
        Assert.Contains("published=13 blocked=0", output, StringComparison.Ordinal);
    }

    [Fact]
    public void A_queue_too_large_for_the_memory_is_a_configuration_error_and_leaves_nothing_open()
    {
        // A container's memory limit caps the GC heap; here 256 MiB, far below the ~2.5 GiB the largest queue needs. It was
        // a bare OutOfMemoryException from Configure, and the file sink built before the queue kept its handle.
        var heapLimit = new Dictionary<string, string> { ["DOTNET_GCHeapHardLimit"] = "0x10000000" };
        using RunningChild p = ChildProcess.StartWith(heapLimit, "huge-queue", _file, "30");
        p.WaitForExit();
        string output = p.StandardOutput;

        Assert.True(p.ExitCode == 0, output + p.StandardError);
        Assert.Contains($"refused QueueCapacity={FapiLogOptions.MaxQueueCapacity} configured=False handles=0", output, StringComparison.Ordinal);
        Assert.Contains("MiB in one array", output, StringComparison.Ordinal);
        Assert.Equal(Enumerable.Range(0, 30).Select(i => (long)i), Sequences());
    }

    [Fact]
    public void A_queue_too_large_for_the_memory_from_the_environment_is_reported_on_stderr_like_any_bad_variable()
    {
        var environment = new Dictionary<string, string>
        {
            ["DOTNET_GCHeapHardLimit"] = "0x10000000",
            ["FAPILOG_QUEUE_CAPACITY"] = FapiLogOptions.MaxQueueCapacity.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        using RunningChild p = ChildProcess.StartWith(environment, "huge-queue-env", _file, "0");
        p.WaitForExit();
        string output = p.StandardOutput;
        string error = p.StandardError;

        Assert.True(p.ExitCode == 0, output + error);
        Assert.Contains("threw QueueCapacity", output, StringComparison.Ordinal);
        Assert.Contains("FapiLog: ", error, StringComparison.Ordinal);
        Assert.Contains("MiB in one array", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Trace_context_is_captured_from_the_first_activity_on_and_not_before()
    {
        // A fresh process: no activity has been current before these events, so the calls skip looking for one.
        string trace = RunAndReadTraceId("activities", 3);

        Assert.Equal(new string?[] { null, null, null, trace, null }, TraceIds());
    }

    [Fact]
    public void An_activity_current_before_fapilog_is_first_used_is_still_captured()
    {
        string trace = RunAndReadTraceId("activity-before", 2);

        Assert.Equal(new string?[] { trace, trace }, TraceIds());
    }

    /// <summary>Runs the child in <paramref name="mode"/> to its exit and returns the trace id it printed.</summary>
    private string RunAndReadTraceId(string mode, int count)
    {
        using RunningChild p = ChildProcess.Start(mode, _file, count.ToString(System.Globalization.CultureInfo.InvariantCulture));
        p.WaitForExit();
        string output = p.StandardOutput;

        Assert.True(p.ExitCode == 0, $"exit {p.ExitCode}: {output}");
        string line = Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("trace ", StringComparison.Ordinal));
        return line["trace ".Length..].Trim();
    }

    private string?[] TraceIds() => File.ReadAllLines(_file)
        .Select(l => JsonDocument.Parse(l).RootElement)
        .Where(e => e.GetProperty("event").GetString() == "Tick")
        .OrderBy(e => e.GetProperty("Sequence").GetInt64())
        .Select(e => e.TryGetProperty("trace_id", out JsonElement t) ? t.GetString() : null)
        .ToArray();

    [Fact]
    public void Events_are_delivered_while_the_thread_pool_is_starved()
    {
        using RunningChild p = ChildProcess.Start("starve", _file, "2000");
        p.WaitForExit();
        string output = p.StandardOutput;
        string errors = p.StandardError;

        Assert.True(p.ExitCode == 0, $"exit {p.ExitCode}: {output} {errors}");
        Assert.Equal(2000, Sequences().Length);
    }

    [Fact]
    public void A_Loki_push_that_needs_the_starved_thread_pool_times_out_instead_of_stalling_the_other_sinks()
    {
        using var receiver = new Loki.LokiReceiver();
        using RunningChild p = ChildProcess.Start("starve-loki", _file, "300", receiver.Url.ToString());
        p.WaitForExit();
        string output = p.StandardOutput;
        string errors = p.StandardError;

        // Once, the request timeout came from a timer on the starved pool: the push never ended and the flush gave up.
        Assert.True(p.ExitCode == 0, $"exit {p.ExitCode}: {output} {errors}");
        Assert.Equal(Enumerable.Range(0, 600).Select(i => (long)i), Sequences().Order());
        // Once the pool recovered, the same sink pushed the later events.
        Assert.True(receiver.Requests.SelectMany(r => r.AllEntries()).Count() >= 300, output);
    }
    [Fact]
    public void Drops_are_said_on_stderr_while_the_thread_pool_is_starved_and_a_sink_holds_the_worker()
    {
        // The line was said by a timer on the thread pool: while the pool was starved (when Loki's pushes stall, the send
        // buffer fills and the worker is held, so the queue fills too) it came only once the pool recovered. The child
        // keeps its pool starved and its worker held until the test has read the line.
        using RunningChild p = ChildProcess.StartWithUnreadStandardError("starve-drops", _file, "1000");
        Regex dropped = new(@"^FapiLog dropped (\d+) event\(s\) since the last report \(queue full: (\d+), block timeout: 0, after shutdown: 0, worker stopped: 0\) and sampled out 0$");
        p.ReadStandardErrorUntil(dropped.IsMatch);
        p.WriteInputAndClose("release");
        p.WaitForExit();
        string output = p.StandardOutput;
        Assert.True(p.ExitCode == 0, $"exit {p.ExitCode}: {output} {p.StandardError}");
        Assert.StartsWith("flushed=True dropped=11 ", output, StringComparison.Ordinal);

        // Every drop said, once: usually all 11 in the first line, the rest in a later one if the loop was slow.
        int said = 0;
        foreach (string line in p.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            Match m = dropped.Match(line);
            if (m.Success)
            {
                Assert.Equal(m.Groups[1].Value, m.Groups[2].Value);
                said += int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        Assert.Equal(11, said);
        Assert.Equal(Enumerable.Range(0, 1000).Select(i => (long)i), Sequences());
    }

    [Theory]
    [InlineData("", "", false)] // stdout is a pipe here: no colour
    [InlineData("1", "", true)]
    [InlineData("0", "", false)]
    [InlineData("1", "1", false)] // NO_COLOR wins
    public void The_console_colours_a_pipe_only_when_FORCE_COLOR_says_so_and_NO_COLOR_does_not_forbid_it(string forceColor, string noColor, bool coloured)
    {
        // Set, even when empty (which both conventions read as unset), so that the test runner's own values do not count.
        var environment = new Dictionary<string, string> { ["FORCE_COLOR"] = forceColor, ["NO_COLOR"] = noColor, ["FAPILOG_CONSOLE"] = "true" };
        using RunningChild p = ChildProcess.StartWith(environment, "console", _file, "3");
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"exit {p.ExitCode}: {p.StandardError}");
        string[] lines = p.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        foreach (string line in lines)
        {
            Assert.Matches(coloured ? "^\\S+ \u001b\\[32minfo    \u001b\\[0m Tick: Tick \\d$" : "^\\S+ info     Tick: Tick \\d$", line);
        }
    }

    [Fact]
    public void With_stdout_a_pipe_nobody_reads_a_shutdown_that_gives_up_still_says_so_on_a_stderr_that_is_not_a_pipe()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;   // the host uses Linux's open flags
        }

        // `app | less` left unscrolled, stderr on the terminal: the console sink's write to the full stdout pipe waits for
        // good holding Console.Out's lock, and .NET's console stream, which writes a terminal or a file on stderr, takes
        // that same lock: FapiLog's stderr lines (the shutdown's report of what it could not deliver, sink failures, drop
        // warnings) waited behind it and were never written. The host's stderr is the file _file.
        var environment = new Dictionary<string, string> { ["NO_COLOR"] = "1" };
        using RunningChild p = ChildProcess.StartWith(environment, "console-stdout-unread", _file, "20000");
        p.WaitForExit();

        string errors = File.ReadAllText(_file);
        Assert.True(p.ExitCode == 4, $"exit {p.ExitCode}: {errors}");
        Assert.Contains("FapiLog: shutdown did not finish within 1 s; ", errors, StringComparison.Ordinal);
    }

    [Fact]
    public void Console_events_written_after_the_reader_of_stdout_went_away_are_counted_as_failed_and_reported_once()
    {
        // `app | head -1`: .NET's console stream takes a write to a pipe without a reader as a success, so the events
        // after it were counted as delivered and nothing said they went nowhere.
        var environment = new Dictionary<string, string> { ["NO_COLOR"] = "1" };
        using RunningChild p = ChildProcess.StartWith(environment, redirectInput: true, "console-reader-gone", _file, "50");
        Assert.EndsWith("info     Tick: Tick 0", p.ReadLine(), StringComparison.Ordinal);
        p.CloseStandardOutput();
        p.WriteInputAndClose("closed");
        p.WaitForExit();

        string errors = p.StandardError;
        string[] lines = errors.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(p.ExitCode == 0, $"exit {p.ExitCode}: {errors}");
        string failure = Assert.Single(lines, l => l.StartsWith("FapiLog: ", StringComparison.Ordinal));
        Assert.Equal("FapiLog: sink 'console' failed 50 event(s): IOException: Broken pipe", failure);
        string statistics = Assert.Single(lines, l => l.StartsWith("shutdown=", StringComparison.Ordinal));
        Assert.Contains("shutdown=True attempted=51 ", statistics, StringComparison.Ordinal);
        Assert.Contains(" delivered=1 failed=50 ", statistics, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("stderr-unread")]
    // Console.OutputEncoding assigned: .NET's Console.Error was no longer told from an application's own writer, and its
    // stuck write held Console.Out's lock, and with it the host's Console.WriteLine, for good.
    [InlineData("stderr-unread-utf8")]
    // stderr left non-blocking (by a process that shares it): FapiLog's stderr thread went over, at the first full pipe, to
    // .NET's console stream, which waits for room under Console.Out's lock, and the host's Console.WriteLine hung for good.
    [InlineData("stderr-unread-nonblocking")]
    public void A_stderr_that_nobody_reads_stops_neither_the_sinks_nor_the_shutdown_and_what_it_could_not_take_is_counted(string mode)
    {
        if (mode == "stderr-unread-nonblocking" && !OperatingSystem.IsLinux())
        {
            return;   // the host sets O_NONBLOCK with Linux's fcntl values
        }

        // Process.Start with stderr redirected and only stdout read: once the pipe is full, a write to stderr waits until
        // someone reads. The worker wrote its sink failure lines there itself and stopped inside one: the file sink never
        // got the batch, the flush timed out, and the shutdown's report waited behind that line for ever.
        const int sinks = 300;   // the host's failing sinks, each with one line
        using RunningChild p = ChildProcess.StartWithUnreadStandardError(mode, _file, "100");
        Assert.Equal("flushed=True", p.ReadLine());
        Assert.StartsWith("shutdown=True ", p.ReadLine(), StringComparison.Ordinal);
        // The count of the lines left out comes last, once FapiLog's stderr thread has caught up. The exit hook does not
        // wait for a stderr found taking nothing that has taken no line since, and on a non-blocking pipe the thread
        // tries again only a few milliseconds after a reader made room: told to exit at once, the host could end first.
        Regex leftOut = new(@"^FapiLog: (\d+) line\(s\) for stderr were left out here: it took none for a while \(is anything reading it\?\)$");
        p.ReadStandardErrorUntil(leftOut.IsMatch);
        p.WriteInputAndClose("exit");
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
        Assert.Equal(Enumerable.Range(0, 100).Select(i => (long)i), Sequences());

        // Read once the test read stderr, before the process ended: the failure lines in order and whole, as far as the pipe
        // and FapiLog's hand-off held them, and in place of the others a line that counts them.
        string failure = "IOException: disk full " + new string('x', 4096);
        int next = 0;
        int counts = 0;
        foreach (string line in p.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            Match count = leftOut.Match(line);
            if (count.Success)
            {
                next += int.Parse(count.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
                counts++;
                continue;
            }

            Assert.Equal($"FapiLog: sink 'failing-{next}' failed 100 event(s): {failure}", line);
            next++;
        }

        Assert.Equal(sinks, next);
        Assert.True(counts > 0, "no line was left out: the pipe never filled");
    }

    [Fact]
    public void A_line_stuck_on_a_stderr_nobody_reads_does_not_hold_Console_Errors_lock_for_good()
    {
        // FapiLog's stderr thread held Console.Error's lock for as long as its line waited: with a stderr nobody reads, for
        // good. Console.Error.Flush() with nothing to write then hung, and so did Console.OutputEncoding's setter, which
        // calls it holding System.Console's lock after it has dropped Console.Out, and then every Console.WriteLine.
        using RunningChild p = ChildProcess.StartWithUnreadStandardError("stderr-unread-error-lock", _file, "100");
        Assert.Equal("flushed=True", p.ReadLine());
        Assert.Equal("error-flush=True", p.ReadLine());
        Assert.StartsWith("shutdown=True ", p.ReadLine(), StringComparison.Ordinal);
        p.ReadStandardErrorUntil(line => line.StartsWith("FapiLog: ", StringComparison.Ordinal) && line.Contains(" line(s) for stderr were left out here", StringComparison.Ordinal));
        p.WriteInputAndClose("exit");
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
        Assert.Equal(Enumerable.Range(0, 100).Select(i => (long)i), Sequences());
    }

    [Fact]
    public void A_line_for_a_stderr_pipe_is_written_under_Console_Errors_lock_so_that_it_cannot_land_inside_a_line_of_the_application()
    {
        // .NET's Console.Error writes a long line 256 characters at a time, each piece under the lock of the Console.Error
        // writer; FapiLog's lines on a stderr pipe took no lock and could land between two pieces. The host reads its own
        // stderr pipe: at its first read, FapiLog's 2 MiB line is still being written (a pipe holds far less), so
        // Console.Error's lock must be held.
        if (!OperatingSystem.IsLinux())
        {
            return;   // the host puts a pipe of its own on descriptor 2 with libc's pipe and dup2
        }

        using RunningChild p = ChildProcess.Start("stderr-line-lock", _file, "10");
        Assert.Equal("flushed=True read=True console-error-free=False whole=True", p.ReadLine());
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }

    [Fact]
    public void A_line_for_stderr_is_written_in_stderrs_encoding_when_Console_Error_was_replaced_the_first_time_FapiLog_looked()
    {
        // FapiLog's stream on a stderr pipe took the encoding of whatever Console.Error was when FapiLog first looked (here
        // a StringWriter's UTF-16), and wrote every later line in it.
        using RunningChild p = ChildProcess.Start("stderr-first-seen-replaced", _file, "10");
        Assert.Equal("flushed=True", p.ReadLine());
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
        Assert.Equal(
            ["FapiLog: sink 'disque' failed 10 event(s): IOException: disque plein à 100 %"],
            p.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void An_exception_whose_inner_exceptions_form_a_cycle_is_logged_without_overflowing_the_stack()
    {
        using RunningChild p = ChildProcess.Start("exception-cycle", _file, "10");
        p.WaitForExit();
        string output = p.StandardOutput;
        string errors = p.StandardError;

        Assert.True(p.ExitCode == 0, $"exit {p.ExitCode}: {errors}");
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), Sequences());
        JsonElement cycle = File.ReadAllLines(_file).Select(l => JsonDocument.Parse(l).RootElement)
            .Single(e => e.GetProperty("event").GetString() == "Cycle");
        Assert.Equal("outer", cycle.GetProperty("exception").GetProperty("message").GetString());
        string stack = cycle.GetProperty("exception").GetProperty("stack").GetString()!;
        Assert.Equal(
            "System.InvalidOperationException: outer\n ---> System.InvalidOperationException: inner\n"
            + " ---> <the inner exceptions lead back to System.InvalidOperationException: not shown again>",
            stack);
        Assert.Contains("Cycle: Inner exceptions in a cycle\n    System.InvalidOperationException: outer\n     ---> ", output, StringComparison.Ordinal);
    }

    [Fact]
    public void A_Console_Error_the_application_set_to_Console_Out_gets_FapiLogs_lines_with_stderr_a_file()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;   // the host uses Linux's open flags
        }

        // README: "A Console.Error you replaced with Console.SetError is written as before". Console.Out's encoding is one
        // System.Console made, so FapiLog took the replacement for .NET's own stderr writer and wrote descriptor 2, and
        // since stderr on a terminal or a file goes through FapiLog's own stream too, the lines an application sent to
        // stdout went to stderr there as well (found by a review).
        using RunningChild p = ChildProcess.Start("stderr-set-to-stdout", _file, "3");
        p.WaitForExit();
        string stdout = p.StandardOutput;
        string stderrFile = File.ReadAllText(_file);

        Assert.True(p.ExitCode == 0, $"exit {p.ExitCode}: {stdout} {stderrFile}");
        Assert.Contains("FapiLog: sink 'disk' failed 3 event(s)", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("FapiLog:", stderrFile, StringComparison.Ordinal);
    }

    [Fact]
    public void Console_OutputEncoding_set_while_FapiLog_writes_stderr_to_a_file_does_not_deadlock()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;   // the host uses Linux's open flags
        }

        // The stderr writer held Console.Error's lock and then read Console.Out, which takes System.Console's lock when
        // the setter of Console.OutputEncoding has just dropped Console.Out; that setter holds System.Console's lock and
        // waits for Console.Error's (Console.Error.Flush()): a deadlock (found by a review). 20 rounds, each of which has
        // the writer and the setter both waiting for Console.Error's lock when it is let go.
        using RunningChild p = ChildProcess.Start("stderr-output-encoding-race", _file, "20");
        p.WaitForExit();
        string stdout = p.StandardOutput;
        Assert.True(p.ExitCode == 0, $"exit {p.ExitCode}: {stdout}");
        Assert.Contains("rounds done", stdout, StringComparison.Ordinal);
    }
}
