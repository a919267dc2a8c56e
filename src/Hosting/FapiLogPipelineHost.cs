using System;
using System.Runtime.ExceptionServices;
using System.Threading;
using System.Threading.Tasks;
using FapiLog.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FapiLog.Hosting;

/// <summary>
/// Owns the global FapiLog pipeline for one host: starts it once from the bound options (at host start, or at the first
/// ILogger call if that comes earlier) and shuts down exactly the pipeline it started when the host stops.
/// </summary>
internal sealed class FapiLogPipelineHost
{
    private readonly IOptions<FapiLogOptions> _options;
    private readonly object _lock = new();
    private LogPipeline? _pipeline;
    private ExceptionDispatchInfo? _failure;
    private Thread? _startingThread;
    private volatile bool _started;

    public FapiLogPipelineHost(IOptions<FapiLogOptions> options) => _options = options;

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
    /// Delivers what is queued, flushes and disposes the sinks, within the pipeline's own ShutdownTimeout. The host's
    /// cancellation token is deliberately not passed on: a host whose shutdown timeout is shorter must not cut the final
    /// flush short (the host awaits this task; the ProcessExit hook is the backstop if it does not).
    /// </summary>
    public Task<bool> ShutdownAsync()
    {
        LogPipeline? pipeline;
        lock (_lock)
        {
            pipeline = _pipeline;
        }

        return pipeline is null ? Task.FromResult(true) : pipeline.ShutdownAsync(pipeline.ShutdownTimeout, CancellationToken.None);
    }
}
