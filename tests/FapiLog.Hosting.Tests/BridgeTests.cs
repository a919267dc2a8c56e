using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Threading.Tasks;
using FapiLog.Hosting.Tests.Support;
using FapiLog.Sinks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xunit;

namespace FapiLog.Hosting.Tests;

public enum Carrier
{
    Post,
    Ups,
}

public enum Tiny : byte
{
    Zero,
    One,
}

public enum Wide : ulong
{
    Low = 1,
    High = ulong.MaxValue,
}

public enum Signed : short
{
    Minus = -1,
    Plus = 1,
}

public static partial class ShippingLog
{
    [LoggerMessage(EventId = 12, Level = LogLevel.Information, Message = "Shipped {OrderId} in {Elapsed} via {Carrier} (express: {Express})")]
    public static partial void Shipped(ILogger logger, int orderId, TimeSpan elapsed, Carrier carrier, bool express);

    [LoggerMessage(EventId = 13, Level = LogLevel.Error, Message = "Could not ship {OrderId}")]
    public static partial void ShippingFailed(ILogger logger, long orderId, Exception error);
}

public sealed class BridgeTests : HostingTestBase
{
    [Fact]
    public async Task ILogger_call_arrives_with_typed_fields_category_scopes_and_exception()
    {
        var sink = new InMemorySink();
        using IHost host = BuildHost(sink);
        await host.StartAsync();
        ILogger logger = host.Services.GetRequiredService<ILogger<BridgeTests>>();
        var error = new InvalidOperationException("card declined");

        using (logger.BeginScope(new Dictionary<string, object?> { ["RequestId"] = "r-1", ["Tenant"] = 7, ["Customer"] = "outer" }))
        using (logger.BeginScope("checkout"))
        using (logger.BeginScope(new Dictionary<string, object?> { ["Tenant"] = 8 }))
        {
            logger.LogWarning(error, "Order {OrderId} failed for {Customer} at {Amount}", 42L, "alice", 99.50m);
        }

        await host.StopAsync();

        CapturedLogEvent e = Assert.Single(sink.Events);
        Assert.Equal(LogLevel.Warning, e.Level);
        Assert.Equal("Order 42 failed for alice at 99.50", e.Message);
        Assert.Equal("Order {OrderId} failed for {Customer} at {Amount}", e.Template);
        Assert.Equal(42L, e["OrderId"]);
        Assert.Equal("alice", e["Customer"]);
        Assert.Equal(99.50m, e["Amount"]);
        Assert.Equal(typeof(BridgeTests).FullName, e["category"]);
        Assert.Equal("r-1", e["RequestId"]);
        Assert.Equal(8L, e["Tenant"]);
        Assert.Equal("checkout", e["scope"]);
        Assert.Same(error, e.Exception);
        Assert.Equal(
            ["OrderId", "Customer", "Amount", "category", "Tenant", "RequestId", "scope"],
            e.Fields.Select(f => f.Key).ToArray());
        Assert.Contains("\"category\":\"FapiLog.Hosting.Tests.BridgeTests\"", e.Json, StringComparison.Ordinal);
        Assert.Contains("\"exception\":{\"type\":\"System.InvalidOperationException\"", e.Json, StringComparison.Ordinal);
    }

    private static readonly Func<ILogger, long, IDisposable?> s_processingScope = LoggerMessage.DefineScope<long>("Processing order {OrderId}");

    [Fact]
    public async Task A_scope_made_from_a_template_keeps_its_text_beside_its_properties()
    {
        var sink = new InMemorySink();
        using IHost host = BuildHost(sink);
        await host.StartAsync();
        ILogger logger = host.Services.GetRequiredService<ILogger<BridgeTests>>();

        using (logger.BeginScope("Checkout {CartId}", 7))
        using (logger.BeginScope("payment"))
        using (s_processingScope(logger, 42))
        using (logger.BeginScope(new Dictionary<string, object?> { ["Attempt"] = 2 }))
        {
            logger.LogInformation("Charged {Amount}", 9.50m);
        }

        await host.StopAsync();

        // The text the console logger and Serilog show for such scopes, outer first, with the plain ones; the properties
        // stay fields, and "{OriginalFormat}" is none.
        CapturedLogEvent e = Assert.Single(sink.Events);
        Assert.Equal("Checkout 7 => payment => Processing order 42", e["scope"]);
        Assert.Equal(7L, e["CartId"]);
        Assert.Equal(42L, e["OrderId"]);
        Assert.Equal(2L, e["Attempt"]);
        Assert.Equal(["Amount", "category", "Attempt", "OrderId", "CartId", "scope"], e.Fields.Select(f => f.Key).ToArray());
    }

    [Fact]
    public async Task ILogger_calls_follow_a_level_changed_at_run_time()
    {
        var sink = new InMemorySink();
        using IHost host = BuildHost(sink, new Dictionary<string, string?> { ["Logging:LogLevel:Default"] = "Trace" });
        await host.StartAsync();
        ILogger logger = host.Services.GetRequiredService<ILogger<BridgeTests>>();

        Assert.False(logger.IsEnabled(LogLevel.Debug));
        logger.LogDebug("Before {N}", 1);
        FapiLogging.SetMinimumLevel(LogLevel.Debug);
        Assert.True(logger.IsEnabled(LogLevel.Debug));
        logger.LogDebug("After {N}", 2);
        FapiLogging.SetMinimumLevel(LogLevel.Error);
        logger.LogWarning("Quiet {N}", 3);
        await host.StopAsync();

        Assert.Equal("After 2", Assert.Single(sink.Events).Message);
    }

    [Fact]
    public async Task Enums_of_every_underlying_size_arrive_by_name()
    {
        var sink = new InMemorySink();
        using IHost host = BuildHost(sink);
        await host.StartAsync();
        ILogger logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Shop");

        logger.LogInformation("{A} {B} {C} {D}", Tiny.One, Wide.High, Signed.Minus, (Wide)5);
        await host.StopAsync();

        CapturedLogEvent e = Assert.Single(sink.Events);
        Assert.Equal("One High Minus 5", e.Message);
        Assert.Equal("One", e["A"]);
        Assert.Equal("High", e["B"]);
        Assert.Equal("Minus", e["C"]);
        Assert.Equal("5", e["D"]);
    }

    [Fact]
    public void A_run_time_enum_argument_is_described_as_the_generic_factory_describes_it()
    {
        AssertSame(LogArgument.Create<Tiny>("x"), LogArgument.CreateEnum("x", typeof(Tiny)));
        AssertSame(LogArgument.Create<Wide>("x"), LogArgument.CreateEnum("x", typeof(Wide)));
        AssertSame(LogArgument.Create<Signed>("x"), LogArgument.CreateEnum("x", typeof(Signed)));
        AssertSame(LogArgument.Create<Carrier>("x"), LogArgument.CreateEnum("x", typeof(Carrier)));
        Assert.Throws<ArgumentException>(() => LogArgument.CreateEnum("x", typeof(int)));

        static void AssertSame(LogArgument expected, LogArgument actual)
        {
            Assert.Equal(
                (expected.Name, expected.Kind, expected.StorageKind, expected.IsNullable, expected.Size, expected.EnumType),
                (actual.Name, actual.Kind, actual.StorageKind, actual.IsNullable, actual.Size, actual.EnumType));
        }
    }

    [Fact]
    public async Task LoggerMessage_method_arrives_with_typed_fields_event_id_and_name()
    {
        var sink = new InMemorySink();
        using IHost host = BuildHost(sink);
        await host.StartAsync();
        ILogger logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Shop.Shipping");

        ShippingLog.Shipped(logger, 7, TimeSpan.FromSeconds(1.5), Carrier.Ups, true);
        ShippingLog.ShippingFailed(logger, 8, new TimeoutException("carrier down"));
        await host.StopAsync();

        Assert.Equal(2, sink.Count);
        CapturedLogEvent shipped = sink.Events[0];
        Assert.Equal(12, shipped.EventId);
        Assert.Equal("Shipped", shipped.EventName);
        Assert.Equal("Shipped 7 in 00:00:01.5000000 via Ups (express: True)", shipped.Message);
        Assert.Equal(7L, shipped["OrderId"]);
        Assert.Equal(TimeSpan.FromSeconds(1.5), shipped["Elapsed"]);
        Assert.Equal("Ups", shipped["Carrier"]);
        Assert.Equal(true, shipped["Express"]);
        Assert.Equal("Shop.Shipping", shipped["category"]);
        Assert.Contains("\"Elapsed\":\"00:00:01.5000000\"", shipped.Json, StringComparison.Ordinal);
        Assert.Contains("\"Express\":true", shipped.Json, StringComparison.Ordinal);

        CapturedLogEvent failed = sink.Events[1];
        Assert.Equal(LogLevel.Error, failed.Level);
        Assert.Equal(13, failed.EventId);
        Assert.Equal("Could not ship 8", failed.Message);
        Assert.IsType<TimeoutException>(failed.Exception);
    }

    [Fact]
    public async Task Values_of_other_types_are_captured_as_invariant_strings_at_call_time()
    {
        var sink = new InMemorySink();
        using IHost host = BuildHost(sink);
        await host.StartAsync();
        ILogger logger = host.Services.GetRequiredService<ILogger<BridgeTests>>();
        var mutable = new StringBuilder("before");

        logger.LogInformation("Value {Value}, items {Items}, uri {Uri}", mutable, new[] { 1, 2, 3 }, new Uri("http://127.0.0.1:9/x"));
        mutable.Clear().Append("after");
        await host.StopAsync();

        CapturedLogEvent e = Assert.Single(sink.Events);
        Assert.Equal("Value before, items 1, 2, 3, uri http://127.0.0.1:9/x", e.Message);
        Assert.Equal("before", e["Value"]);
        Assert.Equal("1, 2, 3", e["Items"]);
    }

    [Fact]
    public async Task State_without_a_template_logs_the_formatter_text()
    {
        var sink = new InMemorySink();
        using IHost host = BuildHost(sink);
        await host.StartAsync();
        ILogger logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Custom");

        logger.Log(LogLevel.Information, new EventId(5, "CustomEvent"), new CustomState(3), null, static (s, _) => $"custom state #{s.Number}");
        logger.Log(LogLevel.Information, new EventId(6), "plain string state", null, static (s, _) => s.ToUpperInvariant());
        await host.StopAsync();

        Assert.Equal(2, sink.Count);
        CapturedLogEvent custom = sink.Events[0];
        Assert.Equal("custom state #3", custom.Message);
        Assert.Equal(5, custom.EventId);
        Assert.Equal("CustomEvent", custom.EventName);
        Assert.Equal("Custom", custom["category"]);

        CapturedLogEvent plain = sink.Events[1];
        Assert.Equal("PLAIN STRING STATE", plain.Message);
        Assert.Equal("Custom", plain.EventName);
        Assert.Equal(6, plain.EventId);
    }

    [Fact]
    public async Task Positional_and_repeated_placeholders_render_as_Microsoft_formatter_does()
    {
        var sink = new InMemorySink();
        using IHost host = BuildHost(sink);
        await host.StartAsync();
        ILogger logger = host.Services.GetRequiredService<ILogger<BridgeTests>>();

        logger.LogInformation("{A} then {a}", 1, 2);
        logger.LogInformation("{0} and {1}", "x", 5);
        logger.LogInformation("The {category} is {Value}", "books", 3);
        await host.StopAsync();

        Assert.Equal(["1 then 2", "x and 5", "The books is 3"], sink.Events.Select(e => e.Message).ToArray());
        CapturedLogEvent third = sink.Events[2];
        Assert.Equal("books", third["_category"]);
        Assert.Equal(typeof(BridgeTests).FullName, third["category"]);
    }

    [Theory]
    [InlineData("none")]
    [InlineData("list")]
    [InlineData("dictionary")]
    public async Task A_call_once_the_pipeline_runs_allocates_nothing_of_the_bridge_s_own(string scope)
    {
        // A string state has no properties to box and its formatter returns it: what such a call allocates is the bridge's
        // own. Once, a closure kept for calls made during the start was allocated on every call (72 bytes here), and
        // every call inside a Dictionary scope, the most common kind, boxed the dictionary's enumerator (56 bytes).
        var sink = new InMemorySink();
        using IHost host = BuildHost(sink, configure: o => o.QueueCapacity = 10_000);
        await host.StartAsync();
        ILogger logger = Provider(host).CreateLogger("Shop");
        Func<string, Exception?, string> formatter = static (state, _) => state;
        IDisposable? scoped = scope switch
        {
            "list" => logger.BeginScope(new List<KeyValuePair<string, object?>> { new("RequestId", "r-1"), new("Tenant", 7) }),
            "dictionary" => logger.BeginScope(new Dictionary<string, object?> { ["RequestId"] = "r-1", ["Tenant"] = 7 }),
            _ => null,
        };
        for (int i = 0; i < 100; i++)
        {
            logger.Log(LogLevel.Information, new EventId(1), "warm-up", null, formatter);
        }

        const int Calls = 1000;
        long[] allocated = new long[Calls];
        for (int i = 0; i < Calls; i++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            logger.Log(LogLevel.Information, new EventId(1), "measured", null, formatter);
            allocated[i] = GC.GetAllocatedBytesForCurrentThread() - before;
        }

        scoped?.Dispose();
        await host.StopAsync();

        Assert.Equal(100 + Calls, sink.Count);
        FapiLog.Tests.Support.SteadyState.AssertAllocatesNothing(allocated, "the calls");
    }

    [Fact]
    public async Task Descriptors_are_cached_per_shape()
    {
        var sink = new InMemorySink();
        using IHost host = BuildHost(sink);
        await host.StartAsync();
        ILogger logger = host.Services.GetRequiredService<ILogger<BridgeTests>>();
        FapiLogLoggerProvider provider = Provider(host);

        logger.LogInformation("Order {OrderId}", 1);
        int afterFirst = provider.Descriptors.Count;
        for (int i = 2; i <= 50; i++)
        {
            logger.LogInformation("Order {OrderId}", i);
        }

        int afterSameShape = provider.Descriptors.Count;
        logger.LogInformation("Order {OrderId}", "a string this time");
        int afterNewShape = provider.Descriptors.Count;
        await host.StopAsync();

        Assert.Equal(1, afterFirst);
        Assert.Equal(1, afterSameShape);
        Assert.Equal(2, afterNewShape);
        Assert.Equal(51, sink.Count);
        Assert.Equal(Enumerable.Range(1, 50).Select(i => (object)(long)i), sink.Events.Take(50).Select(e => e["OrderId"]));
        Assert.Same(sink.Events[0].Template, sink.Events[49].Template);
    }

    [Fact]
    public async Task MinimumLevel_and_Logging_LogLevel_filters_both_apply()
    {
        var sink = new InMemorySink();
        using IHost host = BuildHost(sink, new Dictionary<string, string?>
        {
            ["FapiLog:MinimumLevel"] = "Information",
            ["Logging:LogLevel:Default"] = "Trace",
            ["Logging:LogLevel:Noisy"] = "Error",
        });
        await host.StartAsync();
        ILoggerFactory factory = host.Services.GetRequiredService<ILoggerFactory>();
        ILogger quiet = factory.CreateLogger("Quiet");
        ILogger noisy = factory.CreateLogger("Noisy");

        Assert.False(quiet.IsEnabled(LogLevel.Debug));
        Assert.True(quiet.IsEnabled(LogLevel.Information));
        Assert.False(noisy.IsEnabled(LogLevel.Warning));
        quiet.LogDebug("dropped by MinimumLevel");
        quiet.LogInformation("kept");
        noisy.LogWarning("dropped by Logging:LogLevel");
        noisy.LogError("kept too");
        await host.StopAsync();

        Assert.Equal(["kept", "kept too"], sink.Events.Select(e => e.Message).ToArray());
    }

    [Theory]
    [InlineData(LogLevel.None)]
    [InlineData(LogLevel.Information)]
    public async Task A_level_past_Critical_is_never_logged_as_None_is_not_even_when_MinimumLevel_is_None(LogLevel minimum)
    {
        var sink = new InMemorySink();
        using IHost host = BuildHost(sink, new Dictionary<string, string?> { ["Logging:LogLevel:Default"] = "Trace" }, o => o.MinimumLevel = minimum);
        await host.StartAsync();
        ILogger logger = host.Services.GetRequiredService<ILogger<BridgeTests>>();

        // MinimumLevel None turns logging off, yet (LogLevel)42 compared above it and was logged, with the level
        // "unknown" on the console and in Loki and "none" in the JSON lines.
        foreach (LogLevel level in new[] { LogLevel.None, (LogLevel)7, (LogLevel)42, (LogLevel)int.MaxValue, (LogLevel)(-1), (LogLevel)int.MinValue })
        {
            Assert.False(logger.IsEnabled(level), level.ToString());
            logger.Log(level, "at level {Level}", (int)level);
        }

        logger.LogCritical("critical");
        await host.StopAsync();

        Assert.Equal(minimum == LogLevel.None ? [] : ["critical"], sink.Events.Select(e => e.Message).ToArray());
        Assert.Equal(minimum == LogLevel.None ? 0 : 1, FapiLogging.Statistics.Attempted);
    }

    [Fact]
    public async Task Events_reach_the_same_pipeline_as_FapiLog_methods()
    {
        var sink = new InMemorySink();
        using IHost host = BuildHost(sink);
        await host.StartAsync();
        ILogger logger = host.Services.GetRequiredService<ILogger<BridgeTests>>();
        var descriptor = new LogEventDescriptor(1, "Direct", LogLevel.Information, "Direct {N}", LogArgument.Create<int>("n"));

        logger.LogInformation("Bridged {N}", 1);
        if (FapiLogRuntime.IsEnabled(LogLevel.Information))
        {
            LogEventWriter w = FapiLogRuntime.Begin(descriptor);
            if (w.IsActive)
            {
                w.Write(2);
                w.Commit();
            }
        }

        await host.StopAsync();
        Assert.Equal(["Bridged 1", "Direct 2"], sink.Events.Select(e => e.Message).ToArray());
        Assert.Equal(2, FapiLogging.Statistics.Delivered);
    }

    private sealed record CustomState(int Number);
}
