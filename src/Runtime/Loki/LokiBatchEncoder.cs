using System;
using System.Buffers.Text;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using FapiLog.Internal;

namespace FapiLog.Loki;

/// <summary>
/// Turns a batch into Loki push bodies. <see cref="Prepare(in LogBatch)"/> renders every line once and orders the entries (by stream,
/// then by time, entries that share a tick 1 ns apart); <see cref="EncodeNext(int, out ArraySegment{byte})"/> then encodes the next request of at most the byte cap. Every buffer is kept
/// and reused, so once the buffers have grown to the batch size, encoding allocates nothing (gzip aside).
/// </summary>
/// <remarks>
/// The wire messages are logproto's (grafana/loki pkg/push/push.proto):
/// <c>PushRequest { repeated StreamAdapter streams = 1; }</c>,
/// <c>StreamAdapter { string labels = 1; repeated EntryAdapter entries = 2; }</c>,
/// <c>EntryAdapter { Timestamp timestamp = 1; string line = 2; repeated LabelPairAdapter structuredMetadata = 3; }</c>,
/// <c>Timestamp { int64 seconds = 1; int32 nanos = 2; }</c>, <c>LabelPairAdapter { string name = 1; string value = 2; }</c>.
/// </remarks>
internal sealed class LokiBatchEncoder
{
    /// <summary>Streams: one per level (trace … none) plus one for levels outside that range.</summary>
    internal const int StreamCount = 8;

    private const int TraceHexLength = 32;
    private const int SpanHexLength = 16;
    private const int MetadataStride = LokiPreparedBatch.MetadataStride;
    private const int InsertionSortLimit = 32;

    private static readonly byte[] s_traceIdName = "trace_id"u8.ToArray();
    private static readonly byte[] s_spanIdName = "span_id"u8.ToArray();
    private static readonly JsonEncodedText s_streams = JsonEncodedText.Encode("streams");
    private static readonly JsonEncodedText s_stream = JsonEncodedText.Encode("stream");
    private static readonly JsonEncodedText s_values = JsonEncodedText.Encode("values");
    private static readonly JsonEncodedText s_traceId = JsonEncodedText.Encode("trace_id");
    private static readonly JsonEncodedText s_spanId = JsonEncodedText.Encode("span_id");
    private static readonly JsonEncodedText s_levelName = JsonEncodedText.Encode(LokiOptions.LevelLabel);
    private static readonly string[] s_levelValues = ["trace", "debug", "info", "warning", "error", "critical", "none", "unknown"];

    /// <summary>Bytes one entry's trace metadata counts towards the batch cap (names and values, as Promtail counts).</summary>
    private static readonly int s_metadataBytes = s_traceIdName.Length + TraceHexLength + s_spanIdName.Length + SpanHexLength;

    private readonly LokiFormat _format;
    private readonly bool _gzip;
    private readonly int _maxBatchBytes;
    private readonly int _maxLineBytes;

    // Pre-encoded per stream: the Prometheus label string for protobuf, and the label pairs for JSON.
    private readonly byte[][] _protoLabels = new byte[StreamCount][];
    private readonly JsonEncodedText[] _jsonLabelNames;
    private readonly JsonEncodedText[] _jsonLabelValues;
    private readonly JsonEncodedText[] _jsonLevelValues = new JsonEncodedText[StreamCount];

    private Utf8JsonWriter? _lineWriter;
    private readonly PooledCharBuffer _message = new(256);
    // The request buffers, made on the first encode: an encoder that only prepares (the worker's) never needs them.
    private Output? _output;
    private readonly int[] _streamStart = new int[StreamCount + 1];
    private readonly int[] _streamSize = new int[StreamCount];

    // Per stream, the latest entry prepared so far: its own time and the time it is sent with (see Spread).
    private readonly long[] _lastTime = new long[StreamCount];
    private readonly long[] _lastSent = new long[StreamCount];

    // Per stream, the last RecentTicks clock ticks entries were prepared in, and the latest time sent in each (see Spread):
    // slots [stream * RecentTicks, (stream + 1) * RecentTicks), an empty one has tick long.MinValue.
    private const int RecentTicks = 4;
    private readonly long[] _recentTick = new long[StreamCount * RecentTicks];
    private readonly long[] _recentSent = new long[StreamCount * RecentTicks];

    // The batch being prepared or encoded; Prepare(batch) and EncodeNext use this one unless given another.
    private LokiPreparedBatch? _current;

    /// <summary>The batch being prepared or encoded (set by <see cref="Prepare(in LogBatch, LokiPreparedBatch)"/> or <see cref="Use"/>).</summary>
    private LokiPreparedBatch Prepared => _current!;

    private Output Out => _output ??= new Output(_gzip);

    public LokiBatchEncoder(LokiFormat format, bool gzip, int maxBatchBytes, int maxLineBytes, IReadOnlyList<KeyValuePair<string, string>> labels)
    {
        _format = format;
        _gzip = gzip && format == LokiFormat.Json;
        _maxBatchBytes = maxBatchBytes;
        _maxLineBytes = maxLineBytes;

        var sorted = new List<KeyValuePair<string, string>>(labels);
        sorted.Sort(static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        _jsonLabelNames = new JsonEncodedText[sorted.Count];
        _jsonLabelValues = new JsonEncodedText[sorted.Count];
        for (int i = 0; i < sorted.Count; i++)
        {
            _jsonLabelNames[i] = JsonEncodedText.Encode(sorted[i].Key, JsonFormatting.Encoder);
            _jsonLabelValues[i] = JsonEncodedText.Encode(sorted[i].Value, JsonFormatting.Encoder);
        }

        _lastTime.AsSpan().Fill(long.MinValue);
        _lastSent.AsSpan().Fill(long.MinValue);
        _recentTick.AsSpan().Fill(long.MinValue);
        for (int s = 0; s < StreamCount; s++)
        {
            _jsonLevelValues[s] = JsonEncodedText.Encode(s_levelValues[s]);
            var withLevel = new List<KeyValuePair<string, string>>(sorted) { new(LokiOptions.LevelLabel, s_levelValues[s]) };
            withLevel.Sort(static (a, b) => string.CompareOrdinal(a.Key, b.Key));
            _protoLabels[s] = Encoding.UTF8.GetBytes(FormatLabels(withLevel));
        }
    }

    /// <summary>The entries of the prepared batch.</summary>
    public int Count => _current?.Count ?? 0;

    /// <summary>The capacities of the buffers the encoder keeps between batches, in bytes (for tests).</summary>
    internal long RetainedBufferBytes
        => (2L * _message.Capacity) + (_output is { } o ? (long)o.Body.Capacity + o.Compressed.Capacity : 0);

    /// <summary>Makes <paramref name="prepared"/> (prepared by this or another encoder with the same settings) the batch to encode.</summary>
    public void Use(LokiPreparedBatch prepared) => _current = prepared;

    /// <summary>Content-Type of the bodies.</summary>
    public string ContentType => _format == LokiFormat.Protobuf ? "application/x-protobuf" : "application/json";

    /// <summary>Content-Encoding of the bodies, or null (snappy protobuf carries no Content-Encoding).</summary>
    public string? ContentEncoding => _gzip ? "gzip" : null;

    /// <summary>Prometheus label syntax, values quoted and escaped as Go string literals (what Loki's parser reads).</summary>
    internal static string FormatLabels(IEnumerable<KeyValuePair<string, string>> labels)
    {
        var sb = new StringBuilder("{");
        foreach (KeyValuePair<string, string> label in labels)
        {
            if (sb.Length > 1)
            {
                sb.Append(", ");
            }

            sb.Append(label.Key).Append("=\"");
            foreach (char c in label.Value)
            {
                switch (c)
                {
                    case '\\': sb.Append("\\\\"); break;
                    case '"': sb.Append("\\\""); break;
                    case '\n': sb.Append("\\n"); break;
                    default: sb.Append(c); break;
                }
            }

            sb.Append('"');
        }

        return sb.Append('}').ToString();
    }

    /// <summary>Renders the lines of <paramref name="batch"/> and orders its entries; returns the number of entries.</summary>
    public int Prepare(in LogBatch batch) => Prepare(in batch, _current ??= new LokiPreparedBatch());

    /// <summary>
    /// Renders <paramref name="batch"/> into <paramref name="into"/>, which the following calls of <see cref="EncodeNext(int, out ArraySegment{byte})"/>
    /// on this encoder then encode (until <see cref="Use"/> names another).
    /// </summary>
    public int Prepare(in LogBatch batch, LokiPreparedBatch into)
    {
        _current = into;
        int n = batch.Count;
        into.EnsureCapacity(n);
        into.Lines.Clear();
        Utf8JsonWriter lineWriter = _lineWriter ??= new Utf8JsonWriter(into.Lines, JsonFormatting.WriterOptions);
        lineWriter.Reset(into.Lines);
        for (int i = 0; i < n; i++)
        {
            ref readonly LogRecord record = ref batch[i];
            int start = Prepared.Lines.Length;
            // One event that cannot be rendered must not cost the batch: it is shipped as a line that says so.
            JsonFormatting.AppendEvent(lineWriter, into.Lines, in record, _message, JsonLineParts.Core);

            int length = Prepared.Lines.Length - start;
            if (length > _maxLineBytes)
            {
                length = Truncate(start, length);
            }

            Prepared.LineStart[i] = start;
            Prepared.LineLength[i] = length;
            Prepared.Time[i] = record.UnixTimeNanoseconds;
            int level = (int)record.Level;
            Prepared.Stream[i] = (byte)((uint)level < StreamCount - 1 ? level : StreamCount - 1);
            bool hasTrace = record.HasTraceContext;
            Prepared.HasTrace[i] = hasTrace;
            if (hasTrace)
            {
                WriteTraceHex(in record, Prepared.TraceHex.AsSpan(i * MetadataStride, MetadataStride));
            }
        }

        Prepared.Count = n;
        // A line over the limit is rendered whole before it is cut: one huge event grew the line buffer to its size, and
        // the batch then counted that against the send buffer (refusing the batches after it while it waited) and, as a
        // spare, or the message buffer, kept it. What the batch holds moves into an array that fits it.
        into.Lines.TrimExcess();
        _message.ClearAndTrim();
        Order(n);
        return n;
    }

    /// <summary>
    /// Encodes the request that starts at send position <paramref name="from"/> into a reused buffer: as many entries as fit
    /// under the byte cap (at least one). Returns the position after the last entry; the body stays valid until the next call.
    /// </summary>
    public int EncodeNext(int from, out ArraySegment<byte> body) => EncodeNext(from, int.MaxValue, out body);

    /// <summary>As <see cref="EncodeNext(int, out ArraySegment{byte})"/>, with at most <paramref name="maxEntries"/> entries (after a 413).</summary>
    public int EncodeNext(int from, int maxEntries, out ArraySegment<byte> body)
    {
        int to = EntriesThatFit(from, maxEntries);
        body = _format == LokiFormat.Protobuf ? Compress(EncodeProtobuf(from, to)) : EncodeJson(from, to, compress: true);
        return to;
    }

    /// <summary>The end of the request that starts at <paramref name="from"/>: entries while the byte cap allows, at least one.</summary>
    private int EntriesThatFit(int from, int maxEntries = int.MaxValue)
    {
        if ((uint)from >= (uint)Prepared.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(from));
        }

        int to = from;
        long bytes = 0;
        int end = (int)Math.Min(Prepared.Count, (long)from + Math.Max(1, maxEntries));
        while (to < end)
        {
            int entry = Prepared.Order[to];
            int size = Prepared.LineLength[entry] + (Prepared.HasTrace[entry] ? s_metadataBytes : 0);
            if (to > from && bytes + size > _maxBatchBytes)
            {
                break;
            }

            bytes += size;
            to++;
        }

        return to;
    }

    /// <summary>
    /// Like <see cref="EncodeNext(int, out ArraySegment{byte})"/> but stops before compression: the serialized protobuf or the plain JSON body. Lets
    /// tests and benchmarks tell the encoder's own allocations from the compressor's.
    /// </summary>
    internal int SerializeNext(int from, out ArraySegment<byte> body)
    {
        int to = EntriesThatFit(from);
        body = _format == LokiFormat.Protobuf ? EncodeProtobuf(from, to) : EncodeJson(from, to, compress: false);
        return to;
    }

    private ArraySegment<byte> EncodeProtobuf(int from, int to)
    {
        // Pass 1: sizes, so every length prefix is known before anything is written.
        int total = 0;
        int streams = 0;
        int pos = from;
        while (pos < to)
        {
            int stream = Prepared.Stream[Prepared.Order[pos]];
            int size = Protobuf.LengthDelimitedSize(_protoLabels[stream].Length);
            _streamStart[streams] = pos;
            while (pos < to && Prepared.Stream[Prepared.Order[pos]] == stream)
            {
                int entry = Prepared.Order[pos];
                int entrySize = EntrySize(entry);
                Prepared.EntrySize[pos] = entrySize;
                size += Protobuf.LengthDelimitedSize(entrySize);
                pos++;
            }

            _streamSize[streams++] = size;
            total += Protobuf.LengthDelimitedSize(size);
        }

        _streamStart[streams] = to;

        // Pass 2: write.
        ByteBuffer body = Out.Body;
        body.Clear();
        body.Ensure(total);
        Span<byte> span = body.Array.AsSpan(0, total);
        ReadOnlySpan<byte> lines = Prepared.Lines.Array;
        int w = 0;
        for (int s = 0; s < streams; s++)
        {
            Protobuf.WriteLengthPrefix(span, ref w, 1, _streamSize[s]);
            Protobuf.WriteBytesField(span, ref w, 1, _protoLabels[Prepared.Stream[Prepared.Order[_streamStart[s]]]]);
            for (int p = _streamStart[s]; p < _streamStart[s + 1]; p++)
            {
                int entry = Prepared.Order[p];
                Protobuf.WriteLengthPrefix(span, ref w, 2, Prepared.EntrySize[p]);
                SplitTime(Prepared.Time[entry], out long seconds, out int nanos);
                Protobuf.WriteLengthPrefix(span, ref w, 1, Protobuf.VarintFieldSize((ulong)seconds) + Protobuf.VarintFieldSize((ulong)(long)nanos));
                Protobuf.WriteVarintField(span, ref w, 1, (ulong)seconds);
                Protobuf.WriteVarintField(span, ref w, 2, (ulong)(long)nanos);
                Protobuf.WriteBytesField(span, ref w, 2, lines.Slice(Prepared.LineStart[entry], Prepared.LineLength[entry]));
                if (Prepared.HasTrace[entry])
                {
                    ReadOnlySpan<byte> hex = Prepared.TraceHex.AsSpan(entry * MetadataStride, MetadataStride);
                    WriteLabelPair(span, ref w, s_traceIdName, hex.Slice(0, TraceHexLength));
                    WriteLabelPair(span, ref w, s_spanIdName, hex.Slice(TraceHexLength, SpanHexLength));
                }
            }
        }

        if (w != total)
        {
            throw new InvalidOperationException($"Loki protobuf size mismatch: computed {total} bytes, wrote {w}.");
        }

        body.Length = total;
        return new ArraySegment<byte>(body.Array, 0, total);
    }

    private ArraySegment<byte> Compress(ArraySegment<byte> raw)
    {
        int total = raw.Count;

        // Snappy block format, as Loki's push handler expects (not the framed stream format), with the sink's own
        // compressor: it keeps its hash table, so a request allocates nothing here.
        Output output = Out;
        output.Compressed.Clear();
        output.Compressed.Ensure(SnappyBlockCompressor.GetMaxCompressedLength(total));
        int compressed = output.Snappy.Compress(raw.AsSpan(), output.Compressed.Array);
        output.Compressed.Length = compressed;
        return new ArraySegment<byte>(output.Compressed.Array, 0, compressed);
    }

    private int EntrySize(int entry)
    {
        SplitTime(Prepared.Time[entry], out long seconds, out int nanos);
        int timestamp = Protobuf.VarintFieldSize((ulong)seconds) + Protobuf.VarintFieldSize((ulong)(long)nanos);
        int size = Protobuf.LengthDelimitedSize(timestamp) + Protobuf.LengthDelimitedSize(Prepared.LineLength[entry]);
        if (Prepared.HasTrace[entry])
        {
            size += Protobuf.LengthDelimitedSize(LabelPairSize(s_traceIdName.Length, TraceHexLength));
            size += Protobuf.LengthDelimitedSize(LabelPairSize(s_spanIdName.Length, SpanHexLength));
        }

        return size;
    }

    private static int LabelPairSize(int name, int value) => Protobuf.LengthDelimitedSize(name) + Protobuf.LengthDelimitedSize(value);

    private static void WriteLabelPair(Span<byte> span, ref int w, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value)
    {
        Protobuf.WriteLengthPrefix(span, ref w, 3, LabelPairSize(name.Length, value.Length));
        Protobuf.WriteBytesField(span, ref w, 1, name);
        Protobuf.WriteBytesField(span, ref w, 2, value);
    }

    /// <summary>google.protobuf.Timestamp: seconds since the epoch and a non-negative nanosecond part.</summary>
    private static void SplitTime(long unixNanoseconds, out long seconds, out int nanos)
    {
        seconds = Math.DivRem(unixNanoseconds, 1_000_000_000L, out long rest);
        if (rest < 0)
        {
            seconds--;
            rest += 1_000_000_000L;
        }

        nanos = (int)rest;
    }

    private ArraySegment<byte> EncodeJson(int from, int to, bool compress)
    {
        Output output = Out;
        ByteBuffer body = output.Body;
        body.Clear();
        Utf8JsonWriter w = output.BodyWriter;
        w.Reset(body);
        w.WriteStartObject();
        w.WriteStartArray(s_streams);
        ReadOnlySpan<byte> lines = Prepared.Lines.Array;
        Span<byte> number = stackalloc byte[24];
        int pos = from;
        while (pos < to)
        {
            int stream = Prepared.Stream[Prepared.Order[pos]];
            w.WriteStartObject();
            w.WriteStartObject(s_stream);
            for (int i = 0; i < _jsonLabelNames.Length; i++)
            {
                w.WriteString(_jsonLabelNames[i], _jsonLabelValues[i]);
            }

            w.WriteString(s_levelName, _jsonLevelValues[stream]);
            w.WriteEndObject();
            w.WriteStartArray(s_values);
            while (pos < to && Prepared.Stream[Prepared.Order[pos]] == stream)
            {
                int entry = Prepared.Order[pos++];
                w.WriteStartArray();
                // Loki wants the nanosecond timestamp as a string; a number is rejected with 400.
                Utf8Formatter.TryFormat(Prepared.Time[entry], number, out int written);
                w.WriteStringValue(number.Slice(0, written));
                w.WriteStringValue(lines.Slice(Prepared.LineStart[entry], Prepared.LineLength[entry]));
                if (Prepared.HasTrace[entry])
                {
                    ReadOnlySpan<byte> hex = Prepared.TraceHex.AsSpan(entry * MetadataStride, MetadataStride);
                    w.WriteStartObject();
                    w.WriteString(s_traceId, hex.Slice(0, TraceHexLength));
                    w.WriteString(s_spanId, hex.Slice(TraceHexLength, SpanHexLength));
                    w.WriteEndObject();
                }

                w.WriteEndArray();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteEndObject();
        w.Flush();
        MemoryStream? gzipBuffer = output.GzipBuffer;
        if (gzipBuffer is null || !compress)
        {
            return new ArraySegment<byte>(body.Array, 0, body.Length);
        }

        // GZipStream cannot be reset, so gzip costs a small allocation per request; protobuf+snappy does not.
        gzipBuffer.SetLength(0);
        using (var gzip = new GZipStream(gzipBuffer, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(body.WrittenSpan);
        }

        return new ArraySegment<byte>(gzipBuffer.GetBuffer(), 0, (int)gzipBuffer.Length);
    }

    /// <summary>
    /// Cuts a line to the limit and marks it with the original size, keeping it a JSON object: the string value that crosses
    /// the limit is cut (on a character boundary, never inside an escape) and ends with the marker, and the open objects
    /// and arrays are closed; when no string can be cut, the members that do not fit are left out and a <c>truncated</c>
    /// member carries the marker.
    /// </summary>
    private int Truncate(int start, int length)
    {
        Span<byte> marker = stackalloc byte[64];
        int m = 0;
        "… [truncated by FapiLog, "u8.CopyTo(marker);
        m += "… [truncated by FapiLog, "u8.Length;
        Utf8Formatter.TryFormat(length, marker.Slice(m), out int digits);
        m += digits;
        " bytes]"u8.CopyTo(marker.Slice(m));
        m += " bytes]"u8.Length;

        Span<byte> line = Prepared.Lines.Array.AsSpan(start, length);
        int kept = TruncateJson(line, marker.Slice(0, m), _maxLineBytes);
        if (kept < 0)
        {
            // Not a JSON object we can walk (never expected): cut the text on a UTF-8 boundary.
            int keep = _maxLineBytes - m;
            while (keep > 0 && (line[keep] & 0xC0) == 0x80)
            {
                keep--;
            }

            marker.Slice(0, m).CopyTo(line.Slice(keep));
            kept = keep + m;
        }

        Prepared.Lines.Length = start + kept;
        return kept;
    }

    /// <summary>The JSON-preserving cut of <see cref="Truncate"/>, in place; the new length, or -1 when the line is not a walkable JSON object.</summary>
    internal static int TruncateJson(Span<byte> line, ReadOnlySpan<byte> marker, int max)
    {
        Span<byte> memberPrefixBuffer = stackalloc byte[MarkerMemberPrefixCapacity];
        ReadOnlySpan<byte> memberPrefix = MarkerMemberPrefix(line, memberPrefixBuffer);
        Span<byte> closers = stackalloc byte[MaxJsonDepth];
        Span<bool> hasItems = stackalloc bool[MaxJsonDepth];
        int depth = 0;

        // The last place where the line could end with the marker as a new member or element and still fit.
        int safeEnd = -1;
        int safeDepth = 0;
        bool safeHasItems = false;

        var reader = new Utf8JsonReader(line, new JsonReaderOptions { MaxDepth = MaxJsonDepth });
        try
        {
            while (reader.Read())
            {
                int tokenStart = (int)reader.TokenStartIndex;
                int tokenEnd = (int)reader.BytesConsumed;
                JsonTokenType type = reader.TokenType;
                if (type == JsonTokenType.String && depth > 0)
                {
                    // A string value: cut inside it when the line could not end with the marker after it, and some of it fits.
                    int room = max - depth - 1 - marker.Length;
                    int after = tokenEnd + 1 + (closers[depth - 1] == (byte)'}' ? memberPrefix.Length - 1 : 1) + marker.Length + 1 + depth;
                    // Only a string that crosses the room is cut. One that ends before it (tokenEnd - 1 is its closing
                    // quote) but leaves no room for the marker after it is not: a cut there would run past the quote, and
                    // keeping it whole with the marker inside would change a short value (an event name). The check below
                    // then ends the line at the last safe place before it, with the marker as a member of its own.
                    if (after > max && room > tokenStart + 1 && room < tokenEnd - 1)
                    {
                        return CloseWithMarker(line, CutInsideString(line, tokenStart + 1, room), marker, closers.Slice(0, depth));
                    }
                }

                switch (type)
                {
                    case JsonTokenType.StartObject:
                    case JsonTokenType.StartArray:
                        if (depth > 0)
                        {
                            hasItems[depth - 1] = true;
                        }

                        closers[depth] = type == JsonTokenType.StartObject ? (byte)'}' : (byte)']';
                        hasItems[depth] = false;
                        depth++;
                        break;
                    case JsonTokenType.EndObject:
                    case JsonTokenType.EndArray:
                        depth--;
                        break;
                    case JsonTokenType.PropertyName:
                        continue;
                    default:
                        if (depth > 0)
                        {
                            hasItems[depth - 1] = true;
                        }

                        break;
                }

                if (depth == 0)
                {
                    // The whole value fits up to here; nothing after it is expected.
                    break;
                }

                bool inObject = closers[depth - 1] == (byte)'}';
                int need = tokenEnd + (hasItems[depth - 1] ? 1 : 0) + (inObject ? memberPrefix.Length - 1 : 1) + marker.Length + 1 + depth;
                if (need > max)
                {
                    break;
                }

                safeEnd = tokenEnd;
                safeDepth = depth;
                safeHasItems = hasItems[depth - 1];
            }
        }
        catch (JsonException)
        {
            return -1;
        }

        if (safeEnd < 0)
        {
            return -1;
        }

        int pos = safeEnd;
        bool objectAtSafe = closers[safeDepth - 1] == (byte)'}';
        if (safeHasItems)
        {
            line[pos++] = (byte)',';
        }

        ReadOnlySpan<byte> prefix = objectAtSafe ? memberPrefix.Slice(1) : "\""u8;
        prefix.CopyTo(line.Slice(pos));
        pos += prefix.Length;
        return CloseWithMarker(line, pos, marker, closers.Slice(0, safeDepth));
    }

    // The deepest nesting a line is walked to when it is cut.
    private const int MaxJsonDepth = 64;

    private const int MaxMarkerNameUnderscores = 16;
    private const int MarkerMemberPrefixCapacity = MaxMarkerNameUnderscores + 16;

    /// <summary>
    /// <c>,"truncated":"</c>, the start of the marker's own member, with one more <c>_</c> before the name for as long as
    /// the line has a member of that name already (an event with a field called <c>truncated</c>), so that a cut line
    /// never has two members of one name.
    /// </summary>
    private static ReadOnlySpan<byte> MarkerMemberPrefix(ReadOnlySpan<byte> line, Span<byte> buffer)
    {
        buffer[0] = (byte)',';
        buffer[1] = (byte)'"';
        int underscores = 0;
        Span<byte> name;
        while (true)
        {
            buffer.Slice(2, underscores).Fill((byte)'_');
            "truncated"u8.CopyTo(buffer.Slice(2 + underscores));
            name = buffer.Slice(2, underscores + "truncated"u8.Length);
            if (underscores == MaxMarkerNameUnderscores || !HasMemberNamed(line, name))
            {
                break;
            }

            underscores++;
        }

        int end = 2 + name.Length;
        "\":\""u8.CopyTo(buffer.Slice(end));
        return buffer.Slice(0, end + 3);
    }

    /// <summary>Whether the line has a member called <paramref name="name"/>, at any depth.</summary>
    private static bool HasMemberNamed(ReadOnlySpan<byte> line, ReadOnlySpan<byte> name)
    {
        var reader = new Utf8JsonReader(line, new JsonReaderOptions { MaxDepth = MaxJsonDepth });
        try
        {
            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.PropertyName && reader.ValueTextEquals(name))
                {
                    return true;
                }
            }
        }
        catch (JsonException)
        {
            // Not a JSON object we can walk: TruncateJson finds that out itself.
        }

        return false;
    }

    /// <summary>Writes the marker, the quote that ends its string and the open containers' closers (innermost first) at <paramref name="pos"/>; the new length.</summary>
    private static int CloseWithMarker(Span<byte> line, int pos, ReadOnlySpan<byte> marker, ReadOnlySpan<byte> closers)
    {
        marker.CopyTo(line.Slice(pos));
        pos += marker.Length;
        line[pos++] = (byte)'"';
        for (int d = closers.Length - 1; d >= 0; d--)
        {
            line[pos++] = closers[d];
        }

        return pos;
    }

    /// <summary>
    /// The end of the longest prefix of the string content starting at <paramref name="from"/> that ends before
    /// <paramref name="limit"/> on a boundary: not inside an escape (a surrogate pair's two escapes count as one), not
    /// inside a multi-byte UTF-8 character.
    /// </summary>
    private static int CutInsideString(ReadOnlySpan<byte> line, int from, int limit)
    {
        int i = from;
        while (i < limit)
        {
            int step = 1;
            if (line[i] == (byte)'\\')
            {
                step = line[i + 1] == (byte)'u' ? 6 : 2;
                if (step == 6 && IsHighSurrogateEscape(line.Slice(i)) && i + 12 <= line.Length && line[i + 6] == (byte)'\\' && line[i + 7] == (byte)'u')
                {
                    step = 12;
                }
            }
            else if (line[i] >= 0xC0)
            {
                step = line[i] >= 0xF0 ? 4 : line[i] >= 0xE0 ? 3 : 2;
            }

            if (i + step > limit)
            {
                break;
            }

            i += step;
        }

        return i;
    }

    private static bool IsHighSurrogateEscape(ReadOnlySpan<byte> escape)
        => escape.Length >= 6 && (escape[2] | 0x20) == (byte)'d' && escape[3] is (byte)'8' or (byte)'9' or (byte)'a' or (byte)'b' or (byte)'A' or (byte)'B';

    private static void WriteTraceHex(in LogRecord record, Span<byte> destination)
    {
        Span<byte> raw = stackalloc byte[16];
        record.TraceId.CopyTo(raw);
        Hex(raw, destination.Slice(0, TraceHexLength));
        record.SpanId.CopyTo(raw.Slice(0, 8));
        Hex(raw.Slice(0, 8), destination.Slice(TraceHexLength, SpanHexLength));
    }

    private static void Hex(ReadOnlySpan<byte> raw, Span<byte> destination)
    {
        ReadOnlySpan<byte> digits = "0123456789abcdef"u8;
        for (int i = 0; i < raw.Length; i++)
        {
            destination[2 * i] = digits[raw[i] >> 4];
            destination[(2 * i) + 1] = digits[raw[i] & 0xF];
        }
    }

    /// <summary>Orders entries by stream (a stable counting sort), then by time within each stream.</summary>
    private void Order(int n)
    {
        Span<int> next = stackalloc int[StreamCount];
        next.Clear();
        for (int i = 0; i < n; i++)
        {
            next[Prepared.Stream[i]]++;
        }

        int sum = 0;
        for (int s = 0; s < StreamCount; s++)
        {
            int c = next[s];
            next[s] = sum;
            sum += c;
        }

        for (int i = 0; i < n; i++)
        {
            Prepared.Order[next[Prepared.Stream[i]]++] = i;
        }

        int start = 0;
        while (start < n)
        {
            int stream = Prepared.Stream[Prepared.Order[start]];
            int end = start + 1;
            while (end < n && Prepared.Stream[Prepared.Order[end]] == stream)
            {
                end++;
            }

            SortByTime(start, end);
            Spread(stream, start, end);
            start = end;
        }
    }

    /// <summary>
    /// Gives the entries of one stream that share a timestamp distinct nanoseconds, in send order: each is sent 1 ns after
    /// the one before it. Loki keeps only one of a stream's entries with the same timestamp and line (it takes the others
    /// for retries of it), and the clock moves in 100 ns ticks while a call takes a few tens of ns, so the same event
    /// logged in a loop would otherwise lose most of its repeats. The spread stays inside the tick unless more than 100
    /// entries share it, and carries over from the previous batches, whose last ticks the next one often shares: also for
    /// an entry older than the previous batch's latest (its producer read the clock first but claimed its slot after
    /// another), which goes after what was sent in its own tick, not after the latest. Prepared once, the times are what
    /// every attempt and every part after a 413 sends, so a retry still matches what already landed.
    /// </summary>
    private void Spread(int stream, int start, int end)
    {
        long lastTime = _lastTime[stream];
        long lastSent = _lastSent[stream];
        long previousTime = long.MinValue;
        long previousSent = long.MinValue;
        for (int p = start; p < end; p++)
        {
            int entry = Prepared.Order[p];
            long time = Prepared.Time[entry];
            long sent = time <= previousSent ? previousSent + 1 : time;

            if (time >= lastTime)
            {
                if (sent <= lastSent)
                {
                    sent = lastSent + 1;
                }
            }
            else if (SentInTick(stream, time) is long taken && sent <= taken)
            {
                // Older than the previous batch's latest: not moved after it, which would misplace it by far more than a
                // tick, but after what an earlier batch sent in its tick (the same event logged just before it would
                // otherwise have its timestamp, and Loki would keep one of the two).
                sent = taken + 1;
            }

            Prepared.Time[entry] = sent;
            RememberSent(stream, time, sent);
            previousTime = time;
            previousSent = sent;
        }

        if (previousTime >= lastTime)
        {
            _lastTime[stream] = previousTime;
            _lastSent[stream] = Math.Max(lastSent, previousSent);
        }
    }

    /// <summary>The clock tick (100 ns) a time in nanoseconds falls in.</summary>
    private static long TickOf(long time) => time >= 0 ? time / 100 : ((time + 1) / 100) - 1;

    /// <summary>The latest time sent so far in the tick of <paramref name="time"/>, if that tick is among the stream's recent ones.</summary>
    private long? SentInTick(int stream, long time)
    {
        long tick = TickOf(time);
        for (int i = stream * RecentTicks; i < (stream + 1) * RecentTicks; i++)
        {
            if (_recentTick[i] == tick)
            {
                return _recentSent[i];
            }
        }

        return null;
    }

    /// <summary>Records <paramref name="sent"/> for the tick of <paramref name="time"/>, in place of the stream's oldest recent tick when it is new.</summary>
    private void RememberSent(int stream, long time, long sent)
    {
        long tick = TickOf(time);
        int oldest = stream * RecentTicks;
        for (int i = stream * RecentTicks; i < (stream + 1) * RecentTicks; i++)
        {
            if (_recentTick[i] == tick)
            {
                _recentSent[i] = Math.Max(_recentSent[i], sent);
                return;
            }

            if (_recentTick[i] < _recentTick[oldest])
            {
                oldest = i;
            }
        }

        if (tick > _recentTick[oldest])
        {
            _recentTick[oldest] = tick;
            _recentSent[oldest] = sent;
        }
    }

    private void SortByTime(int start, int end)
    {
        // Entries arrive in enqueue order, which is time order except where producers raced: usually nothing to do.
        bool sorted = true;
        for (int p = start + 1; p < end && sorted; p++)
        {
            sorted = Prepared.Time[Prepared.Order[p - 1]] <= Prepared.Time[Prepared.Order[p]];
        }

        if (sorted)
        {
            return;
        }

        if (end - start <= InsertionSortLimit)
        {
            for (int p = start + 1; p < end; p++)
            {
                int entry = Prepared.Order[p];
                long key = Prepared.Time[entry];
                int q = p - 1;
                while (q >= start && Prepared.Time[Prepared.Order[q]] > key)
                {
                    Prepared.Order[q + 1] = Prepared.Order[q];
                    q--;
                }

                Prepared.Order[q + 1] = entry;
            }

            return;
        }

        for (int p = start; p < end; p++)
        {
            Prepared.SortKeys[p] = Prepared.Time[Prepared.Order[p]];
        }

        Array.Sort(Prepared.SortKeys, Prepared.Order, start, end - start);

        // Array.Sort is not stable: events with the same timestamp (100 ns apart is common) would swap places. Within a run
        // of equal times, put them back in batch (enqueue) order, which is ascending entry index.
        int run = start;
        for (int p = start + 1; p <= end; p++)
        {
            if (p == end || Prepared.SortKeys[p] != Prepared.SortKeys[run])
            {
                if (p - run > 1)
                {
                    Array.Sort(Prepared.Order, run, p - run);
                }

                run = p;
            }
        }
    }

    /// <summary>The buffers a request is encoded and compressed into, reused from one request to the next.</summary>
    private sealed class Output
    {
        public readonly ByteBuffer Body = new(64 * 1024);
        public readonly Utf8JsonWriter BodyWriter;
        public readonly ByteBuffer Compressed = new(32 * 1024);
        public readonly SnappyBlockCompressor Snappy = new();
        public readonly MemoryStream? GzipBuffer;

        public Output(bool gzip)
        {
            BodyWriter = new Utf8JsonWriter(Body, JsonFormatting.WriterOptions);
            GzipBuffer = gzip ? new MemoryStream(32 * 1024) : null;
        }
    }
}
