using System;
using System.IO;
using System.Text.Json;
using System.Threading;
using FapiLog.Internal;
using FapiLog.Loki;
using FapiLog.Sinks;
using FapiLog.Tests.Support;
using Microsoft.Extensions.Logging;
using Xunit;

namespace FapiLog.Tests;

/// <summary>
/// What the draining side keeps once a huge event has gone through: its buffers grow to fit the event, and must come back
/// to their steady size instead of staying that large for the life of the process. Checked on the buffers' capacities,
/// not on timing or on the GC's view of the heap.
/// </summary>
public sealed class RetentionTests
{
    /// <summary>Chars of the huge argument and exception text: several times every buffer's retention limit.</summary>
    internal const int HugeChars = 4_000_000;

    internal static readonly LogEventDescriptor Payload = new(
        80, "Payload", LogLevel.Error, "Payload {Payload}", LogArgument.Create<string>("payload"));

    /// <summary>An exception whose text is huge, as a deep chain of wrapped exceptions or a huge message makes it.</summary>
    internal sealed class HugeException : Exception
    {
        public HugeException()
            : base("huge")
        {
        }

        public override string ToString() => new('e', HugeChars);
    }

    /// <summary>A record of <see cref="Payload"/> with <paramref name="payload"/> and <paramref name="error"/>, as generated code writes it.</summary>
    internal static void Write(ref LogRecord record, string payload, Exception? error = null)
    {
        record._timestampTicks = DateTime.UtcNow.Ticks;
        record._descriptor = Payload;
        record._exception = null;
        record._traceId = default;
        record._spanId = default;
        var writer = new LogEventWriter(ref record, null, 0, Payload);
        writer.WriteString(payload);
        writer.SetException(error);
    }

    internal static LogBatch Normal()
    {
        var records = new LogRecord[3];
        for (int i = 0; i < records.Length; i++)
        {
            Write(ref records[i], "normal " + i);
        }

        return new LogBatch(records, 0, records.Length, -1);
    }

    /// <summary>One event with a huge argument and one with a huge exception text, between two ordinary ones.</summary>
    internal static LogBatch Huge()
    {
        var records = new LogRecord[4];
        Write(ref records[0], "before");
        Write(ref records[1], new string('x', HugeChars));
        Write(ref records[2], "failed", new HugeException());
        Write(ref records[3], "after");
        return new LogBatch(records, 0, records.Length, -1);
    }

    [Theory]
    [InlineData("text")]
    [InlineData("json")]
    [InlineData("file")]
    public void A_huge_event_leaves_the_stream_sinks_buffers_at_their_steady_size_after_the_next_batch(string kind)
    {
        string path = Path.Combine(Path.GetTempPath(), "fapilog-retention-" + Guid.NewGuid().ToString("N") + ".jsonl");
        var output = new MemoryStream();
        StreamSink sink = kind switch
        {
            "text" => new ConsoleSink(output, json: false, colour: false),
            "json" => new ConsoleSink(output, json: true, colour: false),
            _ => new JsonFileSink(path),
        };
        try
        {
            sink.Write(Normal(), CancellationToken.None);
            long steady = sink.RetainedBufferBytes;

            sink.Write(Huge(), CancellationToken.None);
            long grown = sink.RetainedBufferBytes;
            Assert.True(grown > 4L * ByteBuffer.MaxRetainedBytes, $"the huge batch grew the buffers to {grown} B only");

            sink.Write(Normal(), CancellationToken.None);
            long after = sink.RetainedBufferBytes;
            Assert.True(after <= steady, $"after a huge event and an ordinary batch the sink keeps {after} B of buffers; {steady} B before it");

            // The huge event was delivered whole (the stream sinks do not truncate), and the lines around it are intact.
            string[] lines = ReadLines(kind == "file" ? File.ReadAllBytes(path) : output.ToArray(), kind);
            Assert.Equal(10, lines.Length);
            if (kind == "text")
            {
                Assert.Contains(new string('x', HugeChars), lines[4], StringComparison.Ordinal);
                Assert.Contains(new string('e', HugeChars), lines[5], StringComparison.Ordinal);
                Assert.EndsWith("Payload: Payload after", lines[6], StringComparison.Ordinal);
            }
            else
            {
                Assert.Equal("Payload " + new string('x', HugeChars), JsonDocument.Parse(lines[4]).RootElement.GetProperty("message").GetString());
                Assert.Equal(HugeChars, JsonDocument.Parse(lines[5]).RootElement.GetProperty("exception").GetProperty("stack").GetString()!.Length);
                Assert.Equal("after", JsonDocument.Parse(lines[6]).RootElement.GetProperty("Payload").GetString());
            }
        }
        finally
        {
            sink.Dispose();
            File.Delete(path);
        }
    }

    /// <summary>The events' lines: the text format continues an event on indented lines, which are joined back to it.</summary>
    private static string[] ReadLines(byte[] bytes, string kind)
    {
        string text = System.Text.Encoding.UTF8.GetString(bytes).TrimEnd('\n');
        if (kind == "text")
        {
            text = text.Replace("\n    ", " ", StringComparison.Ordinal);
        }

        return text.Split('\n');
    }

    private static readonly LogEventDescriptor Aligned = new(
        81, "Aligned", LogLevel.Information, "Value [{Value,12}]", LogArgument.Create<string>("value"));

    /// <summary>Records, on the worker thread, the capacity of its scratch buffer for aligned values when a batch reaches it.</summary>
    private sealed class ScratchProbe : LogSink
    {
        public int Capacity;

        public override void Write(in LogBatch batch, CancellationToken cancellationToken) => Capacity = MessageRenderer.ScratchCapacity;
    }

    [Fact]
    public void A_huge_aligned_value_leaves_the_workers_scratch_buffer_at_its_steady_size_after_the_next_batch()
    {
        // An aligned placeholder ({Value,12}) renders its value into a per-thread scratch buffer first, to measure it: a
        // huge value grew the worker thread's buffer, and the thread kept it.
        var probe = new ScratchProbe();
        var pipeline = new LogPipeline(TestLog.Options(), [new ConsoleSink(Stream.Null, json: false, colour: false), probe]);
        try
        {
            void Log(string value)
            {
                LogEventWriter w = FapiLogRuntime.Begin(pipeline.Queue, Aligned, captureTraceContext: false);
                Assert.True(w.IsActive);
                w.WriteString(value);
                w.Commit();
                Assert.True(pipeline.Flush(TestLog.Safety));
            }

            Log("normal");
            int steady = probe.Capacity;
            Log(new string('x', HugeChars));
            Assert.True(probe.Capacity >= HugeChars, $"the huge value was rendered into {probe.Capacity} chars of scratch");
            Log("normal");
            Assert.True(probe.Capacity <= steady, $"after a huge aligned value and an ordinary batch the scratch buffer has {probe.Capacity} chars; {steady} before it");
        }
        finally
        {
            Assert.True(pipeline.Shutdown(TestLog.Safety));
        }
    }

    /// <summary>An event with <paramref name="strings"/> string and <paramref name="longs"/> long arguments.</summary>
    private static LogEventDescriptor Wide(int strings, int longs)
    {
        var arguments = new LogArgument[strings + longs];
        for (int i = 0; i < strings; i++)
        {
            arguments[i] = LogArgument.Create<string>("s" + i);
        }

        for (int i = 0; i < longs; i++)
        {
            arguments[strings + i] = LogArgument.Create<long>("n" + i);
        }

        return new LogEventDescriptor(82, "Wide", LogLevel.Information, "Wide event", arguments);
    }

    private static void LogWide(LogPipeline pipeline, LogEventDescriptor descriptor)
    {
        LogEventWriter w = FapiLogRuntime.Begin(pipeline.Queue, descriptor, captureTraceContext: false);
        Assert.True(w.IsActive);
        for (int i = 0; i < descriptor.ReferenceCount; i++)
        {
            w.WriteString("value " + i);
        }

        for (int i = 0; i < descriptor.ValueBytes / sizeof(long); i++)
        {
            w.Write((long)i);
        }

        w.Commit();
    }

    [Fact]
    public void A_slot_lets_go_of_spill_storage_larger_than_it_keeps_once_the_event_is_drained()
    {
        // An event with more values or strings than a slot holds inline spills into arrays the slot keeps for the next large
        // event. One with hundreds of arguments (an ILogger call with hundreds of properties) left every slot it passed
        // through holding arrays of its size for the life of the process.
        LogEventDescriptor huge = Wide(strings: 2 * LogEventDescriptor.MaxRetainedSpillReferences, longs: LogEventDescriptor.MaxRetainedSpillValueBytes / 4);
        LogEventDescriptor large = Wide(strings: 10, longs: 10);
        var sink = new InMemorySink();
        var pipeline = new LogPipeline(TestLog.Options(), [sink]);
        try
        {
            LogWide(pipeline, huge);
            LogWide(pipeline, large);
            Assert.True(pipeline.Flush(TestLog.Safety));

            // Both were delivered whole.
            Assert.Equal(2, sink.Events.Count);
            Assert.Equal("value 255", sink.Events[0]["s255"]);
            Assert.Equal(255L, sink.Events[0]["n255"]);
            Assert.Equal(9L, sink.Events[1]["n9"]);

            // The huge event's slot kept neither array; the ordinary large one's keeps both, so that the next such event
            // through it allocates nothing.
            ref LogRecord hugeSlot = ref pipeline.Queue.Slot(0);
            Assert.Null(hugeSlot._spillReferences);
            Assert.Null(hugeSlot._spillValues);
            ref LogRecord largeSlot = ref pipeline.Queue.Slot(1);
            Assert.Equal(10, largeSlot._spillReferences!.Length);
            Assert.Equal(80, largeSlot._spillValues!.Length);
        }
        finally
        {
            Assert.True(pipeline.Shutdown(TestLog.Safety));
        }
    }

    [Fact]
    public void A_buffer_that_batches_keep_filling_is_kept_whatever_its_size()
    {
        // Batches larger than the limit are ordinary for some workloads (large BatchSize, error storms): their buffer must
        // not be made again for every batch, only one that a batch uses a quarter of at most is cut down.
        var buffer = new ByteBuffer(16);
        buffer.Write(new byte[3 * ByteBuffer.MaxRetainedBytes]);
        byte[] array = buffer.Array;
        Assert.False(buffer.TrimExcess());
        Assert.Same(array, buffer.Array);

        buffer.Clear();
        buffer.Write("kept"u8);
        Assert.True(buffer.TrimExcess());
        Assert.Equal(16, buffer.Capacity);
        Assert.Equal("kept"u8.ToArray(), buffer.WrittenSpan.ToArray());
    }
}
