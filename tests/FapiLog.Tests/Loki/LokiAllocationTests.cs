using System;
using System.Diagnostics;
using System.Threading;
using FapiLog.Loki;
using FapiLog.Tests.Support;
using Xunit;

namespace FapiLog.Tests.Loki;

/// <summary>Encoding a batch allocates nothing once the reused buffers have grown (allocation assertions, not timing ones).</summary>
public sealed class LokiAllocationTests
{
    private const int Iterations = 50;

    [Theory]
    [InlineData(LokiFormat.Protobuf)]
    [InlineData(LokiFormat.Json)]
    public void Serializing_a_batch_of_100_events_allocates_nothing_in_steady_state(LokiFormat format)
    {
        LokiBatchEncoder encoder = CreateEncoder(format);
        LogBatch batch = LokiTestEvents.Batch(RealisticBatch(100));

        long[] allocated = Measure(() => SerializeAll(encoder, in batch), out int bytes);

        Assert.True(bytes > 0);
        SteadyState.AssertAllocatesNothing(allocated, "serializing");
    }

    [Fact]
    public void Encoding_json_requests_allocates_nothing_in_steady_state()
    {
        LokiBatchEncoder encoder = CreateEncoder(LokiFormat.Json);
        LogBatch batch = LokiTestEvents.Batch(RealisticBatch(100));

        SteadyState.AssertAllocatesNothing(Measure(() => EncodeAll(encoder, in batch), out _), "encoding");
    }

    [Fact]
    public void Encoding_protobuf_with_snappy_allocates_nothing_in_steady_state()
    {
        LokiBatchEncoder encoder = CreateEncoder(LokiFormat.Protobuf);
        LogBatch batch = LokiTestEvents.Batch(RealisticBatch(100));

        SteadyState.AssertAllocatesNothing(Measure(() => EncodeAll(encoder, in batch), out _), "encoding");
    }

    [Fact]
    public void Entries_out_of_time_order_are_sorted_per_stream_without_allocating()
    {
        // 100 info events in a scrambled order: past the insertion-sort limit, so the reused key array path runs.
        var records = new LogRecord[100];
        var random = new Random(42);
        for (int i = 0; i < records.Length; i++)
        {
            LokiTestEvents.Order(ref records[i], LokiTestEvents.BaseTicks + random.Next(0, 1_000_000), i, "c", 1m);
        }

        LokiBatchEncoder encoder = CreateEncoder(LokiFormat.Protobuf);
        LogBatch batch = LokiTestEvents.Batch(records);
        SteadyState.AssertAllocatesNothing(Measure(() => SerializeAll(encoder, in batch), out _), "sorting and serializing");

        encoder.Prepare(in batch);
        encoder.EncodeNext(0, out ArraySegment<byte> body);
        var request = new ReceivedRequest("POST", "/", new System.Collections.Generic.Dictionary<string, string> { ["Content-Type"] = "application/x-protobuf" }, body.ToArray());
        DecodedStream stream = Assert.Single(request.Decode());
        Assert.Equal(100, stream.Entries.Count);
        for (int i = 1; i < stream.Entries.Count; i++)
        {
            Assert.True(stream.Entries[i - 1].Nanoseconds <= stream.Entries[i].Nanoseconds);
        }
    }

    [Theory]
    [InlineData(LokiFormat.Protobuf, false, 1800)]
    [InlineData(LokiFormat.Json, true, 2050)]
    public void The_sender_allocates_per_push_little_beyond_what_HttpClient_does(LokiFormat format, bool gzip, int maxBytesPerPush)
    {
        // Each push costs what HttpClient allocates per request (the request and its content, header stores, its own token
        // source, the response): about 1.5 KB on .NET 10 (1.8 KB with gzip's stream). The sender added 400-500 B of its
        // own on top (a linked token source and a deadline per request, parsed header objects for values that never
        // change, the User-Agent copied into each request as a parsed value), which the bound leaves no room for. Measured
        // on the sender thread, where the hook runs after each batch, over a real loopback connection.
        using var receiver = new LokiReceiver();
        var options = new LokiOptions { Url = receiver.Url, Format = format, Gzip = gzip, Tenant = "team-a", BearerToken = "tok-456" };
        options.Headers["X-Api-Key"] = "key-123";
        using var sink = new LokiSink(options);
        using var pushed = new SemaphoreSlim(0);
        const int Warmup = 100;
        const int Measured = 200;
        long[] allocated = new long[Warmup + Measured + 1];
        int finished = 0;
        sink._sentForTesting = () =>
        {
            allocated[finished++] = GC.GetAllocatedBytesForCurrentThread();
            pushed.Release();
        };

        LogBatch batch = LokiTestEvents.Batch(RealisticBatch(100));
        for (int i = 0; i <= Warmup + Measured; i++)
        {
            sink.Write(in batch, CancellationToken.None);
            Assert.True(pushed.Wait(LokiReceiver.SafetyTimeout), "the sender did not finish the batch");
        }

        Assert.Equal(0, sink.Statistics.EntriesFailed);
        long perPush = (allocated[Warmup + Measured] - allocated[Warmup]) / Measured;
        Assert.True(perPush <= maxBytesPerPush, $"the sender allocated {perPush} B per push");
    }

    private static LokiBatchEncoder CreateEncoder(LokiFormat format)
        => new(format, gzip: false, maxBatchBytes: 1024 * 1024, maxLineBytes: 256 * 1024, [new("service_name", "checkout"), new("env", "prod")]);

    private delegate int EncodeBatch();

    /// <summary>What each of <see cref="Iterations"/> calls of <paramref name="encode"/> allocates, after 20 to warm up.</summary>
    private static long[] Measure(EncodeBatch encode, out int bytes)
    {
        for (int i = 0; i < 20; i++)
        {
            encode();
        }

        bytes = 0;
        long[] allocated = new long[Iterations];
        for (int i = 0; i < Iterations; i++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            bytes += encode();
            allocated[i] = GC.GetAllocatedBytesForCurrentThread() - before;
        }

        return allocated;
    }

    internal static int EncodeAll(LokiBatchEncoder encoder, in LogBatch batch)
    {
        int count = encoder.Prepare(in batch);
        int bytes = 0;
        for (int from = 0; from < count;)
        {
            from = encoder.EncodeNext(from, out ArraySegment<byte> body);
            bytes += body.Count;
        }

        return bytes;
    }

    internal static int SerializeAll(LokiBatchEncoder encoder, in LogBatch batch)
    {
        int count = encoder.Prepare(in batch);
        int bytes = 0;
        for (int from = 0; from < count;)
        {
            from = encoder.SerializeNext(from, out ArraySegment<byte> body);
            bytes += body.Count;
        }

        return bytes;
    }

    /// <summary>Mixed levels, string, number, decimal, TimeSpan and bool fields, a third with trace context; no exceptions (their ToString allocates).</summary>
    internal static LogRecord[] RealisticBatch(int count)
    {
        var records = new LogRecord[count];
        string[] customers = ["alice", "bob", "carol@example.com", "dave \"the\" user", "éva"];
        for (int i = 0; i < count; i++)
        {
            long ticks = LokiTestEvents.BaseTicks + (i * 1337);
            if (i % 5 == 4)
            {
                LokiTestEvents.Miss(ref records[i], ticks, "cart:" + i, TimeSpan.FromMilliseconds(i), i % 2 == 0);
            }
            else if (i % 3 == 0)
            {
                LokiTestEvents.Order(ref records[i], ticks, 100_000 + i, customers[i % customers.Length], 19.99m + i,
                    ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom());
            }
            else
            {
                LokiTestEvents.Order(ref records[i], ticks, 100_000 + i, customers[i % customers.Length], 5.5m * i);
            }
        }

        return records;
    }
}
