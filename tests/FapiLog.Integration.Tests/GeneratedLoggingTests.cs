using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Reflection;
using System.Text.Json;
using FapiLog.Sinks;
using Microsoft.Extensions.Logging;
using Xunit;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace FapiLog.Integration.Tests;

/// <summary>Configures the process-wide pipeline once, with an in-memory sink; each test starts from an empty sink.</summary>
public sealed class PipelineFixture
{
    /// <summary>Starts the pipeline with <see cref="Sink"/> as its only sink, at Trace.</summary>
    public PipelineFixture()
    {
        FapiLogging.Configure(o =>
        {
            o.AddSink(Sink);
            o.Console = false;
            o.MinimumLevel = LogLevel.Trace;
        });
    }

    /// <summary>The sink every test reads.</summary>
    public InMemorySink Sink { get; } = new();
}

/// <summary>All tests that use the global pipeline run in this one collection, never in parallel.</summary>
[CollectionDefinition(Name)]
public sealed class PipelineCollection : ICollectionFixture<PipelineFixture>
{
    /// <summary>The collection name.</summary>
    public const string Name = "Global pipeline";
}

/// <summary>Logs through real generated methods into the in-memory sink and checks messages, fields, JSON types and exceptions.</summary>
[Collection(PipelineCollection.Name)]
public sealed class GeneratedLoggingTests
{
    private readonly InMemorySink _sink;

    /// <summary>Drains what earlier tests logged and empties the sink.</summary>
    public GeneratedLoggingTests(PipelineFixture fixture)
    {
        _sink = fixture.Sink;
        Assert.True(FapiLogging.Flush(TimeSpan.FromSeconds(30)));
        _sink.Clear();
    }

    [Fact]
    public void Static_method_renders_message_and_typed_fields()
    {
        Log.OrderPlaced(42, "alice", 99.50m, null);

        CapturedLogEvent e = Single();
        Assert.Equal("Order 42 placed by alice for 99.50", e.Message);
        Assert.Equal(LogLevel.Information, e.Level);
        Assert.Equal(1, e.EventId);
        Assert.Equal("OrderPlaced", e.EventName);
        Assert.Null(e.Exception);
        Assert.Equal(new[] { "OrderId", "Customer", "Amount" }, e.Fields.Select(f => f.Key));
        Assert.Equal(42L, e["OrderId"]);
        Assert.Equal("alice", e["Customer"]);
        Assert.Equal(99.50m, e["Amount"]);

        using JsonDocument json = JsonDocument.Parse(e.Json);
        JsonElement root = json.RootElement;
        Assert.Equal("info", root.GetProperty("level").GetString());
        Assert.Equal("Order 42 placed by alice for 99.50", root.GetProperty("message").GetString());
        Assert.Equal("OrderPlaced", root.GetProperty("event").GetString());
        Assert.Equal(1, root.GetProperty("event_id").GetInt32());
        Assert.Equal(JsonValueKind.Number, root.GetProperty("OrderId").ValueKind);
        Assert.Equal(42, root.GetProperty("OrderId").GetInt64());
        Assert.Equal(JsonValueKind.Number, root.GetProperty("Amount").ValueKind);
        Assert.Equal("99.50", root.GetProperty("Amount").GetRawText());
        Assert.False(root.TryGetProperty("exception", out _));
    }

    [Fact]
    public void Exception_parameter_is_the_events_exception()
    {
        var failure = new InvalidOperationException("card declined");
        Log.PaymentFailed(failure, 7);

        CapturedLogEvent e = Single();
        Assert.Same(failure, e.Exception);
        Assert.Equal("Payment failed for order 7", e.Message);
        Assert.Equal("Payments.Failed", e.EventName);
        Assert.Equal(LogLevel.Error, e.Level);
        Assert.Equal(new[] { "OrderId" }, e.Fields.Select(f => f.Key));

        using JsonDocument json = JsonDocument.Parse(e.Json);
        JsonElement exception = json.RootElement.GetProperty("exception");
        Assert.Equal("System.InvalidOperationException", exception.GetProperty("type").GetString());
        Assert.Equal("card declined", exception.GetProperty("message").GetString());
        Assert.Equal("error", json.RootElement.GetProperty("level").GetString());
    }

    [Fact]
    public void Every_primitive_is_stored_and_typed()
    {
        Log.Primitives(true, 'x', -8, 8, -16, 16, -32, 32, -64, 64, -1, 1, 1.5f, 2.25, 3.75m);

        CapturedLogEvent e = Single();
        Assert.Equal("True x -8 8 -16 16 -32 32 -64 64 -1 1 1.5 2.25 3.75", e.Message);
        using JsonDocument json = JsonDocument.Parse(e.Json);
        JsonElement root = json.RootElement;
        Assert.Equal(JsonValueKind.True, root.GetProperty("B").ValueKind);
        Assert.Equal("x", root.GetProperty("C").GetString());
        foreach (string number in new[] { "Sb", "By", "S", "Us", "I", "Ui", "L", "Ul", "Ni", "Nui", "F", "D", "M" })
        {
            Assert.Equal(JsonValueKind.Number, root.GetProperty(number).ValueKind);
        }

        Assert.Equal(-64, root.GetProperty("L").GetInt64());
        Assert.Equal(64UL, root.GetProperty("Ul").GetUInt64());
        Assert.Equal(2.25, root.GetProperty("D").GetDouble());
        Assert.Equal(3.75m, root.GetProperty("M").GetDecimal());
    }

    [Fact]
    public void Date_time_guid_and_enum_values()
    {
        var when = new DateTime(2026, 5, 1, 10, 20, 30, 123, DateTimeKind.Utc);
        var whenOffset = new DateTimeOffset(2026, 5, 1, 12, 20, 30, TimeSpan.FromHours(2));
        var id = Guid.Parse("6f9619ff-8b86-d011-b42d-00cf4fc964ff");
        Log.Structs(when, whenOffset, TimeSpan.FromSeconds(1.5), id, Tier.Gold);

        CapturedLogEvent e = Single();
        Assert.EndsWith("after 00:00:01.5000000 id 6f9619ff-8b86-d011-b42d-00cf4fc964ff tier Gold", e.Message, StringComparison.Ordinal);
        Assert.Equal(when, e["When"]);
        Assert.Equal(whenOffset, e["WhenOffset"]);
        Assert.Equal(TimeSpan.FromSeconds(1.5), e["Elapsed"]);
        Assert.Equal(id, e["Id"]);
        Assert.Equal("Gold", e["Tier"]);

        using JsonDocument json = JsonDocument.Parse(e.Json);
        JsonElement root = json.RootElement;
        Assert.Equal(when.ToString("O", CultureInfo.InvariantCulture), root.GetProperty("When").GetString());
        Assert.Equal(when, root.GetProperty("When").GetDateTime().ToUniversalTime());
        Assert.Equal(whenOffset, root.GetProperty("WhenOffset").GetDateTimeOffset());
        Assert.Equal("00:00:01.5000000", root.GetProperty("Elapsed").GetString());
        Assert.Equal(id, root.GetProperty("Id").GetGuid());
        Assert.Equal("Gold", root.GetProperty("Tier").GetString());
    }

    [Fact]
    public void Nullable_values_with_and_without_a_value()
    {
        var when = new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc);
        Log.Nullables(5, Tier.Free, when, "bob", false);
        Log.Nullables(null, null, null, null, null);

        Assert.True(FapiLogging.Flush(TimeSpan.FromSeconds(30)));
        CapturedLogEvent[] events = _sink.Events.ToArray();
        Assert.Equal(2, events.Length);
        Assert.StartsWith("5|Free|", events[0].Message, StringComparison.Ordinal);
        Assert.EndsWith("|bob|False", events[0].Message, StringComparison.Ordinal);
        Assert.Equal("(null)|(null)|(null)|(null)|(null)", events[1].Message);

        using JsonDocument withValues = JsonDocument.Parse(events[0].Json);
        Assert.Equal(5, withValues.RootElement.GetProperty("MaybeInt").GetInt32());
        Assert.Equal("Free", withValues.RootElement.GetProperty("MaybeTier").GetString());
        Assert.Equal(when, withValues.RootElement.GetProperty("MaybeWhen").GetDateTime().ToUniversalTime());
        Assert.Equal(JsonValueKind.False, withValues.RootElement.GetProperty("MaybeFlag").ValueKind);

        using JsonDocument nulls = JsonDocument.Parse(events[1].Json);
        foreach (string name in new[] { "MaybeInt", "MaybeTier", "MaybeWhen", "MaybeName", "MaybeFlag" })
        {
            Assert.Equal(JsonValueKind.Null, nulls.RootElement.GetProperty(name).ValueKind);
        }
    }

    [Fact]
    public void Other_types_are_captured_at_call_time_as_invariant_strings()
    {
        var basket = new Basket { Items = 3 };
        CultureInfo previous = CultureInfo.CurrentCulture;
        try
        {
            CultureInfo.CurrentCulture = CultureInfo.GetCultureInfo("de-DE");
            Log.Other(basket, new Money(1234.5m), new Uri("https://example.invalid/a"));
        }
        finally
        {
            CultureInfo.CurrentCulture = previous;
        }

        basket.Items = 99; // mutated before the worker renders the event: must not change what was logged
        CapturedLogEvent e = Single();
        Assert.Equal("Basket(3) costs 1,234.50 EUR", e.Message);
        Assert.Equal("https://example.invalid/a", e["notInTemplate"]);

        using JsonDocument json = JsonDocument.Parse(e.Json);
        Assert.Equal("Basket(3)", json.RootElement.GetProperty("Basket").GetString());
        Assert.Equal("1,234.50 EUR", json.RootElement.GetProperty("Price").GetString());
        Assert.Equal("https://example.invalid/a", json.RootElement.GetProperty("notInTemplate").GetString());
    }

    [Fact]
    public void Format_and_alignment()
    {
        Log.Formatted(99.5m, 7, 0.25, new DateTime(2026, 3, 4, 0, 0, 0, DateTimeKind.Utc));

        Assert.Equal("|     99.50|7     |25 %|2026-03-04|", Single().Message);
    }

    [Fact]
    public void A_format_applies_to_values_kept_as_text()
    {
        // DateOnly, Int128 and a type parameter are kept as their invariant string; the format the
        // template gives them must still apply, as it does in string.Format. A format the type rejects is ignored.
        Log.FormattedText(new DateOnly(2026, 11, 24), 255, new DateOnly(2026, 1, 2), 7, null);
        Measure<double>.Took(3.14159);

        Assert.Equal(
            new[] { "|2026-11-24|    FF|2026-11-24|01/02/2026|7|(null)|", "Took 3.14 ms" },
            Events(2).Select(e => e.Message));
    }

    [Fact]
    public void Sequences_render_as_their_items_as_LoggerMessage_and_the_ILogger_bridge_render_them()
    {
        CultureInfo previous = CultureInfo.CurrentCulture;
        try
        {
            CultureInfo.CurrentCulture = CultureInfo.GetCultureInfo("de-DE");
            // A string is a sequence of chars too, but it is text: an object parameter holding one logs it as it is.
            Log.Sequences(new[] { 1, 2, 3 }, new() { "a", null }, new byte[] { 1, 255 }, new[] { 0.5 }, "hello");
        }
        finally
        {
            CultureInfo.CurrentCulture = previous;
        }

        CapturedLogEvent e = Single();
        Assert.Equal("1, 2, 3 | a, (null) | 1, 255 | 0.5 | hello", e.Message);
        Assert.Equal("1, 2, 3", e["Numbers"]);
    }

    [Fact]
    public void Escaped_braces()
    {
        Log.Escaped(5);

        Assert.Equal("{literal} 5 }", Single().Message);
    }

    [Fact]
    public void Level_none_never_logs()
    {
        Log.Never(1);
        Log.Escaped(2);

        Assert.Equal("{literal} 2 }", Single().Message);
    }

    [Fact]
    public void Twelve_arguments()
    {
        Log.Twelve(1, 2, "three", 4.5, true, 6.25m, Guid.Empty, TimeSpan.FromMinutes(8), "nine", new Uri("https://ten.invalid/"), null, 'z');

        CapturedLogEvent e = Single();
        Assert.Equal(
            "Twelve 1 2 three 4.5 True 6.25 00000000-0000-0000-0000-000000000000 00:08:00 nine https://ten.invalid/ (null) z",
            e.Message);
        Assert.Equal(12, e.Fields.Count);
        Assert.Equal(LogLevel.Trace, e.Level);
    }

    [Fact]
    public void Placeholders_named_like_event_members_do_not_overwrite_them()
    {
        Log.ReservedNames("hello", 3);

        CapturedLogEvent e = Single();
        Assert.Equal("Message hello level 3", e.Message);
        using JsonDocument json = JsonDocument.Parse(e.Json);
        Assert.Equal("info", json.RootElement.GetProperty("level").GetString());
        Assert.Equal("Message hello level 3", json.RootElement.GetProperty("message").GetString());
        Assert.Equal("hello", json.RootElement.GetProperty("_message").GetString());
        Assert.Equal(3, json.RootElement.GetProperty("_level").GetInt32());
    }

    [Fact]
    public void Instance_method_in_a_nested_generic_type()
    {
        var shard = new Repository<Basket>.Shard(2);
        shard.Stored(2, new Basket { Items = 1 });
        shard.Stored(2, null);

        Assert.True(FapiLogging.Flush(TimeSpan.FromSeconds(30)));
        Assert.Equal(
            new[] { "Shard 2 stored Basket(1)", "Shard 2 stored (null)" },
            _sink.Events.Select(e => e.Message));
        Assert.Equal("Stored", _sink.Events[0].EventName);
    }

    [Fact]
    public void A_throwing_ToString_does_not_make_the_log_call_throw()
    {
        // The value is logged as a marker that names the failure, and the call returns normally.
        Log.WithExploding(1, new Exploding());

        CapturedLogEvent e = Single();
        string? logged = e.Fields.Single(f => f.Value is string s && s.StartsWith("<ToString", StringComparison.Ordinal)).Value as string;
        Assert.Equal("<ToString threw InvalidOperationException: ToString failed>", logged);
    }

    [Fact]
    public void Global_namespace_type()
    {
        GlobalNamespaceLog.Hello("world");

        CapturedLogEvent e = Single();
        Assert.Equal("Hello world", e.Message);
        Assert.Equal("world", e["Name"]);
    }

    [Fact]
    public void Generated_module_initializer_registered_the_shutdown_hooks()
    {
        Type? initializer = typeof(GeneratedLoggingTests).Assembly.GetType("FapiLog.Generated.FapiLogModuleInitializer");
        Assert.NotNull(initializer);
        FieldInfo? registered = typeof(FapiLogging).GetField("s_hooksRegistered", BindingFlags.NonPublic | BindingFlags.Static);
        Assert.NotNull(registered);
        Assert.Equal(1, (int)registered.GetValue(null)!);
    }

    private IReadOnlyList<CapturedLogEvent> Events(int count)
    {
        Assert.True(FapiLogging.Flush(TimeSpan.FromSeconds(30)));
        Assert.Equal(count, _sink.Events.Count);
        return _sink.Events;
    }

    private CapturedLogEvent Single()
    {
        Assert.True(FapiLogging.Flush(TimeSpan.FromSeconds(30)));
        return Assert.Single(_sink.Events);
    }
}
