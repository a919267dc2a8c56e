using System;
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
    private readonly IOptions<FapiLogOptions> _options;
    private readonly IServiceProvider _services;
    private readonly IConfiguration? _configuration;
    private IDisposable? _reloadWatch;
    private LogLevel _configuredLevel;
    private readonly object _lock = new();
    private LogPipeline? _pipeline;
    private ExceptionDispatchInfo? _failure;
    private Thread? _startingThread;
    private volatile bool _started;
    private volatile bool _sinksHungAtStop;

    public FapiLogPipelineHost(IOptions<FapiLogOptions> options, IServiceProvider services)
    {
        _options = options;
        _services = services;
        _configuration = services.GetService<IConfiguration>();
    }

    public bool IsStarted => _started;

    /// <summary>Starts the pipeline if needed; rethrows the configuration error of an earlier failed attempt.</summary>
    public void EnsureStarted()
    {
        if (_started)
        {
            return;
        }

        lock (_lock)
        {
            _failure?.Throw();
            if (_started || _startingThread == Thread.CurrentThread)
            {
                return;
            }

            _startingThread = Thread.CurrentThread;
            try
            {
                FapiLogOptions options = _options.Value;
                FapiLogging.Configure(options);
                _pipeline = FapiLogging.CurrentPipeline;
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
                throw;
            }
            finally
            {
                _startingThread = null;
            }
        }
    }

    /// <summary>For log calls: starts the pipeline if needed, never throws (a bad configuration fails the host's start instead).</summary>
    public bool TryEnsureStarted()
    {
        if (_started)
        {
            return true;
        }

        try
        {
            EnsureStarted();
        }
        catch (Exception)
        {
            return false;
        }

        return _started;
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
                // Only while this host's pipeline is the running one, and only a change of the configured level: a level
                // set by hand (FapiLogging.SetMinimumLevel) stays until the configuration itself says otherwise.
                if (_pipeline is null || !ReferenceEquals(FapiLogging.CurrentPipeline, _pipeline) || level == _configuredLevel)
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
        LogPipeline? pipeline = StopWatching();
        if (pipeline is null)
        {
            return true;
        }

        bool flushed = await pipeline.FlushAsync(pipeline.ShutdownTimeout, CancellationToken.None).ConfigureAwait(false);
        _sinksHungAtStop = !flushed;
        return flushed;
    }

    /// <summary>
    /// Shuts down the pipeline this host started (when the host's services are disposed), within its ShutdownTimeout; at
    /// once if the flush at stop already waited that long in vain, so that a hung sink costs the shutdown one timeout, not two.
    /// </summary>
    public void Dispose()
    {
        LogPipeline? pipeline = StopWatching();
        pipeline?.Shutdown(DisposeTimeout(pipeline));
    }

    /// <summary>The asynchronous form of <see cref="Dispose"/>, used by a host disposed with <c>DisposeAsync</c>.</summary>
    public async ValueTask DisposeAsync()
    {
        LogPipeline? pipeline = StopWatching();
        if (pipeline is not null)
        {
            await pipeline.ShutdownAsync(DisposeTimeout(pipeline), CancellationToken.None).ConfigureAwait(false);
        }
    }

    private TimeSpan DisposeTimeout(LogPipeline pipeline) => _sinksHungAtStop ? TimeSpan.Zero : pipeline.ShutdownTimeout;

    /// <summary>Stops applying configuration reloads; returns the pipeline this host started, if any.</summary>
    private LogPipeline? StopWatching()
    {
        lock (_lock)
        {
            _reloadWatch?.Dispose();
            _reloadWatch = null;
            return _pipeline;
        }
    }
}
