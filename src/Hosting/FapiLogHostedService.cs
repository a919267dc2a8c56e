using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Hosting;

namespace FapiLog.Hosting;

/// <summary>
/// Starts the FapiLog pipeline before every other hosted service starts (<see cref="StartingAsync"/>) so that their logs
/// are captured and a bad configuration fails the host's start; flushes it after every other hosted service has stopped
/// (<see cref="StoppedAsync"/>) so that their shutdown logs are delivered before the host's stop completes. The final
/// shutdown comes when the host is disposed (<see cref="FapiLogPipelineHost.Dispose"/>), after the host's
/// <c>ApplicationStopped</c> callbacks, or at process exit.
/// </summary>
internal sealed class FapiLogHostedService : IHostedLifecycleService
{
    private readonly FapiLogPipelineHost _host;

    public FapiLogHostedService(FapiLogPipelineHost host) => _host = host;

    public Task StartingAsync(CancellationToken cancellationToken)
    {
        _host.EnsureStarted();
        return Task.CompletedTask;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => _host.FlushAtStopAsync();
}
