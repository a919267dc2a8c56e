using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Threading.Tasks;
using FapiLog.Hosting.Tests.Support;
using FapiLog.Sinks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xunit;

namespace FapiLog.Hosting.Tests;

/// <summary>Names that come from outside (header names as scope keys, state keys, categories, event names) through the bridge.</summary>
public sealed class BridgeHostileTests : HostingTestBase
{
    /// <summary>A state that is its own key/value list, the way a library might log a request's headers.</summary>
    private sealed class PairsState(IReadOnlyList<KeyValuePair<string, object?>> pairs) : IReadOnlyList<KeyValuePair<string, object?>>
    {
        public KeyValuePair<string, object?> this[int index] => pairs[index];

        public int Count => pairs.Count;

        public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => pairs.GetEnumerator();

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString() => "headers";
    }

    private static readonly string[] s_hostileKeys =
    [
        "message", "timestamp", "level", "event", "event_id", "exception", "trace_id", "span_id", "category", "_message",
        string.Empty, "say \"hi\"", "back\\slash", "nul\u0000key", "line\nbreak", "lone\uD800high", "lone\uDC00low",
    ];

    [Fact]
    public async Task Hostile_state_and_scope_keys_categories_and_event_names_never_throw_and_make_valid_JSON()
    {
        var sink = new InMemorySink();
        var json = new MemoryStream();
        string folder = Path.Combine(Path.GetTempPath(), "fapilog-bridge-hostile-" + Guid.NewGuid().ToString("N"));
        string file = Path.Combine(folder, "app.jsonl");
        using IHost host = BuildHost(sink, configure: o =>
        {
            o.FilePath = file;
            o.AddSink(new ConsoleSink(json, json: true, colour: false));
        });
        await host.StartAsync();
        ILoggerFactory factory = host.Services.GetRequiredService<ILoggerFactory>();
        ILogger logger = factory.CreateLogger("Category\uD800");

        var scope = s_hostileKeys.Select(k => new KeyValuePair<string, object?>(k, "scope:" + k)).ToList();
        var state = s_hostileKeys.Select(k => new KeyValuePair<string, object?>(k, "state:" + k)).ToList();
        using (logger.BeginScope(scope))
        {
            logger.LogInformation(new EventId(3, "Event\uDC00"), "Request {Path} from {Agent}", "/x", "curl");
            logger.Log(LogLevel.Warning, new EventId(4, "Headers"), new PairsState(state), null, (s, _) => s.ToString());
        }

        await host.StopAsync();
        Assert.Equal(0, FapiLogging.Statistics.Failed);

        Assert.Equal(2, sink.Events.Count);
        string[] lines = Encoding.UTF8.GetString(json.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Concat(File.ReadAllLines(file)).Concat(sink.Events.Select(e => e.Json)).ToArray();
        Assert.Equal(6, lines.Length);
        foreach (string line in lines)
        {
            using JsonDocument doc = JsonDocument.Parse(line);
            JsonElement root = doc.RootElement;
            bool headers = root.GetProperty("event_id").GetInt32() == 4;
            Assert.Equal(headers ? "warning" : "info", root.GetProperty("level").GetString());
            Assert.Equal(headers ? "headers" : "Request /x from curl", root.GetProperty("message").GetString());
            Assert.Equal(headers ? "Headers" : "Event\uFFFD", root.GetProperty("event").GetString());
            Assert.Equal("Category\uFFFD", root.GetProperty("category").GetString());
            Assert.False(root.TryGetProperty("exception", out _));

            // Each member name once, and the hostile names present as renamed or replaced fields.
            string[] names = root.EnumerateObject().Select(p => p.Name).ToArray();
            Assert.Equal(names.Length, names.Distinct(StringComparer.Ordinal).Count());
            string prefix = headers ? "state:" : "scope:";
            // "message" is reserved and "_message" taken by the key of that name, so it becomes "__message".
            Assert.Equal(prefix + "message", root.GetProperty("__message").GetString());
            Assert.Equal(prefix + "_message", root.GetProperty("_message").GetString());
            Assert.Equal(prefix + "timestamp", root.GetProperty("_timestamp").GetString());
            Assert.Equal(prefix + "say \"hi\"", root.GetProperty("say \"hi\"").GetString());
            Assert.Equal(prefix + "nul\u0000key", root.GetProperty("nul\u0000key").GetString());
            Assert.Equal(prefix + "lone\uFFFDhigh", root.GetProperty("lone\uFFFDhigh").GetString());
        }

        Directory.Delete(folder, recursive: true);
    }
    /// <summary>A value whose ToString throws, say a lazily loaded entity whose session has closed.</summary>
    private sealed class Exploding
    {
        public override string ToString() => throw new InvalidOperationException("session closed");
    }

    /// <summary>A sequence whose enumeration throws part way.</summary>
    private sealed class BrokenSequence : System.Collections.IEnumerable
    {
        public System.Collections.IEnumerator GetEnumerator()
        {
            yield return 1;
            throw new InvalidOperationException("collection was modified");
        }
    }

    [Fact]
    public async Task A_value_whose_ToString_throws_in_the_state_or_a_scope_does_not_make_the_ILogger_call_throw()
    {
        var sink = new InMemorySink();
        using IHost host = BuildHost(sink);
        await host.StartAsync();
        ILogger logger = host.Services.GetRequiredService<ILogger<BridgeHostileTests>>();

        using (logger.BeginScope(new Dictionary<string, object?> { ["User"] = new Exploding() }))
        {
            logger.LogInformation("Loaded {Entity} with {Items}", new Exploding(), new BrokenSequence());
        }

        await host.StopAsync();

        CapturedLogEvent e = Assert.Single(sink.Events);
        Assert.Equal("<ToString threw InvalidOperationException: session closed>", e["Entity"]);
        Assert.Equal("<ToString threw InvalidOperationException: collection was modified>", e["Items"]);
        Assert.Equal("<ToString threw InvalidOperationException: session closed>", e["User"]);
        using JsonDocument json = JsonDocument.Parse(e.Json);
    }

    /// <summary>A list whose Count promises more than its indexer gives, and whose formatter fails as well.</summary>
    private sealed class ShortList : IReadOnlyList<KeyValuePair<string, object?>>
    {
        public KeyValuePair<string, object?> this[int index] => index == 0 ? new("Path", "/x") : throw new ArgumentOutOfRangeException(nameof(index));

        public int Count => int.MaxValue;

        public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
        {
            yield return this[0];
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }

    /// <summary>A scope whose enumeration throws part way, as a dictionary changed by another thread does.</summary>
    private sealed class BrokenPairs : IEnumerable<KeyValuePair<string, object?>>
    {
        public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
        {
            yield return new("Tenant", 7);
            throw new InvalidOperationException("collection was modified");
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }

    [Fact]
    public async Task A_state_scope_or_formatter_that_throws_does_not_make_the_ILogger_call_throw()
    {
        var sink = new InMemorySink();
        using IHost host = BuildHost(sink);
        await host.StartAsync();
        ILogger logger = host.Services.GetRequiredService<ILogger<BridgeHostileTests>>();

        using (logger.BeginScope(new BrokenPairs()))
        {
            // More placeholders than values: Microsoft's state throws for the missing one, and so does its formatter.
#pragma warning disable CA2017
            logger.LogInformation("Order {OrderId} for {Customer}", 42);
#pragma warning restore CA2017
            logger.Log(LogLevel.Warning, new EventId(5), new ShortList(), null, (_, _) => throw new FormatException("bad text"));
        }

        await host.StopAsync();

        Assert.Equal(2, sink.Events.Count);
        CapturedLogEvent order = sink.Events[0];
        Assert.StartsWith("Order {OrderId} for {Customer} <formatter threw FormatException: ", order.Message, StringComparison.Ordinal);
        Assert.Equal(42L, order["OrderId"]);
        Assert.Equal(7L, order["Tenant"]);
        Assert.Equal(["OrderId", "category", "Tenant"], order.Fields.Select(f => f.Key).ToArray());

        CapturedLogEvent custom = sink.Events[1];
        Assert.Equal("<formatter threw FormatException: bad text>", custom.Message);
        Assert.Equal("/x", custom["Path"]);
        Assert.Equal(7L, custom["Tenant"]);
        Assert.Equal(0, FapiLogging.Statistics.Failed);
    }
}
