using System;
using System.Buffers;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using BenchmarkDotNet.Attributes;
using FapiLog.Loki;
using Microsoft.Extensions.Logging;

namespace FapiLog.Benchmarks;

/// <summary>
/// Encoding one Loki push of a batch of 100 realistic events (render every line, order the streams, serialize, compress),
/// as the sink does on the worker thread. Run: <c>dotnet run -c Release --project benchmarks/FapiLog.Benchmarks -- --filter '*Loki*' --job short</c>.
/// </summary>
[MemoryDiagnoser]
[MinColumn]
[MedianColumn]
public class LokiEncodingBenchmarks
{
    private const int Events = 100;

    private static readonly LogEventDescriptor s_orderPlaced = new(
        5, "OrderPlaced", LogLevel.Information, "Order {OrderId} placed by {Customer} for {Amount} in {Elapsed}",
        LogArgument.Create<long>("orderId"), LogArgument.Create<string>("customer"), LogArgument.Create<decimal>("amount"), LogArgument.Create<TimeSpan>("elapsed"));

    private static readonly LogEventDescriptor s_cacheMiss = new(
        9, "CacheMiss", LogLevel.Warning, "Cache miss for {Key} (hit ratio {Ratio}, fallback {Fallback})",
        LogArgument.Create<string>("key"), LogArgument.Create<double>("ratio"), LogArgument.Create<bool>("fallback"));

    private static readonly LogEventDescriptor s_requestDone = new(
        12, "RequestFinished", LogLevel.Debug, "HTTP {Method} {Path} answered {Status} for request {RequestId}",
        LogArgument.Create<string>("method"), LogArgument.Create<string>("path"), LogArgument.Create<int>("status"), LogArgument.Create<Guid>("requestId"));

    private readonly LogRecord[] _records = new LogRecord[Events];
    private LokiBatchEncoder _protobuf = null!;
    private LokiBatchEncoder _json = null!;
    private LokiBatchEncoder _jsonGzip = null!;
    private byte[] _serialized = null!;
    private byte[] _snappyOutput = null!;
    private readonly SnappyBlockCompressor _snappy = new();
    private readonly ArrayBufferWriter<char> _messages = new(16 * 1024);

    [GlobalSetup]
    public void Setup()
    {
        KeyValuePair<string, string>[] labels = [new("service_name", "checkout"), new("env", "prod"), new("region", "eu-west-1")];
        _protobuf = new LokiBatchEncoder(LokiFormat.Protobuf, false, 1024 * 1024, 256 * 1024, labels);
        _json = new LokiBatchEncoder(LokiFormat.Json, false, 1024 * 1024, 256 * 1024, labels);
        _jsonGzip = new LokiBatchEncoder(LokiFormat.Json, true, 1024 * 1024, 256 * 1024, labels);

        long ticks = DateTime.UtcNow.Ticks;
        string[] customers = ["alice@example.com", "bob", "carol-the-customer", "dave", "éva"];
        string[] paths = ["/api/orders", "/api/cart/items", "/health", "/api/payments/authorize"];
        for (int i = 0; i < Events; i++)
        {
            ref LogRecord r = ref _records[i];
            r._timestampTicks = ticks + (i * 997);
            if (i % 3 == 0)
            {
                r._traceId = ActivityTraceId.CreateRandom();
                r._spanId = ActivitySpanId.CreateRandom();
            }

            switch (i % 4)
            {
                case 0:
                case 1:
                {
                    r._descriptor = s_orderPlaced;
                    var w = new LogEventWriter(ref r, null, 0, s_orderPlaced);
                    w.Write(1_000_000L + i);
                    w.WriteString(customers[i % customers.Length]);
                    w.Write(19.99m + i);
                    w.Write(TimeSpan.FromMilliseconds(3.5 * i));
                    break;
                }

                case 2:
                {
                    r._descriptor = s_cacheMiss;
                    var w = new LogEventWriter(ref r, null, 0, s_cacheMiss);
                    w.WriteString("product:" + (i * 31));
                    w.Write(0.87 + (i / 1000.0));
                    w.Write(i % 8 == 2);
                    break;
                }

                default:
                {
                    r._descriptor = s_requestDone;
                    var w = new LogEventWriter(ref r, null, 0, s_requestDone);
                    w.WriteString(i % 2 == 0 ? "GET" : "POST");
                    w.WriteString(paths[i % paths.Length]);
                    w.Write(200 + (i % 3 == 0 ? 0 : 1));
                    w.Write(Guid.NewGuid());
                    break;
                }
            }
        }

        PrepareSnappyInput();
    }

    private void PrepareSnappyInput()
    {
        LogBatch batch = Batch;
        _protobuf.Prepare(in batch);
        _protobuf.SerializeNext(0, out ArraySegment<byte> body);
        _serialized = body.AsSpan().ToArray();
        _snappyOutput = new byte[Math.Max(SnappyBlockCompressor.GetMaxCompressedLength(_serialized.Length), Snappier.Snappy.GetMaxCompressedLength(_serialized.Length))];
    }

    private LogBatch Batch => new(_records, 0, Events, -1);

    /// <summary>The default wire format: protobuf + snappy block compression.</summary>
    [Benchmark(Baseline = true, Description = "protobuf+snappy, 100 events")]
    public int ProtobufSnappy() => Encode(_protobuf, compress: true);

    /// <summary>Protobuf serialization alone (no compression): what the sink's own code costs.</summary>
    [Benchmark(Description = "protobuf (no snappy), 100 events")]
    public int ProtobufOnly() => Encode(_protobuf, compress: false);

    /// <summary>Rendering the lines and ordering the entries only.</summary>
    [Benchmark(Description = "lines only, 100 events")]
    public int LinesOnly()
    {
        LogBatch batch = Batch;
        return _protobuf.Prepare(in batch);
    }

    /// <summary>
    /// The messages alone (<see cref="LogRecord.FormatMessage(IBufferWriter{char})"/> into a reused buffer): the
    /// part of every line that each sink renders the same way.
    /// </summary>
    [Benchmark(Description = "messages only, 100 events")]
    public int MessagesOnly()
    {
        _messages.ResetWrittenCount();
        for (int i = 0; i < Events; i++)
        {
            _records[i].FormatMessage(_messages);
        }

        return _messages.WrittenCount;
    }

    /// <summary>Snappy block compression of an already serialized body of the same batch, with the sink's compressor.</summary>
    [Benchmark(Description = "snappy only, 100 events")]
    public int SnappyOnly() => _snappy.Compress(_serialized.AsSpan(), _snappyOutput);

    /// <summary>The same compression with Snappier 1.3.1, the package the sink used before it had its own compressor.</summary>
    [Benchmark(Description = "snappy only (Snappier), 100 events")]
    public int SnappierOnly() => Snappier.Snappy.Compress(_serialized.AsSpan(), _snappyOutput);

    /// <summary>The JSON push format, uncompressed.</summary>
    [Benchmark(Description = "json, 100 events")]
    public int Json() => Encode(_json, compress: true);

    /// <summary>The JSON push format with gzip.</summary>
    [Benchmark(Description = "json+gzip, 100 events")]
    public int JsonGzip() => Encode(_jsonGzip, compress: true);

    private int Encode(LokiBatchEncoder encoder, bool compress)
    {
        LogBatch batch = Batch;
        int count = encoder.Prepare(in batch);
        int bytes = 0;
        for (int from = 0; from < count;)
        {
            ArraySegment<byte> body;
            from = compress ? encoder.EncodeNext(from, out body) : encoder.SerializeNext(from, out body);
            bytes += body.Count;
        }

        return bytes;
    }

    /// <summary>
    /// Throughput per core measured in the worker thread's own CPU time (Linux schedstat), which the other processes of a
    /// shared machine do not inflate the way they inflate wall-clock time. Run:
    /// <c>dotnet run -c Release --project benchmarks/FapiLog.Benchmarks -- --loki-cpu</c>.
    /// </summary>
    public static void MeasureCpuTime(TextWriter output)
    {
        const int Warmup = 3000;
        const int Runs = 20000;
        var b = new LokiEncodingBenchmarks();
        b.Setup();
        (string Name, Func<int> Run)[] cases =
        [
            ("protobuf+snappy", b.ProtobufSnappy), ("protobuf (no snappy)", b.ProtobufOnly), ("lines only", b.LinesOnly),
            ("snappy only", b.SnappyOnly), ("snappy (Snappier)", b.SnappierOnly), ("json", b.Json), ("json+gzip", b.JsonGzip),
        ];

        output.WriteLine($"{"case",-22} {"CPU us/batch",12} {"M events/CPU-s",15} {"wall us/batch",14} {"B/batch",8}");
        foreach ((string name, Func<int> run) in cases)
        {
            for (int i = 0; i < Warmup; i++)
            {
                run();
            }

            long cpu0 = ThreadCpuNanoseconds();
            long wall0 = Stopwatch.GetTimestamp();
            long alloc0 = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < Runs; i++)
            {
                run();
            }

            long alloc = GC.GetAllocatedBytesForCurrentThread() - alloc0;
            double wallUs = Stopwatch.GetElapsedTime(wall0).TotalMicroseconds / Runs;
            double cpuUs = (ThreadCpuNanoseconds() - cpu0) / 1000.0 / Runs;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name,-22} {cpuUs,12:0.0} {Events / cpuUs,15:0.00} {wallUs,14:0.0} {(double)alloc / Runs,8:0.#}"));
        }

        output.WriteLine(
            $"protobuf body of the batch: {b._serialized.Length} B; snappy: {b.SnappyOnly()} B with the sink's compressor, {b.SnappierOnly()} B with Snappier");
    }

    private static long ThreadCpuNanoseconds()
    {
        // /proc/thread-self/schedstat: time on CPU (ns), time waiting for a CPU (ns), timeslices.
        string text = File.ReadAllText("/proc/thread-self/schedstat");
        return long.Parse(text.AsSpan(0, text.IndexOf(' ', StringComparison.Ordinal)), CultureInfo.InvariantCulture);
    }
}
