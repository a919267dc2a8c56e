using System;
using System.ComponentModel;
using System.Runtime.CompilerServices;
using FapiLog.Internal;

namespace FapiLog;

/// <summary>
/// Writes one event's values into the queue slot claimed by <see cref="FapiLogRuntime.Begin(LogEventDescriptor)"/>. Generated code calls
/// <see cref="Write{T}(T)"/> / <see cref="WriteString"/> once per argument in the descriptor's order, then <see cref="Commit"/>.
/// When <see cref="IsActive"/> is false (the event was dropped, sampled out or logged after shutdown; already counted) the
/// caller must return without writing: an inactive writer has no slot behind it.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public ref struct LogEventWriter
{
    private readonly ref LogRecord _record;
    private readonly LogQueue? _queue;
    private readonly long _position;
    private ref byte _values;
    private int _valueOffset;
    private int _valueLimit;
    private Span<object?> _references;
    private int _referenceIndex;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal LogEventWriter(ref LogRecord record, LogQueue? queue, long position, LogEventDescriptor descriptor)
    {
        _record = ref record;
        _queue = queue;
        _position = position;
        _valueLimit = descriptor.ValueBytes;
        _values = ref record.PrepareValues(_valueLimit);
        _valueOffset = 0;
        _references = descriptor.ReferenceCount == 0 ? default : record.PrepareReferences(descriptor.ReferenceCount);
        _referenceIndex = 0;
    }

    /// <summary>True when a slot was claimed and the values should be written.</summary>
    public readonly bool IsActive
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => !Unsafe.IsNullRef(ref _record);
    }

    /// <summary>Copies a value-type argument (a primitive, enum, <see cref="decimal"/>, date/time, <see cref="Guid"/> or a nullable of one).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write<T>(T value)
        where T : unmanaged
    {
        int offset = _valueOffset;
        if ((uint)(offset + Unsafe.SizeOf<T>()) > (uint)_valueLimit)
        {
            ThrowHelper.ThrowLayoutMismatch();
        }

        Unsafe.WriteUnaligned(ref Unsafe.Add(ref _values, offset), value);
        _valueOffset = offset + Unsafe.SizeOf<T>();
    }

    /// <summary>Copies a nullable value-type argument (<see cref="Write{T}"/> cannot take one: <see cref="Nullable{T}"/> is not <c>unmanaged</c>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteNullable<T>(T? value)
        where T : unmanaged
    {
        int offset = _valueOffset;
        if ((uint)(offset + Unsafe.SizeOf<T?>()) > (uint)_valueLimit)
        {
            ThrowHelper.ThrowLayoutMismatch();
        }

        Unsafe.WriteUnaligned(ref Unsafe.Add(ref _values, offset), value);
        _valueOffset = offset + Unsafe.SizeOf<T?>();
    }

    /// <summary>Stores a string argument (strings are immutable, so the reference is the value at call time).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteString(string? value)
    {
        _references[_referenceIndex++] = value;
    }

    /// <summary>Sets the event's exception.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void SetException(Exception? exception)
    {
        _record._exception = exception;
    }

    /// <summary>
    /// Publishes the event to the worker. Must be called exactly once after the values are written: the worker waits for
    /// a claimed slot until it is committed (holding up every later event), and a second call on a copy of the writer
    /// may mark a slot another event has since claimed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Commit()
    {
        if (_queue is not null)
        {
            _queue.Publish(ref _record, _position);
        }
    }
}
