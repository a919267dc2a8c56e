using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using FapiLog.Hosting.Internal;
using FapiLog.Hosting.Tests.Support;
using FapiLog.Sinks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xunit;

namespace FapiLog.Hosting.Tests;

public sealed class BridgeConcurrencyTests : HostingTestBase
{
    [Fact]
    public async Task Concurrent_calls_of_many_shapes_keep_their_own_values()
    {
        const int Threads = 4;
        const int PerThread = 2000;
        var sink = new InMemorySink();
        using IHost host = BuildHost(sink, new Dictionary<string, string?>
        {
            ["FapiLog:QueueCapacity"] = "10000",
            ["FapiLog:Overflow"] = "Block",
            ["FapiLog:BlockTimeout"] = "infinite",
        });
        await host.StartAsync();
        ILoggerFactory factory = host.Services.GetRequiredService<ILoggerFactory>();

        using var go = new Barrier(Threads);
        Task[] producers = Enumerable.Range(0, Threads).Select(t => Task.Factory.StartNew(() =>
        {
            ILogger logger = factory.CreateLogger($"Producer{t % 2}");
            go.SignalAndWait();
            for (int i = 0; i < PerThread; i++)
            {
                switch (i % 3)
                {
                    case 0:
                        logger.LogInformation("Thread {Thread} item {Item}", t, i);
                        break;
                    case 1:
                        using (logger.BeginScope(new Dictionary<string, object?> { ["Scope"] = $"{t}:{i}" }))
                        {
                            logger.LogInformation("Thread {Thread} item {Item} scoped", t, (long)i);
                        }

                        break;
                    default:
                        logger.LogInformation("Thread {Thread} item {Item} as text", t, i.ToString(System.Globalization.CultureInfo.InvariantCulture));
                        break;
                }
            }
        }, TaskCreationOptions.LongRunning)).ToArray();
        await Task.WhenAll(producers);
        await host.StopAsync();

        Assert.Equal(Threads * PerThread, sink.Count);
        foreach (IGrouping<long, CapturedLogEvent> thread in sink.Events.GroupBy(e => (long)e["Thread"]!))
        {
            CapturedLogEvent[] events = thread.ToArray();
            Assert.Equal(PerThread, events.Length);
            for (int i = 0; i < PerThread; i++)
            {
                CapturedLogEvent e = events[i];
                Assert.Equal($"Producer{thread.Key % 2}", e["category"]);
                switch (i % 3)
                {
                    case 0:
                        Assert.Equal((long)i, e["Item"]);
                        Assert.Equal($"Thread {thread.Key} item {i}", e.Message);
                        break;
                    case 1:
                        Assert.Equal((long)i, e["Item"]);
                        Assert.Equal($"{thread.Key}:{i}", e["Scope"]);
                        break;
                    default:
                        Assert.Equal(i.ToString(System.Globalization.CultureInfo.InvariantCulture), e["Item"]);
                        break;
                }
            }
        }

        // 2 categories x 3 shapes (the scoped one has one more field).
        Assert.Equal(6, Provider(host).Descriptors.Count);
    }

    [Fact]
    public async Task Past_the_cache_bound_calls_still_log_correctly()
    {
        var sink = new InMemorySink();
        int total = DescriptorCache.MaxEntries + 50;
        using IHost host = BuildHost(sink, new Dictionary<string, string?> { ["FapiLog:QueueCapacity"] = "10000" });
        await host.StartAsync();
        ILogger logger = host.Services.GetRequiredService<ILogger<BridgeConcurrencyTests>>();

        for (int i = 0; i < total; i++)
        {
            // A distinct template per call: the worst case for the cache.
            logger.Log(LogLevel.Information, new EventId(i, "E" + i), new[] { new KeyValuePair<string, object?>("V" + i, i) }, null, static (s, _) => s[0].Key);
        }

        await host.StopAsync();

        Assert.Equal(DescriptorCache.MaxEntries, Provider(host).Descriptors.Count);
        Assert.Equal(total, sink.Count);
        for (int i = 0; i < total; i++)
        {
            CapturedLogEvent e = sink.Events[i];
            Assert.Equal(i, e.EventId);
            Assert.Equal("V" + i, e.Message);
            Assert.Equal((long)i, e["V" + i]);
        }
    }

    [Fact]
    public async Task IHostBuilder_overload_and_provider_alias_filters_work()
    {
        var sink = new InMemorySink();
        using IHost host = Host.CreateDefaultBuilder()
            .UseContentRoot(AppContext.BaseDirectory)
            .ConfigureAppConfiguration(c => c.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Logging:LogLevel:Default"] = "Information",
                ["Logging:FapiLog:LogLevel:Default"] = "Warning",
                ["FapiLog:BatchSize"] = "17",
            }))
            .ConfigureLogging(l => l.ClearProviders())
            .AddFapiLog(o =>
            {
                o.Console = false;
                o.AddSink(sink);
            })
            .Build();
        await host.StartAsync();
        ILogger logger = host.Services.GetRequiredService<ILogger<BridgeConcurrencyTests>>();

        logger.LogInformation("filtered by Logging:FapiLog:LogLevel");
        logger.LogWarning("kept");
        await host.StopAsync();

        Assert.Equal("kept", Assert.Single(sink.Events).Message);
        Assert.Equal(17, host.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<FapiLogOptions>>().Value.BatchSize);
    }
}
