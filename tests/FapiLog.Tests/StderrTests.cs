using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using FapiLog.Internal;
using FapiLog.Sinks;
using FapiLog.Tests.Support;
using Xunit;

namespace FapiLog.Tests;

/// <summary>FapiLog's own stderr lines, handed to a thread of their own: in order, bounded, and never a reason to stop.</summary>
public sealed class StderrHandOffTests
{
    [Fact]
    public void A_line_for_a_stderr_that_takes_lines_is_written_when_Write_returns()
    {
        var handOff = new StderrHandOff(capacity: 4, stallWait: TestLog.Safety);
        var error = new StringWriter();
        for (int i = 0; i < 10; i++)
        {
            handOff.Write(error, "line " + i);
            Assert.EndsWith("line " + i + Environment.NewLine, error.ToString(), StringComparison.Ordinal);
        }

        Assert.True(handOff.Drain(Timeout.InfiniteTimeSpan));
        Assert.Equal(Enumerable.Range(0, 10).Select(i => "line " + i), Lines(error));
    }

    [Fact]
    public void A_stderr_that_takes_nothing_holds_a_caller_one_stall_at_most_and_the_lines_beyond_the_bound_are_counted_in_place()
    {
        var handOff = new StderrHandOff(capacity: 2, stallWait: TimeSpan.FromMilliseconds(20));
        var error = new GateWriter();

        // The first line blocks in the write: its caller stops waiting after the stall, and later callers do not wait.
        handOff.Write(error, "a");
        Assert.True(error.Entered.Wait(TestLog.Safety));
        handOff.Write(error, "b");
        handOff.Write(error, "c");
        handOff.Write(error, "d");
        Assert.False(handOff.Drain(Timeout.InfiniteTimeSpan));

        // stderr takes "a" and blocks in "b": one slot is free again, and the next line records that two were left out before it.
        error.Let(1);
        Assert.True(error.Entered.Wait(TestLog.Safety));
        handOff.Write(error, "e");
        handOff.Write(error, "f");

        error.Open();
        Assert.True(SpinWait.SpinUntil(() => handOff.IsIdle, TestLog.Safety));
        Assert.Equal(["a", "b", StderrHandOff.LeftOut(2), "e", StderrHandOff.LeftOut(1)], error.Lines);

        // Caught up: lines go out as before.
        handOff.Write(error, "g");
        Assert.True(SpinWait.SpinUntil(() => handOff.IsIdle, TestLog.Safety));
        Assert.Equal("g", error.Lines[^1]);
    }

    [Fact]
    public void A_caller_waits_for_a_writer_thread_that_runs_only_after_the_stall_period_and_its_line_is_out_when_Write_returns()
    {
        // On a loaded machine the writer thread may get to run only after the stall period. The caller counted that time as
        // stderr taking nothing and returned before its line was out: a test's captured stderr read empty, and at exit the
        // process ended without the shutdown report.
        var time = new FakeTime();
        var handOff = new StderrHandOff(capacity: 4, stallWait: TimeSpan.FromSeconds(1), time);
        // Not disposed: the writer thread outlives the test, and a wait on a disposed event would throw on it and end the
        // test process. The hook holds the writer back once, before its first line, and then removes itself.
        var scheduled = new ManualResetEventSlim();
        handOff._beforeTakeForTesting = () =>
        {
            scheduled.Wait(TestLog.Safety);
            handOff._beforeTakeForTesting = null;
        };
        var error = new StringWriter();
        string? seen = null;
        Thread caller = Run(() =>
        {
            handOff.Write(error, "a");
            seen = error.ToString();
        });
        try
        {
            Assert.True(time.WaitForTimers(1, TestLog.Safety));
            Assert.Equal(1, handOff.Waiters);

            // Stall periods pass before the writer thread runs. The caller either gave up (and has returned) or waits on,
            // with a timer of its own again; only then does the writer thread take the line.
            time.Advance(TimeSpan.FromSeconds(5));
            Assert.True(SpinWait.SpinUntil(() => !caller.IsAlive || time.TimersCreated > 1, TestLog.Safety));
        }
        finally
        {
            scheduled.Set();
        }

        Assert.True(caller.Join(TestLog.Safety));
        Assert.Equal("a" + Environment.NewLine, seen);
        // Nor was stderr taken for one that takes nothing: the next Drain finds every line written.
        Assert.True(handOff.Drain(Timeout.InfiniteTimeSpan));
    }

    [Fact]
    public void Drain_gives_up_at_the_end_of_its_budget_when_that_comes_before_the_stall_period()
    {
        // Shutdown's timeout bounds the whole call: its Drain waited the full stall period past it.
        (FakeTime time, StderrHandOff handOff, GateWriter error, Thread writer) = BlockedInStderr();
        bool? drained = null;
        Thread drain = Run(() => drained = handOff.Drain(TimeSpan.FromSeconds(0.5)));
        Assert.True(SpinWait.SpinUntil(() => handOff.Waiters == 2, TestLog.Safety));

        time.Advance(TimeSpan.FromSeconds(0.5));
        try
        {
            Assert.True(drain.Join(TestLog.Safety), "Drain waited past its budget");
            Assert.False(drained);
            Assert.Empty(error.Lines);
            // The writer's caller waits on: its stall period has not passed.
            Assert.Equal(1, handOff.Waiters);
        }
        finally
        {
            time.Advance(TimeSpan.FromSeconds(0.5));
            error.Open();
        }

        Assert.True(writer.Join(TestLog.Safety));
    }

    [Fact]
    public void Drain_gives_up_at_the_end_of_its_budget_also_while_stderr_takes_a_line_within_each_stall_period()
    {
        // Each line taken gave the wait another stall period: a reader that took one just within each held Drain for as
        // many periods as lines waited (128 x 0.1 s at exit).
        (FakeTime time, StderrHandOff handOff, GateWriter error, Thread first) = BlockedInStderr();
        Thread second = Run(() => handOff.Write(error, "b"));
        Assert.True(SpinWait.SpinUntil(() => handOff.Waiters == 2, TestLog.Safety));
        bool? drained = null;
        Thread drain = Run(() => drained = handOff.Drain(TimeSpan.FromSeconds(1.5)));
        Assert.True(SpinWait.SpinUntil(() => handOff.Waiters == 3, TestLog.Safety));

        try
        {
            // stderr takes "a" within the stall period and blocks in "b".
            time.Advance(TimeSpan.FromSeconds(0.9));
            error.Let(1);
            Assert.True(error.Entered.Wait(TestLog.Safety));
            Assert.True(first.Join(TestLog.Safety));

            // Within the stall period again, but at the end of the budget.
            time.Advance(TimeSpan.FromSeconds(0.6));
            Assert.True(drain.Join(TestLog.Safety), "Drain waited past its budget");
            Assert.False(drained);
            Assert.Equal(["a"], error.Lines);
        }
        finally
        {
            error.Open();
        }

        Assert.True(second.Join(TestLog.Safety));
        Assert.Equal(["a", "b"], error.Lines);
    }

    [Fact]
    public void A_wait_whose_test_clock_moves_while_its_timer_is_armed_ends_when_that_time_has_come()
    {
        // The timer was set for what was left when the clock was read: a test that moved the clock to the end of the wait
        // just before the timer was armed left it due that much later, and the wait went on until the clock moved again
        // (a test that advanced right after a line was taken could hang there).
        (FakeTime time, StderrHandOff handOff, GateWriter error, Thread writer) = BlockedInStderr();
        try
        {
            time.BeforeNextTimer = () => time.Advance(TimeSpan.FromSeconds(0.5));
            bool? drained = null;
            Thread drain = Run(() => drained = handOff.Drain(TimeSpan.FromSeconds(0.5)));
            Assert.True(drain.Join(TestLog.Safety), "Drain waited past its budget for a clock that had reached it");
            Assert.False(drained);
            Assert.Empty(error.Lines);
            // The writer's caller waits on: its stall period has not passed.
            Assert.Equal(1, handOff.Waiters);
        }
        finally
        {
            time.Advance(TimeSpan.FromSeconds(0.5));
            error.Open();
        }

        Assert.True(writer.Join(TestLog.Safety));
        Assert.True(SpinWait.SpinUntil(() => handOff.IsIdle, TestLog.Safety));
        Assert.Equal(["a"], error.Lines);
    }

    [Fact]
    public void Drain_does_not_wait_again_for_a_stall_already_found_until_stderr_has_taken_a_line()
    {
        // At exit Shutdown's Drain and then the exit hook's each waited a whole stall period for a stderr known to take
        // nothing. The test clock never moves while a Drain should return at once: one that waits does so for good.
        (FakeTime time, StderrHandOff handOff, GateWriter error, Thread first) = BlockedInStderr();
        try
        {
            // A Write finds the stall.
            time.Advance(TimeSpan.FromSeconds(1));
            Assert.True(first.Join(TestLog.Safety));
            handOff.Write(error, "b");
            Assert.False(DrainAtOnce(handOff), "Drain waited again for the stall a Write found");

            // stderr takes "a" and blocks in "b": it is no longer known to take nothing, and Drain waits again.
            error.Let(1);
            Assert.True(error.Entered.Wait(TestLog.Safety));
            bool? drained = null;
            Thread drain = Run(() => drained = handOff.Drain(Timeout.InfiniteTimeSpan));
            Assert.True(SpinWait.SpinUntil(() => handOff.Waiters == 1, TestLog.Safety));

            // A Drain finds the stall: the next one does not wait for it again.
            time.Advance(TimeSpan.FromSeconds(1));
            Assert.True(drain.Join(TestLog.Safety));
            Assert.False(drained);
            Assert.False(DrainAtOnce(handOff), "Drain waited again for the stall a Drain found");
            Assert.Equal(["a"], error.Lines);
        }
        finally
        {
            error.Open();
        }

        Assert.True(SpinWait.SpinUntil(() => handOff.IsIdle, TestLog.Safety));
        Assert.True(handOff.Drain(Timeout.InfiniteTimeSpan));
        Assert.Equal(["a", "b"], error.Lines);
    }

    /// <summary>
    /// A hand-off on a test clock (stall period 1 s) whose writer is blocked in stderr on line "a", and the caller of that
    /// line waiting for it on a thread of its own.
    /// </summary>
    private static (FakeTime Time, StderrHandOff HandOff, GateWriter Error, Thread Writer) BlockedInStderr()
    {
        var time = new FakeTime();
        var handOff = new StderrHandOff(capacity: 4, stallWait: TimeSpan.FromSeconds(1), time);
        var error = new GateWriter();
        Thread writer = Run(() => handOff.Write(error, "a"));
        Assert.True(error.Entered.Wait(TestLog.Safety));
        Assert.True(SpinWait.SpinUntil(() => handOff.Waiters == 1, TestLog.Safety));
        return (time, handOff, error, writer);
    }

    /// <summary>Drains on a thread of its own, which must be done without the test clock moving; false when it did not end.</summary>
    private static bool DrainAtOnce(StderrHandOff handOff)
    {
        bool? drained = null;
        Thread drain = Run(() => drained = handOff.Drain(Timeout.InfiniteTimeSpan));
        Assert.True(drain.Join(TestLog.Safety), "Drain waited for the test clock");
        return drained!.Value;
    }

    [Fact]
    public void An_applications_own_Console_Error_is_not_taken_for_NETs_by_its_encoding()
    {
        // Taken for .NET's, the application's writer would be passed by and FapiLog's lines would go to descriptor 2.
        Assert.True(Stderr.IsConsoleEncoding(Console.OutputEncoding));
        Assert.False(Stderr.IsConsoleEncoding(new StringWriter().Encoding));
        Assert.False(Stderr.IsConsoleEncoding(new UTF8Encoding(encoderShouldEmitUTF8Identifier: false)));
        Assert.False(Stderr.IsConsoleEncoding(Encoding.UTF8));
        Assert.False(Stderr.IsConsoleEncoding(Encoding.Latin1));
    }

    private static string[] Lines(StringWriter error) => error.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);

    /// <summary>A caller on a thread of its own (background: one a failed test leaves waiting does not keep the run alive).</summary>
    private static Thread Run(Action action)
    {
        var thread = new Thread(() => action()) { IsBackground = true };
        thread.Start();
        return thread;
    }
}

/// <summary>The pipeline with a Console.Error that takes nothing (replaces Console.Error, so it runs alone).</summary>
[Collection(Loki.ConsoleCollection.Name)]
public sealed class StderrPipelineTests
{
    [Fact]
    public void A_sink_failure_line_that_stderr_does_not_take_stops_neither_the_other_sinks_nor_the_shutdown()
    {
        // The worker wrote the failure line itself: with a stderr pipe nobody reads, it stopped inside that write, and with
        // it delivery to every sink, flushes and the shutdown.
        FapiLogOptions options = TestLog.Options();
        options.AddSink(new FailingSink());
        InMemorySink memory = TestLog.Memory(options);
        LogPipeline pipeline = TestLog.Start(options);
        var error = new GateWriter();
        TextWriter original = Console.Error;
        Console.SetError(error);
        try
        {
            for (int i = 0; i < 10; i++)
            {
                Assert.True(TestLog.Emit(pipeline, 0, i));
            }

            Assert.True(pipeline.Flush(TestLog.Safety));
            Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), TestLog.Sequences(memory));
            Assert.True(error.Entered.Wait(TestLog.Safety));
            Assert.True(TestLog.Emit(pipeline, 0, 10));
            Assert.True(pipeline.Shutdown(TestLog.Safety));
            Assert.Equal(11, TestLog.Sequences(memory).Length);
        }
        finally
        {
            Console.SetError(original);
            error.Open();
        }

        // The lines were meant for the replaced Console.Error, and go there once it takes them, in order.
        Assert.True(SpinWait.SpinUntil(() => Stderr.IsIdle, TestLog.Safety));
        Assert.Equal(
        [
            "FapiLog: sink 'FailingSink' failed 10 event(s): IOException: No space left on device",
            "FapiLog: sink 'FailingSink' failed 1 more event(s) since its last report; the latest failure: IOException: No space left on device",
        ], error.Lines);
    }

    /// <summary>A queue of 2 under Block that gives a call up after 1 ms, one event per batch, a drop line per 10 s of <paramref name="time"/>.</summary>
    private static FapiLogOptions BlockingWithOneMillisecondTimeout(FakeTime time) => TestLog.Options(o =>
    {
        o.TimeProvider = time;
        o.QueueCapacity = 2;
        o.BatchSize = 1;
        o.Overflow = OverflowStrategy.Block;
        o.BlockTimeout = TimeSpan.FromMilliseconds(1);
        o.DropWarningInterval = TimeSpan.FromSeconds(10);
    });

    [Fact]
    public void Under_Block_the_drop_warning_reaches_stderr_on_time_while_the_worker_is_held_in_a_sink_and_the_sinks_get_it_once_it_is_free()
    {
        // The worker wrote the warning between batches only: held in a sink (Loki's full send buffer while Loki is down, a
        // sink that hangs), it said nothing on stderr while calls gave up after BlockTimeout, for minutes.
        var time = new FakeTime();
        FapiLogOptions options = BlockingWithOneMillisecondTimeout(time);
        var gate = new GateSink();
        options.AddSink(gate);
        InMemorySink memory = TestLog.Memory(options);
        LogPipeline pipeline = TestLog.Start(options);
        using var stderr = new StderrCapture();
        string[] held;
        string[] later;
        try
        {
            Assert.True(TestLog.Emit(pipeline, 1, 0));
            Assert.True(gate.WaitEntered(TestLog.Safety)); // the worker is held with event 0, which keeps its slot
            Assert.True(TestLog.Emit(pipeline, 1, 1)); // the queue is full

            // The first drop is due at once: said before the call returns.
            Assert.False(TestLog.Emit(pipeline, 1, 2));
            held = stderr.Lines();

            // Two more within the interval: said once it has passed, although no call drops then.
            Assert.False(TestLog.Emit(pipeline, 1, 3));
            Assert.False(TestLog.Emit(pipeline, 1, 4));
            Assert.Single(stderr.Lines());
            time.Advance(options.DropWarningInterval);
            later = stderr.Lines();

            gate.Open();
            Assert.True(pipeline.Shutdown(TestLog.Safety));
        }
        finally
        {
            gate.Open();
        }

        Assert.Equal(["FapiLog dropped 1 event(s) since the last report (queue full: 0, block timeout: 1, after shutdown: 0, worker stopped: 0) and sampled out 0"], held);
        Assert.Equal(
        [
            "FapiLog dropped 1 event(s) since the last report (queue full: 0, block timeout: 1, after shutdown: 0, worker stopped: 0) and sampled out 0",
            "FapiLog dropped 2 event(s) since the last report (queue full: 0, block timeout: 2, after shutdown: 0, worker stopped: 0) and sampled out 0",
        ], later);
        // Once on stderr, nothing more when the worker got free and wrote the warning into the sinks.
        Assert.Equal(later, stderr.Lines());
        Assert.Equal(3, pipeline.GetStatistics().DroppedBlockTimeout);

        // The sinks got it from the worker, once, with every drop said on stderr meanwhile, after event 0 was through them.
        CapturedLogEvent warning = Assert.Single(memory.Events, e => e.EventName == "FapiLog.EventsDropped");
        Assert.Equal(3L, warning["Dropped"]);
        Assert.Equal(3L, warning["BlockTimeout"]);
        Assert.Equal([0L, 1L], TestLog.Sequences(memory));
        Assert.Equal(3, gate.Received);
    }

    [Theory]
    [InlineData(OverflowStrategy.Drop)]
    [InlineData(OverflowStrategy.Sample)]
    public void Under_Drop_and_Sample_the_drop_warning_reaches_stderr_on_time_while_the_worker_is_held_in_a_sink(OverflowStrategy strategy)
    {
        // Only a call that gave up after BlockTimeout said its drop off the worker: under Drop and Sample a sink that hangs
        // (or crawls) kept the line from stderr for as long as it held the worker, for good if it never returned. A call
        // that drops must not wait for stderr either: a timer says it.
        var time = new FakeTime();
        FapiLogOptions options = TestLog.Options(o =>
        {
            o.TimeProvider = time;
            o.QueueCapacity = 2;
            o.BatchSize = 1;
            o.Overflow = strategy;
            // Sample: every event below Error is sampled out from the first one waiting on (the high-water mark is 1).
            o.SampleRate = 0;
            o.SampleHighWaterMark = 0.5;
            o.DropWarningInterval = TimeSpan.FromSeconds(10);
        });
        var gate = new GateSink();
        options.AddSink(gate);
        InMemorySink memory = TestLog.Memory(options);
        LogPipeline pipeline = TestLog.Start(options);
        Action<bool> report = pipeline.Queue.DropCounted!;
        int reports = 0;
        pipeline.Queue.DropCounted = mayWait =>
        {
            Assert.False(mayWait);
            Interlocked.Increment(ref reports);
            report(mayWait);
        };
        using var stderr = new StderrCapture();
        string[] atGrace;
        string[] atInterval;
        try
        {
            Assert.True(TestLog.Emit(pipeline, 1, 0));
            Assert.True(gate.WaitEntered(TestLog.Safety)); // the worker is held with event 0, which keeps its slot

            // Drop: the queue fills, and the next call is dropped. Sample: the next call is sampled out, and an Error (never
            // sampled out) fills the queue. Then two more are dropped on the full queue.
            if (strategy == OverflowStrategy.Drop)
            {
                Assert.True(TestLog.Emit(pipeline, 1, 1));
                Assert.False(TestLog.Emit(pipeline, 1, 2));
            }
            else
            {
                Assert.False(TestLog.Emit(pipeline, 1, 1));
                Assert.True(TestLog.Emit(pipeline, TestLog.Failure, 2));
            }

            Assert.False(TestLog.Emit(pipeline, 1, 3));
            Assert.False(TestLog.Emit(pipeline, 1, 4));

            // No call wrote to stderr (it would have waited for it): the first armed the timer, the others found it armed
            // and called nothing. After the grace period the timer says all three losses in one line.
            Assert.Empty(stderr.Lines());
            Assert.Equal(1, Volatile.Read(ref reports));
            time.Advance(pipeline.DropReportGrace);
            atGrace = stderr.Lines();

            // A loss within the interval of that line: said once the interval has passed, although no call drops then.
            Assert.False(TestLog.Emit(pipeline, 1, 5));
            Assert.Equal(2, Volatile.Read(ref reports));
            Assert.Single(stderr.Lines());
            time.Advance(options.DropWarningInterval);
            atInterval = stderr.Lines();

            gate.Open();
            Assert.True(pipeline.Shutdown(TestLog.Safety));
        }
        finally
        {
            gate.Open();
        }

        string first = strategy == OverflowStrategy.Drop
            ? "FapiLog dropped 3 event(s) since the last report (queue full: 3, block timeout: 0, after shutdown: 0, worker stopped: 0) and sampled out 0"
            : "FapiLog dropped 2 event(s) since the last report (queue full: 2, block timeout: 0, after shutdown: 0, worker stopped: 0) and sampled out 1";
        Assert.Equal([first], atGrace);
        Assert.Equal(
        [
            first,
            "FapiLog dropped 1 event(s) since the last report (queue full: 1, block timeout: 0, after shutdown: 0, worker stopped: 0) and sampled out 0",
        ], atInterval);
        // Once on stderr, nothing more when the worker got free and wrote the warning into the sinks.
        Assert.Equal(atInterval, stderr.Lines());
        FapiLogStatistics stats = pipeline.GetStatistics();
        Assert.Equal(strategy == OverflowStrategy.Drop ? 4 : 3, stats.DroppedQueueFull);
        Assert.Equal(strategy == OverflowStrategy.Drop ? 0 : 1, stats.SampledOut);

        // The sinks got it from the worker, once, with every loss said on stderr meanwhile.
        CapturedLogEvent warning = Assert.Single(memory.Events, e => e.EventName == "FapiLog.EventsDropped");
        Assert.Equal(stats.DroppedQueueFull, warning["QueueFull"]);
        Assert.Equal(stats.SampledOut, warning["SampledOut"]);
        Assert.Equal(3, gate.Received);
    }

    [Fact]
    public void Under_Block_a_call_that_counts_its_drop_after_the_workers_last_report_still_says_it_on_stderr()
    {
        // A call that gave up after BlockTimeout counts its drop and then says it: one that did so after the worker's last
        // report, within the interval of the line before, armed the timer the exiting worker then disposed (or found it
        // closed), and the drop was never said. The sink's final flush and the end of the test stand in for such calls.
        var time = new FakeTime();
        FapiLogOptions options = BlockingWithOneMillisecondTimeout(time);
        var gate = new GateSink();
        options.AddSink(gate);
        LogPipeline? pipeline = null;
        options.AddSink(new FlushHookSink(() => LateBlockTimeout(pipeline!)));
        pipeline = TestLog.Start(options);
        using var stderr = new StderrCapture();
        try
        {
            Assert.True(TestLog.Emit(pipeline, 1, 0));
            Assert.True(gate.WaitEntered(TestLog.Safety));
            Assert.True(TestLog.Emit(pipeline, 1, 1));
            Assert.False(TestLog.Emit(pipeline, 1, 2)); // said at once, and the interval begins

            gate.Open();
            Assert.True(pipeline.Shutdown(TestLog.Safety));
            LateBlockTimeout(pipeline);
        }
        finally
        {
            gate.Open();
        }

        const string One = "FapiLog dropped 1 event(s) since the last report (queue full: 0, block timeout: 1, after shutdown: 0, worker stopped: 0) and sampled out 0";
        Assert.Equal([One, One, One], stderr.Lines());
        Assert.Equal(3, pipeline.GetStatistics().DroppedBlockTimeout);

        // What a call does once BlockTimeout has passed: count the drop, then have it said.
        static void LateBlockTimeout(LogPipeline pipeline)
        {
            pipeline.Counters.CountDrop(DropReason.BlockTimeout);
            pipeline.Queue.DropCounted!(true);
        }
    }

    [Fact]
    public void Calls_after_the_shutdown_are_said_on_stderr_the_first_at_once_the_others_once_a_interval_or_at_the_next_shutdown()
    {
        // Counted, and never said: the application's last line, logged after app.Run() returned (the host had shut the
        // pipeline down), vanished without a word.
        var time = new FakeTime();
        FapiLogOptions options = TestLog.Options(o =>
        {
            o.TimeProvider = time;
            o.DropWarningInterval = TimeSpan.FromSeconds(10);
        });
        LogPipeline pipeline = TestLog.Start(options);
        using var stderr = new StderrCapture();
        Assert.True(pipeline.Shutdown(TestLog.Safety));
        Assert.Empty(stderr.Lines());

        Assert.False(TestLog.Emit(pipeline, 1, 0));   // said at once
        Assert.False(TestLog.Emit(pipeline, 1, 1));   // within the interval: kept back...
        Assert.False(TestLog.Emit(pipeline, 1, 2));
        Assert.Equal([AfterShutdown(1)], stderr.Lines());
        Assert.True(pipeline.Shutdown(TestLog.Safety));   // ...until the next shutdown call (the exit hook's)
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.False(TestLog.Emit(pipeline, 1, 3));   // the interval has passed: at once again

        Assert.Equal([AfterShutdown(1), AfterShutdown(2), AfterShutdown(1)], stderr.Lines());
        Assert.Equal(4, pipeline.GetStatistics().DroppedShutdown);

        static string AfterShutdown(int count) =>
            $"FapiLog dropped {count} event(s) since the last report (queue full: 0, block timeout: 0, after shutdown: {count}, worker stopped: 0) and sampled out 0";
    }

    private sealed class FailingSink : LogSink
    {
        public override void Write(in LogBatch batch, CancellationToken cancellationToken) => throw new IOException("No space left on device");
    }
}

/// <summary>A stderr whose writes wait until the test lets them through, as a pipe nobody reads does.</summary>
internal sealed class GateWriter : TextWriter
{
    private readonly SemaphoreSlim _permits = new(0);
    private readonly List<string> _lines = new();
    private volatile bool _open;

    /// <summary>Released each time a write begins.</summary>
    public SemaphoreSlim Entered { get; } = new(0);

    public override Encoding Encoding => Encoding.Unicode;

    public string[] Lines
    {
        get
        {
            lock (_lines)
            {
                return _lines.ToArray();
            }
        }
    }

    public override void WriteLine(string? value)
    {
        Entered.Release();
        // Bounded, and longer than the tests' own waits (which then fail first): a test that fails must not leave a thread
        // waiting here for good.
        if (!_open)
        {
            _permits.Wait(2 * TestLog.Safety);
        }

        lock (_lines)
        {
            _lines.Add(value ?? "");
        }
    }

    /// <summary>Lets <paramref name="count"/> more writes through.</summary>
    public void Let(int count) => _permits.Release(count);

    /// <summary>Lets every write through from now on.</summary>
    public void Open()
    {
        _open = true;
        _permits.Release(1000);
    }
}
