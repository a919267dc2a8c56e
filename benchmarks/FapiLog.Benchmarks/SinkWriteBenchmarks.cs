using System;
using System.IO;
using System.Net;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using BenchmarkDotNet.Attributes;
using FapiLog.Loki;
using FapiLog.Sinks;
using Microsoft.Extensions.Logging;

namespace FapiLog.Benchmarks;

/// <summary>
/// Each built-in sink's <see cref="LogSink.Write"/> with one prepared batch of 100 events (a long, a string, a double, a
/// DateTime, a Guid, an enum and a nullable int each), as the worker calls it; the Allocated column is what a batch costs
/// the draining side. Run: <c>dotnet run -c Release --project benchmarks/FapiLog.Benchmarks -- --filter '*SinkWrite*' --job short</c>.
/// </summary>
/// <remarks>
/// The Loki cases write and then wait for the sink's sender to push (<see cref="LokiSink.Flush"/>), against a handler that
/// answers 204 at once: no network, and every thread's allocations count, so the figure is the worker's rendering plus the
/// sender's push, HttpClient's own request objects included. A custom handler takes HttpClient's SendAsync path, which
/// allocates somewhat more than the synchronous socket path the sink uses by default.
/// </remarks>
[MemoryDiagnoser]
public class SinkWriteBenchmarks
{
    private const int Events = 100;

    private static readonly LogEventDescriptor s_mixed = new(
        60, "Mixed", LogLevel.Information, "Order {OrderId} by {Customer} total {Total} at {When} id {Id} on {Day} retry {Retry}",
        LogArgument.Create<long>("orderId"), LogArgument.Create<string>("customer"), LogArgument.Create<double>("total"),
        LogArgument.Create<DateTime>("when"), LogArgument.Create<Guid>("id"), LogArgument.Create<DayOfWeek>("day"),
        LogArgument.Create<int?>("retry"));

    private readonly LogRecord[] _records = new LogRecord[Events];
    private ConsoleSink _text = null!;
    private ConsoleSink _json = null!;
    private JsonFileSink _file = null!;
    private LokiSink _lokiProtobuf = null!;
    private LokiSink _lokiJsonGzip = null!;
    private string _path = null!;

    [GlobalSetup]
    public void Setup()
    {
        long ticks = DateTime.UtcNow.Ticks;
        string[] customers = ["alice@example.com", "bob", "carol-the-customer", "dave", "éva"];
        for (int i = 0; i < Events; i++)
        {
            ref LogRecord r = ref _records[i];
            r._timestampTicks = ticks + (i * 997);
            r._descriptor = s_mixed;
            var w = new LogEventWriter(ref r, null, 0, s_mixed);
            w.Write(1_000_000L + i);
            w.WriteString(customers[i % customers.Length]);
            w.Write(19.99 + i);
            w.Write(new DateTime(ticks + i, DateTimeKind.Utc));
            w.Write(Guid.NewGuid());
            w.Write((DayOfWeek)(i % 7));
            w.WriteNullable(i % 3 == 0 ? null : (int?)i);
        }

        _text = new ConsoleSink(Stream.Null, json: false, colour: false);
        _json = new ConsoleSink(Stream.Null, json: true, colour: false);
        // Rolled at 256 MiB with none kept, so that a long run does not fill the disk; a roll every ~8,000 batches is
        // a few bytes per batch on average.
        _path = Path.Combine(Path.GetTempPath(), "fapilog-bench-" + Guid.NewGuid().ToString("N") + ".jsonl");
        _file = new JsonFileSink(_path, maxBytes: 256L * 1024 * 1024, retainedFiles: 0);
        _lokiProtobuf = Loki(LokiFormat.Protobuf, gzip: false);
        _lokiJsonGzip = Loki(LokiFormat.Json, gzip: true);
    }

    private static LokiSink Loki(LokiFormat format, bool gzip)
    {
        var options = new LokiOptions
        {
            Url = new Uri("http://127.0.0.1:3100"),
            Format = format,
            Gzip = gzip,
            HttpMessageHandler = new NoContentHandler(),
        };
        options.Labels["env"] = "prod";
        return new LokiSink(options);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _text.Dispose();
        _json.Dispose();
        _file.Dispose();
        _lokiProtobuf.Dispose();
        _lokiJsonGzip.Dispose();
        File.Delete(_path);
    }

    private LogBatch Batch => new(_records, 0, Events, -1);

    [Benchmark(Description = "console text, 100 events")]
    public void ConsoleText() => _text.Write(Batch, CancellationToken.None);

    [Benchmark(Description = "console JSON, 100 events")]
    public void ConsoleJson() => _json.Write(Batch, CancellationToken.None);

    [Benchmark(Description = "JSON-lines file, 100 events")]
    public void JsonFile() => _file.Write(Batch, CancellationToken.None);

    [Benchmark(Description = "Loki protobuf+snappy push, 100 events")]
    public void LokiProtobuf() => Push(_lokiProtobuf);

    [Benchmark(Description = "Loki JSON+gzip push, 100 events")]
    public void LokiJsonGzip() => Push(_lokiJsonGzip);

    private void Push(LokiSink sink)
    {
        sink.Write(Batch, CancellationToken.None);
        sink.Flush(CancellationToken.None);
    }

    /// <summary>Answers every push with 204 at once, as Loki does, without a network.</summary>
    private sealed class NoContentHandler : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
            => Task.FromResult(new HttpResponseMessage(HttpStatusCode.NoContent) { RequestMessage = request });
    }
}
