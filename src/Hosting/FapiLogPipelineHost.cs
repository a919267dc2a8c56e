using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.ExceptionServices;
using System.Threading;
using System.Threading.Tasks;
using FapiLog.Internal;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace FapiLog.Hosting;

/// <summary>
/// Owns the global FapiLog pipeline for one host: starts it once from the bound options (at host start, or at the first
/// ILogger call if that comes earlier), flushes it when the host has stopped, and shuts down exactly the pipeline it
/// started when the host is disposed, so that what is logged in between (<c>ApplicationStopped</c> callbacks, the
/// host's own last lines, services that log while being disposed) is delivered too. While it runs, a reload of the
/// configuration that changes the resulting <see cref="FapiLogOptions.MinimumLevel"/> is applied live.
/// </summary>
internal sealed class FapiLogPipelineHost : IDisposable, IAsyncDisposable
{
    // The pipeline is process-wide. With several hosts in one process (integration tests), the host started last
    // configures it and the others log into it too; it is shut down when the last host that started one is disposed, so a
    // host that still runs never has its events dropped because another one went away.
    private static readonly object s_hostsLock = new();
    private static readonly HashSet<FapiLogPipelineHost> s_liveHosts = new();
    private static LogPipeline? s_hostPipeline;

    private readonly IServiceProvider _services;
    private readonly IConfiguration? _configuration;
    private IDisposable? _reloadWatch;
    private LogLevel _configuredLevel;
    private readonly object _lock = new();
    private LogPipeline? _pipeline;
    private volatile ExceptionDispatchInfo? _failure;

    // 1 once a log call's failed start has been said on stderr.
    private int _failureSaid;
    // Set under _lock and _deferLock, cleared under both: while it is set, log calls are kept instead of waiting.
    private volatile Thread? _startingThread;
    // ILogger calls made while the pipeline starts, on any thread (an options callback or a sink factory that logs, or
    // work on another thread that the callback waits for), replayed once it runs; beyond MaxDeferredCalls the least severe
    // give way, and are counted as dropped (queue full) in the new pipeline if its level would have logged them.
    private readonly object _deferLock = new();
    private List<DeferredCall>? _deferred;
    // Per level, Trace to Critical: the calls kept, and those given up.
    private readonly int[] _deferredByLevel = new int[(int)LogLevel.None];
    private int[] _deferredOverflow = new int[(int)LogLevel.None];
    private volatile bool _started;
    private volatile bool _sinksHungAtStop;

    // The options are resolved when the pipeline starts, not here: this host is built with the logger factory (the bridge
    // needs it), and options configured from services that themselves need an ILogger or the logger factory
    // (AddOptions<FapiLogOptions>().Configure<ILoggerFactory>(...), an HTTP client factory for a sink) would otherwise
    // make the logger factory depend on itself.
    public FapiLogPipelineHost(IServiceProvider services)
    {
        _services = services;
        _configuration = services.GetService<IConfiguration>();
    }

    public bool IsStarted => _started;

    /// <summary>
    /// How many ILogger calls made while the pipeline starts are kept for it; beyond it, the least severe give way and are
    /// counted as dropped, unless the level the pipeline starts with would have filtered them.
    /// </summary>
    internal const int MaxDeferredCalls = 1000;

    /// <summary>
    /// Keeps a log call made while the pipeline starts, on any thread, to be made again once it runs, with the execution
    /// context of the call (its scopes and <see cref="System.Diagnostics.Activity.Current"/>). False when no start is in
    /// progress any more: the caller looks again. <paramref name="level"/> is Trace to Critical.
    /// </summary>
    public bool TryDefer(Action call, LogLevel level)
    {
        lock (_deferLock)
        {
            if (_startingThread is null)
            {
                return false;
            }

            _deferred ??= new List<DeferredCall>();
            if (_deferred.Count >= MaxDeferredCalls)
            {
                // The level that will decide is not known yet (a code callback may still set it), but whatever it is, it
                // logs a call whenever it logs a less severe one: the latest of the least severe kept gives way to a more
                // severe call. A thread chattering at Debug cannot crowd out the warnings made meanwhile.
                int least = LeastSevereDeferred();
                if (least >= (int)level)
                {
                    _deferredOverflow[(int)level]++;
                    return true;
                }

                int evicted = _deferred.Count - 1;
                while ((int)_deferred[evicted].Level != least)
                {
                    evicted--;
                }

                _deferred.RemoveAt(evicted);
                _deferredByLevel[least]--;
                _deferredOverflow[least]++;
            }

            _deferred.Add(new DeferredCall(call, ExecutionContext.Capture(), level));
            _deferredByLevel[(int)level]++;
            return true;
        }
    }

    /// <summary>The lowest level among the calls kept (there is one: called when they are at the limit).</summary>
    private int LeastSevereDeferred()
    {
        int level = 0;
        while (_deferredByLevel[level] == 0)
        {
            level++;
        }

        return level;
    }

    /// <summary>
    /// For a log call made before the pipeline runs: true when the call is to go on now (the pipeline runs, started here if
    /// nobody had started it); false when it was kept while a start is in progress, or when the start failed.
    /// </summary>
    public bool StartOrDefer(Action call, LogLevel level)
    {
        while (true)
        {
            StartState state = TryEnsureStarted();
            if (state != StartState.Starting)
            {
                return state == StartState.Running;
            }

            if (TryDefer(call, level))
            {
                return false;
            }
        }
    }

    /// <summary>Starts the pipeline if needed, waiting for a start in progress; rethrows the configuration error of an earlier failed attempt.</summary>
    public void EnsureStarted()
    {
        if (_started)
        {
            return;
        }

        Monitor.Enter(_lock);
        StartAndExit();
    }

    /// <summary>
    /// For log calls: starts the pipeline if nobody has, never throws (a bad configuration fails the host's start instead),
    /// and never waits for a start in progress. That start may be waiting for this very thread (an options callback blocked
    /// on work that logs on another thread), so the call is kept instead (<see cref="TryDefer"/>).
    /// </summary>
    public StartState TryEnsureStarted()
    {
        SpinWait spin = default;
        while (true)
        {
            if (_started)
            {
                return StartState.Running;
            }

            if (_startingThread is not null)
            {
                return StartState.Starting;
            }

            if (_failure is not null)
            {
                return StartState.Failed;
            }

            if (Monitor.TryEnter(_lock))
            {
                try
                {
                    StartAndExit();
                }
                catch (Exception ex)
                {
                    // A host's start says it by failing, but a host built for its services and never started (or a bare
                    // ServiceCollection) only has these calls, which would then be dropped without a word: said once.
                    if (Interlocked.Exchange(ref _failureSaid, 1) == 0)
                    {
                        Stderr.Write($"FapiLog: ILogger calls are not logged: the pipeline could not start. {ex.Message}");
                    }

                    return StartState.Failed;
                }

                continue;
            }

            // _lock is held by a thread about to set _startingThread, or one that has just set the outcome: instants.
            spin.SpinOnce();
        }
    }

    /// <summary>Starts the pipeline; called holding _lock, which it releases before making the kept calls again.</summary>
    private void StartAndExit()
    {
        DeferredCall[] deferred = [];
        int[] overflow = [];
        try
        {
            _failure?.Throw();
            if (_started || _startingThread is not null)
            {
                return;
            }

            bool failed = false;
            lock (_deferLock)
            {
                _startingThread = Thread.CurrentThread;
            }

            try
            {
                FapiLogOptions options = _services.GetRequiredService<IOptions<FapiLogOptions>>().Value;
                FapiLogging.Configure(options);
                _pipeline = FapiLogging.CurrentPipeline;
                lock (s_hostsLock)
                {
                    s_liveHosts.Add(this);
                    s_hostPipeline = _pipeline;
                }

                FapiLogging.RegisterShutdownHooks();
                // Watch the configuration unless the code callback gave another level (code wins, also on reload). A callback that
                // sets the level the configuration gives cannot be told apart from one that leaves it, and is watched.
                _configuredLevel = LevelFromConfiguration();
                if (_configuration is not null && options.MinimumLevel == _configuredLevel)
                {
                    _reloadWatch = ChangeToken.OnChange(_configuration.GetReloadToken, OnConfigurationReloaded);
                }
                _started = true;
            }
            catch (Exception ex)
            {
                _failure = ExceptionDispatchInfo.Capture(ex);
                failed = true;
                throw;
            }
            finally
            {
                // The outcome (_started or _failure) is set before this: a caller refused by TryDefer from now on finds it.
                (deferred, overflow) = EndStart();
                int lost = deferred.Length + overflow.Sum();
                if (failed && lost > 0)
                {
                    Stderr.Write($"FapiLog: {lost} ILogger call(s) made while the pipeline was starting were not logged: the start failed.");
                }
            }
        }
        finally
        {
            Monitor.Exit(_lock);
        }

        // Made again now that the pipeline runs, in the order made, on this thread but each in the execution context of its
        // call: what they log carries the scopes of the call and the time of this replay (milliseconds after the call).
        foreach (DeferredCall call in deferred)
        {
            if (call.Context is { } context)
            {
                ExecutionContext.Run(context, static c => ((Action)c!)(), call.Call);
            }
            else
            {
                call.Call();
            }
        }

        // Counted as the calls would have been made: one below the level that now runs was not lost, it would have been
        // filtered (and is not counted, as a filtered call never is).
        for (int level = 0; level < overflow.Length; level++)
        {
            if (!FapiLogRuntime.IsEnabled((LogLevel)level))
            {
                continue;
            }

            for (int i = 0; i < overflow[level]; i++)
            {
                _pipeline?.Counters.CountDrop(DropReason.QueueFull);
            }
        }
    }

    /// <summary>Ends the start (kept calls are refused from now on) and hands back the calls kept meanwhile.</summary>
    private (DeferredCall[] Deferred, int[] Overflow) EndStart()
    {
        lock (_deferLock)
        {
            _startingThread = null;
            DeferredCall[] deferred = _deferred?.ToArray() ?? [];
            int[] overflow = _deferredOverflow;
            _deferred = null;
            _deferredOverflow = new int[(int)LogLevel.None];
            Array.Clear(_deferredByLevel);
            return (deferred, overflow);
        }
    }

    /// <summary>
    /// The level that the configuration and the environment give now (the layers under code callbacks, which are not run
    /// again: they may create sinks).
    /// </summary>
    private LogLevel LevelFromConfiguration()
    {
        var fresh = new FapiLogOptions();
        new FapiLogConfigureOptions(_services).Configure(fresh);
        return fresh.MinimumLevel;
    }

    /// <summary>
    /// Applies a reloaded <c>FapiLog:MinimumLevel</c> (or <c>FAPILOG_MIN_LEVEL</c>) to the running pipeline when the level
    /// they give has changed since the last load. Only the level is applied live; the other settings take effect at the
    /// next start. Never throws: a reloaded value that is not valid is reported on stderr and the running level is kept.
    /// </summary>
    private void OnConfigurationReloaded()
    {
        try
        {
            LogLevel level = LevelFromConfiguration();
            lock (_lock)
            {
                // Only while this host's pipeline is the running one and the host watches (not once it has begun to stop),
                // and only a change of the configured level: a level set by hand (FapiLogging.SetMinimumLevel) stays until
                // the configuration itself says otherwise.
                if (_reloadWatch is null || _pipeline is null || !ReferenceEquals(FapiLogging.CurrentPipeline, _pipeline) || level == _configuredLevel)
                {
                    return;
                }

                _configuredLevel = level;
                FapiLogging.SetMinimumLevel(level);
            }
        }
        catch (Exception ex)
        {
            Stderr.Write($"FapiLog: the reloaded configuration was not applied, the running level stays: {ex.Message}");
        }
    }

    /// <summary>
    /// Called once the host's other services have stopped: stops applying reloads and delivers what is queued, within the
    /// pipeline's own ShutdownTimeout. The host's cancellation token is deliberately not passed on: a host whose shutdown
    /// timeout is shorter must not cut this flush short (the host awaits this task; the ProcessExit hook is the backstop
    /// if it does not). The pipeline keeps taking events until the host is disposed.
    /// </summary>
    public async Task<bool> FlushAtStopAsync()
    {
        if (StopWatching() is null)
        {
            return true;
        }

        // The pipeline the hosts share now: this host's own, or that of a host started later, which this one logs into.
        LogPipeline pipeline = SharedPipeline() ?? _pipeline!;
        bool flushed = await pipeline.FlushAsync(pipeline.ShutdownTimeout, CancellationToken.None).ConfigureAwait(false);
        _sinksHungAtStop = !flushed;
        return flushed;
    }

    /// <summary>
    /// When the host's services are disposed: if this is the last running host that started a pipeline, shuts down the
    /// pipeline the hosts share, within its ShutdownTimeout (at once if the flush at stop already waited that long in
    /// vain, so that a hung sink costs the shutdown one timeout, not two). While another host still runs, the pipeline
    /// keeps serving it.
    /// </summary>
    public void Dispose()
    {
        LogPipeline? pipeline = Leave();
        pipeline?.Shutdown(DisposeTimeout(pipeline), pipeline.ShutdownTimeout);
    }

    /// <summary>The asynchronous form of <see cref="Dispose"/>, used by a host disposed with <c>DisposeAsync</c>.</summary>
    public async ValueTask DisposeAsync()
    {
        LogPipeline? pipeline = Leave();
        if (pipeline is not null)
        {
            await pipeline.ShutdownAsync(DisposeTimeout(pipeline), CancellationToken.None, pipeline.ShutdownTimeout).ConfigureAwait(false);
        }
    }

    /// <summary>The pipeline a host started that still serves the log calls, if any (null once code replaced it).</summary>
    private static LogPipeline? SharedPipeline()
    {
        lock (s_hostsLock)
        {
            return s_hostPipeline is { } p && ReferenceEquals(FapiLogging.CurrentPipeline, p) ? p : null;
        }
    }

    /// <summary>Leaves the running hosts; returns the pipeline to shut down when this was the last of them.</summary>
    private LogPipeline? Leave()
    {
        if (StopWatching() is not { } own)
        {
            return null;
        }

        lock (s_hostsLock)
        {
            s_liveHosts.Remove(this);
            if (s_liveHosts.Count > 0)
            {
                return null;
            }

            LogPipeline? shared = SharedPipeline();
            s_hostPipeline = null;
            // Not shared any more (code configured its own): this host's pipeline, already shut down by the replacement.
            return shared ?? own;
        }
    }

    /// <summary>Forgets the running hosts (tests only: a test that never disposes its host must not keep the next one's pipeline up).</summary>
    internal static void ResetForTesting()
    {
        lock (s_hostsLock)
        {
            s_liveHosts.Clear();
            s_hostPipeline = null;
        }
    }

    // What stderr reports in either case is ShutdownTimeout: the time the flush at stop plus this call waited.
    private TimeSpan DisposeTimeout(LogPipeline pipeline) => _sinksHungAtStop ? TimeSpan.Zero : pipeline.ShutdownTimeout;

    /// <summary>Stops applying configuration reloads; returns the pipeline this host started, if any.</summary>
    private LogPipeline? StopWatching()
    {
        IDisposable? watch;
        LogPipeline? pipeline;
        lock (_lock)
        {
            watch = _reloadWatch;
            _reloadWatch = null;
            pipeline = _pipeline;
        }

        // Outside the lock: disposing the registration waits for a reload under way, which takes the lock. Disposed under
        // it, a reload that fired as the host stopped (a ConfigMap change with the rollout's SIGTERM) and the stop waited
        // for each other for good. The reload finds the watch gone and applies nothing.
        if (watch is not null)
        {
            _beforeWatchDisposedForTesting?.Invoke();
            watch.Dispose();
        }

        return pipeline;
    }

    /// <summary>Tests: runs when the host, stopping, is about to dispose its configuration reload watch.</summary>
    internal Action? _beforeWatchDisposedForTesting;

    /// <summary>A log call kept while the pipeline starts, the execution context it was made in (null when flow was suppressed), and its level.</summary>
    private readonly record struct DeferredCall(Action Call, ExecutionContext? Context, LogLevel Level);
}

/// <summary>Where the pipeline's start stands, for a log call.</summary>
internal enum StartState
{
    /// <summary>The pipeline runs.</summary>
    Running,

    /// <summary>A start is in progress, on this thread or another: the call is to be kept.</summary>
    Starting,

    /// <summary>The start failed: the host's start reports it.</summary>
    Failed,
}
