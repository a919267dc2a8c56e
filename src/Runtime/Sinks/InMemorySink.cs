using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using FapiLog.Internal;
using Microsoft.Extensions.Logging;

namespace FapiLog.Sinks;

/// <summary>One event as captured by <see cref="InMemorySink"/>: rendered message, typed fields, exception and trace context.</summary>
/// <param name="Timestamp">When the call was made (UTC).</param>
/// <param name="Level">The event's level.</param>
/// <param name="EventId">The event id.</param>
/// <param name="EventName">The event name.</param>
/// <param name="Message">The rendered message.</param>
/// <param name="Template">The message template.</param>
/// <param name="Fields">Field name to value, in argument order: <see cref="long"/>, <see cref="ulong"/>, <see cref="double"/>,
/// <see cref="decimal"/>, <see cref="bool"/>, <see cref="string"/>, <see cref="DateTime"/>, <see cref="DateTimeOffset"/>,
/// <see cref="TimeSpan"/>, <see cref="Guid"/> or null.</param>
/// <param name="Exception">The exception, if any.</param>
/// <param name="TraceId">The trace id in hex, or null.</param>
/// <param name="SpanId">The span id in hex, or null.</param>
/// <param name="Json">The event as the JSON object of its Loki line: level, message, event, event_id, fields and exception. The
/// file sink's line is this object with <c>timestamp</c> first and <c>trace_id</c> / <c>span_id</c> (when there was an
/// activity) added.</param>
public sealed record CapturedLogEvent(
    DateTimeOffset Timestamp,
    LogLevel Level,
    int EventId,
    string EventName,
    string Message,
    string Template,
    IReadOnlyList<KeyValuePair<string, object?>> Fields,
    Exception? Exception,
    string? TraceId,
    string? SpanId,
    string Json)
{
    /// <summary>The value of field <paramref name="name"/> (case-sensitive, as the JSON member is named).</summary>
    /// <exception cref="KeyNotFoundException">The event has no such field; the message lists the fields it has.</exception>
    public object? this[string name]
    {
        get
        {
            foreach (KeyValuePair<string, object?> field in Fields)
            {
                if (field.Key == name)
                {
                    return field.Value;
                }
            }

            // A test that asks for "orderId" where the template says {OrderId} should see at once what it could have asked for.
            string has = Fields.Count == 0 ? "it has none" : "its fields are " + string.Join(", ", Fields.Select(f => f.Key));
            throw new KeyNotFoundException($"Event '{EventName}' has no field '{name}'; {has}.");
        }
    }
}

/// <summary>
/// Keeps every event it receives in memory, for your tests: configure it, log, call <see cref="FapiLogging.Flush"/> (or
/// <see cref="WaitForCount"/>, or <see cref="WaitFor"/> for an event logged on another thread), then assert on
/// <see cref="Events"/>. It allocates per event; do not use it in production.
/// </summary>
public sealed class InMemorySink : LogSink
{
    private readonly object _lock = new();
    private readonly List<CapturedLogEvent> _events = new();
    // Events forgotten by Clear so far: _events[i] is the (_cleared + i)th event received, which lets WaitFor go on from
    // where it was across a Clear.
    private long _cleared;
    private readonly List<int> _batchSizes = new();
    private readonly PooledCharBuffer _scratch = new();
    private readonly System.Buffers.ArrayBufferWriter<byte> _json = new();

    /// <summary>A copy of the events received so far, oldest first.</summary>
    public IReadOnlyList<CapturedLogEvent> Events
    {
        get
        {
            lock (_lock)
            {
                return _events.ToArray();
            }
        }
    }

    /// <summary>The size of each batch received so far, in order.</summary>
    public IReadOnlyList<int> BatchSizes
    {
        get
        {
            lock (_lock)
            {
                return _batchSizes.ToArray();
            }
        }
    }

    /// <summary>The number of events received so far.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _events.Count;
            }
        }
    }

    /// <summary>Forgets the events received so far.</summary>
    public void Clear()
    {
        lock (_lock)
        {
            _cleared += _events.Count;
            _events.Clear();
            _batchSizes.Clear();
        }
    }

    /// <summary>
    /// Waits until at least <paramref name="count"/> events have arrived; false if <paramref name="timeout"/> passed first.
    /// <see cref="Timeout.InfiniteTimeSpan"/> waits without a limit.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative and not <see cref="Timeout.InfiniteTimeSpan"/>.</exception>
    public bool WaitForCount(int count, TimeSpan timeout)
    {
        long deadline = Deadline(timeout);
        lock (_lock)
        {
            while (_events.Count < count)
            {
                if (!WaitLocked(deadline))
                {
                    return false;
                }
            }

            return true;
        }
    }

    /// <summary>
    /// Waits until an event that <paramref name="match"/> accepts has arrived and returns it (the oldest one, of those
    /// received since the last <see cref="Clear"/>: one that arrived before the call counts); null if
    /// <paramref name="timeout"/> passed first. <see cref="Timeout.InfiniteTimeSpan"/> waits without a limit. For an event
    /// logged on another thread (a background service, a request handler) among others that a count cannot foresee.
    /// </summary>
    /// <param name="match">Called on the calling thread, outside the sink's lock, once per event; what it throws reaches the caller.</param>
    /// <param name="timeout">How long to wait.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative and not <see cref="Timeout.InfiniteTimeSpan"/>.</exception>
    public CapturedLogEvent? WaitFor(Func<CapturedLogEvent, bool> match, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(match);
        long deadline = Deadline(timeout);
        long next = 0;
        while (true)
        {
            CapturedLogEvent[] arrived;
            lock (_lock)
            {
                while (_cleared + _events.Count <= next)
                {
                    if (!WaitLocked(deadline))
                    {
                        return null;
                    }
                }

                // Outside the lock the predicate cannot hold up the worker, which takes it to add events.
                int from = (int)Math.Max(0, next - _cleared);
                arrived = new CapturedLogEvent[_events.Count - from];
                _events.CopyTo(from, arrived, 0, arrived.Length);
                next = _cleared + _events.Count;
            }

            foreach (CapturedLogEvent e in arrived)
            {
                if (match(e))
                {
                    return e;
                }
            }
        }
    }

    /// <summary>The Stopwatch timestamp <paramref name="timeout"/> from now; <see cref="long.MaxValue"/> for no limit.</summary>
    private static long Deadline(TimeSpan timeout)
    {
        bool infinite = timeout == Timeout.InfiniteTimeSpan;
        if (timeout < TimeSpan.Zero && !infinite)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "The timeout must be zero or more, or Timeout.InfiniteTimeSpan.");
        }

        // Saturating: TimeSpan.MaxValue in timestamp ticks is past long.MaxValue.
        long now = Stopwatch.GetTimestamp();
        double ticks = timeout.TotalSeconds * Stopwatch.Frequency;
        return infinite || ticks >= long.MaxValue - now ? long.MaxValue : now + (long)ticks;
    }

    /// <summary>Waits (holding the lock) for the worker to add events; false once <paramref name="deadline"/> has passed.</summary>
    private bool WaitLocked(long deadline)
    {
        if (deadline == long.MaxValue)
        {
            Monitor.Wait(_lock);
            return true;
        }

        long remaining = deadline - Stopwatch.GetTimestamp();
        if (remaining <= 0)
        {
            return false;
        }

        // Monitor.Wait takes at most int.MaxValue ms (about 24.8 days): a longer wait goes round the caller's loop again.
        Monitor.Wait(_lock, (int)Math.Min(int.MaxValue, Math.Ceiling(remaining * 1000.0 / Stopwatch.Frequency)));
        return true;
    }

    /// <inheritdoc />
    public override void Write(in LogBatch batch, CancellationToken cancellationToken)
    {
        var captured = new CapturedLogEvent[batch.Count];
        for (int i = 0; i < batch.Count; i++)
        {
            captured[i] = Capture(in batch[i]);
        }

        lock (_lock)
        {
            _events.AddRange(captured);
            _batchSizes.Add(batch.Count);
            Monitor.PulseAll(_lock);
        }
    }

    private CapturedLogEvent Capture(in LogRecord record)
    {
        var fields = new FieldCollector(new List<KeyValuePair<string, object?>>(record.Descriptor.Arguments.Count));
        record.VisitFields(ref fields);
        _json.ResetWrittenCount();
        using (var writer = new System.Text.Json.Utf8JsonWriter(_json, JsonFormatting.WriterOptions))
        {
            try
            {
                JsonFormatting.WriteEvent(writer, in record, _scratch, JsonLineParts.Core);
                writer.Flush();
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // As in the other sinks: the event's line says it could not be rendered; the batch is kept.
                _json.ResetWrittenCount();
                writer.Reset(_json);
                JsonFormatting.WriteRenderFailure(writer, in record, ex);
            }
        }

        return new CapturedLogEvent(
            record.Timestamp,
            record.Level,
            record.EventId,
            record.EventName,
            record.FormatMessage(),
            record.MessageTemplate,
            fields.Fields,
            record.Exception,
            record.HasTraceContext ? record.TraceId.ToHexString() : null,
            record.HasTraceContext ? record.SpanId.ToHexString() : null,
            System.Text.Encoding.UTF8.GetString(_json.WrittenSpan));
    }

    private readonly struct FieldCollector : ILogFieldVisitor
    {
        public FieldCollector(List<KeyValuePair<string, object?>> fields) => Fields = fields;

        public List<KeyValuePair<string, object?>> Fields { get; }

        private void Add(string name, object? value) => Fields.Add(new KeyValuePair<string, object?>(name, value));

        public void Visit(string name, long value) => Add(name, value);

        public void Visit(string name, ulong value) => Add(name, value);

        public void Visit(string name, double value) => Add(name, value);

        public void Visit(string name, decimal value) => Add(name, value);

        public void Visit(string name, bool value) => Add(name, value);

        public void Visit(string name, string value) => Add(name, value);

        public void Visit(string name, DateTime value) => Add(name, value);

        public void Visit(string name, DateTimeOffset value) => Add(name, value);

        public void Visit(string name, TimeSpan value) => Add(name, value);

        public void Visit(string name, Guid value) => Add(name, value);

        public void VisitNull(string name) => Add(name, null);
    }
}
