using System;
using System.Buffers;

namespace FapiLog.Internal;

/// <summary>Renders a record's message from its descriptor's template segments and its typed values.</summary>
internal static class MessageRenderer
{
    public const string Null = "(null)";

    public static void Render(in LogRecord record, IBufferWriter<char> w)
    {
        LogEventDescriptor d = record.Descriptor;
        foreach (LogEventDescriptor.Segment s in d.Segments)
        {
            if (s.Literal is not null)
            {
                ValueReader.Append(w, s.Literal);
            }
            else if (s.Alignment == 0)
            {
                ValueReader.Format(in record, d, s.ArgumentIndex, s.Format, w);
            }
            else
            {
                RenderAligned(in record, d, s, w);
            }
        }
    }

    private static void RenderAligned(in LogRecord record, LogEventDescriptor d, LogEventDescriptor.Segment s, IBufferWriter<char> w)
    {
        // Render into a per-thread scratch buffer, then pad on the side composite formatting pads.
        PooledCharBuffer scratch = t_scratch ??= new PooledCharBuffer(64);
        scratch.Clear();
        ValueReader.Format(in record, d, s.ArgumentIndex, s.Format, scratch);
        ReadOnlySpan<char> text = scratch.WrittenSpan;
        int pad = Math.Abs(s.Alignment) - text.Length;
        if (pad > 0 && s.Alignment > 0)
        {
            Pad(w, pad);
        }

        ValueReader.Append(w, text);
        if (pad > 0 && s.Alignment < 0)
        {
            Pad(w, pad);
        }
    }

    private static void Pad(IBufferWriter<char> w, int count)
    {
        Span<char> span = w.GetSpan(count);
        span.Slice(0, count).Fill(' ');
        w.Advance(count);
    }

    [ThreadStatic]
    private static PooledCharBuffer? t_scratch;
}

/// <summary>A growable char buffer over <see cref="ArrayPool{T}"/>; reset and reuse it instead of allocating.</summary>
internal sealed class PooledCharBuffer : IBufferWriter<char>, IDisposable
{
    private char[] _buffer;
    private int _length;

    public PooledCharBuffer(int initialCapacity = 256)
    {
        _buffer = ArrayPool<char>.Shared.Rent(initialCapacity);
    }

    public ReadOnlySpan<char> WrittenSpan => _buffer.AsSpan(0, _length);

    public int Length => _length;

    public void Clear() => _length = 0;

    public void Advance(int count) => _length += count;

    public Memory<char> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsMemory(_length);
    }

    public Span<char> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsSpan(_length);
    }

    private void Ensure(int sizeHint)
    {
        if (sizeHint < 1)
        {
            sizeHint = 1;
        }

        if (_buffer.Length - _length >= sizeHint)
        {
            return;
        }

        char[] bigger = ArrayPool<char>.Shared.Rent(Math.Max(_buffer.Length * 2, _length + sizeHint));
        _buffer.AsSpan(0, _length).CopyTo(bigger);
        ArrayPool<char>.Shared.Return(_buffer);
        _buffer = bigger;
    }

    public void Dispose()
    {
        char[] buffer = _buffer;
        _buffer = Array.Empty<char>();
        _length = 0;
        if (buffer.Length > 0)
        {
            ArrayPool<char>.Shared.Return(buffer);
        }
    }
}
