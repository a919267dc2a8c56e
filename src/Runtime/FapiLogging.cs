using System;
using System.Collections.Generic;
using System.Diagnostics.Metrics;
using System.Threading;
using System.Threading.Tasks;
using FapiLog.Internal;
using FapiLog.Loki;
using FapiLog.Sinks;
using Microsoft.Extensions.Logging;

namespace FapiLog;

/// <summary>
/// The global logging pipeline that generated <c>[FapiLog]</c> methods write to: configuration, flushing, shutdown and
/// statistics. Without <see cref="Configure(Action{FapiLogOptions})"/>, the first log call configures the pipeline from the <c>FAPILOG_*</c>
/// environment variables (console output, plus Loki when <c>FAPILOG_LOKI_URL</c> is set).
/// </summary>
public static class FapiLogging
{
    private static readonly object s_lock = new();
    private static readonly LogEventDescriptor s_unhandled = new(
        2, "FapiLog.UnhandledException", LogLevel.Critical, "Unhandled exception; the process is terminating: {Message}",
        LogArgument.Create<string>("Message"));

    private static LogPipeline? s_pipeline;
    // Pipelines that Configure replaced, still counted: read live until their worker has stopped (an old worker can still
    // deliver after its shutdown timed out), then from their counters (a call that still reaches the closed queue counts).
    private static readonly List<RetiredPipeline> s_retired = new();
    private static int s_hooksRegistered;
    // Set by the ProcessExit hook: a pipeline configured from then on would never be shut down, so it is started shut down.
    private static volatile bool s_processExiting;
    // Set by Shutdown, cleared by Configure: a log call that configures the pipeline from the environment after a Shutdown
    // that found none (nothing had logged yet) starts it shut down, as after a Shutdown that found one. It was started
    // running and took the event in, and nothing shut it down then: with FapiLogShutdownHook=false, what it held at exit
    // vanished uncounted.
    private static volatile bool s_shutdownAsked;
    // The configuration error EnsureConfigured (a first log call) last met in the environment and wrote to stderr: when
    // nothing catches it, it is the crash, and the crash handler must not configure (and write it) again.
    private static Exception? s_reportedEnvironmentError;
    // Kept referenced: a collected registration unregisters its handler.
    private static System.Runtime.InteropServices.PosixSignalRegistration[]? s_signalRegistrations;

    /// <summary>
    /// Sets up the global pipeline: defaults, then the <c>FAPILOG_*</c> environment variables, then <paramref name="configure"/>.
    /// Call it once at startup, before the first log call. Calling it again replaces the pipeline: the old one is flushed
    /// and shut down (within its <see cref="FapiLogOptions.ShutdownTimeout"/>) first; a call that was waiting for room in it
    /// (<see cref="OverflowStrategy.Block"/>) takes its slot in the new one instead, within the same block timeout. A sink you add again (the same
    /// instance) carries over: the old pipeline flushes it without disposing it, and the new one starts writing to it (events
    /// logged meanwhile wait in its queue) once the old one has finished. Called once the process-exit hook
    /// has run (from a later <see cref="AppDomain.ProcessExit"/> handler), the new pipeline is shut down before this returns,
    /// since nothing else would deliver what it takes in: events logged while the old one shuts down are delivered by that
    /// shutdown, later calls are counted as dropped, as after any shutdown.
    /// </summary>
    /// <exception cref="FapiLogConfigurationException">A setting is invalid; the message names it and its value.</exception>
    public static void Configure(Action<FapiLogOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        var options = new FapiLogOptions().ApplyEnvironment();
        configure(options);
        Start(options);
    }

    /// <summary>
    /// Sets up the global pipeline from ready-made options (validated here), as <see cref="Configure(Action{FapiLogOptions})"/>
    /// does otherwise. The options are taken as they are: the <c>FAPILOG_*</c> environment variables are read only if you
    /// called <see cref="FapiLogOptions.ApplyEnvironment"/> on them. They are read once, here: changing them afterwards
    /// changes nothing (call Configure again, or <see cref="SetMinimumLevel"/> for the level); objects they hold, such as
    /// the sinks, the <see cref="FapiLogOptions.TimeProvider"/> and <see cref="LokiOptions.HttpMessageHandler"/>, are used
    /// as they are.
    /// </summary>
    /// <exception cref="FapiLogConfigurationException">A setting is invalid.</exception>
    public static void Configure(FapiLogOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Start(options);
    }

    /// <summary>True once a pipeline has been started (by <see cref="Configure(Action{FapiLogOptions})"/> or by the first log call).</summary>
    public static bool IsConfigured => Volatile.Read(ref s_pipeline) is not null;

    /// <summary>A snapshot of the counters of every pipeline this process has run.</summary>
    public static FapiLogStatistics Statistics
    {
        get
        {
            lock (s_lock)
            {
                FapiLogStatistics total = s_pipeline?.GetStatistics() ?? new FapiLogStatistics(0, 0, 0, 0, 0, 0, 0, 0, 0);
                foreach (RetiredPipeline retired in s_retired)
                {
                    total = total.Plus(retired.Read());
                }

                return total;
            }
        }
    }

    /// <summary>
    /// The level below which the running pipeline skips calls, or null before a pipeline has started. Change it while the
    /// process runs with <see cref="SetMinimumLevel"/>.
    /// </summary>
    public static LogLevel? MinimumLevel => IsConfigured ? FapiLogRuntime.MinimumLevel : null;

    /// <summary>
    /// Changes which calls are logged, from the next call on, without replacing the pipeline: nothing is flushed, nothing
    /// queued is touched, and calls of the levels now skipped cost one compare again. Applies to generated methods and to
    /// the <c>ILogger</c> bridge alike. Starts the pipeline from the environment first if nothing has started it yet (shut
    /// down, as <see cref="Configure(Action{FapiLogOptions})"/> would, once the process-exit hook has run). A later
    /// <see cref="Configure(Action{FapiLogOptions})"/> sets the level from its options again.
    /// </summary>
    /// <exception cref="FapiLogConfigurationException"><paramref name="level"/> is not a level from Trace to None.</exception>
    public static void SetMinimumLevel(LogLevel level)
    {
        if (level < LogLevel.Trace || level > LogLevel.None)
        {
            ThrowHelper.ThrowConfiguration(nameof(FapiLogOptions.MinimumLevel), level.ToString(), "a LogLevel from Trace to None");
        }

        // Outside the lock, as in EnsureConfigured: when this is the first use of FapiLog, the instruments are published
        // here, and a collector's callback must not run while we hold the lock its collections wait for.
        FapiLogMetrics.EnsureCreated();
        // Outside the lock too: during process exit it waits for the worker of the pipeline it starts and shuts down.
        EnsureConfigured();
        lock (s_lock)
        {
            FapiLogRuntime.SetMinimumLevel(level);
        }
    }

    /// <summary>
    /// A snapshot of what every Loki sink of this process has pushed, retried and given up (by reason). For one sink,
    /// see <see cref="LokiSink.Statistics"/>.
    /// </summary>
    public static LokiStatistics LokiStatistics => LokiCounters.Global.Snapshot();

    /// <summary>
    /// Delivers every event logged before this call to the sinks and flushes them. Returns false when that took longer
    /// than <paramref name="timeout"/> (the events stay queued and are delivered later), or when the worker has stopped on
    /// an unexpected error; true also when a sink failed some of the events (<see cref="FapiLogStatistics.Failed"/> counts
    /// them).
    /// <see cref="Timeout.InfiniteTimeSpan"/> and durations too long to wait for (up to <see cref="TimeSpan.MaxValue"/>) wait
    /// without a limit.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative and not <see cref="Timeout.InfiniteTimeSpan"/>.</exception>
    public static bool Flush(TimeSpan timeout)
    {
        timeout = CheckTimeout(timeout);
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        // The running pipeline first, then those a concurrent Configure is still shutting down: read in this order, a
        // pipeline replaced in between is in the second list, and events logged into it before this call are waited for.
        LogPipeline? pipeline = Volatile.Read(ref s_pipeline);
        List<LogPipeline>? replaced = ReplacedStillRunning(includeGivenUp: false);
        bool flushed = pipeline is null || pipeline.Flush(timeout);
        if (replaced is not null)
        {
            foreach (LogPipeline old in replaced)
            {
                flushed &= old.Flush(Remaining(timeout, start));
            }
        }

        return flushed;
    }

    /// <summary>The asynchronous form of <see cref="Flush"/>: no thread waits.</summary>
    /// <param name="timeout">As for <see cref="Flush"/>.</param>
    /// <param name="cancellationToken">Stops the wait only: the flush goes on, and the events are delivered as usual.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative and not <see cref="Timeout.InfiniteTimeSpan"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired before the flush finished (the returned task is canceled).</exception>
    public static Task<bool> FlushAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        timeout = CheckTimeout(timeout);
        LogPipeline? pipeline = Volatile.Read(ref s_pipeline);
        List<LogPipeline>? replaced = ReplacedStillRunning(includeGivenUp: false);
        if (replaced is null)
        {
            return pipeline is null ? Task.FromResult(true) : pipeline.FlushAsync(timeout, cancellationToken);
        }

        return FlushAllAsync(pipeline, replaced, timeout, cancellationToken);
    }

    private static async Task<bool> FlushAllAsync(LogPipeline? pipeline, List<LogPipeline> replaced, TimeSpan timeout, CancellationToken cancellationToken)
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        bool flushed = pipeline is null || await pipeline.FlushAsync(timeout, cancellationToken).ConfigureAwait(false);
        foreach (LogPipeline old in replaced)
        {
            flushed &= await old.FlushAsync(Remaining(timeout, start), cancellationToken).ConfigureAwait(false);
        }

        return flushed;
    }

    /// <summary>
    /// The pipelines <see cref="Configure(FapiLogOptions)"/> replaced whose worker is still running (their shutdown is under
    /// way on the thread that called Configure), or null when there are none: Flush and Shutdown wait for them too, since
    /// they may still hold events logged before the call. A pipeline whose shutdown already gave up (its sink hangs and
    /// ignores cancellation; what it held was reported as not delivered) is left out when <paramref name="includeGivenUp"/>
    /// is false: a flush would wait for it in vain, for as long as the worker stays stuck.
    /// </summary>
    private static List<LogPipeline>? ReplacedStillRunning(bool includeGivenUp = true)
    {
        lock (s_lock)
        {
            List<LogPipeline>? running = null;
            foreach (RetiredPipeline retired in s_retired)
            {
                retired.Settle();
                if (retired.Live is { } live && (includeGivenUp || !live.GaveUp))
                {
                    (running ??= new List<LogPipeline>()).Add(live);
                }
            }

            return running;
        }
    }

    /// <summary>What is left of <paramref name="budget"/> since <paramref name="start"/> (infinite stays infinite).</summary>
    private static TimeSpan Remaining(TimeSpan budget, long start)
    {
        if (budget == Timeout.InfiniteTimeSpan)
        {
            return budget;
        }

        TimeSpan left = budget - System.Diagnostics.Stopwatch.GetElapsedTime(start);
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }

    /// <summary>The longest finite wait that both <see cref="Task.Wait(TimeSpan)"/> and <c>Task.WaitAsync</c> accept.</summary>
    private static readonly TimeSpan s_longestWait = TimeSpan.FromMilliseconds(int.MaxValue);

    /// <summary>
    /// Refuses a negative timeout (other than <see cref="Timeout.InfiniteTimeSpan"/>) before anything is done, and turns one
    /// longer than a wait can take (<see cref="TimeSpan.MaxValue"/>, say) into <see cref="Timeout.InfiniteTimeSpan"/>.
    /// </summary>
    private static TimeSpan CheckTimeout(TimeSpan timeout, [System.Runtime.CompilerServices.CallerArgumentExpression(nameof(timeout))] string? name = null)
    {
        if (timeout == Timeout.InfiniteTimeSpan || timeout > s_longestWait)
        {
            return Timeout.InfiniteTimeSpan;
        }

        if (timeout < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(name, timeout, "The timeout must be zero or more, or Timeout.InfiniteTimeSpan.");
        }

        return timeout;
    }

    /// <summary>
    /// Stops the pipeline: calls made from now on return at once (counted as dropped, reason
    /// <see cref="DropReason.Shutdown"/>), also when nothing had logged yet, until a <see cref="Configure(Action{FapiLogOptions})"/>;
    /// everything logged before is delivered and the sinks are flushed and disposed.
    /// Idempotent and safe from any thread, including a <see cref="AppDomain.ProcessExit"/> handler. Waits at most
    /// <paramref name="timeout"/> in all (the wait for FapiLog's own lines on stderr included), also when a concurrent <see cref="Configure(Action{FapiLogOptions})"/> installs
    /// another pipeline meanwhile (it gets what is left of the timeout, and is shut down too); without one, each pipeline's
    /// own <see cref="FapiLogOptions.ShutdownTimeout"/> counts from the start of the call. Returns false when the sinks did not finish in time; what was not delivered is
    /// then reported on stderr. Within what is left of the timeout it then waits for FapiLog's own stderr lines, as long as
    /// stderr takes one at least every 0.1 s. <see cref="Timeout.InfiniteTimeSpan"/> and
    /// durations too long to wait for (up to <see cref="TimeSpan.MaxValue"/>) wait without a limit.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">
    /// <paramref name="timeout"/> is negative and not <see cref="Timeout.InfiniteTimeSpan"/>; nothing is shut down then.
    /// </exception>
    public static bool Shutdown(TimeSpan? timeout = null)
    {
        if (timeout is { } given)
        {
            timeout = CheckTimeout(given, nameof(timeout));
        }

        return ShutdownFrom(timeout, System.Diagnostics.Stopwatch.GetTimestamp());
    }

    /// <summary>
    /// Written before the pipeline is read, as EnsureConfigured writes the pipeline before it reads this: either the shutdown
    /// finds the pipeline a first log call configures meanwhile, or that call finds the flag and shuts it down itself.
    /// </summary>
    private static void MarkShutdownAsked()
    {
        s_shutdownAsked = true;
        Interlocked.MemoryBarrier();
    }

    /// <summary>
    /// <see cref="Shutdown(TimeSpan?)"/> with its timeout counted from <paramref name="start"/> (a Stopwatch timestamp): the
    /// crash handler's, which spent part of the timeout on the crash event before, so that a shutdown that then gives up
    /// says it waited the whole timeout ("did not finish within 2 s"), not what was left of it ("0 s").
    /// </summary>
    private static bool ShutdownFrom(TimeSpan? timeout, long start)
    {
        MarkShutdownAsked();
        bool finished = true;
        LogPipeline? pipeline = Volatile.Read(ref s_pipeline);
        while (pipeline is not null)
        {
            // One deadline for the whole call: a pipeline installed meanwhile gets what is left, not the timeout again.
            TimeSpan budget = timeout ?? pipeline.ShutdownTimeout;
            // Every pipeline's result counts: one that finished must not hide one before it that did not.
            finished &= pipeline.Shutdown(Remaining(budget, start), budget);
            // A Configure that ran meanwhile (say, during process exit) installed another pipeline: shut that one down too.
            LogPipeline? current = Volatile.Read(ref s_pipeline);
            pipeline = ReferenceEquals(current, pipeline) ? null : current;
        }

        // A pipeline that a concurrent Configure replaced may still be delivering what was logged before this call.
        if (ReplacedStillRunning() is { } replaced)
        {
            foreach (LogPipeline old in replaced)
            {
                TimeSpan budget = timeout ?? old.ShutdownTimeout;
                finished &= old.Shutdown(Remaining(budget, start), budget);
            }
        }

        return finished;
    }

    /// <summary>The asynchronous form of <see cref="Shutdown"/>: no thread waits.</summary>
    /// <param name="timeout">As for <see cref="Shutdown"/>.</param>
    /// <param name="cancellationToken">
    /// Stops the wait only: the shutdown has begun (calls from then on are dropped) and goes on delivering what was logged
    /// before, without the report on stderr that a timeout gives; a later <see cref="Shutdown"/> (the process-exit hook's)
    /// waits for it again.
    /// </param>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired before the shutdown finished (the returned task is canceled).</exception>
    /// <exception cref="ArgumentOutOfRangeException">
    /// <paramref name="timeout"/> is negative and not <see cref="Timeout.InfiniteTimeSpan"/>; nothing is shut down then.
    /// </exception>
    public static Task<bool> ShutdownAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        if (timeout is { } given)
        {
            timeout = CheckTimeout(given, nameof(timeout));
        }

        return ShutdownAsyncCore(timeout, cancellationToken);
    }

    private static async Task<bool> ShutdownAsyncCore(TimeSpan? timeout, CancellationToken cancellationToken)
    {
        MarkShutdownAsked();
        bool finished = true;
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        LogPipeline? pipeline = Volatile.Read(ref s_pipeline);
        while (pipeline is not null)
        {
            TimeSpan budget = timeout ?? pipeline.ShutdownTimeout;
            finished &= await pipeline.ShutdownAsync(Remaining(budget, start), cancellationToken, budget).ConfigureAwait(false);
            LogPipeline? current = Volatile.Read(ref s_pipeline);
            pipeline = ReferenceEquals(current, pipeline) ? null : current;
        }

        if (ReplacedStillRunning() is { } replaced)
        {
            foreach (LogPipeline old in replaced)
            {
                TimeSpan budget = timeout ?? old.ShutdownTimeout;
                finished &= await old.ShutdownAsync(Remaining(budget, start), cancellationToken, budget).ConfigureAwait(false);
            }
        }

        return finished;
    }

    /// <summary>
    /// Hooks <see cref="AppDomain.ProcessExit"/> (flush and shut down), <see cref="AppDomain.UnhandledException"/> (log the
    /// exception as a Critical event, configuring from the environment first if nothing has, then shut down) and SIGTERM / SIGINT (flush, then let the signal proceed). Idempotent. The generated module initializer calls it once per
    /// assembly that has a <c>[FapiLog]</c> method; call it yourself if you turned that off (<c>FapiLogShutdownHook=false</c>).
    /// Being that early, it also starts the watch that tells log calls when an <see cref="System.Diagnostics.Activity"/>
    /// has become current in the process, so that calls made before any tracing skip looking for trace context.
    /// </summary>
    public static void RegisterShutdownHooks()
    {
        ActivityWatch.EnsureStarted();
        if (Interlocked.Exchange(ref s_hooksRegistered, 1) != 0)
        {
            return;
        }

        AppDomain.CurrentDomain.ProcessExit += static (_, _) =>
        {
            s_processExiting = true;
            // A full fence between writing the flag and reading the pipeline (in Shutdown), as Start has between writing
            // the pipeline and reading the flag: otherwise each side may miss the other, and a Configure racing the exit
            // would leave a pipeline that nothing shuts down.
            Interlocked.MemoryBarrier();
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            TimeSpan budget = Volatile.Read(ref s_pipeline)?.ShutdownTimeout ?? FapiLogOptions.DefaultShutdownTimeout;
            Shutdown();
            // Lines written with no pipeline to shut down (a configuration error, say) are out too before the process ends,
            // within the hook's one ShutdownTimeout.
            Stderr.Drain(Remaining(budget, start));
        };
        RegisterSignalHandlers();
        AppDomain.CurrentDomain.UnhandledException += static (_, e) => OnUnhandledException(e.ExceptionObject);
    }

    /// <summary>
    /// Logs the crash as a Critical event, then shuts down, all within the pipeline's ShutdownTimeout: under
    /// <see cref="OverflowStrategy.Block"/> with a full queue, waiting for room for the event comes out of that budget
    /// (a BlockTimeout that is longer, or infinite, must not keep a crashing process alive).
    /// </summary>
    private static void OnUnhandledException(object exceptionObject)
    {
        LogPipeline? pipeline = Volatile.Read(ref s_pipeline);
        if (pipeline is null)
        {
            // Nothing was logged or configured yet: a crash at startup (a missing setting, a static constructor that
            // throws), the one most worth seeing where the logs are collected. The first log call would have configured
            // the pipeline from the FAPILOG_* variables (Loki when FAPILOG_LOKI_URL is set), and so does the crash event.
            // Unless the crash is that configuration failing: the same variables would fail the same way, and the error
            // is on stderr already.
            if (IsReportedEnvironmentError(exceptionObject) || !TryConfigureForCrash())
            {
                // The process ends when this returns: the configuration error's line must be out by then, within the
                // ShutdownTimeout a crash is given (no pipeline has another).
                Stderr.Drain(FapiLogOptions.DefaultShutdownTimeout);
                return;
            }

            pipeline = Volatile.Read(ref s_pipeline)!;
        }

        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        TimeSpan budget = pipeline.ShutdownTimeout;
        LetGoOfConsoleLocks();
        if (exceptionObject is Exception ex && FapiLogRuntime.IsEnabled(LogLevel.Critical))
        {
            LogEventWriter writer = FapiLogRuntime.BeginWithin(s_unhandled, budget);
            if (writer.IsActive)
            {
                writer.WriteString(ExceptionText.Message(ex));
                writer.SetException(ex);
                writer.Commit();
            }
        }

        ShutdownFrom(budget, start);
        Stderr.Drain(Remaining(budget, start));
    }

    /// <summary>
    /// Lets go of <c>Console.Out</c>'s and <c>Console.Error</c>'s locks when the crashing thread holds them: a crash thrown
    /// inside <c>Console.WriteLine</c> (a format string with more placeholders than values, a stdout gone) reaches the
    /// handler with the writer's lock still held, and the console sink and FapiLog's stderr thread take those locks for
    /// every write. The shutdown waited for a lock only this thread could give back, gave up after ShutdownTimeout, and
    /// reported every event as not delivered. The thread does not go on: the process ends when the handler returns.
    /// </summary>
    private static void LetGoOfConsoleLocks()
    {
        try
        {
            foreach (object writer in new object[] { Console.Out, Console.Error })
            {
                while (Monitor.IsEntered(writer))
                {
                    Monitor.Exit(writer);
                }
            }
        }
        catch (Exception ex) when (ex is SynchronizationLockException or System.IO.IOException)
        {
            // Nothing held after all, or no console: the shutdown goes on as it would have.
        }
    }

    /// <summary>Whether the crash is, or wraps (a static constructor's, say), the configuration error a log call already reported.</summary>
    private static bool IsReportedEnvironmentError(object exceptionObject)
    {
        Exception? reported = Volatile.Read(ref s_reportedEnvironmentError);
        // Bounded: inner exceptions can lead back to themselves, and a crash handler must end.
        Exception? e = exceptionObject as Exception;
        for (int depth = 0; reported is not null && e is not null && depth < 32; depth++, e = e.InnerException)
        {
            if (ReferenceEquals(e, reported))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Configures from the environment for the crash event; false when that failed (never throws: the process is ending).</summary>
    private static bool TryConfigureForCrash()
    {
        try
        {
            // Running also during process exit: the crash handler logs the crash into it and then shuts it down itself.
            EnsureConfigured(forCrash: true);
            return Volatile.Read(ref s_pipeline) is not null;
        }
        catch (FapiLogConfigurationException)
        {
            return false;   // a bad FAPILOG_* value, which EnsureConfigured has reported on stderr
        }
        catch (Exception ex)
        {
            Stderr.Write("FapiLog: the unhandled exception could not be logged; configuring from the environment failed: " + ex);
            return false;
        }
    }

    /// <summary>
    /// SIGTERM, SIGINT, SIGQUIT and SIGHUP end a .NET process without raising <see cref="AppDomain.ProcessExit"/>, so the
    /// events queued at that moment would be lost. The handlers flush (within the shutdown timeout), say what the report
    /// intervals were still holding back, and then let the signal take its default course. They flush rather than shut
    /// down so that an application that cancels the signal and keeps running (the Generic Host does, to stop gracefully; so
    /// does a <see cref="Console.CancelKeyPress"/> handler that sets <c>Cancel</c>) keeps logging: .NET runs the handlers
    /// registered later first, and one registered before these (in Main, before a library with log methods was first
    /// used) may still cancel the signal after they ran.
    /// </summary>
    private static void RegisterSignalHandlers()
    {
        if (OperatingSystem.IsBrowser() || OperatingSystem.IsWasi() || OperatingSystem.IsIOS() || OperatingSystem.IsTvOS())
        {
            return;
        }

        var registrations = new List<System.Runtime.InteropServices.PosixSignalRegistration>(4);
        foreach (System.Runtime.InteropServices.PosixSignal signal in s_endingSignals)
        {
            try
            {
                registrations.Add(System.Runtime.InteropServices.PosixSignalRegistration.Create(signal, OnSignal));
            }
            catch (Exception ex) when (ex is PlatformNotSupportedException or System.IO.IOException)
            {
                // Not this signal on this platform: ProcessExit and explicit Shutdown remain.
            }
        }

        s_signalRegistrations = [.. registrations];
    }

    // The signals whose default action ends the process and that .NET lets a handler see. SIGHUP is what a closed terminal
    // or SSH session sends; SIGQUIT is what the Generic Host, too, takes as a request to stop.
    private static readonly System.Runtime.InteropServices.PosixSignal[] s_endingSignals =
    [
        System.Runtime.InteropServices.PosixSignal.SIGTERM,
        System.Runtime.InteropServices.PosixSignal.SIGINT,
        System.Runtime.InteropServices.PosixSignal.SIGQUIT,
        System.Runtime.InteropServices.PosixSignal.SIGHUP,
    ];

    /// <summary>How many more times the signal handler flushes for events logged while its flush ran.</summary>
    private const int MaxSignalFlushRounds = 8;

    private static void OnSignal(System.Runtime.InteropServices.PosixSignalContext context)
    {
        // .NET runs every handler, also after one cancelled the signal: the process is then not ending on it, and the
        // application that cancelled it (the Generic Host, which stops gracefully and flushes) decides what comes next.
        if (context.Cancel)
        {
            return;
        }

        FlushForSignal(context.Signal);
    }

    /// <summary>
    /// The signal handler's flush: the running pipeline and those a concurrent Configure is still shutting down, all within
    /// one <see cref="FapiLogOptions.ShutdownTimeout"/> of the running pipeline. Events other threads log while it runs (an
    /// application still at work when the signal came) are flushed too, in a few more rounds. Then the drops and
    /// sink failures the report intervals were holding back are said, since the process usually ends when this returns.
    /// False, after a report on stderr, when events were left undelivered.
    /// </summary>
    internal static bool FlushForSignal(System.Runtime.InteropServices.PosixSignal signal)
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        // Read in the order Flush reads them: a replaced pipeline may still hold events logged before the signal, and the
        // process usually ends when this returns, so they are lost unless waited for (and unreported unless counted).
        LogPipeline? pipeline = Volatile.Read(ref s_pipeline);
        if (pipeline is null)
        {
            return true;
        }

        List<LogPipeline>? replaced = ReplacedStillRunning(includeGivenUp: false);
        // One budget for the whole handler: the time between a signal and the kill that follows it is what it has.
        TimeSpan budget = pipeline.ShutdownTimeout;
        long flushedTo = pipeline.Queue.Tail;
        bool flushed = pipeline.Flush(budget);
        if (replaced is not null)
        {
            foreach (LogPipeline old in replaced)
            {
                flushed &= old.Flush(Remaining(budget, start));
            }
        }

        // Events logged while the flush ran (a request finishing its work) are behind it in the queue: flush again while
        // more came, a few rounds at most. A thread that logs without pause would otherwise hold the process for the whole
        // budget after Ctrl+C; what it logs past those rounds is said below as not delivered.
        for (int round = 0; round < MaxSignalFlushRounds && flushed && pipeline.Queue.Tail != flushedTo; round++)
        {
            flushedTo = pipeline.Queue.Tail;
            flushed = pipeline.Flush(Remaining(budget, start));
        }

        long undelivered = pipeline.Undelivered;
        if (replaced is not null)
        {
            foreach (LogPipeline old in replaced)
            {
                undelivered += old.Undelivered;
            }
        }

        pipeline.SayHeldBackReports();
        replaced?.ForEach(static old => old.SayHeldBackReports());
        if (flushed && undelivered == 0)
        {
            Stderr.Drain(Remaining(budget, start));
            return true;
        }

        // A sink a replacement took over belongs to both pipelines: its trouble is quoted once.
        var quoted = new HashSet<LogSink>(ReferenceEqualityComparer.Instance);
        string troubles = pipeline.Troubles(quoted);
        FapiLogStatistics statistics = pipeline.GetStatistics();
        if (replaced is not null)
        {
            foreach (LogPipeline old in replaced)
            {
                troubles += old.Troubles(quoted);
                statistics = statistics.Plus(old.GetStatistics());
            }
        }

        // The signal's default action usually ends the process next, with no ProcessExit and so no shutdown to report
        // what was lost: say it here. (An application that cancels the signal may still deliver them later.)
        Stderr.Write(flushed
            ? $"FapiLog: {signal}: events were still being logged after the flush; " +
              $"{undelivered} event(s) were not delivered to every sink yet. {statistics}"
            : $"FapiLog: {signal}: the flush did not finish within {budget.TotalSeconds:0.###} s; " +
              $"{undelivered} event(s) were not delivered to every sink yet (a sink is slow or hung{troubles}). {statistics}");
        Stderr.Drain(Remaining(budget, start));
        return false;
    }

    /// <summary>Called by the first log call when nothing was configured: configure from the environment.</summary>
    internal static void EnsureConfigured() => EnsureConfigured(forCrash: false);

    /// <summary>
    /// Configures from the environment when nothing has. Once the process-exit hook has run, the pipeline is shut down at once
    /// (as one <see cref="Configure(FapiLogOptions)"/> is then), unless it is <paramref name="forCrash"/>: the crash
    /// handler shuts it down itself after logging the crash into it.
    /// </summary>
    private static void EnsureConfigured(bool forCrash)
    {
        if (Volatile.Read(ref s_pipeline) is not null)
        {
            return;
        }

        // Before the lock: publishing the instruments runs every MeterListener's InstrumentPublished callback, and a
        // collector's lock taken there and around its collections must not be ordered against ours.
        FapiLogMetrics.EnsureCreated();
        LogPipeline? started = null;
        lock (s_lock)
        {
            if (s_pipeline is null)
            {
                var options = new FapiLogOptions();
                try
                {
                    options.ApplyEnvironment();
                    if (s_shutdownAsked && !forCrash)
                    {
                        // After a Shutdown that found nothing to shut down: a pipeline only to refuse and count the calls
                        // (shut down below), without opening the file or Loki's connection the environment names.
                        options.QueueCapacity = 1;
                        StartLocked(options, withSinks: false);
                    }
                    else
                    {
                        StartLocked(options);
                    }

                    started = s_pipeline;
                }
                catch (FapiLogConfigurationException ex)
                {
                    // A bad FAPILOG_* value, or one the process cannot afford (a queue too large for its memory). Every later
                    // call fails the same way and throws it too (the value is read again); stderr is told once, not once a
                    // call: a loop that caught it wrote a thousand lines.
                    if (Volatile.Read(ref s_reportedEnvironmentError)?.Message != ex.Message)
                    {
                        Stderr.Write("FapiLog: " + ex.Message);
                    }

                    Volatile.Write(ref s_reportedEnvironmentError, ex);
                    throw;
                }
            }
        }

        Interlocked.MemoryBarrier();   // as in Start: the pipeline is written above, the flag read here
        if (started is not null && !forCrash && (s_processExiting || s_shutdownAsked))
        {
            // The first log call (or SetMinimumLevel) made once the exit hook has run, from a ProcessExit handler that runs
            // after FapiLog's, or after a Shutdown that found nothing to shut down: nothing would shut this pipeline down,
            // and the events it took in would vanish uncounted when the process ends. Shut down now, outside the lock, it
            // refuses them, counted as dropped (reason Shutdown).
            started.Shutdown(started.ShutdownTimeout);
        }
    }

    private static void Start(FapiLogOptions options)
    {
        LogPipeline? previous;
        LogPipeline started;
        var holders = new List<LogPipeline>();
        FapiLogMetrics.EnsureCreated();   // outside the lock, as in EnsureConfigured
        lock (s_lock)
        {
            previous = s_pipeline;
            // A sink an earlier pipeline also has (Configure again with the same sink instance) must not be written to by two
            // workers at once, nor disposed by the old one: the new worker starts once every such worker has finished. Not
            // only the one replaced: a retired pipeline's worker may still be inside the sink (a shutdown given up on it, or
            // another Configure still waiting for it) when a pipeline without the sink is replaced by one with it again.
            if (previous is not null && SharesSinks(previous, options))
            {
                holders.Add(previous);
            }

            foreach (RetiredPipeline retired in s_retired)
            {
                retired.Settle();
                if (retired.Live is { } live && SharesSinks(live, options))
                {
                    holders.Add(live);
                }
            }

            // Built first, not installed: a Configure that fails (a bad setting, a file it cannot open) hands nothing over.
            // Then, under every holder's lock at once (only a caller under s_lock does that, and a worker takes its own
            // only), a file or Loki sink one of them is disposing right now is refused; otherwise all are handed over.
            (LogPipeline built, List<LogSink> builtSinks) = BuildLocked(options, startWorker: holders.Count == 0);
            LogSink? refused = null;
            int entered = 0;
            try
            {
                foreach (LogPipeline holder in holders)
                {
                    Monitor.Enter(holder.HandOverLock);
                    entered++;
                }

                foreach (LogPipeline holder in holders)
                {
                    foreach (LogSink sink in options.Sinks)
                    {
                        if (!sink.UsableAfterDispose && holder.IsDisposing(sink))
                        {
                            refused = sink;
                        }
                    }
                }

                if (refused is null)
                {
                    foreach (LogPipeline holder in holders)
                    {
                        holder.HandOver(options.Sinks);
                    }
                }
            }
            finally
            {
                for (int i = entered - 1; i >= 0; i--)
                {
                    Monitor.Exit(holders[i].HandOverLock);
                }
            }

            if (refused is not null)
            {
                DisposeBuiltSinks(options, builtSinks);
                throw new FapiLogConfigurationException(nameof(FapiLogOptions.Sinks), refused.Name,
                    "a sink that is not being disposed: a pipeline that had it is disposing it now, at the end of its shutdown; give Configure a new one");
            }

            InstallLocked(built, options);
            // Configure after Shutdown starts logging again (with sinks of its own: the old ones were disposed). Once it has
            // succeeded: one that threw (a bad setting, a file it cannot open) installed nothing, and the shutdown stands.
            s_shutdownAsked = false;
            started = s_pipeline!;

            if (previous is not null)
            {
                // In the same step as the switch, so that the statistics never lose sight of its counts.
                s_retired.Add(new RetiredPipeline(previous));
            }
        }

        if (previous is not null)
        {
            // Installed first, then closed: a call that finds the old queue closed for the replacement (one waiting for
            // room under Block, say) then finds the new one to claim in, and is not lost to the reconfiguration.
            previous.BeginReplacement(started);
            previous.Shutdown(previous.ShutdownTimeout);
        }

        if (holders.Count > 0)
        {
            // Also when a shutdown timed out: a worker given up on can still be inside a shared sink, and a sink is written to
            // by one worker at a time. Until then the new queue takes events (and drops what does not fit).
            var gate = new LogPipeline.StartGate(started, holders.Count);
            foreach (LogPipeline holder in holders)
            {
                holder.StartAfterExit(gate);
            }
        }

        if (previous is not null)
        {
            lock (s_lock)
            {
                foreach (RetiredPipeline retired in s_retired)
                {
                    retired.Settle();
                }
            }
        }

        Interlocked.MemoryBarrier();   // see the ProcessExit hook: the pipeline is written above, the flag read here
        if (s_processExiting)
        {
            // Configured while the process exits (a ProcessExit handler that runs after FapiLog's): nothing would shut
            // this pipeline down, and what it took in would vanish uncounted. As after any shutdown, calls from now on
            // return at once and are counted as dropped (reason Shutdown).
            started.Shutdown(started.ShutdownTimeout);
        }
    }

    private static bool SharesSinks(LogPipeline previous, FapiLogOptions options)
    {
        foreach (LogSink sink in options.Sinks)
        {
            foreach (LogSink old in previous.Sinks)
            {
                if (ReferenceEquals(sink, old))
                {
                    return true;
                }
            }
        }

        return false;
    }

    private static (LogPipeline Pipeline, List<LogSink> Sinks) BuildLocked(FapiLogOptions options, bool startWorker, bool withSinks = true)
    {
        options.Validate();
        List<LogSink> sinks = withSinks ? BuildSinks(options) : [];
        if (sinks.Count == 0 && withSinks)
        {
            // Valid (a service that only wants the statistics, say), but more often a mistake: Console = false (or
            // FAPILOG_CONSOLE=false) and no file, Loki or sink of your own. Events are then counted as delivered to nothing.
            Stderr.Write("FapiLog: no sink is configured (Console is off and there is no file, Loki or sink of your own): events are accepted and go nowhere.");
        }

        LogPipeline pipeline;
        try
        {
            pipeline = new LogPipeline(options, sinks, startWorker);
        }
        catch
        {
            DisposeBuiltSinks(options, sinks);
            throw;
        }

        return (pipeline, sinks);
    }

    /// <summary>The sinks built from settings (file, Loki, console) are ours and would leak their handles; yours stay yours.</summary>
    private static void DisposeBuiltSinks(FapiLogOptions options, List<LogSink> sinks)
    {
        for (int i = options.Sinks.Count; i < sinks.Count; i++)
        {
            sinks[i].Dispose();
        }
    }

    private static void StartLocked(FapiLogOptions options, bool withSinks = true)
        => InstallLocked(BuildLocked(options, startWorker: true, withSinks).Pipeline, options);

    private static void InstallLocked(LogPipeline pipeline, FapiLogOptions options)
    {
        s_pipeline = pipeline;
        FapiLogRuntime.Install(pipeline.Queue, options.MinimumLevel, options.CaptureTraceContext);
    }

    /// <summary>
    /// A pipeline that <see cref="Configure(FapiLogOptions)"/> replaced. Until its worker has stopped, it is read live; then
    /// only its counters and final enqueued count are kept, so that the queue's memory is released.
    /// </summary>
    private sealed class RetiredPipeline(LogPipeline pipeline)
    {
        private readonly PipelineCounters _counters = pipeline.Counters;
        private readonly long _capacity = pipeline.Queue.Capacity;
        private LogPipeline? _live = pipeline;
        private long _enqueued;

        /// <summary>The pipeline while its worker may still run; null once <see cref="Settle"/> has let go of it.</summary>
        public LogPipeline? Live => _live;

        /// <summary>The pipeline's counts now (under <see cref="s_lock"/>).</summary>
        public FapiLogStatistics Read()
        {
            Settle();
            return _live?.GetStatistics() ?? LogPipeline.ReadStatistics(_counters, _enqueued, _capacity);
        }

        /// <summary>Lets go of the pipeline once its worker has stopped (under <see cref="s_lock"/>).</summary>
        public void Settle()
        {
            if (_live is { } live && live.Stopped.IsCompleted)
            {
                // The queue was closed before the worker stopped, so its tail is final.
                _enqueued = live.Queue.Tail;
                _live = null;
            }
        }
    }

    internal static List<LogSink> BuildSinks(FapiLogOptions options)
    {
        var sinks = new List<LogSink>(options.Sinks);
        if (options.FilePath is { } path)
        {
            sinks.Add(OpenFileSink(path, options));
        }

        if (options.Loki.CreateSink() is { } loki)
        {
            sinks.Add(loki);
        }

        // Console by default, Loki as well when configured; sinks or a file you add yourself replace the console. ConsoleJson
        // set without Console asks for the console all the same, as FAPILOG_CONSOLE=json does (it used to be dropped silently
        // beside a file, the very setup where JSON on stdout is wanted for a collector).
        if (options.Console ?? (options.ConsoleJson || (options.Sinks.Count == 0 && options.FilePath is null)))
        {
            sinks.Add(new ConsoleSink(options.ConsoleJson));
        }

        return sinks;
    }

    /// <summary>
    /// The file sink of <see cref="FapiLogOptions.FilePath"/>. A path that cannot be opened (a folder, no permission) is a
    /// bad setting like any other: it fails here, naming the setting and the path, not with a bare I/O error.
    /// </summary>
    private static JsonFileSink OpenFileSink(string path, FapiLogOptions options)
    {
        try
        {
            return new JsonFileSink(path, options.FileMaxBytes, options.FileRetainedFiles);
        }
        catch (Exception ex) when (ex is System.IO.IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new FapiLogConfigurationException(nameof(FapiLogOptions.FilePath), path,
                $"a file that can be created or appended to (set in code, by FAPILOG_FILE or by FapiLog:FilePath in appsettings.json); opening it failed with {ex.GetType().Name}: {ex.Message}", ex);
        }
    }

    /// <summary>The running pipeline, if any (tests and the hosting package).</summary>
    internal static LogPipeline? CurrentPipeline => Volatile.Read(ref s_pipeline);

    /// <summary>Shuts down and forgets the global pipeline and its counters (tests only).</summary>
    internal static void ResetForTesting()
    {
        LogPipeline? pipeline;
        lock (s_lock)
        {
            pipeline = s_pipeline;
            s_pipeline = null;
            s_retired.Clear();
            s_shutdownAsked = false;
            s_reportedEnvironmentError = null;
            FapiLogRuntime.Reset();
        }

        pipeline?.Shutdown(pipeline.ShutdownTimeout);
    }
}

/// <summary>The <c>FapiLog</c> <see cref="Meter"/>: counters read from <see cref="FapiLogging.Statistics"/> when collected, so logging itself pays nothing.</summary>
internal static class FapiLogMetrics
{
    public const string MeterName = "FapiLog";
    private static Meter? s_meter;

    public static void EnsureCreated()
    {
        if (Volatile.Read(ref s_meter) is not null)
        {
            return;
        }

        var meter = new Meter(MeterName, typeof(FapiLogMetrics).Assembly.GetName().Version?.ToString());
        if (Interlocked.CompareExchange(ref s_meter, meter, null) is not null)
        {
            meter.Dispose();
            return;
        }

        meter.CreateObservableCounter("fapilog.events.enqueued", static () => FapiLogging.Statistics.Enqueued, "{event}", "Events accepted into the queue.");
        meter.CreateObservableCounter("fapilog.events.dropped", static () => DroppedMeasurements(), "{event}", "Events dropped, by reason.");
        meter.CreateObservableCounter("fapilog.events.sampled_out", static () => FapiLogging.Statistics.SampledOut, "{event}", "Events not kept by the Sample strategy.");
        meter.CreateObservableCounter("fapilog.events.delivered", static () => FapiLogging.Statistics.Delivered, "{event}", "Events every sink accepted (Loki: once Loki accepted them).");
        meter.CreateObservableCounter("fapilog.sink.failures", static () => FapiLogging.Statistics.Failed, "{event}", "Events a sink failed to write.");
        meter.CreateObservableGauge("fapilog.queue.depth", static () => FapiLogging.Statistics.Pending, "{event}", "Events accepted and not yet delivered or failed: in the queue, or in the Loki sink's send buffer.");
        meter.CreateObservableCounter("fapilog.loki.requests", static () => FapiLogging.LokiStatistics.RequestsSent, "{request}", "Push requests Loki accepted.");
        meter.CreateObservableCounter("fapilog.loki.entries.sent", static () => FapiLogging.LokiStatistics.EntriesSent, "{entry}", "Entries in the push requests Loki accepted.");
        meter.CreateObservableCounter("fapilog.loki.bytes.sent", static () => FapiLogging.LokiStatistics.BytesSent, "By", "Compressed body bytes of the push requests Loki accepted.");
        meter.CreateObservableCounter("fapilog.loki.retries", static () => FapiLogging.LokiStatistics.Retries, "{request}", "Push attempts retried (429, 5xx, timeout, connection failure) or split after a 413.");
        meter.CreateObservableCounter("fapilog.loki.entries.failed", static () => LokiFailedMeasurements(), "{entry}", "Entries the Loki sink gave up, by reason.");
        meter.CreateObservableGauge("fapilog.loki.buffer.entries", static () => FapiLogging.LokiStatistics.BufferedEntries, "{entry}", "Entries waiting in the Loki sinks' send buffers.");
        meter.CreateObservableGauge("fapilog.loki.buffer.bytes", static () => FapiLogging.LokiStatistics.BufferedBytes, "By", "Rendered bytes waiting in the Loki sinks' send buffers (capped by Loki.MaxBufferedBytes).");
    }

    private static IEnumerable<Measurement<long>> LokiFailedMeasurements()
    {
        foreach (KeyValuePair<string, long> reason in FapiLogging.LokiStatistics.EntriesFailedByReason)
        {
            yield return new Measurement<long>(reason.Value, new KeyValuePair<string, object?>("reason", reason.Key));
        }
    }

    private static IEnumerable<Measurement<long>> DroppedMeasurements()
    {
        FapiLogStatistics s = FapiLogging.Statistics;
        yield return new Measurement<long>(s.DroppedQueueFull, new KeyValuePair<string, object?>("reason", "queue_full"));
        yield return new Measurement<long>(s.DroppedBlockTimeout, new KeyValuePair<string, object?>("reason", "block_timeout"));
        yield return new Measurement<long>(s.DroppedShutdown, new KeyValuePair<string, object?>("reason", "shutdown"));
        yield return new Measurement<long>(s.DroppedWorkerStopped, new KeyValuePair<string, object?>("reason", "worker_stopped"));
    }
}
