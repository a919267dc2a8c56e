using System;
using System.Buffers;

namespace FapiLog.Loki;

/// <summary>
/// A growable byte buffer that is kept and reused across batches. Unlike <see cref="ArrayBufferWriter{T}"/> its length
/// can be cut back, which is how an over-long line is truncated in place.
/// </summary>
internal sealed class ByteBuffer : IBufferWriter<byte>
{
    /// <summary>
    /// Capacity (1 MiB) above which a buffer that holds at most a quarter of it is cut down by <see cref="TrimExcess"/>.
    /// A buffer grows to fit the largest batch it is given; without this, one huge event made it keep that size for the
    /// life of the process. The quarter spares a buffer whose batches are that large anyway from being made again each time.
    /// </summary>
    internal const int MaxRetainedBytes = 1024 * 1024;

    private readonly int _initialCapacity;
    private byte[] _buffer;
    private int _length;

    public ByteBuffer(int initialCapacity)
    {
        _initialCapacity = Math.Max(16, initialCapacity);
        _buffer = new byte[_initialCapacity];
    }

    /// <summary>The bytes the buffer holds room for.</summary>
    public int Capacity => _buffer.Length;

    public int Length
    {
        get => _length;
        set
        {
            if ((uint)value > (uint)_buffer.Length)
            {
                throw new ArgumentOutOfRangeException(nameof(value));
            }

            _length = value;
        }
    }

    public byte[] Array => _buffer;

    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, _length);

    public void Clear() => _length = 0;

    public void Advance(int count)
    {
        if ((uint)count > (uint)(_buffer.Length - _length))
        {
            throw new ArgumentOutOfRangeException(nameof(count));
        }

        _length += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsMemory(_length);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsSpan(_length);
    }

    public void Write(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(GetSpan(bytes.Length));
        _length += bytes.Length;
    }

    /// <summary>
    /// When the buffer has grown past <see cref="MaxRetainedBytes"/> and what it holds takes at most a quarter of it, moves
    /// that into an array just large enough (its initial capacity at least) and lets the large one go. For the end of a
    /// batch: one compare unless it grew that far. Returns true when it did.
    /// </summary>
    public bool TrimExcess()
    {
        if (_buffer.Length <= MaxRetainedBytes || _length > _buffer.Length / 4)
        {
            return false;
        }

        byte[] smaller = new byte[Math.Max(_initialCapacity, _length)];
        _buffer.AsSpan(0, _length).CopyTo(smaller);
        _buffer = smaller;
        return true;
    }

    /// <summary>Makes room for <paramref name="sizeHint"/> more bytes (at least one).</summary>
    public void Ensure(int sizeHint)
    {
        if (sizeHint < 1)
        {
            sizeHint = 1;
        }

        if (_buffer.Length - _length >= sizeHint)
        {
            return;
        }

        Grow(sizeHint);
    }

    private void Grow(int sizeHint)
    {
        long wanted = Math.Max((long)_buffer.Length * 2, (long)_length + sizeHint);
        int size = (int)Math.Min(wanted, System.Array.MaxLength);
        if (size - _length < sizeHint)
        {
            throw new OutOfMemoryException("A batch does not fit in one buffer (2 GiB).");
        }

        byte[] bigger = new byte[size];
        _buffer.AsSpan(0, _length).CopyTo(bigger);
        _buffer = bigger;
    }
}
