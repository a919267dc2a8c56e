using System;
using System.Diagnostics;
using System.IO;
using System.Text;
using System.Threading;
using FapiLog.Sinks;
using Microsoft.Extensions.Logging;

namespace FapiLog.Internal;

/// <summary>
/// FapiLog's own complaints go to stderr: never into a log call, which could recurse or be dropped itself. They are written
/// on a thread of their own (<see cref="StderrHandOff"/>): a stderr that nobody reads must not stop the worker or a Loki
/// sender inside a write.
/// </summary>
internal static class Stderr
{
    /// <summary>The most lines that wait for a stderr that takes none; those beyond are counted.</summary>
    internal static readonly int Capacity = 128;

    /// <summary>How long a caller waits for stderr to take a line before it goes on without waiting.</summary>
    internal static readonly TimeSpan StallWait = TimeSpan.FromMilliseconds(100);

    private static readonly StderrHandOff s_lines = new(Capacity, StallWait);

    // Descriptor 2, written without .NET's console stream, or null (Windows, or no descriptor 2).
    private static readonly PipeWriter? s_pipe = OpenPipe(out bool terminalOrFile) is { } pipe ? new PipeWriter(pipe, terminalOrFile) : null;

    /// <summary>
    /// Writes <paramref name="message"/> to <see cref="Console.Error"/> as it is now (a test's or an application's
    /// replacement included). Waits for the line while stderr takes lines, not once it has stopped taking them.
    /// </summary>
    public static void Write(string message)
    {
        TextWriter target;
        try
        {
            target = Console.Error;
            // .NET's console streams write under a lock on Console.Out: a write blocked on a full stderr pipe would hold
            // up every Console.Out writer of the process (and a console sink on a terminal or a file) for as long.
            // Console.SetError(Console.Out) (stderr sent to stdout) is the application's choice, and written as it is.
            if (s_pipe is not null && IsConsoleEncoding(target.Encoding) && !ReferenceEquals(target, Console.Out))
            {
                target = new PipeLine(s_pipe, target, target.Encoding);
            }
        }
        catch (Exception)
        {
            return;   // no console to be had: nothing sensible is left to report to
        }

        s_lines.Write(target, message);
    }

    /// <summary>
    /// Whether a <see cref="Console.Error"/> written in <paramref name="encoding"/> is taken for .NET's own writer: the
    /// encoding is <see cref="Console.OutputEncoding"/> itself, or one System.Console made (the copy without a byte order
    /// mark that .NET's writer is built on once an application assigned an encoding that has one, such as
    /// <c>Console.OutputEncoding = Encoding.UTF8</c>, and, when the locale names a charset, the encoding a redirected writer
    /// built before such an assignment keeps; without one that is <see cref="Encoding.Default"/>, which is not taken). Compared with <see cref="Console.OutputEncoding"/> alone, .NET's writer after that common assignment was taken
    /// for the application's, and its write stuck on a stderr nobody reads held <c>Console.Out</c>'s lock for good.
    /// </summary>
    internal static bool IsConsoleEncoding(Encoding encoding)
        => ReferenceEquals(encoding, Console.OutputEncoding) || encoding.GetType().Assembly == typeof(Console).Assembly;

    /// <summary>
    /// Waits until the lines written so far are out, while stderr takes lines and for at most <paramref name="budget"/>
    /// (see <see cref="StderrHandOff.Drain"/>): at shutdown and at process exit, which end what the writer thread has not
    /// written yet, and which promise to be done within their timeout.
    /// </summary>
    /// <param name="budget">What is left of the caller's timeout; <see cref="Timeout.InfiniteTimeSpan"/> for none.</param>
    public static void Drain(TimeSpan budget) => s_lines.Drain(budget);

    /// <summary>True when no line waits for stderr (tests).</summary>
    internal static bool IsIdle => s_lines.IsIdle;

    /// <summary>
    /// Standard error, written with <c>write(2)</c> on descriptor 2 as the console sink's standard output is, but a
    /// non-blocking pipe that is full is waited for by the stream itself, without <c>Console.Out</c>'s lock, where the
    /// console sink goes over to .NET's console stream. Also a terminal or a file: .NET's console stream writes those under
    /// <c>Console.Out</c>'s lock too, so with standard output a pipe nobody reads (<c>app | less</c> left unscrolled) the
    /// console sink's stuck write kept every line here back, the shutdown's report of what it could not deliver among them.
    /// A file's offset is the descriptor's, which <c>write(2)</c> moves as .NET's stream does: the lines of both follow each
    /// other.
    /// </summary>
    /// <param name="terminalOrFile">
    /// Whether it is a terminal or a file, which standard output may be too (<c>app &gt; out.log 2&gt;&amp;1</c>): a line
    /// is then written under <c>Console.Out</c>'s lock as well (see <see cref="PipeWriter"/>).
    /// </param>
    private static Stream? OpenPipe(out bool terminalOrFile)
    {
        terminalOrFile = false;
        if (OperatingSystem.IsWindows() || OperatingSystem.IsBrowser() || OperatingSystem.IsWasi())
        {
            return null;
        }

        try
        {
            var stream = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(2, ownsHandle: false), FileAccess.Write, bufferSize: 0);
            terminalOrFile = stream.CanSeek || !Console.IsErrorRedirected;

            // Only the writer thread writes it.
            return new ConsoleSink.PipeOutput(stream, waitingOutput: null);
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or UnauthorizedAccessException)
        {
            return null;   // descriptor 2 closed or not usable as a stream: Console.Error says so in its own way
        }
    }

    /// <summary>
    /// A line for the stderr pipe in the encoding of the <see cref="Console.Error"/> it stands in for, taken when the line is
    /// written. One writer made when FapiLog first looked kept the encoding of whatever Console.Error was then (a test's
    /// StringWriter wrote UTF-16 to stderr for the rest of the process). GetBytes writes no byte order mark.
    /// </summary>
    private sealed class PipeLine(PipeWriter pipe, TextWriter consoleError, Encoding encoding) : TextWriter
    {
        public override Encoding Encoding => encoding;

        public override void WriteLine(string? value) => pipe.Write(encoding.GetBytes(value + NewLine), consoleError);
    }

    /// <summary>
    /// Writes the lines for the stderr pipe on a thread of its own: a write the pipe does not take cannot be given up, and
    /// the thread that holds <c>Console.Error</c>'s lock while a line goes out must be free to stop waiting for it and let
    /// go of that lock.
    /// </summary>
    private sealed class PipeWriter(Stream pipe, bool terminalOrFile)
    {
        private readonly object _callers = new();
        private readonly object _lock = new();
        private byte[]? _line;   // handed over and not written yet
        private bool _started;

        /// <summary>
        /// Writes <paramref name="line"/> under the lock of <paramref name="consoleError"/> for as long as the pipe takes it
        /// within the stall period, and then waits for it without that lock.
        /// </summary>
        public void Write(byte[] line, TextWriter consoleError)
        {
            // One line at a time: the stderr thread writes here, and so do callers when that thread could not start. This
            // lock is FapiLog's own, taken before Console.Error's and by nothing that holds that.
            lock (_callers)
            {
                // .NET's Console.Error writes a long line 256 characters at a time, each piece under the lock of the writer
                // (its methods are synchronized): without it, this line could land between two of them. Nothing else is
                // locked meanwhile: below .NET's own Console.Error then Console.Out, no order to break. But the lock is let
                // go once the line has waited the stall period: held while it waited for a stderr nobody reads, it was held
                // for good, and Console.Error.Flush() hung with it, and so did Console.OutputEncoding's setter, which calls
                // that under System.Console's own lock once it has dropped Console.Out, and with it every Console.WriteLine.
                // On a terminal or a file, which standard output may share, Console.Out's lock too, which .NET takes for a
                // whole Console.WriteLine (and for every piece it writes to stdout or stderr): without it this line could
                // land inside a line of the application's on stdout. Waited for the stall period at most: a console sink
                // stuck on a stdout pipe nobody reads holds it for good, and the line must still go out.
                // Console.Out is read before Console.Error's lock is taken: the Console.OutputEncoding setter holds
                // System.Console's lock, which the getter needs once the setter has dropped Console.Out, while it waits for
                // Console.Error's lock (to flush it), and the two would wait for each other for good.
                object? consoleOut = terminalOrFile ? Console.Out : null;
                bool held = false;
                bool heldOut = false;
                try
                {
                    Monitor.Enter(consoleError, ref held);
                    if (consoleOut is not null)
                    {
                        Monitor.TryEnter(consoleOut, StallWait, ref heldOut);
                    }

                    if (HandOver(line, StallWait))
                    {
                        return;
                    }

                    if (heldOut)
                    {
                        Monitor.Exit(consoleOut!);
                        heldOut = false;
                    }

                    Monitor.Exit(consoleError);
                    held = false;
                    WaitUntilWritten();
                }
                finally
                {
                    if (heldOut)
                    {
                        Monitor.Exit(consoleOut!);
                    }

                    if (held)
                    {
                        Monitor.Exit(consoleError);
                    }
                }
            }
        }

        /// <summary>Hands <paramref name="line"/> to the writing thread; false when it is not out within <paramref name="wait"/>.</summary>
        private bool HandOver(byte[] line, TimeSpan wait)
        {
            lock (_lock)
            {
                if (!_started && !TryStart())
                {
                    // No thread to be had (out of memory): the line is written here, as before there was one.
                    pipe.Write(line);
                    return true;
                }

                _line = line;
                Monitor.PulseAll(_lock);
                long start = Stopwatch.GetTimestamp();
                while (_line is not null)
                {
                    TimeSpan left = wait - Stopwatch.GetElapsedTime(start);
                    if (left <= TimeSpan.Zero)
                    {
                        return false;
                    }

                    // Rounded up: a wait rounded down to 0 ms would spin through the last part of the period.
                    Monitor.Wait(_lock, (int)Math.Ceiling(left.TotalMilliseconds));
                }

                return true;
            }
        }

        private void WaitUntilWritten()
        {
            lock (_lock)
            {
                while (_line is not null)
                {
                    Monitor.Wait(_lock);
                }
            }
        }

        private bool TryStart()
        {
            _started = BackgroundThread.TryStart(Run, "FapiLog stderr pipe") is not null;
            return _started;
        }

        private void Run()
        {
            while (true)
            {
                byte[] line;
                lock (_lock)
                {
                    while (_line is null)
                    {
                        Monitor.Wait(_lock);
                    }

                    line = _line;
                }

                try
                {
                    pipe.Write(line);
                }
                catch (Exception)
                {
                    // stderr closed or broken: nothing sensible is left to report to.
                }

                lock (_lock)
                {
                    _line = null;
                    Monitor.PulseAll(_lock);
                }
            }
        }
    }
}

/// <summary>
/// Reports sink failures on stderr, one line per sink per <see cref="Interval"/> at most, and says when a sink reported
/// failing works again. A sink that fails every batch for an hour writes one line a minute, each with the events failed
/// since the line before, so that what stderr says adds up to what <see cref="FapiLogStatistics.Failed"/> counts; a disk
/// that is full for ten minutes and then has room again ends with a line saying so, not with silence.
/// </summary>
internal static class SinkFailureReporter
{
    /// <summary>The least time between two failure lines of one sink.</summary>
    internal static readonly TimeSpan Interval = TimeSpan.FromMinutes(1);

    /// <summary>A failure of <paramref name="events"/> events (0 for a failed flush or dispose) in <paramref name="sink"/>.</summary>
    public static void Report(LogSink sink, int events, Exception ex)
    {
        // The sink's name and the exception's message are user code: read outside the lock.
        string name = NameOf(sink);
        string error = Describe(ex);
        string line;
        SinkFailureState state = StateOf(sink);
        lock (state)
        {
            TimeProvider clock = sink._reportClock;
            long now = clock.GetTimestamp();
            state.Unreported += events;
            state.Latest = error;
            state.FailingSince ??= now;
            state.Failing = true;
            if (state.LastLine is { } last && clock.GetElapsedTime(last, now) < Interval)
            {
                return;
            }

            line = state.Unreported == events
                ? $"FapiLog: sink '{name}' {(events > 0 ? $"failed {events} event(s)" : "failed")}: {error}"
                : $"FapiLog: sink '{name}' failed {state.Unreported} event(s) since its last report {Seconds(clock.GetElapsedTime(state.LastReport!.Value, now))} ago; " +
                  $"the latest failure: {error}";
            state.LastLine = now;
            state.LastReport = now;
            state.Unreported = 0;
            state.ReportedFailing = true;
        }

        Stderr.Write(line);
    }

    /// <summary>
    /// <paramref name="sink"/> delivered a batch (for a sink that defers delivery: pushed it). The first success after a
    /// reported failure is reported at once, with the events failed since that report; failures that were never reported
    /// (they came within the interval of a line) are reported once the interval has passed.
    /// </summary>
    public static void Succeeded(LogSink sink)
    {
        // The worker calls this for every batch: nothing to do, and no lock, for a sink that never failed.
        if (Volatile.Read(ref sink._failures) is not { Failing: true } state)
        {
            return;
        }

        string name = NameOf(sink);
        string line;
        lock (state)
        {
            if (state.FailingSince is not { } since)
            {
                return;
            }

            TimeProvider clock = sink._reportClock;
            long now = clock.GetTimestamp();
            bool due = state.LastLine is not { } last || clock.GetElapsedTime(last, now) >= Interval;
            if (!state.ReportedFailing && !due)
            {
                return;
            }

            if (!state.ReportedFailing && state.Unreported == 0)
            {
                // Only a failed flush, never reported: the sink works, and no event was lost.
                state.FailingSince = null;
                state.Failing = false;
                return;
            }

            if (state.ReportedFailing)
            {
                // Failures held back since the last line are named too: they may have another cause than the one that line
                // said (a 400 after a 503), and a Loki sink's summary at shutdown, which would name it, is not said again.
                line = state.Unreported == 0
                    ? $"FapiLog: sink '{name}' works again after failing for {Seconds(clock.GetElapsedTime(since, now))}."
                    : $"FapiLog: sink '{name}' works again after failing for {Seconds(clock.GetElapsedTime(since, now))}; " +
                      $"{state.Unreported} more event(s) failed since the last report; the latest failure: {state.Latest}";
            }
            else
            {
                // Failures that came within the interval of the last line, the sink working in between (it flaps).
                line = $"FapiLog: sink '{name}' failed {state.Unreported} event(s) since its last report " +
                       $"{Seconds(clock.GetElapsedTime(state.LastReport!.Value, now))} ago and works again; the latest failure: {state.Latest}";
                state.LastLine = now;
            }

            state.LastReport = now;
            state.Unreported = 0;
            state.ReportedFailing = false;
            state.FailingSince = null;
            state.Failing = false;
        }

        Stderr.Write(line);
    }

    /// <summary>
    /// Says what failed since the last line and was not reported yet (the sink's pipeline is finishing): stderr accounts
    /// for every failed event by the end.
    /// </summary>
    public static void ReportPending(LogSink sink)
    {
        if (Volatile.Read(ref sink._failures) is not { } state)
        {
            return;
        }

        string name = NameOf(sink);
        string line;
        lock (state)
        {
            if (state.Unreported == 0)
            {
                return;
            }

            line = $"FapiLog: sink '{name}' failed {state.Unreported} more event(s) since its last report; the latest failure: {state.Latest}";
            state.Unreported = 0;
            state.LastLine = sink._reportClock.GetTimestamp();
            state.LastReport = state.LastLine;
        }

        Stderr.Write(line);
    }

    /// <summary>
    /// True when every failure of <paramref name="sink"/> so far was said on stderr and a line has said since that it works
    /// again: a failure its flush reports once more (Loki's, which sums up the run) is not news.
    /// </summary>
    public static bool WorksSinceReported(LogSink sink)
    {
        if (Volatile.Read(ref sink._failures) is not { } state)
        {
            return false;
        }

        lock (state)
        {
            return !state.Failing && state.Unreported == 0 && state.LastReport is not null;
        }
    }

    /// <summary>Counts a line a sink wrote itself (Loki's shutdown report) as its failure line: the same failure, reported again through the pipeline, is not written twice.</summary>
    public static void MarkReported(LogSink sink)
    {
        SinkFailureState state = StateOf(sink);
        lock (state)
        {
            state.LastLine = sink._reportClock.GetTimestamp();
            state.LastReport = state.LastLine;
            state.ReportedFailing = true;
            state.FailingSince ??= state.LastLine;
            state.Failing = true;
        }
    }

    /// <summary>
    /// Makes <paramref name="clock"/> the one <paramref name="sink"/>'s failures are timed by (a pipeline's worker starting
    /// with the sink, maybe one taken over from a pipeline with another clock). The times taken so far are carried over as
    /// what their own clock says has passed since: compared as they are, a test clock's timestamps against Stopwatch's (or
    /// another test clock's) made the throttle hold every line back for as long as the clocks lay apart, or none.
    /// </summary>
    public static void UseClock(LogSink sink, TimeProvider clock)
    {
        if (ReferenceEquals(sink._reportClock, clock))
        {
            return;
        }

        // Under the state's lock, which a report reads the clock under: no time is taken by one clock and kept by the other.
        SinkFailureState state = StateOf(sink);
        lock (state)
        {
            TimeProvider previous = sink._reportClock;
            long then = previous.GetTimestamp();
            long now = clock.GetTimestamp();
            state.LastLine = Carry(state.LastLine, previous, then, clock, now);
            state.LastReport = Carry(state.LastReport, previous, then, clock, now);
            state.FailingSince = Carry(state.FailingSince, previous, then, clock, now);
            state.RetryingLine = Carry(state.RetryingLine, previous, then, clock, now);
            sink._reportClock = clock;
        }
    }

    /// <summary>
    /// Whether a line that <paramref name="sink"/> will try a push again is due (none yet, or <paramref name="interval"/>
    /// since the last, on the sink's report clock); if so, it is taken as said now.
    /// </summary>
    public static bool TakeRetryingLine(LogSink sink, TimeSpan interval)
    {
        SinkFailureState state = StateOf(sink);
        lock (state)
        {
            TimeProvider clock = sink._reportClock;
            long now = clock.GetTimestamp();
            if (state.RetryingLine is { } last && clock.GetElapsedTime(last, now) < interval)
            {
                return false;
            }

            state.RetryingLine = now;
            return true;
        }
    }

    private static long? Carry(long? time, TimeProvider previous, long then, TimeProvider clock, long now)
        => time is { } t ? now - (long)(previous.GetElapsedTime(t, then).TotalSeconds * clock.TimestampFrequency) : null;

    private static SinkFailureState StateOf(LogSink sink)
    {
        if (Volatile.Read(ref sink._failures) is { } state)
        {
            return state;
        }

        Interlocked.CompareExchange(ref sink._failures, new SinkFailureState(), null);
        return sink._failures!;
    }

    private static string Describe(Exception ex) => $"{ex.GetType().Name}: {ExceptionText.Message(ex)}";

    private static string Seconds(TimeSpan elapsed)
        => elapsed.TotalSeconds.ToString("0.#", System.Globalization.CultureInfo.InvariantCulture) + " s";

    /// <summary>
    /// The sink's <see cref="LogSink.Name"/>, which a sink may override: one that throws (in the catch that reports the
    /// sink's failure) must not take the worker down with it, so its type name stands in.
    /// </summary>
    internal static string NameOf(LogSink sink)
    {
        try
        {
            return sink.Name;
        }
        catch (Exception)
        {
            return sink.GetType().FullName ?? sink.GetType().Name;
        }
    }
}

/// <summary>A sink's failures since its last line on stderr; locked on itself (the worker and a sink's own sender report).</summary>
internal sealed class SinkFailureState
{
    /// <summary>When the last failure line was written (the sink's report clock), or null before the first.</summary>
    public long? LastLine;

    /// <summary>
    /// When the last line that counted failures was written: a failure line, or one that says the sink works again (which
    /// does not hold the next failure line back, but counts the failures before it). Null before the first.
    /// </summary>
    public long? LastReport;

    /// <summary>Events failed since the last line that counted them.</summary>
    public long Unreported;

    /// <summary>The latest failure, as its type and message.</summary>
    public string? Latest;

    /// <summary>Whether <see cref="FailingSince"/> is set: read without the lock for every batch the sink delivers.</summary>
    public volatile bool Failing;

    /// <summary>When the current run of failures began, or null while the sink works.</summary>
    public long? FailingSince;

    /// <summary>A line said the sink fails, and none since that it works again.</summary>
    public bool ReportedFailing;

    /// <summary>When the sink last said it would try a push again (Loki), or null before the first.</summary>
    public long? RetryingLine;
}

/// <summary>
/// Builds the "events were dropped" warning, with the counts by reason since the previous one: its line for stderr, taken
/// at most once per interval by the worker between batches or by a call that gave up after <c>BlockTimeout</c> (the worker
/// may be held in a sink meanwhile), and its copy into the sinks, which only the worker writes, later if it is held. Uses
/// one-slot buffers of its own: the queue may be the thing that is full.
/// </summary>
internal sealed class DropWarning
{
    internal static readonly LogEventDescriptor Descriptor = new(
        eventId: 1,
        eventName: "FapiLog.EventsDropped",
        level: LogLevel.Warning,
        message: "FapiLog dropped {Dropped} event(s) since the last report (queue full: {QueueFull}, block timeout: {BlockTimeout}, " +
                 "after shutdown: {AfterShutdown}, worker stopped: {WorkerStopped}) and sampled out {SampledOut}",
        LogArgument.Create<long>("Dropped"),
        LogArgument.Create<long>("QueueFull"),
        LogArgument.Create<long>("BlockTimeout"),
        LogArgument.Create<long>("AfterShutdown"),
        LogArgument.Create<long>("WorkerStopped"),
        LogArgument.Create<long>("SampledOut"));

    private const int Sampled = 4;

    private readonly object _lock = new();
    private readonly PipelineCounters _counters;

    // The copy for the sinks, which only the worker fills and writes.
    private readonly LogRecord[] _slot = new LogRecord[1];

    // The line for stderr is rendered from this one, under the lock (the worker, a producer, or the timer one armed).
    private readonly LogRecord[] _line = new LogRecord[1];

    // What stderr has been told, by reason (QueueFull, BlockTimeout, Shutdown, WorkerStopped, and sampled out).
    private readonly long[] _reported = new long[5];
    private long _lastReport = long.MinValue;

    // Said on stderr, not yet copied into the sinks, and when it was last said (the copy's timestamp).
    private readonly long[] _owed = new long[5];
    private long _owedAtTicks;
    private volatile bool _hasOwed;

    public DropWarning(PipelineCounters counters) => _counters = counters;

    /// <summary>Drops that stderr has not been told about yet.</summary>
    public bool HasUnreported
    {
        get
        {
            // Drops after shutdown are expected while it runs (calls that race it), and reported then only when shutdown has
            // something else to say; once the worker has exited, a call is no race but a line logged too late (after
            // app.Run() returned, say), and it is said too. Read without the lock to decide whether to look (the worker
            // does after every batch); TakeLine reads again under it.
            return HasUnreportedBesidesClosed
                || _counters.Dropped(DropReason.WorkerStopped) != Volatile.Read(ref _reported[3])
                || (_shutdownDropsSaid
                    && _counters.Dropped(DropReason.Shutdown) > Math.Max(Volatile.Read(ref _reported[2]), _shutdownDropsBefore));
        }
    }

    /// <summary>
    /// Drops that stderr has not been told about yet, those a closed queue refuses (after the shutdown, after the worker
    /// died) left aside: after the worker's exit those are said once an interval, not once a call.
    /// </summary>
    public bool HasUnreportedBesidesClosed =>
        _counters.Dropped(DropReason.QueueFull) != Volatile.Read(ref _reported[0])
        || _counters.Dropped(DropReason.BlockTimeout) != Volatile.Read(ref _reported[1])
        || _counters.SampledOut != Volatile.Read(ref _reported[Sampled]);

    /// <summary>
    /// From the worker's exit, or the return of a shutdown call that gave up or whose wait was cancelled, whichever comes
    /// first: calls refused from then on are drops to say, not a race with the shutdown. Those that raced it (counted
    /// before) still get no line of their own; the next line counts them. The first call sets the mark; later ones keep it.
    /// </summary>
    public void SayShutdownDrops()
    {
        lock (_lock)
        {
            if (_shutdownDropsSaid)
            {
                return;
            }

            _shutdownDropsBefore = _counters.Dropped(DropReason.Shutdown);
            _shutdownDropsSaid = true;
        }
    }

    private long _shutdownDropsBefore;
    private volatile bool _shutdownDropsSaid;

    /// <summary>A line was said on stderr that the sinks have not had yet: the worker writes it into them when it looks.</summary>
    public bool HasOwed => _hasOwed;

    public TimeSpan TimeUntilDue(TimeProvider time, TimeSpan interval)
    {
        long last = Volatile.Read(ref _lastReport);
        return last == long.MinValue ? TimeSpan.Zero : interval - time.GetElapsedTime(last);
    }

    /// <summary>
    /// The line for stderr with the drops not said yet, once <paramref name="interval"/> has passed since the last one (at
    /// once with <paramref name="force"/>), or null. What it counts is owed to the sinks from then on (see <see cref="TakeOwed"/>).
    /// </summary>
    public string? TakeLine(TimeProvider time, TimeSpan interval, bool force)
    {
        if (!HasUnreported)
        {
            return null;
        }

        lock (_lock)
        {
            // Again under the lock: two takers that both saw it due must not both say it.
            if (!HasUnreported || (!force && TimeUntilDue(time, interval) > TimeSpan.Zero))
            {
                return null;
            }

            Volatile.Write(ref _lastReport, time.GetTimestamp());
            Span<long> delta = stackalloc long[5];
            delta[0] = Delta(0, _counters.Dropped(DropReason.QueueFull));
            delta[1] = Delta(1, _counters.Dropped(DropReason.BlockTimeout));
            delta[2] = Delta(2, _counters.Dropped(DropReason.Shutdown));
            delta[3] = Delta(3, _counters.Dropped(DropReason.WorkerStopped));
            delta[Sampled] = Delta(Sampled, _counters.SampledOut);
            for (int i = 0; i < delta.Length; i++)
            {
                _owed[i] += delta[i];
            }

            // The pipeline's clock, like the events around it (a test's TimeProvider included).
            _owedAtTicks = time.GetUtcNow().UtcTicks;
            _hasOwed = true;
            Fill(ref _line[0], delta, _owedAtTicks);
            return _line[0].FormatMessage();
        }
    }

    /// <summary>
    /// Fills the copy for the sinks with what stderr was told since the last copy (one copy for several lines when the
    /// worker was held meanwhile), or returns false when there is none. Worker only: it writes <see cref="AsBatch"/> next.
    /// </summary>
    public bool TakeOwed()
    {
        if (!_hasOwed)
        {
            return false;
        }

        lock (_lock)
        {
            Fill(ref _slot[0], _owed, _owedAtTicks);
            Array.Clear(_owed);
            _hasOwed = false;
            return true;
        }
    }

    public LogBatch AsBatch() => new(_slot, 0, 1, 0);

    private static void Fill(ref LogRecord record, ReadOnlySpan<long> counts, long timestampTicks)
    {
        record._timestampTicks = timestampTicks;
        record._descriptor = Descriptor;
        var writer = new LogEventWriter(ref record, null, 0, Descriptor);
        writer.Write(counts[0] + counts[1] + counts[2] + counts[3]);
        writer.Write(counts[0]);
        writer.Write(counts[1]);
        writer.Write(counts[2]);
        writer.Write(counts[3]);
        writer.Write(counts[Sampled]);
    }

    private long Delta(int index, long now)
    {
        long delta = now - _reported[index];
        Volatile.Write(ref _reported[index], now);
        return delta;
    }
}
