using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Net.Http;
using System.Text;
using System.Text.Json;
using System.Threading;
using FapiLog.Loki;
using FapiLog.Tests.Support;
using Microsoft.Extensions.Logging;
using Xunit;

namespace FapiLog.Tests.Loki;

/// <summary>What the sink puts on the wire, decoded by the receiver with code independent of the sink's encoder.</summary>
public sealed class LokiWireTests
{
    private static LokiOptions Options(LokiReceiver receiver, LokiFormat format = LokiFormat.Protobuf, bool gzip = false)
    {
        var options = new LokiOptions { Url = receiver.Url, Format = format, Gzip = gzip, MinBackoff = TimeSpan.FromMilliseconds(10), MaxBackoff = TimeSpan.FromMilliseconds(50) };
        options.Labels.Clear();
        options.Labels["app"] = "shop";
        options.Labels["env"] = "prod";
        return options;
    }

    [Theory]
    [InlineData(LokiFormat.Protobuf, false)]
    [InlineData(LokiFormat.Json, false)]
    [InlineData(LokiFormat.Json, true)]
    public void A_batch_becomes_one_push_with_streams_per_level_lines_metadata_and_nanosecond_timestamps(LokiFormat format, bool gzip)
    {
        using var receiver = new LokiReceiver();
        using var sink = new LokiSink(Options(receiver, format, gzip));
        ActivityTraceId traceId = ActivityTraceId.CreateRandom();
        ActivitySpanId spanId = ActivitySpanId.CreateRandom();
        var error = new InvalidOperationException("card declined");
        var records = new LogRecord[5];
        long t = LokiTestEvents.BaseTicks;
        // Out of time order within the info stream: the sink must sort them.
        LokiTestEvents.Order(ref records[0], t + 30, 3, "carol", 30m);
        LokiTestEvents.Order(ref records[1], t + 10, 1, "alice", 99.50m, traceId, spanId);
        LokiTestEvents.Payment(ref records[2], t + 20, 2, error);
        LokiTestEvents.Order(ref records[3], t + 20, 2, "bob \"the builder\"", -0.5m);
        LokiTestEvents.Miss(ref records[4], t + 40, "user:7", TimeSpan.FromSeconds(1.5), false);

        sink.Push(LokiTestEvents.Batch(records), CancellationToken.None);

        ReceivedRequest request = Assert.Single(receiver.WaitForRequests(1));
        Assert.Equal("POST", request.Method);
        Assert.Equal("/loki/api/v1/push", request.Path);
        Assert.Equal(format == LokiFormat.Protobuf ? "application/x-protobuf" : "application/json", request.Header("Content-Type"));
        Assert.Equal(gzip ? "gzip" : null, request.Header("Content-Encoding"));

        IReadOnlyList<DecodedStream> streams = request.Decode();
        Assert.Equal(3, streams.Count);
        DecodedStream info = streams.Single(s => s.Labels["level"] == "info");
        DecodedStream errors = streams.Single(s => s.Labels["level"] == "error");
        DecodedStream warnings = streams.Single(s => s.Labels["level"] == "warning");
        foreach (DecodedStream s in streams)
        {
            Assert.Equal(3, s.Labels.Count);
            Assert.Equal("shop", s.Labels["app"]);
            Assert.Equal("prod", s.Labels["env"]);
        }

        if (format == LokiFormat.Protobuf)
        {
            Assert.Equal("{app=\"shop\", env=\"prod\", level=\"info\"}", info.LabelText);
        }

        Assert.Equal([LokiTestEvents.Nanoseconds(t + 10), LokiTestEvents.Nanoseconds(t + 20), LokiTestEvents.Nanoseconds(t + 30)],
            info.Entries.Select(e => e.Nanoseconds));
        Assert.Equal([1L, 2L, 3L], info.Entries.Select(e => e.Json.GetProperty("OrderId").GetInt64()));

        JsonElement first = info.Entries[0].Json;
        Assert.Equal("info", first.GetProperty("level").GetString());
        Assert.Equal("Order 1 placed by alice for 99.50", first.GetProperty("message").GetString());
        Assert.Equal("OrderPlaced", first.GetProperty("event").GetString());
        Assert.Equal(5, first.GetProperty("event_id").GetInt32());
        Assert.Equal(JsonValueKind.Number, first.GetProperty("OrderId").ValueKind);
        Assert.Equal("alice", first.GetProperty("Customer").GetString());
        Assert.Equal(JsonValueKind.Number, first.GetProperty("Amount").ValueKind);
        Assert.Equal(99.50m, first.GetProperty("Amount").GetDecimal());
        Assert.False(first.TryGetProperty("trace_id", out _));
        Assert.Equal(traceId.ToHexString(), info.Entries[0].Metadata["trace_id"]);
        Assert.Equal(spanId.ToHexString(), info.Entries[0].Metadata["span_id"]);
        Assert.Empty(info.Entries[1].Metadata);
        Assert.Equal("bob \"the builder\"", info.Entries[1].Json.GetProperty("Customer").GetString());
        Assert.Equal(-0.5m, info.Entries[1].Json.GetProperty("Amount").GetDecimal());

        DecodedEntry failure = Assert.Single(errors.Entries);
        Assert.Equal(LokiTestEvents.Nanoseconds(t + 20), failure.Nanoseconds);
        JsonElement failed = failure.Json;
        Assert.Equal("error", failed.GetProperty("level").GetString());
        Assert.Equal(7, failed.GetProperty("event_id").GetInt32());
        Assert.Equal("System.InvalidOperationException", failed.GetProperty("exception").GetProperty("type").GetString());
        Assert.Equal("card declined", failed.GetProperty("exception").GetProperty("message").GetString());
        Assert.Contains("card declined", failed.GetProperty("exception").GetProperty("stack").GetString(), StringComparison.Ordinal);

        JsonElement miss = Assert.Single(warnings.Entries).Json;
        Assert.Equal("Cache miss for user:7 after 00:00:01.5000000 (False)", miss.GetProperty("message").GetString());
        Assert.Equal(JsonValueKind.False, miss.GetProperty("Hit").ValueKind);
        Assert.Equal("00:00:01.5000000", miss.GetProperty("Elapsed").GetString());

        LokiStatistics stats = sink.Statistics;
        Assert.Equal(1, stats.RequestsSent);
        Assert.Equal(5, stats.EntriesSent);
        Assert.Equal(request.Body.Length, stats.BytesSent);
        Assert.Equal(0, stats.EntriesFailed);
    }

    [Fact]
    public void Events_whose_text_cannot_be_formatted_as_asked_still_go_out_with_the_rest_of_the_batch()
    {
        // Each of these once threw while the batch was rendered: nothing was pushed and Loki's statistics counted nothing.
        var badFormat = new LogEventDescriptor(9, "BadFormat", LogLevel.Information, "Amount {Amount:Z9}", LogArgument.Create<decimal>("amount"));
        using var receiver = new LokiReceiver();
        using var sink = new LokiSink(Options(receiver, LokiFormat.Protobuf, gzip: false));
        var records = new LogRecord[4];
        long t = LokiTestEvents.BaseTicks;
        LokiTestEvents.Order(ref records[0], t, 1, "alice", 1m);
        LokiTestEvents.Payment(ref records[1], t + 1, 2, new UnreadableException());
        records[2]._timestampTicks = t + 2;
        records[2]._descriptor = badFormat;
        new LogEventWriter(ref records[2], null, 0, badFormat).Write(1.5m);
        LokiTestEvents.Order(ref records[3], t + 3, 4, "dave", 4m);

        sink.Push(LokiTestEvents.Batch(records), CancellationToken.None);

        DecodedEntry[] entries = Assert.Single(receiver.WaitForRequests(1)).AllEntries().OrderBy(e => e.Nanoseconds).ToArray();
        Assert.Equal(4, entries.Length);
        Assert.Equal("<Message threw System.InvalidOperationException>", entries[1].Json.GetProperty("exception").GetProperty("message").GetString());
        Assert.Equal("Amount 1.5", entries[2].Json.GetProperty("message").GetString());
        Assert.Equal(0, sink.Statistics.EntriesFailed);
    }

    [Fact]
    public void The_default_labels_are_service_name_and_level()
    {
        using var receiver = new LokiReceiver();
        var options = new LokiOptions { Url = receiver.Url };
        using var sink = new LokiSink(options);
        sink.Push(LokiTestEvents.Batch(LokiTestEvents.Orders(1)), CancellationToken.None);

        DecodedStream stream = Assert.Single(receiver.WaitForRequests(1)[0].Decode());
        Assert.Equal(2, stream.Labels.Count);
        Assert.Equal("info", stream.Labels["level"]);
        Assert.False(string.IsNullOrEmpty(stream.Labels["service_name"]));
        Assert.Equal(options.Labels["service_name"], stream.Labels["service_name"]);
    }

    [Fact]
    public void Label_values_are_escaped_in_the_protobuf_label_string()
    {
        using var receiver = new LokiReceiver();
        var options = new LokiOptions { Url = receiver.Url };
        options.Labels["path"] = "C:\\logs \"x\"\nnext";
        using var sink = new LokiSink(options);
        sink.Push(LokiTestEvents.Batch(LokiTestEvents.Orders(1)), CancellationToken.None);

        DecodedStream stream = Assert.Single(receiver.WaitForRequests(1)[0].Decode());
        Assert.Equal("C:\\logs \"x\"\nnext", stream.Labels["path"]);
    }

    [Fact]
    public void Tenant_basic_auth_and_extra_headers_are_sent()
    {
        using var receiver = new LokiReceiver();
        LokiOptions options = Options(receiver);
        options.Tenant = "team-a";
        options.Username = "loki-user";
        options.Password = "s3cret-pass";
        options.Headers["X-Api-Key"] = "key-123";
        using var sink = new LokiSink(options);
        sink.Push(LokiTestEvents.Batch(LokiTestEvents.Orders(2)), CancellationToken.None);

        ReceivedRequest request = receiver.WaitForRequests(1)[0];
        Assert.Equal("team-a", request.Header("X-Scope-OrgID"));
        Assert.Equal("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("loki-user:s3cret-pass")), request.Header("Authorization"));
        Assert.Equal("key-123", request.Header("X-Api-Key"));
        Assert.StartsWith("FapiLog/", request.Header("User-Agent"), StringComparison.Ordinal);
    }

    [Fact]
    public void A_bearer_token_is_sent()
    {
        using var receiver = new LokiReceiver();
        LokiOptions options = Options(receiver);
        options.BearerToken = "tok-456";
        using var sink = new LokiSink(options);
        sink.Push(LokiTestEvents.Batch(LokiTestEvents.Orders(1)), CancellationToken.None);

        Assert.Equal("Bearer tok-456", receiver.WaitForRequests(1)[0].Header("Authorization"));
    }

    [Theory]
    [InlineData(LokiFormat.Protobuf)]
    [InlineData(LokiFormat.Json)]
    public void A_batch_over_the_byte_cap_is_split_into_several_requests_without_loss_or_duplicates(LokiFormat format)
    {
        using var receiver = new LokiReceiver();
        LokiOptions options = Options(receiver, format);
        options.MaxBatchBytes = 2048;
        using var sink = new LokiSink(options);
        LogRecord[] records = LokiTestEvents.Orders(60, customerLength: 100);

        sink.Push(LokiTestEvents.Batch(records), CancellationToken.None);

        IReadOnlyList<ReceivedRequest> requests = receiver.Requests;
        Assert.True(requests.Count > 1, $"expected a split, got {requests.Count} request(s)");
        foreach (ReceivedRequest request in requests)
        {
            int bytes = request.AllEntries().Sum(e => Encoding.UTF8.GetByteCount(e.Line));
            Assert.True(bytes <= 2048, $"a request carries {bytes} line bytes");
        }

        List<long> ids = requests.SelectMany(r => r.AllEntries()).Select(e => e.Json.GetProperty("OrderId").GetInt64()).ToList();
        Assert.Equal(Enumerable.Range(1, 60).Select(i => (long)i), ids.Order());
        Assert.Equal(requests.Count, sink.Statistics.RequestsSent);
        Assert.Equal(60, sink.Statistics.EntriesSent);
    }

    [Theory]
    [InlineData(LokiFormat.Protobuf)]
    [InlineData(LokiFormat.Json)]
    public void Entries_with_the_same_timestamp_keep_their_order_when_a_stream_is_sorted(LokiFormat format)
    {
        using var receiver = new LokiReceiver();
        using var sink = new LokiSink(Options(receiver, format));
        // 64 events of one stream (more than the insertion-sort range), racing producers: the pairs come newest first,
        // and the two events of a pair share a timestamp (the clock's 100 ns resolution).
        var records = new LogRecord[64];
        for (int i = 0; i < records.Length; i++)
        {
            LokiTestEvents.Order(ref records[i], LokiTestEvents.BaseTicks + ((64 - (i / 2)) * 10), i, "c", 1m);
        }

        sink.Push(LokiTestEvents.Batch(records), CancellationToken.None);

        List<DecodedEntry> entries = Assert.Single(Assert.Single(receiver.WaitForRequests(1)).Decode()).Entries.ToList();
        Assert.Equal(entries.Select(e => e.Nanoseconds).Order(), entries.Select(e => e.Nanoseconds));
        // Ties stay in the order they were logged: 62, 63, 60, 61, …, 0, 1.
        Assert.Equal(Enumerable.Range(0, 32).Reverse().SelectMany(p => new long[] { 2 * p, (2 * p) + 1 }),
            entries.Select(e => e.Json.GetProperty("OrderId").GetInt64()));
    }

    [Theory]
    [InlineData(LokiFormat.Protobuf)]
    [InlineData(LokiFormat.Json)]
    public void The_same_event_logged_twice_in_one_clock_tick_reaches_Loki_twice(LokiFormat format)
    {
        // Loki keeps one of a stream's entries that have the same timestamp and line (it takes the others for retries of
        // it), and DateTime.UtcNow moves in 100 ns steps while a call takes a few tens of ns: the same event logged in a
        // loop often shares a tick with the one before. Those entries must differ in their timestamps, within the tick.
        using var receiver = new LokiReceiver();
        using var sink = new LokiSink(Options(receiver, format));
        long t = LokiTestEvents.BaseTicks;
        var first = new LogRecord[5];
        LokiTestEvents.Order(ref first[0], t, 1, "same", 1m);
        LokiTestEvents.Order(ref first[1], t, 1, "same", 1m);
        LokiTestEvents.Order(ref first[2], t, 2, "other", 1m);
        LokiTestEvents.Order(ref first[3], t, 1, "same", 1m);
        LokiTestEvents.Order(ref first[4], t + 1, 1, "same", 1m);
        // The next batch starts in the tick the first one ended in, and brings one event from before it (a producer that
        // raced): that one keeps its own time.
        var second = new LogRecord[3];
        LokiTestEvents.Order(ref second[0], t + 1, 1, "same", 1m);
        LokiTestEvents.Order(ref second[1], t - 5, 3, "late", 1m);
        LokiTestEvents.Order(ref second[2], t + 2, 1, "same", 1m);

        sink.Push(LokiTestEvents.Batch(first), CancellationToken.None);
        sink.Push(LokiTestEvents.Batch(second), CancellationToken.None);

        List<DecodedEntry> entries = receiver.WaitForRequests(2).SelectMany(r => r.AllEntries()).ToList();
        Assert.Equal(8, entries.Count);
        Assert.Equal(8, entries.Select(e => (e.Nanoseconds, e.Line)).Distinct().Count());
        // In the order logged (1, 1, 2, 1 in the first tick), one nanosecond apart; the second batch sorted by time.
        Assert.Equal([1L, 1L, 2L, 1L, 1L, 3L, 1L, 1L], entries.Select(e => e.Json.GetProperty("OrderId").GetInt64()));
        long ns = LokiTestEvents.Nanoseconds(t);
        Assert.Equal([ns, ns + 1, ns + 2, ns + 3, ns + 100, ns - 500, ns + 101, ns + 200], entries.Select(e => e.Nanoseconds));
    }

    [Theory]
    [InlineData(LokiFormat.Protobuf)]
    [InlineData(LokiFormat.Json)]
    public void A_raced_event_in_the_next_batch_does_not_take_the_timestamp_of_the_same_event_sent_before(LokiFormat format)
    {
        // X is logged at tick t; then A and B race: B reads the clock first (t), A later (t + 1), but A claims its slot
        // first, and the batch ends between them. B, older than the previous batch's latest, kept its own time, X's, and
        // with X's labels and line Loki kept one of the two.
        using var receiver = new LokiReceiver();
        using var sink = new LokiSink(Options(receiver, format));
        long t = LokiTestEvents.BaseTicks;
        var first = new LogRecord[2];
        LokiTestEvents.Order(ref first[0], t, 1, "same", 1m);
        LokiTestEvents.Order(ref first[1], t + 1, 1, "same", 1m);
        var second = new LogRecord[1];
        LokiTestEvents.Order(ref second[0], t, 1, "same", 1m);

        sink.Push(LokiTestEvents.Batch(first), CancellationToken.None);
        sink.Push(LokiTestEvents.Batch(second), CancellationToken.None);

        // B goes after X within their tick, not after A.
        long ns = LokiTestEvents.Nanoseconds(t);
        List<DecodedEntry> entries = receiver.WaitForRequests(2).SelectMany(r => r.AllEntries()).ToList();
        Assert.Equal([ns, ns + 100, ns + 1], entries.Select(e => e.Nanoseconds));
    }

    [Fact]
    public void More_events_in_one_tick_than_it_has_nanoseconds_stay_distinct_and_in_order()
    {
        // A coarse clock (a test's, or a VM's) can put hundreds of events in one tick: the spread then runs into the next
        // ticks, and the events of those ticks follow it rather than meet it.
        using var receiver = new LokiReceiver();
        using var sink = new LokiSink(Options(receiver));
        long t = LokiTestEvents.BaseTicks;
        var records = new LogRecord[152];
        for (int i = 0; i < 150; i++)
        {
            LokiTestEvents.Order(ref records[i], t, 1, "same", 1m);
        }

        LokiTestEvents.Order(ref records[150], t + 1, 1, "same", 1m);
        LokiTestEvents.Order(ref records[151], t + 3, 1, "same", 1m);

        sink.Push(LokiTestEvents.Batch(records), CancellationToken.None);

        List<long> times = receiver.WaitForRequests(1).SelectMany(r => r.AllEntries()).Select(e => e.Nanoseconds).ToList();
        Assert.Equal(Enumerable.Range(0, 151).Select(i => LokiTestEvents.Nanoseconds(t) + i).Append(LokiTestEvents.Nanoseconds(t + 3)), times);
    }

    [Theory]
    [InlineData("é", 0)]
    [InlineData("€", 0)]
    [InlineData("€", 1)]
    [InlineData("€", 2)]
    [InlineData("😀", 0)] // escaped as a surrogate pair, \uD83D\uDE00: never cut between the two
    [InlineData("😀", 1)]
    [InlineData("😀", 5)]
    [InlineData("😀", 7)]
    [InlineData("\"", 0)] // escaped as \", never cut after the backslash
    [InlineData("\"", 1)]
    [InlineData("\n\u0001", 3)]
    public void A_line_over_the_limit_is_truncated_with_a_marker_and_stays_a_JSON_object(string unit, int pad)
    {
        using var receiver = new LokiReceiver();
        LokiOptions options = Options(receiver);
        options.MaxLineBytes = 300;
        using var sink = new LokiSink(options);
        var records = new LogRecord[2];
        string customer = new string('x', pad) + string.Concat(Enumerable.Repeat(unit, 400));
        LokiTestEvents.Order(ref records[0], LokiTestEvents.BaseTicks, 1, customer, 1m);
        LokiTestEvents.Order(ref records[1], LokiTestEvents.BaseTicks + 1, 2, "short", 1m);

        sink.Push(LokiTestEvents.Batch(records), CancellationToken.None);

        List<DecodedEntry> entries = receiver.WaitForRequests(1)[0].AllEntries().ToList();
        string longLine = entries[0].Line;
        Assert.True(Encoding.UTF8.GetByteCount(longLine) <= 300, $"{Encoding.UTF8.GetByteCount(longLine)} bytes: {longLine}");
        Assert.DoesNotContain('\uFFFD', longLine);
        // Still one JSON object that LogQL's | json can read: level first, the cut value ends with the marker.
        using JsonDocument json = JsonDocument.Parse(longLine);
        Assert.Equal("info", json.RootElement.GetProperty("level").GetString());
        string message = json.RootElement.GetProperty("message").GetString()!;
        Assert.StartsWith("Order 1 placed by " + new string('x', pad), message, StringComparison.Ordinal);
        Assert.Matches(@"… \[truncated by FapiLog, \d+ bytes\]$", message);
        string kept = message.Substring("Order 1 placed by ".Length + pad, message.IndexOf('…', StringComparison.Ordinal) - "Order 1 placed by ".Length - pad);
        // A prefix of the value, never half a surrogate pair.
        Assert.True(kept.Length > 0 && customer.Substring(pad).StartsWith(kept, StringComparison.Ordinal) && !char.IsHighSurrogate(kept[^1]));
        Assert.Equal(2, entries[1].Json.GetProperty("OrderId").GetInt64());
    }

    [Theory]
    [InlineData(@"{""level"":""info"",""a"":12345678901234567890,""b"":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,62,63,64,65,66,67,68,69,70,71,72,73,74,75,76,77,78,79,80,81,82,83,84,85,86,87,88,89,90,91,92,93,94,95,96,97,98,99,100,101,102,103,104,105,106,107,108,109,110,111,112,113,114,115,116,117,118,119,120,121,122,123,124,125,126,127,128,129,130]}")]
    [InlineData(@"{""level"":""info"",""exception"":{""type"":""System.Exception"",""stack"":""" + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" + @"""},""event"":""E""}")]
    [InlineData(@"{""level"":""info"",""n1"":1,""n2"":2,""n3"":3,""n4"":4,""n5"":5,""n6"":6,""n7"":7,""n8"":8,""n9"":9,""n10"":10,""n11"":11,""n12"":12,""n13"":13,""n14"":14,""n15"":15,""n16"":16,""n17"":17,""n18"":18,""n19"":19,""n20"":20,""n21"":21,""n22"":22,""n23"":23,""n24"":24,""n25"":25,""n26"":26,""n27"":27,""n28"":28,""n29"":29,""n30"":30,""n31"":31,""n32"":32,""n33"":33,""n34"":34}")]
    public void Truncation_keeps_any_JSON_object_valid(string text)
    {
        const int max = 256;
        byte[] line = Encoding.UTF8.GetBytes(text);
        Assert.True(line.Length > max);

        int length = LokiBatchEncoder.TruncateJson(line, "… [truncated by FapiLog, 999 bytes]"u8, max);

        string result = Encoding.UTF8.GetString(line, 0, length);
        Assert.True(length <= max, result);
        using JsonDocument json = JsonDocument.Parse(result);
        Assert.Equal("info", json.RootElement.GetProperty("level").GetString());
        Assert.Contains("[truncated by FapiLog, 999 bytes]", result, StringComparison.Ordinal);
    }

    [Fact]
    public void Truncated_lines_stay_JSON_wherever_a_string_value_ends_near_the_limit()
    {
        // Customer names of 100 to 299 characters put the end of a string value at every distance from the limit,
        // including just before it, where a cut inside that string would otherwise run past its closing quote.
        using var receiver = new LokiReceiver();
        using var sink = new LokiSink(new LokiOptions { Url = receiver.Url, MaxAttempts = 1, MaxLineBytes = 300 });
        var records = new LogRecord[200];
        for (int i = 0; i < records.Length; i++)
        {
            LokiTestEvents.Order(ref records[i], LokiTestEvents.BaseTicks + i, i, new string('c', 100 + i), 1m);
        }

        sink.Push(LokiTestEvents.Batch(records), CancellationToken.None);

        List<string> lines = receiver.WaitForRequests(1).SelectMany(r => r.AllEntries()).Select(e => e.Line).ToList();
        Assert.Equal(200, lines.Count);
        foreach (string line in lines)
        {
            Assert.True(Encoding.UTF8.GetByteCount(line) <= 300, line);
            using JsonDocument json = ParseOrFail(line);
            Assert.Equal("info", json.RootElement.GetProperty("level").GetString());
            Assert.Single(json.RootElement.EnumerateObject(), m => m.Value.ValueKind == JsonValueKind.String
                && m.Value.GetString()!.Contains("… [truncated by FapiLog, ", StringComparison.Ordinal));
            // The event name is kept whole, cut with the marker when it is the value that crosses the limit, or left out
            // with what follows it (the marker then ends the message, or has a member of its own).
            if (json.RootElement.TryGetProperty("event", out JsonElement name))
            {
                string value = name.GetString()!;
                int cut = value.IndexOf("… [truncated by FapiLog, ", StringComparison.Ordinal);
                Assert.True(cut < 0 ? value == "OrderPlaced" : "OrderPlaced".StartsWith(value.Substring(0, cut), StringComparison.Ordinal), value);
            }
        }

        // Both kinds occur in these 200 lines: cut inside the message, and ended before a member that did not fit.
        Assert.Contains(lines, l => l.Contains("\"truncated\":", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("\"message\":\"Order", StringComparison.Ordinal) && l.Contains("c… [truncated by FapiLog", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(new[] { "truncated" }, "_truncated")]
    [InlineData(new[] { "truncated", "_truncated" }, "__truncated")]
    public void The_marker_member_of_a_cut_line_takes_a_name_no_field_of_the_event_has(string[] fieldNames, string markerMember)
    {
        // A field called "truncated" (not a reserved name) and the marker's own member gave a line two members of one name
        // when the limit fell just after a number (found by a review).
        var args = fieldNames.Select(LogArgument.Create<bool>).ToList();
        for (int i = 0; i < 30; i++)
        {
            args.Add(LogArgument.Create<long>("n" + i));
        }

        var descriptor = new LogEventDescriptor(1, "Fetched", LogLevel.Information, "Fetched", args.ToArray());
        var records = new LogRecord[1];
        records[0]._timestampTicks = LokiTestEvents.BaseTicks;
        records[0]._descriptor = descriptor;
        var writer = new LogEventWriter(ref records[0], null, 0, descriptor);
        foreach (string _ in fieldNames)
        {
            writer.Write(true);
        }

        for (int i = 0; i < 30; i++)
        {
            writer.Write(1234567890123L);
        }

        using var receiver = new LokiReceiver();
        using var sink = new LokiSink(new LokiOptions { Url = receiver.Url, MaxAttempts = 1, MaxLineBytes = 300 });
        sink.Push(LokiTestEvents.Batch(records), CancellationToken.None);

        string line = receiver.WaitForRequests(1)[0].AllEntries().Single().Line;
        using JsonDocument json = ParseOrFail(line);
        string[] names = json.RootElement.EnumerateObject().Select(m => m.Name).ToArray();
        Assert.True(names.Length == names.Distinct(StringComparer.Ordinal).Count(), line);
        Assert.StartsWith("… [truncated by FapiLog, ", json.RootElement.GetProperty(markerMember).GetString(), StringComparison.Ordinal);
        foreach (string field in fieldNames)
        {
            Assert.True(json.RootElement.GetProperty(field).GetBoolean(), line);
        }
    }

    [Fact]
    public void Truncation_keeps_random_JSON_objects_valid()
    {
        // Seeded, so a failure repeats: nested objects and arrays, multi-byte characters, escapes and escaped surrogate pairs.
        var random = new Random(1);
        string[] units = ["a", "é", "€", "😀", "\\n", "\\\"", "\\u0001", "\\ud83d\\ude00"];
        int truncated = 0;
        for (int i = 0; i < 20_000; i++)
        {
            var text = new StringBuilder("{\"level\":\"info\"");
            int members = random.Next(1, 8);
            for (int m = 0; m < members; m++)
            {
                text.Append(",\"k").Append(m).Append("\":");
                AppendRandomValue(text, random, units, 0);
            }

            text.Append('}');
            byte[] line = Encoding.UTF8.GetBytes(text.ToString());
            int max = random.Next(256, 400);
            if (line.Length <= max)
            {
                continue;
            }

            truncated++;
            int length = LokiBatchEncoder.TruncateJson(line, "… [truncated by FapiLog, 999 bytes]"u8, max);

            Assert.True(length >= 0 && length <= max, $"max {max}, length {length}: {text}");
            string result = Encoding.UTF8.GetString(line, 0, length);
            using JsonDocument json = ParseOrFail(result + "   (from " + text + ")", result);
            Assert.Equal("info", json.RootElement.GetProperty("level").GetString());
        }

        Assert.True(truncated > 1_000, $"only {truncated} lines needed truncating");
    }

    private static JsonDocument ParseOrFail(string line) => ParseOrFail(line, line);

    private static JsonDocument ParseOrFail(string description, string line)
    {
        try
        {
            return JsonDocument.Parse(line);
        }
        catch (JsonException ex)
        {
            throw new Xunit.Sdk.XunitException($"not JSON ({ex.Message}): {description}");
        }
    }

    private static void AppendRandomValue(StringBuilder text, Random random, string[] units, int depth)
    {
        switch (random.Next(depth < 2 ? 5 : 3))
        {
            case 0:
                text.Append(random.Next(0, 1_000_000));
                break;
            case 1:
                text.Append(random.Next(2) == 0 ? "true" : "null");
                break;
            case 2:
                text.Append('"');
                int length = random.Next(0, 120);
                for (int i = 0; i < length; i++)
                {
                    text.Append(units[random.Next(units.Length)]);
                }

                text.Append('"');
                break;
            case 3:
                text.Append('{');
                int members = random.Next(0, 4);
                for (int i = 0; i < members; i++)
                {
                    text.Append(i > 0 ? "," : "").Append("\"n").Append(i).Append("\":");
                    AppendRandomValue(text, random, units, depth + 1);
                }

                text.Append('}');
                break;
            default:
                text.Append('[');
                int items = random.Next(0, 4);
                for (int i = 0; i < items; i++)
                {
                    text.Append(i > 0 ? "," : "");
                    AppendRandomValue(text, random, units, depth + 1);
                }

                text.Append(']');
                break;
        }
    }

    [Fact]
    public void With_the_default_limit_a_line_just_over_Lokis_256KB_is_truncated_not_rejected()
    {
        // Loki's default max_line_size is "256KB", which its flag parser reads as 256,000 bytes (not 256 KiB): a longer
        // line gets a 400 ("line too long") and is lost. This receiver enforces that default.
        const int lokiMaxLineSize = 256_000;
        using var receiver = new LokiReceiver((_, request) => request.AllEntries().Any(e => Encoding.UTF8.GetByteCount(e.Line) > lokiMaxLineSize)
            ? new ResponsePlan(400, Body: "line too long")
            : ResponsePlan.NoContent);
        var options = new LokiOptions { Url = receiver.Url, MaxAttempts = 1 };
        using var sink = new LokiSink(options);
        var records = new LogRecord[1];
        LokiTestEvents.Order(ref records[0], LokiTestEvents.BaseTicks, 1, new string('x', 260_000), 1m);

        sink.Push(LokiTestEvents.Batch(records), CancellationToken.None);

        string line = Assert.Single(Assert.Single(receiver.WaitForRequests(1)).AllEntries()).Line;
        Assert.True(Encoding.UTF8.GetByteCount(line) <= lokiMaxLineSize);
        Assert.Contains(" bytes]", line, StringComparison.Ordinal);
        Assert.Equal(1, sink.Statistics.EntriesSent);
    }

    [Fact]
    public void A_url_with_a_path_prefix_keeps_it()
    {
        var options = new LokiOptions { Url = new Uri("https://gateway.example/tenant-a/") };
        Assert.Equal("https://gateway.example/tenant-a/loki/api/v1/push", options.GetPushUri().ToString());
        options.Url = new Uri("http://localhost:3100/loki/api/v1/push");
        Assert.Equal("http://localhost:3100/loki/api/v1/push", options.GetPushUri().ToString());
        options.Url = new Uri("http://localhost:3100");
        Assert.Equal("http://localhost:3100/loki/api/v1/push", options.GetPushUri().ToString());
    }

    [Theory]
    [InlineData("/loki/api/v1/push/", "/loki/api/v1/push")]
    [InlineData("/loki/api/v1/push//", "/loki/api/v1/push")]
    [InlineData("/loki/", "/loki/loki/api/v1/push")]
    [InlineData("/", "/loki/api/v1/push")]
    public void A_url_with_a_trailing_slash_gets_the_push_path_once(string path, string expected)
    {
        using var receiver = new LokiReceiver();
        var options = new LokiOptions { Url = new Uri(receiver.Url, path) };
        using var sink = new LokiSink(options);

        sink.Push(LokiTestEvents.Batch(LokiTestEvents.Orders(1)), CancellationToken.None);

        Assert.Equal(expected, Assert.Single(receiver.WaitForRequests(1)).Path);
        Assert.Equal(1, sink.Statistics.EntriesSent);
    }
}

/// <summary>A user's own HttpMessageHandler is used (even one that implements only SendAsync) and not disposed by the sink.</summary>
public sealed class LokiHandlerTests
{
    private sealed class TaggingHandler : DelegatingHandler
    {
        public TaggingHandler() : base(new SocketsHttpHandler()) { }

        public bool Disposed { get; private set; }

        protected override System.Threading.Tasks.Task<System.Net.Http.HttpResponseMessage> SendAsync(System.Net.Http.HttpRequestMessage request, CancellationToken cancellationToken)
        {
            request.Headers.TryAddWithoutValidation("X-Through-Handler", "yes");
            return base.SendAsync(request, cancellationToken);
        }

        protected override void Dispose(bool disposing)
        {
            Disposed = true;
            base.Dispose(disposing);
        }
    }

    [Fact]
    public void A_custom_delegating_handler_sees_every_request_and_stays_undisposed()
    {
        using var receiver = new LokiReceiver();
        using var handler = new TaggingHandler();
        var sink = new LokiSink(new LokiOptions { Url = receiver.Url, HttpMessageHandler = handler });
        sink.Push(LokiTestEvents.Batch(LokiTestEvents.Orders(2)), CancellationToken.None);
        sink.Dispose();

        Assert.Equal("yes", receiver.WaitForRequests(1)[0].Header("X-Through-Handler"));
        Assert.Equal(2, sink.Statistics.EntriesSent);
        Assert.False(handler.Disposed);
    }

    [Fact]
    public void A_socket_handler_of_your_own_is_used_synchronously()
    {
        using var receiver = new LokiReceiver();
        using var handler = new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(1) };
        using var sink = new LokiSink(new LokiOptions { Url = receiver.Url, HttpMessageHandler = handler });
        sink.Push(LokiTestEvents.Batch(LokiTestEvents.Orders(2)), CancellationToken.None);

        Assert.Single(receiver.WaitForRequests(1));
        Assert.Equal(2, sink.Statistics.EntriesSent);
    }

    [Fact]
    public void A_push_does_not_carry_the_trace_context_of_the_call_that_started_the_sender()
    {
        // The sender thread starts at the first batch, often within a request (the first log call starts the pipeline).
        // It ran in that call's execution context for good: every push was sent with Activity.Current set to that
        // request's activity, so HttpClient sent a traceparent of a trace that had ended long before.
        using var receiver = new LokiReceiver();
        using var sink = new LokiSink(new LokiOptions { Url = receiver.Url });
        var records = new LogRecord[1];
        LokiTestEvents.Order(ref records[0], LokiTestEvents.BaseTicks, 1, "alice", 1m);
        using (var request = new Activity("request").SetIdFormat(ActivityIdFormat.W3C).Start())
        {
            sink.Push(LokiTestEvents.Batch(records), CancellationToken.None);
        }

        ReceivedRequest push = Assert.Single(receiver.WaitForRequests(1));
        Assert.Null(push.Header("traceparent"));
        Assert.Null(push.Header("Request-Id"));
    }
}
