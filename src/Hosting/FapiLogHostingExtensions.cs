using System;
using FapiLog;
using FapiLog.Hosting;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// <c>AddFapiLog</c>: runs the FapiLog pipeline with the host and routes <see cref="ILogger"/> calls into it.
/// </summary>
/// <remarks>
/// Every overload registers the same services (repeated calls add only their callbacks):
/// <list type="bullet">
/// <item><description><see cref="FapiLogOptions"/> built from the defaults, then the <c>FapiLog</c> configuration section
/// (appsettings.json), then the <c>FAPILOG_*</c> environment variables, then the <c>configure</c> callbacks in
/// the order they were added.</description></item>
/// <item><description>A hosted service that starts the global pipeline before the other hosted services start (a bad
/// setting fails the host's start with a <see cref="FapiLogConfigurationException"/> naming it), flushes it after they
/// have stopped (ASP.NET Core shutdown, SIGTERM, Ctrl+C) and shuts it down when the host is disposed (events logged by
/// <c>ApplicationStopped</c> callbacks and by services being disposed are kept), each within
/// <see cref="FapiLogOptions.ShutdownTimeout"/>.</description></item>
/// <item><description><see cref="FapiLogLoggerProvider"/>, so that <see cref="ILogger"/> calls (ASP.NET Core's own logs and
/// <c>[LoggerMessage]</c> methods included) reach the same queue and sinks as <c>[FapiLog]</c> methods.</description></item>
/// </list>
/// </remarks>
public static class FapiLogHostingExtensions
{
    /// <summary>Adds the FapiLog pipeline, its hosted service and the <see cref="ILogger"/> bridge.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Optional settings in code; they win over configuration and environment variables.</param>
    /// <returns><paramref name="services"/>.</returns>
    public static IServiceCollection AddFapiLog(this IServiceCollection services, Action<FapiLogOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddLogging(logging => AddCore(logging.Services, configure));
        return services;
    }

    /// <summary>Adds the <see cref="ILogger"/> bridge, and the FapiLog pipeline and its hosted service.</summary>
    /// <param name="builder">The logging builder (<c>builder.Logging</c>).</param>
    /// <param name="configure">Optional settings in code; they win over configuration and environment variables.</param>
    /// <returns><paramref name="builder"/>.</returns>
    public static ILoggingBuilder AddFapiLog(this ILoggingBuilder builder, Action<FapiLogOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        AddCore(builder.Services, configure);
        return builder;
    }

    /// <summary>Adds FapiLog to a host application builder (<c>WebApplication.CreateBuilder</c>, <c>Host.CreateApplicationBuilder</c>).</summary>
    /// <typeparam name="TBuilder">The builder type, returned for chaining.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="configure">Optional settings in code; they win over configuration and environment variables.</param>
    /// <returns><paramref name="builder"/>.</returns>
    public static TBuilder AddFapiLog<TBuilder>(this TBuilder builder, Action<FapiLogOptions>? configure = null)
        where TBuilder : IHostApplicationBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Logging.AddFapiLog(configure);
        return builder;
    }

    /// <summary>Adds FapiLog to a generic host builder (<c>Host.CreateDefaultBuilder</c>).</summary>
    /// <param name="builder">The host builder.</param>
    /// <param name="configure">Optional settings in code; they win over configuration and environment variables.</param>
    /// <returns><paramref name="builder"/>.</returns>
    public static IHostBuilder AddFapiLog(this IHostBuilder builder, Action<FapiLogOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.ConfigureServices((_, services) => services.AddFapiLog(configure));
    }

    private static void AddCore(IServiceCollection services, Action<FapiLogOptions>? configure)
    {
        // Now, before the host starts: .NET runs signal handlers last-registered first. Registered after the host's
        // lifetime (as at the pipeline's start), FapiLog's SIGTERM/SIGINT flush would run first and hold the host's
        // graceful stop back for as long as a slow sink takes, up to ShutdownTimeout; registered before it, the host's
        // handler cancels the signal, FapiLog's then leaves it alone, and the host's stop flushes, within one ShutdownTimeout.
        FapiLogging.RegisterShutdownHooks();
        services.AddOptions();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigureOptions<FapiLogOptions>, FapiLogConfigureOptions>());
        services.TryAddSingleton<FapiLogPipelineHost>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, FapiLogHostedService>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ILoggerProvider, FapiLogLoggerProvider>(
            static sp => new FapiLogLoggerProvider(sp.GetRequiredService<FapiLogPipelineHost>())));
        if (configure is not null)
        {
            // Post-configuration, so that code wins over configuration and environment whatever the registration order.
            services.PostConfigure(configure);
        }
    }
}
