using System;
using System.Collections.Generic;
using System.Linq;
using FapiLog.Sinks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xunit;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace FapiLog.Hosting.Tests.Support;

/// <summary>
/// Base of every test here: the FapiLog pipeline is process-wide, so each test starts from a reset pipeline and leaves
/// one behind (the assembly runs its tests one at a time).
/// </summary>
public abstract class HostingTestBase : IDisposable
{
    protected HostingTestBase()
    {
        FapiLogging.ResetForTesting();
        FapiLogPipelineHost.ResetForTesting();
        FapiLogConfigureOptions.EnvironmentOverride = static _ => null;
    }

    public void Dispose()
    {
        FapiLogConfigureOptions.EnvironmentOverride = null;
        FapiLogging.ResetForTesting();
        FapiLogPipelineHost.ResetForTesting();
        GC.SuppressFinalize(this);
    }

    /// <summary>
    /// A host as an application builds it: <see cref="Host.CreateApplicationBuilder()"/>, in-memory settings standing in for
    /// appsettings.json, only the FapiLog provider (and <paramref name="alongside"/>, if given), and an
    /// <see cref="InMemorySink"/> added in code.
    /// </summary>
    protected static IHost BuildHost(
        InMemorySink sink,
        IDictionary<string, string?>? settings = null,
        Action<FapiLogOptions>? configure = null,
        Func<string, string?>? environment = null,
        ILoggerProvider? alongside = null)
    {
        if (environment is not null)
        {
            FapiLogConfigureOptions.EnvironmentOverride = environment;
        }

        HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            ApplicationName = "FapiLog.Hosting.Tests",
            ContentRootPath = AppContext.BaseDirectory,
        });
        // The host's own lifetime messages would mix with what the tests log; the child-process test covers them.
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Logging:LogLevel:Microsoft.Hosting.Lifetime"] = "None" });
        builder.Configuration.AddInMemoryCollection(settings ?? new Dictionary<string, string?>());
        builder.Logging.ClearProviders();
        if (alongside is not null)
        {
            builder.Logging.AddProvider(alongside);
        }

        builder.AddFapiLog(o =>
        {
            o.Console = false;
            o.AddSink(sink);
            configure?.Invoke(o);
        });
        return builder.Build();
    }

    protected static FapiLogLoggerProvider Provider(IHost host)
        => host.Services.GetServices<ILoggerProvider>().OfType<FapiLogLoggerProvider>().Single();
}
