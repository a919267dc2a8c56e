using System;
using System.Buffers;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using FapiLog.Internal;
using Microsoft.Extensions.Logging;

namespace FapiLog;

/// <summary>
/// One logged event as a sink sees it: the call's timestamp, the event descriptor, the typed argument values as they were
/// at the moment of the call, the exception and the trace context. Records live in the queue's slots and are handed to
/// sinks by reference (<see cref="LogBatch"/>); they are valid only during <see cref="LogSink.Write"/>. A copy of a record
/// is not a snapshot: an event with many arguments keeps their values in storage its slot reuses for later events.
/// </summary>
/// <remarks>
/// The runtime lays the fields out (references first). Placing the fields every call writes next to each other with an
/// explicit layout, two cache lines per typical event instead of three, was measured and made the burst benchmark slower
/// (median 103–105 ns against 40 ns for the same call), so the automatic layout stays.
/// </remarks>
public struct LogRecord
{
    // Publication marker: position + 1 once the producer has written the slot for that position.
    internal long _published;
    internal long _timestampTicks;
    internal LogEventDescriptor? _descriptor;
    internal Exception? _exception;
    internal ActivityTraceId _traceId;
    internal ActivitySpanId _spanId;
    internal ValueArea _values;
    internal ReferenceArea _references;
    internal byte[]? _spillValues;
    internal object?[]? _spillReferences;

    private static readonly long s_unixEpochTicks = DateTime.UnixEpoch.Ticks;

    /// <summary>The descriptor of the event (id, name, level, template, arguments).</summary>
    public readonly LogEventDescriptor Descriptor => _descriptor!;

    /// <summary>The event's level.</summary>
    public readonly LogLevel Level => _descriptor!.Level;

    /// <summary>The event id: the attribute's <c>EventId</c>, 0 when none was given (for an <c>ILogger</c> call, its <c>EventId.Id</c>).</summary>
    public readonly int EventId => _descriptor!.EventId;

    /// <summary>
    /// The event name: the attribute's <c>EventName</c>, or the log method's name when none was given (for an <c>ILogger</c>
    /// call, its <c>EventId.Name</c>, or the logger category when that is empty).
    /// </summary>
    public readonly string EventName => _descriptor!.EventName;

    /// <summary>
    /// The message template as written, placeholders included (<c>"Order {OrderId} placed"</c>); see
    /// <see cref="FormatMessage()"/> for the rendered text. For an <c>ILogger</c> call whose message is the formatter's text
    /// rather than rendered from its template, <c>"{message}"</c>.
    /// </summary>
    public readonly string MessageTemplate => _descriptor!.Message;

    /// <summary>When the call was made, in UTC.</summary>
    public readonly DateTimeOffset Timestamp => new(_timestampTicks, TimeSpan.Zero);

    /// <summary>When the call was made, as UTC ticks (100 ns since 0001-01-01).</summary>
    public readonly long TimestampTicks => _timestampTicks;

    /// <summary>When the call was made, in nanoseconds since the Unix epoch (Loki's timestamp).</summary>
    public readonly long UnixTimeNanoseconds => (_timestampTicks - s_unixEpochTicks) * 100;

    /// <summary>The event's exception, if any.</summary>
    public readonly Exception? Exception => _exception;

    /// <summary>True when an <see cref="Activity"/> was current at the call.</summary>
    public readonly bool HasTraceContext => _traceId != default;

    /// <summary>The trace id of <see cref="Activity.Current"/> at the call; default when there was none.</summary>
    public readonly ActivityTraceId TraceId => _traceId;

    /// <summary>The span id of <see cref="Activity.Current"/> at the call; default when there was none.</summary>
    public readonly ActivitySpanId SpanId => _spanId;

    /// <summary>Renders the message into <paramref name="destination"/> with the invariant culture, without allocating.</summary>
    public readonly void FormatMessage(IBufferWriter<char> destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        MessageRenderer.Render(in this, destination);
    }

    /// <summary>Renders the message as a new string (allocates; sinks on a hot path should use the buffer overload).</summary>
    public readonly string FormatMessage()
    {
        var buffer = new ArrayBufferWriter<char>(128);
        MessageRenderer.Render(in this, buffer);
        return buffer.WrittenSpan.ToString();
    }

    /// <summary>
    /// Calls <paramref name="visitor"/> once per field (every argument that is not only part of the message), in declaration
    /// order, with the field name and the typed value.
    /// No value is boxed when <typeparamref name="TVisitor"/> is a struct.
    /// </summary>
    public readonly void VisitFields<TVisitor>(ref TVisitor visitor)
        where TVisitor : ILogFieldVisitor
    {
        LogEventDescriptor d = _descriptor!;
        for (int i = d.FirstField; i < d.ArgumentArray.Length; i++)
        {
            ValueReader.Visit(in this, d, i, ref visitor);
        }
    }

    /// <summary>The start of this record's value area for an event that needs <paramref name="bytes"/> bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    [UnscopedRef]
    internal ref byte PrepareValues(int bytes)
    {
        if (bytes <= LogEventDescriptor.InlineValueBytes)
        {
            return ref Unsafe.As<ValueArea, byte>(ref _values);
        }

        return ref PrepareSpillValues(bytes);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private ref byte PrepareSpillValues(int bytes)
    {
        // Kept for the slot's lifetime up to a bound (see DropOversizedSpill): only the first large event through a slot
        // allocates, and every event larger than the bound.
        if (_spillValues is null || _spillValues.Length < bytes)
        {
            _spillValues = new byte[bytes];
        }

        return ref _spillValues[0];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    [UnscopedRef]
    internal Span<object?> PrepareReferences(int count)
    {
        if (count <= LogEventDescriptor.InlineReferences)
        {
            return MemoryMarshal_CreateSpan(ref _references, count);
        }

        if (_spillReferences is null || _spillReferences.Length < count)
        {
            _spillReferences = new object?[count];
        }

        return _spillReferences.AsSpan(0, count);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Span<object?> MemoryMarshal_CreateSpan(ref ReferenceArea area, int count)
        => System.Runtime.InteropServices.MemoryMarshal.CreateSpan(ref Unsafe.As<ReferenceArea, object?>(ref area), count);

    [UnscopedRef]
    internal readonly ReadOnlySpan<byte> ValueSpan
    {
        get
        {
            int bytes = _descriptor!.ValueBytes;
            return bytes <= LogEventDescriptor.InlineValueBytes
                ? System.Runtime.InteropServices.MemoryMarshal.CreateReadOnlySpan(ref Unsafe.As<ValueArea, byte>(ref Unsafe.AsRef(in _values)), bytes)
                : _spillValues.AsSpan(0, bytes);
        }
    }

    internal readonly object? GetReference(int index)
    {
        int count = _descriptor!.ReferenceCount;
        return count <= LogEventDescriptor.InlineReferences
            ? Unsafe.Add(ref Unsafe.As<ReferenceArea, object?>(ref Unsafe.AsRef(in _references)), index)
            : _spillReferences![index];
    }

    /// <summary>Drops the references the slot holds so that a drained event does not keep objects alive.</summary>
    internal void ClearReferences()
    {
        LogEventDescriptor? descriptor = _descriptor;
        int count = descriptor?.ReferenceCount ?? 0;
        if (count > 0)
        {
            PrepareReferences(count).Clear();
        }

        if (descriptor is { SpillsOversized: true })
        {
            DropOversizedSpill();
        }

        _exception = null;
        _descriptor = null;
        _traceId = default;
        _spanId = default;
    }

    /// <summary>
    /// Lets go of spill storage larger than a slot keeps (see <see cref="LogEventDescriptor.MaxRetainedSpillValueBytes"/>);
    /// the next event that needs more than that allocates its own.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void DropOversizedSpill()
    {
        if (_spillValues is { Length: > LogEventDescriptor.MaxRetainedSpillValueBytes })
        {
            _spillValues = null;
        }

        if (_spillReferences is { Length: > LogEventDescriptor.MaxRetainedSpillReferences })
        {
            _spillReferences = null;
        }
    }

    [InlineArray(LogEventDescriptor.InlineValueBytes / sizeof(ulong))]
    internal struct ValueArea
    {
        private ulong _element0;
    }

    [InlineArray(LogEventDescriptor.InlineReferences)]
    internal struct ReferenceArea
    {
        private object? _element0;
    }
}
