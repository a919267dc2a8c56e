using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using FapiLog.Hosting.Tests.Support;
using FapiLog.Sinks;
using FapiLog.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xunit;

namespace FapiLog.Hosting.Tests;

/// <summary>A bad setting when nothing starts a host that could throw it: said on stderr, not turned into silent drops.</summary>
public sealed class HostStartFailureTests : HostingTestBase
{
    [Fact]
    public async Task Without_a_host_a_bad_setting_is_said_not_turned_into_silently_dropped_ILogger_calls()
    {
        // "Without a host (a plain ServiceCollection), the bridge starts the pipeline at its first log call" (README), and a
        // bad value "never surfaces later as a silent drop" (DESIGN). Here nothing starts a host that could throw it: the
        // bridge swallowed the start's FapiLogConfigurationException, IsEnabled turned false and every call was lost, with
        // no exception, no stderr line and no count (found by a review). Now said once.
        var sink = new InMemorySink();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["FapiLog:QueueCapacity"] = "lots" })
            .Build());
        services.AddFapiLog(o =>
        {
            o.Console = false;
            o.AddSink(sink);
        });
        await using ServiceProvider provider = services.BuildServiceProvider();
        ILogger logger = provider.GetRequiredService<ILogger<HostStartFailureTests>>();

        using var stderr = new StderrCapture();
        logger.LogCritical("lost {N}", 1);
        logger.LogCritical("lost {N}", 2);
        FapiLog.Internal.Stderr.Drain(TimeSpan.FromSeconds(30));

        Assert.Empty(sink.Events);
        string said = Assert.Single(stderr.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("FapiLog: ILogger calls are not logged: the pipeline could not start.", said, StringComparison.Ordinal);
        Assert.Contains("FapiLog:QueueCapacity", said, StringComparison.Ordinal);
    }

    [Fact]
    public void A_host_built_for_its_services_and_never_started_says_a_bad_setting_instead_of_dropping_every_ILogger_call()
    {
        // A console tool that builds a host only for dependency injection (host.Services.GetRequiredService<App>().Run())
        // never runs StartAsync, the one place the start's exception is thrown: the bridge starts the pipeline at the first
        // call, the start fails, and from then on every call was dropped without a word or a count (found by a review).
        var sink = new InMemorySink();
        using IHost host = BuildHost(sink, new Dictionary<string, string?> { ["FapiLog:BatchSize"] = "many" });
        ILogger logger = host.Services.GetRequiredService<ILogger<HostStartFailureTests>>();

        using var stderr = new StderrCapture();
        logger.LogCritical("lost {N}", 1);
        FapiLog.Internal.Stderr.Drain(TimeSpan.FromSeconds(30));

        Assert.Empty(sink.Events);
        Assert.Contains("FapiLog:BatchSize", stderr.Text, StringComparison.Ordinal);
    }
}
