using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using FapiLog.Hosting.Tests.Support;
using FapiLog.Sinks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using FapiLog.Tests.Support;
using Xunit;

namespace FapiLog.Hosting.Tests;

public sealed class HostingTests : HostingTestBase
{
    private static readonly Dictionary<string, string?> s_appSettings = new()
    {
        ["FapiLog:MinimumLevel"] = "Warning",
        ["FapiLog:QueueCapacity"] = "123",
        ["FapiLog:Overflow"] = "block",
        ["FapiLog:SampleRate"] = "0.25",
        ["FapiLog:BatchSize"] = "7",
        ["FapiLog:FlushInterval"] = "0.5",
        ["FapiLog:ShutdownTimeout"] = "00:00:03",
        ["FapiLog:BlockTimeout"] = "1.5",
        ["FapiLog:ConsoleJson"] = "true",
        ["FapiLog:FilePath"] = "",
        ["FapiLog:FileMaxBytes"] = "1048576",
        ["FapiLog:FileRetainedFiles"] = "2",
        ["FapiLog:Loki:Url"] = "http://127.0.0.1:3100",
    };

    /// <summary>A started host whose configuration says Information, and that configuration, to change and reload.</summary>
    private static async Task<(IHost Host, IConfigurationRoot Configuration)> StartAtInformation(Action<FapiLogOptions>? configure = null)
    {
        IHost host = BuildHost(new InMemorySink(), new Dictionary<string, string?> { ["FapiLog:MinimumLevel"] = "Information" }, configure);
        await host.StartAsync();
        return (host, (IConfigurationRoot)host.Services.GetRequiredService<IConfiguration>());
    }

    /// <summary>Sets FapiLog:MinimumLevel and reloads; the reload callbacks have run when this returns.</summary>
    private static void Reload(IConfigurationRoot configuration, string level)
    {
        configuration["FapiLog:MinimumLevel"] = level;
        configuration.Reload();
    }

    [Fact]
    public async Task A_reloaded_configuration_level_is_applied_live_and_a_bad_one_is_not()
    {
        (IHost host, IConfigurationRoot configuration) = await StartAtInformation();
        using IHost _ = host;
        Assert.Equal(LogLevel.Information, FapiLogging.MinimumLevel);

        Reload(configuration, "Debug");
        Assert.Equal(LogLevel.Debug, FapiLogging.MinimumLevel);

        Reload(configuration, "loud");
        Assert.Equal(LogLevel.Debug, FapiLogging.MinimumLevel);

        // A level set by hand stays through reloads that do not change the configured level...
        FapiLogging.SetMinimumLevel(LogLevel.Warning);
        Reload(configuration, "Debug");
        Assert.Equal(LogLevel.Warning, FapiLogging.MinimumLevel);

        // ...and gives way when the configuration changes it.
        Reload(configuration, "Error");
        Assert.Equal(LogLevel.Error, FapiLogging.MinimumLevel);
        await host.StopAsync();

        // A stopped host no longer applies reloads.
        Reload(configuration, "Trace");
        Assert.Equal(LogLevel.Error, FapiLogging.MinimumLevel);
    }

    /// <summary>How long a test waits for what should happen at once: far more than it needs on a loaded machine.</summary>
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_reload_under_way_as_the_host_stops_neither_hangs_the_stop_nor_applies_its_level()
    {
        // A reload that fired as the host stopped (a ConfigMap change and the rollout's SIGTERM together): the stop held the
        // host's lock while it disposed the reload watch, which waits for the reload under way, and that reload waited for
        // the lock. StopAsync and Reload both hung for good. Here the reload is held, while it reads the environment for
        // the level (before it takes the lock), until the stop is disposing the watch.
        (IHost host, IConfigurationRoot configuration) = await StartAtInformation();
        FapiLogPipelineHost pipelineHost = host.Services.GetRequiredService<FapiLogPipelineHost>();
        using var inReload = new ManualResetEventSlim();
        using var disposing = new ManualResetEventSlim();
        pipelineHost._beforeWatchDisposedForTesting = disposing.Set;
        Thread? reloading = null;
        FapiLogConfigureOptions.EnvironmentOverride = _ =>
        {
            if (Thread.CurrentThread == reloading && !inReload.IsSet)
            {
                inReload.Set();
                Assert.True(disposing.Wait(Bound));
            }

            return null;
        };
        reloading = new Thread(() => Reload(configuration, "Debug")) { IsBackground = true };
        reloading.Start();
        Assert.True(inReload.Wait(Bound));

        Task stop = Task.Run(() => host.StopAsync());
        Assert.True(stop.Wait(Bound), "StopAsync hung: the stop and the configuration reload wait for each other");
        Assert.True(reloading.Join(Bound), "Reload hung");
        host.Dispose();
        Assert.Equal(LogLevel.Information, FapiLogging.MinimumLevel);
    }

    [Fact]
    public async Task A_reload_does_not_touch_a_pipeline_that_replaced_the_hosts_own()
    {
        (IHost host, IConfigurationRoot configuration) = await StartAtInformation();
        using IHost _ = host;
        FapiLogging.Configure(o => { o.Console = false; o.MinimumLevel = LogLevel.Warning; });

        Reload(configuration, "Debug");
        Assert.Equal(LogLevel.Warning, FapiLogging.MinimumLevel);
        await host.StopAsync();
    }

    [Fact]
    public async Task A_level_set_in_code_is_not_overridden_by_a_reload()
    {
        (IHost host, IConfigurationRoot configuration) = await StartAtInformation(o => o.MinimumLevel = LogLevel.Warning);
        using IHost _ = host;

        Reload(configuration, "Debug");
        Assert.Equal(LogLevel.Warning, FapiLogging.MinimumLevel);
        await host.StopAsync();
    }

    [Fact]
    public async Task Options_are_bound_from_the_FapiLog_section()
    {
        var sink = new InMemorySink();
        using IHost host = BuildHost(sink, s_appSettings);
        FapiLogOptions o = host.Services.GetRequiredService<IOptions<FapiLogOptions>>().Value;

        Assert.Equal(LogLevel.Warning, o.MinimumLevel);
        Assert.Equal(123, o.QueueCapacity);
        Assert.Equal(OverflowStrategy.Block, o.Overflow);
        Assert.Equal(0.25, o.SampleRate);
        Assert.Equal(7, o.BatchSize);
        Assert.Equal(TimeSpan.FromSeconds(0.5), o.FlushInterval);
        Assert.Equal(TimeSpan.FromSeconds(3), o.ShutdownTimeout);
        Assert.Equal(TimeSpan.FromSeconds(1.5), o.BlockTimeout);
        Assert.True(o.ConsoleJson);
        Assert.False(o.Console); // the code callback of BuildHost wins
        Assert.Null(o.FilePath);
        Assert.Equal(1024 * 1024, o.FileMaxBytes);
        Assert.Equal(2, o.FileRetainedFiles);
        Assert.Equal(new Uri("http://127.0.0.1:3100"), o.Loki.Url);
        Assert.Same(sink, Assert.Single(o.Sinks));

        await host.StartAsync();
        Assert.Equal(123, FapiLogging.Statistics.QueueCapacity);
        Assert.False(FapiLogRuntime.IsEnabled(LogLevel.Information));
        Assert.True(FapiLogRuntime.IsEnabled(LogLevel.Warning));
        await host.StopAsync();
    }

    [Fact]
    public void Environment_wins_over_configuration_and_code_wins_over_both()
    {
        var env = new Dictionary<string, string?>
        {
            ["FAPILOG_QUEUE_CAPACITY"] = "456",
            ["FAPILOG_BATCH_SIZE"] = "9",
            ["FAPILOG_LOKI_URL"] = "http://127.0.0.1:3200",
        };

        using IHost host = BuildHost(new InMemorySink(), s_appSettings, o => o.BatchSize = 11, name => env.GetValueOrDefault(name));
        FapiLogOptions o = host.Services.GetRequiredService<IOptions<FapiLogOptions>>().Value;

        Assert.Equal(456, o.QueueCapacity);                               // environment over appsettings
        Assert.Equal(11, o.BatchSize);                                    // code over environment
        Assert.Equal(new Uri("http://127.0.0.1:3200"), o.Loki.Url);       // environment over appsettings
        Assert.Equal(LogLevel.Warning, o.MinimumLevel);                   // appsettings over defaults
        Assert.Equal(TimeSpan.FromSeconds(2), new FapiLogOptions().FlushInterval);
        Assert.Equal(TimeSpan.FromSeconds(0.5), o.FlushInterval);
    }

    [Fact]
    public void Code_callbacks_win_even_when_registered_before_the_configuration()
    {
        var sink = new InMemorySink();
        var services = new ServiceCollection();
        services.AddFapiLog(o => o.QueueCapacity = 77);
        services.AddSingleton<Microsoft.Extensions.Configuration.IConfiguration>(
            new Microsoft.Extensions.Configuration.ConfigurationBuilder()
                .AddInMemoryCollection(new Dictionary<string, string?> { ["FapiLog:QueueCapacity"] = "5", ["FapiLog:BatchSize"] = "3" })
                .Build());
        services.AddFapiLog(o => o.AddSink(sink));
        using ServiceProvider provider = services.BuildServiceProvider();

        FapiLogOptions o = provider.GetRequiredService<IOptions<FapiLogOptions>>().Value;
        Assert.Equal(77, o.QueueCapacity);
        Assert.Equal(3, o.BatchSize);
        Assert.Same(sink, Assert.Single(o.Sinks));
        Assert.Single(provider.GetServices<ILoggerProvider>());
        Assert.Single(provider.GetServices<IHostedService>());
    }

    [Theory]
    [InlineData("FapiLog:QueueCapacity", "lots", "FapiLog:QueueCapacity")]
    [InlineData("FapiLog:QueueCapacity", "-5", "QueueCapacity")]
    [InlineData("FapiLog:Overflow", "explode", "FapiLog:Overflow")]
    [InlineData("FapiLog:Overflow", "Drop, Block", "FapiLog:Overflow")]
    [InlineData("FapiLog:Loki:Format", "Protobuf,Json", "FapiLog:Loki:Format")]
    [InlineData("FapiLog:Loki:Format", "1", "FapiLog:Loki:Format")]
    [InlineData("FapiLog:FlushInterval", "soon", "FapiLog:FlushInterval")]
    [InlineData("FapiLog:SampleRate", "1.5", "SampleRate")]
    [InlineData("FapiLog:MinimumLevel", "loud", "FapiLog:MinimumLevel")]
    [InlineData("FapiLog:FileMaxBytes", "10MB", "FapiLog:FileMaxBytes")]
    [InlineData("FapiLog:FileRetainedFiles", "-1", "FileRetainedFiles")]
    [InlineData("FapiLog:Loki:Url", "ftp://example", "FapiLog:Loki:Url")]
    [InlineData("FapiLog:Loki", "http://127.0.0.1:3100", "FapiLog:Loki")]
    [InlineData("FapiLog:Console", "sometimes", "FapiLog:Console")]
    public async Task A_bad_setting_fails_the_host_start_naming_it(string key, string value, string expectedSetting)
    {
        var sink = new InMemorySink();
        using IHost host = BuildHost(sink, new Dictionary<string, string?> { [key] = value });

        FapiLogConfigurationException ex = await Assert.ThrowsAsync<FapiLogConfigurationException>(() => host.StartAsync());
        Assert.Equal(expectedSetting, ex.Setting);
        Assert.Equal(value, ex.Value);
        Assert.Contains(expectedSetting, ex.Message, StringComparison.Ordinal);
        Assert.False(FapiLogging.IsConfigured);
    }

    [Theory]
    [InlineData("FapiLog:QueueCapcity", "Unknown FapiLog setting FapiLog:QueueCapcity (did you mean QueueCapacity?): the FapiLog settings are ")]
    [InlineData("FapiLog:flushintervall", "Unknown FapiLog setting FapiLog:flushintervall (did you mean FlushInterval?)")]
    [InlineData("FapiLog:Loki:Lables:app", "Unknown Loki setting FapiLog:Loki:Lables (did you mean Labels?): the Loki settings are ")]
    [InlineData("FapiLog:Colour", "Unknown FapiLog setting FapiLog:Colour: the FapiLog settings are ")]
    [InlineData("FapiLog:Lokki:Url", "Unknown FapiLog setting FapiLog:Lokki (did you mean Loki?)")]
    [InlineData("FapiLog:Lokki:Labels:app", "Unknown FapiLog setting FapiLog:Lokki (did you mean Loki?)")]
    public async Task A_misspelt_key_is_called_unknown_and_the_setting_it_most_likely_meant_is_named(string key, string expected)
    {
        // It read "FapiLog:QueueCapcity: '5000' is not valid; expected a FapiLog setting (...)": the value blamed, not the key;
        // a misspelt section read "'(null)' is not valid; expected a single value, not a section".
        using IHost host = BuildHost(new InMemorySink(), new Dictionary<string, string?> { [key] = "5" });

        FapiLogConfigurationException ex = await Assert.ThrowsAsync<FapiLogConfigurationException>(() => host.StartAsync());
        Assert.StartsWith(expected, ex.Message, StringComparison.Ordinal);
        Assert.NotEqual("5", ex.Value);   // a misspelt key may be a misspelt secret
        Assert.DoesNotContain("HttpMessageHandler", ex.Message, StringComparison.Ordinal);   // set in code only
    }

    [Fact]
    public async Task A_known_key_given_as_a_section_is_still_called_a_single_value()
    {
        using IHost host = BuildHost(new InMemorySink(), new Dictionary<string, string?> { ["FapiLog:QueueCapacity:x"] = "1" });
        FapiLogConfigurationException ex = await Assert.ThrowsAsync<FapiLogConfigurationException>(() => host.StartAsync());
        Assert.Contains("a single value, not a section", ex.Message, StringComparison.Ordinal);
        Assert.Equal("FapiLog:QueueCapacity", ex.Setting);
    }

    [Fact]
    public async Task A_misspelt_section_added_by_a_reload_is_said_without_its_value_and_the_level_stays()
    {
        IHost host = BuildHost(new InMemorySink(), new Dictionary<string, string?> { ["FapiLog:MinimumLevel"] = "Information" });
        using IHost _ = host;
        await host.StartAsync();
        var configuration = (IConfigurationRoot)host.Services.GetRequiredService<IConfiguration>();
        using var stderr = new StderrCapture();

        configuration["FapiLog:MinimumLevel"] = "Debug";
        configuration["FapiLog:Lokki:Password"] = "pa55word";
        configuration.Reload();
        FapiLog.Internal.Stderr.Drain(TimeSpan.FromSeconds(30));

        Assert.Equal(LogLevel.Information, FapiLogging.MinimumLevel);
        string text = stderr.Text;
        Assert.Contains("Unknown FapiLog setting FapiLog:Lokki (did you mean Loki?)", text, StringComparison.Ordinal);
        Assert.DoesNotContain("pa55word", text, StringComparison.Ordinal);
        await host.StopAsync();
    }

    [Fact]
    public async Task A_Loki_Url_given_as_a_section_is_refused_not_ignored()
    {
        // Every other known key given the wrong shape is refused ("a single value, not a section"); Url's own branch read
        // only its value, null for a section, and skipped it: no Loki sink, no error.
        using IHost host = BuildHost(new InMemorySink(), new Dictionary<string, string?> { ["FapiLog:Loki:Url:Primary"] = "http://127.0.0.1:3100" });
        FapiLogConfigurationException ex = await Assert.ThrowsAsync<FapiLogConfigurationException>(() => host.StartAsync());
        Assert.Equal("FapiLog:Loki:Url", ex.Setting);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Two_hosts_given_the_same_file_sink_both_start_and_the_one_left_keeps_writing(bool firstDisposedFirst)
    {
        // A sink given to two hosts of one process (WebApplicationFactory tests): neither host's start may refuse it as
        // disposed, and the host left keeps writing to it once the other is gone.
        string dir = Path.Combine(Path.GetTempPath(), "fapilog-" + Guid.NewGuid().ToString("N"));
        string file = Path.Combine(dir, "app.jsonl");
        var shared = new JsonFileSink(file);
        IHost a = BuildHost(new InMemorySink(), configure: o => o.AddSink(shared));
        IHost b = BuildHost(new InMemorySink(), configure: o => o.AddSink(shared));
        await a.StartAsync();
        a.Services.GetRequiredService<ILogger<HostingTests>>().LogInformation("from a");
        await b.StartAsync();
        b.Services.GetRequiredService<ILogger<HostingTests>>().LogInformation("from b");

        (IHost gone, IHost left) = firstDisposedFirst ? (a, b) : (b, a);
        await gone.StopAsync();
        gone.Dispose();
        left.Services.GetRequiredService<ILogger<HostingTests>>().LogInformation("after one host went");
        Assert.True(FapiLogging.Flush(TimeSpan.FromSeconds(30)));
        await left.StopAsync();
        left.Dispose();

        Assert.Equal(3, File.ReadAllLines(file).Length);
        Assert.Equal(0, FapiLogging.Statistics.Failed);
        Directory.Delete(dir, recursive: true);
    }

    [Theory]
    [InlineData("ftp://user:pa55word@example:3100/")]
    [InlineData("ftp://example:3100/?api_key=pa55word")]
    public async Task A_refused_Loki_url_is_not_echoed_with_its_credentials(string url)
    {
        var sink = new InMemorySink();
        using IHost host = BuildHost(sink, new Dictionary<string, string?> { ["FapiLog:Loki:Url"] = url });

        FapiLogConfigurationException ex = await Assert.ThrowsAsync<FapiLogConfigurationException>(() => host.StartAsync());
        Assert.Equal("FapiLog:Loki:Url", ex.Setting);
        Assert.DoesNotContain("pa55word", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("pa55word", ex.Value ?? string.Empty, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("FapiLog:Loki:Headers", "X-Api-Key=pa55word", "(hidden)")]                       // FAPILOG_LOKI_HEADERS's one-line form
    [InlineData("FapiLog:Loki:BearerTokn", "pa55word", "(hidden)")]                               // a misspelt secret
    [InlineData("FapiLog:Loki:Urll", "http://127.0.0.1:3100", "(hidden)")]                        // any unknown Loki key
    [InlineData("FapiLog:Loki", "https://123456:pa55word@logs.example.net", "(hidden)@logs.example.net")] // a URL given to the section
    [InlineData("FapiLog:LokiUrl", "https://123456:pa55word@logs.example.net", "(hidden)")]        // a misspelt top-level key
    [InlineData("FapiLog:Password", "pa55word", "(hidden)")]                                     // a Loki secret one level too high
    [InlineData("FapiLog:BearerTokn", "pa55word", "(hidden)")]
    [InlineData("FapiLog:Loki:Url", "https://123456:pa55word@logs.example.net", "https://(hidden)@logs.example.net/")] // named by its key, not as Loki.Url
    [InlineData("FapiLog:Loki:Headers:X-Api-Key", "pa55word\u00e9", "X-Api-Key (value hidden)")]          // a header value HttpClient refuses
    public async Task A_refused_value_that_may_be_a_secret_is_not_echoed(string key, string value, string shown)
    {
        using IHost host = BuildHost(new InMemorySink(), new Dictionary<string, string?> { [key] = value });

        FapiLogConfigurationException ex = await Assert.ThrowsAsync<FapiLogConfigurationException>(() => host.StartAsync());
        Assert.Equal(key, ex.Setting);
        Assert.Equal(shown, ex.Value);
        Assert.Contains(key, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("pa55word", ex.Message, StringComparison.Ordinal);
        Assert.False(FapiLogging.IsConfigured);
    }

    [Fact]
    public void A_bad_block_timeout_is_refused_saying_that_infinite_is_taken()
    {
        // BlockTimeout is the one duration that also takes "infinite" (README, appsettings.json); the message for a value
        // that is none of them must say so, or a reader is left with seconds and durations only.
        IConfiguration configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["FapiLog:BlockTimeout"] = "forever" })
            .Build();

        FapiLogConfigurationException ex = Assert.Throws<FapiLogConfigurationException>(
            () => FapiLogConfigurationBinder.Bind(configuration.GetSection(FapiLogConfigurationBinder.SectionName), new FapiLogOptions()));
        Assert.Equal("FapiLog:BlockTimeout", ex.Setting);
        Assert.Equal("forever", ex.Value);
        Assert.Contains("or infinite", ex.Message, StringComparison.Ordinal);

        // The other durations do not take it, and their message does not offer it.
        configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["FapiLog:FlushInterval"] = "infinite" })
            .Build();
        ex = Assert.Throws<FapiLogConfigurationException>(
            () => FapiLogConfigurationBinder.Bind(configuration.GetSection(FapiLogConfigurationBinder.SectionName), new FapiLogOptions()));
        Assert.Equal("FapiLog:FlushInterval", ex.Setting);
        Assert.DoesNotContain("or infinite", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("BlockTimeout", "-0.001")]
    [InlineData("BlockTimeout", "-00:00:00.001")]
    [InlineData("BlockTimeout", "-5")]
    [InlineData("FlushInterval", "-1")]
    public void A_negative_duration_is_refused_naming_the_key(string key, string value)
    {
        // -1 ms is Timeout.InfiniteTimeSpan, which BlockTimeout's validation takes: "-0.001" was read as "block for good",
        // where only the word "infinite" means that.
        IConfiguration configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["FapiLog:" + key] = value })
            .Build();

        FapiLogConfigurationException ex = Assert.Throws<FapiLogConfigurationException>(
            () => FapiLogConfigurationBinder.Bind(configuration.GetSection(FapiLogConfigurationBinder.SectionName), new FapiLogOptions()));
        Assert.Equal("FapiLog:" + key, ex.Setting);
        Assert.Equal(value, ex.Value);
        Assert.Contains("not negative", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_empty_Loki_value_means_not_set_as_for_every_other_key()
    {
        IConfiguration configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["FapiLog:Loki:Url"] = "http://127.0.0.1:3100",
                ["FapiLog:Loki:Tenant"] = "",
                ["FapiLog:Loki:Format"] = " ",
                ["FapiLog:Loki:RequestTimeout"] = "",
            })
            .Build();
        var options = new FapiLogOptions();
        options.Loki.Tenant = "from code";

        FapiLogConfigurationBinder.Bind(configuration.GetSection(FapiLogConfigurationBinder.SectionName), options);

        Assert.Equal(new Uri("http://127.0.0.1:3100"), options.Loki.Url);
        Assert.Equal("from code", options.Loki.Tenant);
        Assert.Equal(LokiFormat.Protobuf, options.Loki.Format);
        Assert.Equal(new LokiOptions().RequestTimeout, options.Loki.RequestTimeout);
    }

    [Fact]
    public void Loki_labels_headers_and_numbers_are_bound_from_the_Loki_section()
    {
        IConfiguration configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["FapiLog:Loki:Labels:team"] = "payments",
                ["FapiLog:Loki:Labels:service_name"] = "checkout",
                ["FapiLog:Loki:Headers:X-Api-Key"] = "k1",
                ["FapiLog:Loki:MaxAttempts"] = "3",
                ["FapiLog:Loki:MaxBatchBytes"] = " 65536 ",
                ["FapiLog:Loki:MaxBufferedBytes"] = "2097152",
                ["FapiLog:Loki:Gzip"] = "true",
            })
            .Build();
        var options = new FapiLogOptions();
        options.Loki.Labels["app"] = "from code";

        FapiLogConfigurationBinder.Bind(configuration.GetSection(FapiLogConfigurationBinder.SectionName), options);

        Assert.Equal(
            new[] { ("app", "from code"), ("service_name", "checkout"), ("team", "payments") },
            options.Loki.Labels.Select(p => (p.Key, p.Value)).OrderBy(p => p.Key, StringComparer.Ordinal));
        Assert.Equal("k1", options.Loki.Headers["x-api-key"]);
        Assert.Equal(3, options.Loki.MaxAttempts);
        Assert.Equal(65536, options.Loki.MaxBatchBytes);
        Assert.Equal(2097152, options.Loki.MaxBufferedBytes);
        Assert.True(options.Loki.Gzip);
    }

    [Theory]
    [InlineData("FapiLog:Loki:MaxAttempts", "three", "FapiLog:Loki:MaxAttempts")]
    [InlineData("FapiLog:Loki:MaxAttempts", "99999999999", "FapiLog:Loki:MaxAttempts")]
    [InlineData("FapiLog:Loki:MaxAttempts:x", "3", "FapiLog:Loki:MaxAttempts")]
    [InlineData("FapiLog:Loki:Labels:team:x", "payments", "FapiLog:Loki:Labels:team")]
    [InlineData("FapiLog:Loki:HttpMessageHandler", "SocketsHttpHandler", "FapiLog:Loki:HttpMessageHandler")]
    [InlineData("FapiLog:Loki:Labels:app-name", "shop", "FapiLog:Loki:Labels:app-name")]                  // once named Loki.Labels
    [InlineData("FapiLog:Loki:Labels:level", "info", "FapiLog:Loki:Labels:level")]
    [InlineData("FapiLog:Loki:Headers:Content-Type", "text/plain", "FapiLog:Loki:Headers:Content-Type")] // once named Loki.Headers
    [InlineData("FapiLog:Loki:Headers:X-Api-Key", "", "FapiLog:Loki:Headers:X-Api-Key")]                 // once sent empty
    public void A_bad_Loki_value_or_section_is_refused_naming_it(string key, string value, string expectedSetting)
    {
        IConfiguration configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { [key] = value })
            .Build();

        FapiLogConfigurationException ex = Assert.Throws<FapiLogConfigurationException>(
            () => FapiLogConfigurationBinder.Bind(configuration.GetSection(FapiLogConfigurationBinder.SectionName), new FapiLogOptions()));
        Assert.Equal(expectedSetting, ex.Setting);
        Assert.Contains(expectedSetting, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bad_environment_variable_fails_the_host_start_naming_it()
    {
        using IHost host = BuildHost(new InMemorySink(), environment: name => name == "FAPILOG_OVERFLOW" ? "sometimes" : null);

        FapiLogConfigurationException ex = await Assert.ThrowsAsync<FapiLogConfigurationException>(() => host.StartAsync());
        Assert.Equal("FAPILOG_OVERFLOW", ex.Setting);
    }

    [Fact]
    public async Task A_log_call_before_the_host_starts_does_not_hide_a_bad_setting()
    {
        using IHost host = BuildHost(new InMemorySink(), new Dictionary<string, string?> { ["FapiLog:BatchSize"] = "0" });
        ILogger logger = host.Services.GetRequiredService<ILogger<HostingTests>>();

        Assert.False(logger.IsEnabled(LogLevel.Critical));
        logger.LogCritical("not logged: the configuration is invalid");

        FapiLogConfigurationException ex = await Assert.ThrowsAsync<FapiLogConfigurationException>(() => host.StartAsync());
        Assert.Equal("BatchSize", ex.Setting);
    }

    [Fact]
    public async Task Stopping_the_host_delivers_every_event_and_disposing_it_shuts_the_pipeline_down()
    {
        var sink = new InMemorySink();
        // Nothing would be delivered before shutdown on its own: the batch never fills and the interval is long.
        IHost host = BuildHost(sink, new Dictionary<string, string?>
        {
            ["FapiLog:QueueCapacity"] = "5000",
            ["FapiLog:BatchSize"] = "5000",
            ["FapiLog:FlushInterval"] = "3600",
        });
        ILogger logger = host.Services.GetRequiredService<ILogger<HostingTests>>();
        IHostApplicationLifetime lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
        // Registered before the host starts, as Program.cs often does: the host runs these after every hosted service has
        // stopped, so a pipeline shut down at that point dropped them.
        lifetime.ApplicationStopped.Register(() => logger.LogInformation("Stopped"));
        await host.StartAsync();
        lifetime.ApplicationStopping.Register(() => logger.LogInformation("Stopping {Count}", 1000));

        for (int i = 0; i < 1000; i++)
        {
            logger.LogInformation("Event {Index}", i);
        }

        Assert.Equal(0, sink.Count);
        await host.StopAsync();

        // The stop delivered everything logged before the last hosted service stopped...
        Assert.Equal(1001, sink.Count);
        for (int i = 0; i < 1000; i++)
        {
            Assert.Equal((long)i, sink.Events[i]["Index"]);
        }

        Assert.Equal("Stopping 1000", sink.Events[1000].Message);
        Assert.False(FapiLogging.CurrentPipeline!.IsShutDown);

        // ...and disposing the host delivers the rest and shuts down.
        logger.LogInformation("While disposing");
        host.Dispose();
        Assert.Equal(new[] { "Stopped", "While disposing" }, sink.Events.Skip(1001).Select(e => e.Message));
        Assert.True(FapiLogging.CurrentPipeline.IsShutDown);
        Assert.True(FapiLogging.CurrentPipeline.Stopped.IsCompleted);
        FapiLogStatistics stats = FapiLogging.Statistics;
        Assert.Equal(1003, stats.Delivered);
        Assert.Equal(0, stats.DroppedQueueFull);
        Assert.Equal(0, stats.DroppedShutdown);

        // After shutdown, calls return at once and are counted, never processed.
        logger.LogInformation("too late");
        Assert.Equal(1, FapiLogging.Statistics.DroppedShutdown);
        Assert.Equal(1003, sink.Count);
    }

    [Fact]
    public async Task A_host_that_still_runs_keeps_logging_after_a_later_host_is_disposed()
    {
        // Two hosts in one process, as parallel integration tests make: the one started last configures the pipeline.
        var sinkA = new InMemorySink();
        var sinkB = new InMemorySink();
        IHost a = BuildHost(sinkA);
        await a.StartAsync();
        IHost b = BuildHost(sinkB);
        await b.StartAsync();
        await b.StopAsync();
        b.Dispose();

        // Once, disposing B shut the pipeline down under A, and A's events were dropped.
        ILogger logger = a.Services.GetRequiredService<ILogger<HostingTests>>();
        logger.LogInformation("From A {N}", 1);
        Assert.False(FapiLogging.CurrentPipeline!.IsShutDown);

        await a.StopAsync();
        Assert.Equal("From A 1", Assert.Single(sinkB.Events).Message);
        a.Dispose();
        Assert.True(FapiLogging.CurrentPipeline.IsShutDown);
        Assert.Equal(0, FapiLogging.Statistics.DroppedShutdown);
        Assert.Empty(sinkA.Events);
    }

    [Fact]
    public async Task The_final_flush_is_not_cut_short_by_a_shorter_host_shutdown_timeout()
    {
        var sink = new SlowSink(TimeSpan.FromMilliseconds(300));
        HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Logging:LogLevel:Microsoft.Hosting.Lifetime"] = "None" });
        builder.Logging.ClearProviders();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromMilliseconds(1));
        builder.AddFapiLog(o =>
        {
            o.Console = false;
            o.AddSink(sink);
            o.BatchSize = 10;
            o.FlushInterval = TimeSpan.FromHours(1);
            o.ShutdownTimeout = TimeSpan.FromSeconds(30);
        });
        using IHost host = builder.Build();
        await host.StartAsync();
        ILogger logger = host.Services.GetRequiredService<ILogger<HostingTests>>();
        for (int i = 0; i < 5; i++)
        {
            logger.LogInformation("Event {Index}", i);
        }

        await host.StopAsync();

        Assert.Equal(5, sink.Count);
        host.Dispose();
        Assert.True(FapiLogging.CurrentPipeline!.Stopped.IsCompleted);
    }

    [Fact]
    public async Task Options_configured_from_a_service_that_needs_the_logger_factory_do_not_deadlock_the_host()
    {
        // The standard options idiom, with a dependency that itself needs logging (a sink built from an HTTP client factory,
        // a sink that reports through an ILogger): the logger factory must not wait on itself through FapiLog's options.
        var sink = new InMemorySink();
        Task<IHost> start = Task.Run(async () =>
        {
            HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
            builder.Logging.ClearProviders();
            builder.AddFapiLog(o => o.Console = false);
            builder.Services.AddOptions<FapiLogOptions>().Configure<ILoggerFactory>((o, loggers) =>
            {
                loggers.CreateLogger("Setup").LogInformation("configuring FapiLog");
                o.AddSink(sink);
            });
            IHost built = builder.Build();
            await built.StartAsync();
            return built;
        });

        // A generous bound that only turns a hang (the failure this test is about) into a failure.
        using IHost host = await start.WaitAsync(TimeSpan.FromSeconds(60));
        host.Services.GetRequiredService<ILogger<HostingTests>>().LogWarning("Logged {N}", 1);
        await host.StopAsync();

        Assert.Contains(sink.Events, e => e.Message == "Logged 1");
    }

    [Fact]
    public async Task A_log_call_made_while_the_options_are_built_is_logged_once_the_pipeline_runs()
    {
        // Before, the call found no pipeline yet (IsEnabled was false on the starting thread) and was lost uncounted.
        var sink = new InMemorySink();
        HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.AddFapiLog(o =>
        {
            o.Console = false;
            o.MinimumLevel = LogLevel.Information;
        });
        builder.Services.AddOptions<FapiLogOptions>().Configure<ILoggerFactory>((o, loggers) =>
        {
            ILogger setup = loggers.CreateLogger("Setup");
            Assert.True(setup.IsEnabled(LogLevel.Warning));
            setup.LogWarning("configuring FapiLog with {Sinks} sink(s)", 1);
            setup.LogDebug("below the configured level: filtered when made again, not logged");
            o.AddSink(sink);
        });
        using IHost host = builder.Build();
        await host.StartAsync();
        await host.StopAsync();

        CapturedLogEvent setupEvent = Assert.Single(sink.Events, e => Equals(e["category"], "Setup"));
        Assert.Equal("configuring FapiLog with 1 sink(s)", setupEvent.Message);
        Assert.Equal(LogLevel.Warning, setupEvent.Level);
        Assert.Equal(1L, setupEvent["Sinks"]);
        Assert.Equal(0, FapiLogging.Statistics.Dropped);
    }

    [Fact]
    public async Task Options_that_wait_for_work_logging_on_another_thread_do_not_deadlock_the_start()
    {
        // An options callback that waits for work that logs on another thread, as a secret fetched synchronously through an
        // HTTP client factory does (its response is logged on a thread-pool thread): that call once waited for the start,
        // which waited for it, and the host never started.
        var sink = new InMemorySink();
        bool finished = false;
        bool enabled = false;
        HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.AddFapiLog(o => o.Console = false);
        builder.Services.AddOptions<FapiLogOptions>().Configure<ILoggerFactory>((o, loggers) =>
        {
            ILogger setup = loggers.CreateLogger("Setup");
            using (setup.BeginScope(new Dictionary<string, object?> { ["Step"] = "secret" }))
            {
                setup.LogInformation("fetching on the {Thread} thread", "starting");
                // The bound only turns the deadlock this test is about into a failure.
                finished = Task.Run(() =>
                {
                    enabled = setup.IsEnabled(LogLevel.Information);
                    setup.LogInformation("fetched on the {Thread} thread", "pool");
                }).Wait(TimeSpan.FromSeconds(10));
            }

            setup.LogInformation("configured");
            o.AddSink(sink);
        });
        using IHost host = builder.Build();
        await host.StartAsync();
        await host.StopAsync();

        Assert.True(finished);
        Assert.True(enabled);
        CapturedLogEvent[] setupEvents = sink.Events.Where(e => Equals(e["category"], "Setup")).ToArray();
        Assert.Equal(["fetching on the starting thread", "fetched on the pool thread", "configured"], setupEvents.Select(e => e.Message));
        // Made again with the scopes of the call, on whichever thread it was made.
        Assert.Equal(["secret", "secret", null], setupEvents.Select(e => e.Fields.FirstOrDefault(f => f.Key == "Step").Value));
        Assert.Equal(0, FapiLogging.Statistics.Dropped);
    }

    [Fact]
    public async Task Log_calls_made_while_the_options_are_built_beyond_what_is_kept_are_counted_as_dropped()
    {
        var sink = new InMemorySink();
        HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.AddFapiLog(o => o.Console = false);
        builder.Services.AddOptions<FapiLogOptions>().Configure<ILoggerFactory>((o, loggers) =>
        {
            ILogger setup = loggers.CreateLogger("Setup");
            for (int i = 0; i < FapiLogPipelineHost.MaxDeferredCalls + 5; i++)
            {
                setup.LogInformation("setup step {Step}", i);
            }

            o.AddSink(sink);
        });
        using IHost host = builder.Build();
        await host.StartAsync();
        await host.StopAsync();

        CapturedLogEvent[] setupEvents = sink.Events.Where(e => e.Message.StartsWith("setup step ", StringComparison.Ordinal)).ToArray();
        Assert.Equal(Enumerable.Range(0, FapiLogPipelineHost.MaxDeferredCalls).Select(i => "setup step " + i), setupEvents.Select(e => e.Message));
        FapiLogStatistics statistics = FapiLogging.Statistics;
        Assert.Equal(5, statistics.DroppedQueueFull);
        Assert.Equal(statistics.Enqueued + statistics.Dropped + statistics.SampledOut, statistics.Attempted);
    }

    [Theory]
    [InlineData(LogLevel.Information)]
    [InlineData(LogLevel.Debug)]
    public async Task Chatter_below_the_level_made_while_the_options_are_built_neither_crowds_out_nor_counts_as_dropped(LogLevel minimumLevel)
    {
        var sink = new InMemorySink();
        HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        // Microsoft's filters let Debug through (as a Development appsettings.json does); FapiLog's level decides.
        builder.Logging.SetMinimumLevel(LogLevel.Trace);
        builder.AddFapiLog(o => o.Console = false);
        builder.Services.AddOptions<FapiLogOptions>().Configure<ILoggerFactory>((o, loggers) =>
        {
            ILogger setup = loggers.CreateLogger("Setup");
            for (int i = 0; i < FapiLogPipelineHost.MaxDeferredCalls; i++)
            {
                setup.LogDebug("chatter {Step}", i);
            }

            for (int i = 0; i < 5; i++)
            {
                setup.LogWarning("warning {Step}", i);
                setup.LogDebug("more chatter {Step}", i);
            }

            o.MinimumLevel = minimumLevel;
            // Room for every call made again at once, and the host's own Debug lines: the queue drops nothing itself here.
            o.QueueCapacity = 4 * FapiLogPipelineHost.MaxDeferredCalls;
            o.AddSink(sink);
        });
        using IHost host = builder.Build();
        await host.StartAsync();
        await host.StopAsync();

        // The chatter filled what is kept while the pipeline starts: the warnings were dropped (counted as queue full) and
        // so was the chatter beyond, although the level the pipeline started with would have filtered it.
        // Not e["category"]: with drops, the pipeline's own EventsDropped warning is among the events, without one.
        string[] messages = sink.Events.Where(e => e.Fields.Any(f => f.Key == "category" && Equals(f.Value, "Setup"))).Select(e => e.Message).ToArray();
        string[] warnings = Enumerable.Range(0, 5).Select(i => "warning " + i).ToArray();
        FapiLogStatistics statistics = FapiLogging.Statistics;
        if (minimumLevel == LogLevel.Information)
        {
            Assert.Equal(warnings, messages);
            Assert.Equal(0, statistics.Dropped);
        }
        else
        {
            // The latest chatter gave way to the warnings, which keep their place among what was kept.
            string[] expected = Enumerable.Range(0, FapiLogPipelineHost.MaxDeferredCalls - 5).Select(i => "chatter " + i).Concat(warnings).ToArray();
            Assert.Equal(expected, messages);
            Assert.Equal(10, statistics.DroppedQueueFull);
        }

        Assert.Equal(statistics.Enqueued + statistics.Dropped + statistics.SampledOut, statistics.Attempted);
    }

    [Fact]
    public async Task Without_a_host_the_provider_starts_the_pipeline_on_first_use()
    {
        var sink = new InMemorySink();
        var services = new ServiceCollection();
        services.AddFapiLog(o =>
        {
            o.Console = false;
            o.AddSink(sink);
        });
        await using ServiceProvider provider = services.BuildServiceProvider();
        ILogger logger = provider.GetRequiredService<ILogger<HostingTests>>();

        Assert.False(FapiLogging.IsConfigured);
        logger.LogInformation("first {N}", 1);
        Assert.True(FapiLogging.IsConfigured);
        Assert.True(FapiLogging.Flush(TimeSpan.FromSeconds(30)));
        Assert.Equal("first 1", Assert.Single(sink.Events).Message);
    }

    [Fact]
    public void The_public_provider_writes_to_a_pipeline_configured_by_hand()
    {
        var sink = new InMemorySink();
        FapiLogging.Configure(o =>
        {
            o.Console = false;
            o.MinimumLevel = LogLevel.Debug;
            o.AddSink(sink);
        });
        using ILoggerFactory factory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(new FapiLogLoggerProvider()));
        ILogger logger = factory.CreateLogger("Manual");

        logger.LogTrace("below MinimumLevel");
        logger.LogDebug("Manual {N}", 1);
        Assert.True(FapiLogging.Shutdown(TimeSpan.FromSeconds(30)));

        CapturedLogEvent e = Assert.Single(sink.Events);
        Assert.Equal("Manual 1", e.Message);
        Assert.Equal("Manual", e["category"]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_sink_still_hung_at_disposal_is_reported_with_the_configured_shutdown_timeout(bool disposeAsync)
    {
        // What a new user sees with the README's appsettings.json and no Loki running: the flush at stop waits
        // ShutdownTimeout in vain, disposal gives up at once, and stderr must name the timeout that was waited.
        var sink = new HungSink();
        IHost host = BuildHost(new InMemorySink(), configure: o =>
        {
            o.AddSink(sink);
            o.FlushInterval = TimeSpan.FromHours(1);
            o.ShutdownTimeout = TimeSpan.FromMilliseconds(250);
        });
        await host.StartAsync();
        host.Services.GetRequiredService<ILogger<HostingTests>>().LogWarning("stuck {N}", 1);

        using var stderr = new StderrCapture();
        await host.StopAsync();
        if (disposeAsync)
        {
            await ((IAsyncDisposable)host).DisposeAsync();   // as WebApplication.Run does
        }
        else
        {
            host.Dispose();
        }

        string reported = stderr.Text;
        Assert.Contains("shutdown did not finish within 0.25 s; 1 event(s) were not delivered", reported, StringComparison.Ordinal);
    }

    /// <summary>A sink that never finishes a batch until it is told to give up.</summary>
    private sealed class HungSink : LogSink
    {
        public override void Write(in LogBatch batch, System.Threading.CancellationToken cancellationToken)
        {
            cancellationToken.WaitHandle.WaitOne();
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>A sink that takes its time per batch, as a remote one would.</summary>
    private sealed class SlowSink : LogSink
    {
        private readonly TimeSpan _delay;
        private int _count;

        public SlowSink(TimeSpan delay) => _delay = delay;

        public int Count => System.Threading.Volatile.Read(ref _count);

        public override void Write(in LogBatch batch, System.Threading.CancellationToken cancellationToken)
        {
            // Simulated I/O latency of a remote sink (not used to synchronize the test).
            System.Threading.Thread.Sleep(_delay);
            System.Threading.Interlocked.Add(ref _count, batch.Count);
        }
    }
}
