using System;
using System.Diagnostics;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace FapiLog.Internal;

/// <summary>Which members a JSON event line carries besides the event's own.</summary>
[Flags]
internal enum JsonLineParts
{
    /// <summary>The Loki line: level, message, event, event_id, fields, exception (time and trace go elsewhere in Loki).</summary>
    Core = 0,

    /// <summary>Adds "timestamp" (ISO 8601, UTC) first.</summary>
    Timestamp = 1,

    /// <summary>Adds "trace_id" and "span_id" when there was an activity.</summary>
    TraceContext = 2,

    /// <summary>Everything: the JSON-lines file and console format.</summary>
    All = Timestamp | TraceContext,
}

/// <summary>Writes events as JSON objects with typed fields (numbers as numbers, booleans as booleans, null as null).</summary>
internal static class JsonFormatting
{
    /// <summary>
    /// Readable output (no \u escapes for non-ASCII or HTML characters); still valid JSON. Bidirectional controls are
    /// escaped, so that a value cannot reorder how a line is displayed (see <see cref="ReadableJsonEncoder"/>).
    /// </summary>
    public static readonly JavaScriptEncoder Encoder = ReadableJsonEncoder.Instance;

    public static readonly JsonWriterOptions WriterOptions = new() { Encoder = Encoder, SkipValidation = true };

    private static readonly JsonEncodedText s_timestamp = JsonEncodedText.Encode("timestamp");
    private static readonly JsonEncodedText s_level = JsonEncodedText.Encode("level");
    private static readonly JsonEncodedText s_message = JsonEncodedText.Encode("message");
    private static readonly JsonEncodedText s_event = JsonEncodedText.Encode("event");
    private static readonly JsonEncodedText s_eventId = JsonEncodedText.Encode("event_id");
    private static readonly JsonEncodedText s_exception = JsonEncodedText.Encode("exception");
    private static readonly JsonEncodedText s_type = JsonEncodedText.Encode("type");
    private static readonly JsonEncodedText s_stack = JsonEncodedText.Encode("stack");
    private static readonly JsonEncodedText s_traceId = JsonEncodedText.Encode("trace_id");
    private static readonly JsonEncodedText s_spanId = JsonEncodedText.Encode("span_id");
    private static readonly JsonEncodedText[] s_levels =
    [
        JsonEncodedText.Encode("trace"), JsonEncodedText.Encode("debug"), JsonEncodedText.Encode("info"),
        JsonEncodedText.Encode("warning"), JsonEncodedText.Encode("error"), JsonEncodedText.Encode("critical"), JsonEncodedText.Encode("none"),
        JsonEncodedText.Encode("unknown"),
    ];

    private static readonly string[] s_levelNames = ["trace", "debug", "info", "warning", "error", "critical", "none"];

    /// <summary>The Loki-style level name: trace, debug, info, warning, error, critical.</summary>
    public static string LevelName(LogLevel level) => (uint)level < (uint)s_levelNames.Length ? s_levelNames[(int)level] : "unknown";

    /// <summary>The level's name in the JSON lines: <c>unknown</c> past None, as the console text and the Loki label say.</summary>
    public static JsonEncodedText LevelText(LogLevel level) => s_levels[Math.Min((uint)level, (uint)s_levels.Length - 1)];

    /// <summary>
    /// <paramref name="text"/> with each lone surrogate replaced by U+FFFD (what the JSON writer does to values); the same
    /// instance when it is well-formed. A name with a lone surrogate cannot be encoded as a JSON property name otherwise.
    /// </summary>
    public static string WellFormed(string text)
    {
        for (int i = 0; i < text.Length; i++)
        {
            if (!char.IsSurrogate(text[i]))
            {
                continue;
            }

            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
                continue;
            }

            return ReplaceLoneSurrogates(text);
        }

        return text;
    }

    private static string ReplaceLoneSurrogates(string text)
    {
        char[] chars = text.ToCharArray();
        for (int i = 0; i < chars.Length; i++)
        {
            if (char.IsHighSurrogate(chars[i]) && i + 1 < chars.Length && char.IsLowSurrogate(chars[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(chars[i]))
            {
                chars[i] = '\uFFFD';
            }
        }

        return new string(chars);
    }

    /// <summary>Writes one event as a JSON object. <paramref name="scratch"/> is reused for the rendered message.</summary>
    public static void WriteEvent(Utf8JsonWriter w, in LogRecord record, PooledCharBuffer scratch, JsonLineParts parts)
    {
        LogEventDescriptor d = record.Descriptor;
        w.WriteStartObject();
        if ((parts & JsonLineParts.Timestamp) != 0)
        {
            WriteIso(w, s_timestamp, record.Timestamp);
        }

        w.WriteString(s_level, LevelText(d.Level));
        scratch.Clear();
        record.FormatMessage(scratch);
        w.WriteString(s_message, scratch.WrittenSpan);
        w.WriteString(s_event, d.JsonEventName);
        w.WriteNumber(s_eventId, d.EventId);

        var fields = new JsonFieldWriter(w, d.JsonFieldNames, d.FirstField);
        record.VisitFields(ref fields);

        if (record.Exception is { } ex)
        {
            WriteException(w, ex);
        }

        if ((parts & JsonLineParts.TraceContext) != 0 && record.HasTraceContext)
        {
            WriteHex(w, s_traceId, record.TraceId);
            WriteHex(w, s_spanId, record.SpanId);
        }

        w.WriteEndObject();
    }

    /// <summary>
    /// Appends the event to <paramref name="buffer"/> as one JSON object; an event that cannot be rendered (a string longer
    /// than System.Text.Json writes, say) must not cost its batch, so the bytes written for it are taken back and its
    /// <see cref="WriteRenderFailure"/> object is written instead.
    /// </summary>
    public static void AppendEvent(Utf8JsonWriter w, FapiLog.Loki.ByteBuffer buffer, in LogRecord record, PooledCharBuffer scratch, JsonLineParts parts)
    {
        int start = buffer.Length;
        w.Reset(buffer);
        try
        {
            WriteEvent(w, in record, scratch, parts);
            w.Flush();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            buffer.Length = start;
            w.Reset(buffer);
            WriteRenderFailure(w, in record, ex, parts);
            w.Flush();
        }
    }

    /// <summary>
    /// The line of an event that could not be rendered: its level, event name and id, and a message naming the failure
    /// (no fields, which are what failed), with the timestamp and trace context that <paramref name="parts"/> asks for,
    /// as on every other line of the sink.
    /// </summary>
    public static void WriteRenderFailure(Utf8JsonWriter w, in LogRecord record, Exception failure, JsonLineParts parts = JsonLineParts.Core)
    {
        LogEventDescriptor d = record.Descriptor;
        w.WriteStartObject();
        if ((parts & JsonLineParts.Timestamp) != 0)
        {
            WriteIso(w, s_timestamp, record.Timestamp);
        }

        w.WriteString(s_level, LevelText(d.Level));
        w.WriteString(s_message, $"<rendering failed: {failure.GetType().FullName}>");
        w.WriteString(s_event, d.JsonEventName);
        w.WriteNumber(s_eventId, d.EventId);
        if ((parts & JsonLineParts.TraceContext) != 0 && record.HasTraceContext)
        {
            WriteHex(w, s_traceId, record.TraceId);
            WriteHex(w, s_spanId, record.SpanId);
        }

        w.WriteEndObject();
    }

    /// <summary>The exception object: type, message, stack (the full ToString, inner exceptions included).</summary>
    public static void WriteException(Utf8JsonWriter w, Exception ex)
    {
        w.WriteStartObject(s_exception);
        w.WriteString(s_type, ex.GetType().FullName);
        w.WriteString(s_message, ExceptionText.Message(ex));
        w.WriteString(s_stack, ExceptionText.Full(ex));
        w.WriteEndObject();
    }

    // The ids keep their hex string once created, so ToHexString does not allocate per event.
    private static void WriteHex(Utf8JsonWriter w, JsonEncodedText name, ActivityTraceId id) => w.WriteString(name, id.ToHexString());

    private static void WriteHex(Utf8JsonWriter w, JsonEncodedText name, ActivitySpanId id) => w.WriteString(name, id.ToHexString());

    internal static void WriteIso(Utf8JsonWriter w, JsonEncodedText name, DateTimeOffset value)
    {
        Span<char> buffer = stackalloc char[40];
        value.TryFormat(buffer, out int written, "O", CultureInfo.InvariantCulture);
        w.WriteString(name, buffer.Slice(0, written));
    }

    /// <summary>Writes fields in argument order with the descriptor's pre-encoded names.</summary>
    private struct JsonFieldWriter : ILogFieldVisitor
    {
        private readonly Utf8JsonWriter _w;
        private readonly JsonEncodedText[] _names;
        private int _index;

        public JsonFieldWriter(Utf8JsonWriter w, JsonEncodedText[] names, int firstField)
        {
            _w = w;
            _names = names;
            _index = firstField;
        }

        private JsonEncodedText Next() => _names[_index++];

        public void Visit(string name, long value) => _w.WriteNumber(Next(), value);

        public void Visit(string name, ulong value) => _w.WriteNumber(Next(), value);

        public void Visit(string name, double value)
        {
            if (double.IsFinite(value))
            {
                _w.WriteNumber(Next(), value);
            }
            else
            {
                // JSON has no NaN or Infinity: write them as the strings .NET prints.
                Span<char> buffer = stackalloc char[16];
                value.TryFormat(buffer, out int written, default, CultureInfo.InvariantCulture);
                _w.WriteString(Next(), buffer.Slice(0, written));
            }
        }

        public void Visit(string name, decimal value) => _w.WriteNumber(Next(), value);

        public void Visit(string name, bool value) => _w.WriteBoolean(Next(), value);

        public void Visit(string name, string value) => _w.WriteString(Next(), value);

        public void Visit(string name, DateTime value)
        {
            Span<char> buffer = stackalloc char[40];
            value.TryFormat(buffer, out int written, "O", CultureInfo.InvariantCulture);
            _w.WriteString(Next(), buffer.Slice(0, written));
        }

        public void Visit(string name, DateTimeOffset value) => WriteIso(_w, Next(), value);

        public void Visit(string name, TimeSpan value)
        {
            Span<char> buffer = stackalloc char[32];
            value.TryFormat(buffer, out int written, "c", CultureInfo.InvariantCulture);
            _w.WriteString(Next(), buffer.Slice(0, written));
        }

        public void Visit(string name, Guid value) => _w.WriteString(Next(), value);

        public void VisitNull(string name) => _w.WriteNull(Next());
    }
}
