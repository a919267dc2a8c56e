using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Numerics;
using System.Text.Json;
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

public static partial class WideLog
{
    // Seven parameters: the generator emits a state struct of its own instead of calling LoggerMessage.Define.
    [LoggerMessage(EventId = 21, Level = LogLevel.Information, Message = "Moved {A} {B} {C} {D} {E} {F} {Note}")]
    public static partial void Moved(ILogger logger, int a, int b, int c, int d, int e, int f, string? note);
}

/// <summary>
/// The message of every ILogger call is what Microsoft's formatter gives for it: each test logs through the FapiLog
/// provider and a <see cref="FormatterRecorder"/> side by side and compares.
/// </summary>
public sealed class BridgeMessageTests : HostingTestBase
{
    [Fact]
    public async Task A_state_that_renders_its_own_way_logs_the_formatter_text_and_keeps_its_fields()
    {
        var (sink, recorder, host) = await Start();
        ILogger logger = host.Services.GetRequiredService<ILogger<BridgeMessageTests>>();

        logger.Log(LogLevel.Information, default, new RequestFinishedState(null, 12.3456789), null, static (s, _) => s.ToString());
        await host.StopAsync();

        CapturedLogEvent e = Assert.Single(sink.Events);
        Assert.Equal("Request finished - 12.3457ms", recorder.Messages.Single());
        Assert.Equal(recorder.Messages.Single(), e.Message);
        Assert.Null(e["ContentType"]);
        Assert.Equal(12.3456789, e["ElapsedMilliseconds"]);
        Assert.Equal(["ContentType", "ElapsedMilliseconds", "category"], e.Fields.Select(f => f.Key).ToArray());
    }

    [Fact]
    public async Task A_formatter_replaced_by_a_decorating_logger_is_followed()
    {
        var (sink, recorder, host) = await Start();
        ILogger logger = new PrefixingLogger(host.Services.GetRequiredService<ILogger<BridgeMessageTests>>());

        logger.LogInformation("Order {OrderId}", 42);
        await host.StopAsync();

        CapturedLogEvent e = Assert.Single(sink.Events);
        Assert.Equal("[shop] Order 42", recorder.Messages.Single());
        Assert.Equal(recorder.Messages.Single(), e.Message);
        Assert.Equal(42L, e["OrderId"]);
    }

    [Fact]
    public async Task A_LoggerMessage_method_with_a_generated_state_logs_the_generated_text()
    {
        var (sink, recorder, host) = await Start();
        ILogger logger = host.Services.GetRequiredService<ILogger<BridgeMessageTests>>();

        WideLog.Moved(logger, 1, 2, 3, 4, 5, 6, null);
        ShippingLog.Shipped(logger, 7, TimeSpan.FromSeconds(1.5), Carrier.Ups, true);
        await host.StopAsync();

        // The generated struct writes nothing for null where the template path would write "(null)".
        Assert.Equal(recorder.Messages, sink.Events.Select(e => e.Message));
        Assert.Equal("Moved 1 2 3 4 5 6 ", sink.Events[0].Message);
        Assert.Equal(6L, sink.Events[0]["F"]);
        Assert.Null(sink.Events[0]["Note"]);

        // Up to six parameters the generator calls LoggerMessage.Define, whose template FapiLog renders itself.
        Assert.Equal("Shipped {OrderId} in {Elapsed} via {Carrier} (express: {Express})", sink.Events[1].Template);
    }

    [Fact]
    public async Task A_format_for_a_value_kept_as_text_is_applied_as_Microsoft_does()
    {
        CultureInfo saved = CultureInfo.CurrentCulture;
        CultureInfo.CurrentCulture = new CultureInfo("de-DE");
        try
        {
            var (sink, recorder, host) = await Start();
            ILogger logger = host.Services.GetRequiredService<ILogger<BridgeMessageTests>>();

            logger.LogInformation("Day {Day:yyyy-MM}, total {Total:N0}, at {Time:t}", new DateOnly(2024, 3, 5), new BigInteger(1234567), new TimeOnly(14, 5));
            logger.LogInformation("Day {Day}", new DateOnly(2024, 3, 5));
            await host.StopAsync();

            Assert.Equal("Day 2024-03, total 1,234,567, at 14:05", recorder.Messages[0]);
            Assert.Equal(recorder.Messages, sink.Events.Select(e => e.Message));
            Assert.Equal("03/05/2024", sink.Events[0]["Day"]);

            // Without a format the template is still rendered by FapiLog.
            Assert.Equal("Day {Day}", sink.Events[1].Template);
        }
        finally
        {
            CultureInfo.CurrentCulture = saved;
        }
    }

    [Fact]
    public async Task A_call_without_values_logs_its_text_as_written()
    {
        var (sink, recorder, host) = await Start();
        ILogger logger = host.Services.GetRequiredService<ILogger<BridgeMessageTests>>();
        Action<ILogger, Exception?> defined = LoggerMessage.Define(LogLevel.Information, new EventId(3), "Defined {{y}}");

        logger.LogInformation("Set {{x}} to 1");
        defined(logger, null);
        await host.StopAsync();

        Assert.Equal("Set {{x}} to 1", recorder.Messages[0]);
        Assert.Equal(recorder.Messages, sink.Events.Select(e => e.Message));
    }

    [Fact]
    public async Task The_formatter_text_is_the_message_and_not_a_field()
    {
        var (sink, _, host) = await Start();
        ILogger logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Custom");

        logger.Log(LogLevel.Information, new EventId(5), "state", null, static (s, _) => "custom text");
        logger.LogInformation("{message} then {message}", "a", "b");
        await host.StopAsync();

        CapturedLogEvent custom = sink.Events[0];
        Assert.Equal("custom text", custom.Message);
        Assert.Equal(["category"], custom.Fields.Select(f => f.Key).ToArray());
        Assert.DoesNotContain("_message", custom.Json, StringComparison.Ordinal);

        CapturedLogEvent repeated = sink.Events[1];
        Assert.Equal("a then b", repeated.Message);
        Assert.Equal(["_message", "category"], repeated.Fields.Select(f => f.Key).ToArray());
        Assert.Equal("a", repeated["_message"]);
        AssertUniqueMembers(repeated.Json);
    }

    [Fact]
    public async Task Renamed_reserved_fields_never_collide_with_other_fields()
    {
        var (sink, _, host) = await Start();
        ILogger logger = host.Services.GetRequiredService<ILogger<BridgeMessageTests>>();

        logger.LogInformation("{message} and {_message}", "a", "b");
        using (logger.BeginScope(new Dictionary<string, object?> { ["level"] = "scope level", ["_level"] = "scope _level" }))
        {
            logger.LogInformation("Plain {N}", 1);
        }

        await host.StopAsync();

        CapturedLogEvent first = sink.Events[0];
        Assert.Equal("a and b", first.Message);
        Assert.Equal("b", first["_message"]);
        Assert.Equal("a", first["__message"]);
        AssertUniqueMembers(first.Json);

        CapturedLogEvent second = sink.Events[1];
        Assert.Equal("scope _level", second["_level"]);
        Assert.Equal("scope level", second["__level"]);
        AssertUniqueMembers(second.Json);
    }

    [Fact]
    public async Task Calls_without_values_share_one_shape_and_leave_the_cache_to_templates()
    {
        var (sink, _, host) = await Start(new Dictionary<string, string?> { ["FapiLog:QueueCapacity"] = "10000" });
        ILogger logger = host.Services.GetRequiredService<ILogger<BridgeMessageTests>>();
        FapiLogLoggerProvider provider = Provider(host);

        for (int i = 0; i < DescriptorCache.MaxEntries; i++)
        {
            logger.LogInformation($"user {i} logged in");
        }

        int afterInterpolated = provider.Descriptors.Count;
        logger.LogInformation("Order {OrderId}", 1);
        logger.LogInformation("Order {OrderId}", 2);
        await host.StopAsync();

        Assert.Equal(1, afterInterpolated);
        Assert.Equal(2, provider.Descriptors.Count);
        Assert.Equal("user 4095 logged in", sink.Events[DescriptorCache.MaxEntries - 1].Message);
        Assert.Same(sink.Events[^2].Template, sink.Events[^1].Template);
    }

    private static void AssertUniqueMembers(string json)
    {
        using var document = JsonDocument.Parse(json);
        string[] names = document.RootElement.EnumerateObject().Select(p => p.Name).ToArray();
        Assert.Equal(names.Distinct(StringComparer.Ordinal).Count(), names.Length);
    }

    private static async Task<(InMemorySink Sink, FormatterRecorder Recorder, IHost Host)> Start(Dictionary<string, string?>? settings = null)
    {
        var sink = new InMemorySink();
        var recorder = new FormatterRecorder();
        IHost host = BuildHost(sink, settings, alongside: recorder);
        await host.StartAsync();
        return (sink, recorder, host);
    }

    /// <summary>What Microsoft's formatter gives for each call: the reference the bridge's messages must equal.</summary>
    private sealed class FormatterRecorder : ILoggerProvider
    {
        public List<string> Messages { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Recorder(this);

        public void Dispose()
        {
        }

        private sealed class Recorder(FormatterRecorder owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull
                => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
                => owner.Messages.Add(formatter(state, exception));
        }
    }

    /// <summary>A logger that decorates another and changes the formatter, passing Microsoft's state on.</summary>
    private sealed class PrefixingLogger(ILogger inner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull
            => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => inner.Log(logLevel, eventId, state, exception, (s, e) => "[shop] " + formatter(s, e));
    }

    /// <summary>
    /// A state like ASP.NET Core's request-finished line: a template, and a ToString that writes "-" for a missing value
    /// and four decimals for the duration, which is what Microsoft's providers print.
    /// </summary>
    private sealed class RequestFinishedState(string? contentType, double elapsedMilliseconds) : IReadOnlyList<KeyValuePair<string, object?>>
    {
        public int Count => 3;

        public KeyValuePair<string, object?> this[int index] => index switch
        {
            0 => new("ContentType", contentType),
            1 => new("ElapsedMilliseconds", elapsedMilliseconds),
            2 => new("{OriginalFormat}", "Request finished {ContentType} {ElapsedMilliseconds}ms"),
            _ => throw new ArgumentOutOfRangeException(nameof(index)),
        };

        public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
        {
            for (int i = 0; i < Count; i++)
            {
                yield return this[i];
            }
        }

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString()
            => "Request finished " + (string.IsNullOrEmpty(contentType) ? "-" : contentType) + " "
                + elapsedMilliseconds.ToString("0.0000", CultureInfo.InvariantCulture) + "ms";
    }
}
