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

    /// <summary>
    /// Called by the worker after each batch: a scratch buffer grown by a huge aligned value is let go, so that the thread
    /// does not keep it for the rest of its life. Once per batch rather than per value, off the rendering path.
    /// </summary>
    internal static void TrimScratch() => t_scratch?.ClearAndTrim();

    /// <summary>The capacity of this thread's scratch buffer, 0 when it has none (for tests).</summary>
    internal static int ScratchCapacity => t_scratch?.Capacity ?? 0;

    [ThreadStatic]
    private static PooledCharBuffer? t_scratch;
}

/// <summary>A growable char buffer over <see cref="ArrayPool{T}"/>; reset and reuse it instead of allocating.</summary>
internal sealed class PooledCharBuffer : IBufferWriter<char>, IDisposable
{
    /// <summary>
    /// Most chars (512 Ki chars, 1 MiB) a buffer keeps from one batch to the next. A buffer grows to fit the largest text
    /// it is given, and one huge event (a 50 MB argument or exception text) made every buffer that rendered it keep that
    /// size for the life of the process; ordinary events, even with long stack traces, stay far below it.
    /// </summary>
    internal const int MaxRetainedChars = 512 * 1024;

    private readonly int _initialCapacity;
    private char[] _buffer;
    private int _length;

    public PooledCharBuffer(int initialCapacity = 256)
    {
        _initialCapacity = initialCapacity;
        _buffer = ArrayPool<char>.Shared.Rent(initialCapacity);
    }

    public ReadOnlySpan<char> WrittenSpan => _buffer.AsSpan(0, _length);

    public int Length => _length;

    /// <summary>The chars the buffer holds room for.</summary>
    public int Capacity => _buffer.Length;

    public void Clear() => _length = 0;

    /// <summary>
    /// Clears the buffer and, when it has grown past <see cref="MaxRetainedChars"/>, replaces it with one of its initial
    /// size. For the end of a batch, when what it holds is no longer needed: one compare unless it grew that far.
    /// </summary>
    public void ClearAndTrim()
    {
        _length = 0;
        if (_buffer.Length > MaxRetainedChars)
        {
            char[] large = _buffer;
            _buffer = ArrayPool<char>.Shared.Rent(_initialCapacity);
            Return(large);
        }
    }

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
        Return(_buffer);
        _buffer = bigger;
    }

    /// <summary>
    /// Gives an array back to the shared pool, unless it is larger than a buffer keeps: the pool would hold it in this
    /// thread's cache until a later full collection trims it, which is the retention the limit is there to end.
    /// </summary>
    private static void Return(char[] buffer)
    {
        if (buffer.Length > 0 && buffer.Length <= MaxRetainedChars)
        {
            ArrayPool<char>.Shared.Return(buffer);
        }
    }

    public void Dispose()
    {
        char[] buffer = _buffer;
        _buffer = Array.Empty<char>();
        _length = 0;
        Return(buffer);
    }
}
