using System;
using System.Buffers;

namespace FapiLog.Loki;

/// <summary>
/// A growable byte buffer that is kept and reused across batches. Unlike <see cref="ArrayBufferWriter{T}"/> its length
/// can be cut back, which is how an over-long line is truncated in place.
/// </summary>
internal sealed class ByteBuffer : IBufferWriter<byte>
{
    private byte[] _buffer;
    private int _length;

    public ByteBuffer(int initialCapacity) => _buffer = new byte[Math.Max(16, initialCapacity)];

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
