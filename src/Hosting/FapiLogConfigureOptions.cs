using System;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FapiLog.Hosting;

/// <summary>
/// The first layers of <see cref="FapiLogOptions"/>: the <c>FapiLog</c> configuration section, then the <c>FAPILOG_*</c>
/// environment variables. Code callbacks given to AddFapiLog run after this (as post-configuration), so the order is
/// defaults &lt; configuration &lt; environment &lt; code.
/// </summary>
internal sealed class FapiLogConfigureOptions : IConfigureOptions<FapiLogOptions>
{
    private readonly IServiceProvider _services;

    public FapiLogConfigureOptions(IServiceProvider services) => _services = services;

    /// <summary>Replaces the process environment in tests.</summary>
    internal static Func<string, string?>? EnvironmentOverride { get; set; }

    public void Configure(FapiLogOptions options)
    {
        if (_services.GetService<IConfiguration>() is { } configuration)
        {
            FapiLogConfigurationBinder.Bind(configuration.GetSection(FapiLogConfigurationBinder.SectionName), options);
        }

        options.ApplyEnvironment(EnvironmentOverride);
    }
}
