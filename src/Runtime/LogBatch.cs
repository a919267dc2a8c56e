using System;
using System.Runtime.CompilerServices;

namespace FapiLog;

/// <summary>
/// A batch of events handed to <see cref="LogSink.Write"/>: a view over the queue's slots, in the order the events were
/// enqueued. Valid only during that call; a sink that needs an event later must copy what it needs.
/// </summary>
public readonly struct LogBatch
{
    private readonly LogRecord[] _slots;
    private readonly long _start;
    private readonly int _mask;

    internal LogBatch(LogRecord[] slots, long start, int count, int mask)
    {
        _slots = slots;
        _start = start;
        _mask = mask;
        Count = count;
    }

    /// <summary>The number of events.</summary>
    public int Count { get; }

    /// <summary>The event at <paramref name="index"/> (0 is the oldest).</summary>
    public ref readonly LogRecord this[int index]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            if ((uint)index >= (uint)Count)
            {
                throw new ArgumentOutOfRangeException(nameof(index));
            }

            return ref _slots[(int)(_start + index) & _mask];
        }
    }

    /// <summary>Enumerates the events by reference.</summary>
    public Enumerator GetEnumerator() => new(this);

    /// <summary>Enumerates a <see cref="LogBatch"/> by reference.</summary>
    public ref struct Enumerator
    {
        private readonly LogBatch _batch;
        private int _index;

        internal Enumerator(LogBatch batch)
        {
            _batch = batch;
            _index = -1;
        }

        /// <summary>The current event.</summary>
        public readonly ref readonly LogRecord Current => ref _batch[_index];

        /// <summary>Advances to the next event.</summary>
        public bool MoveNext() => ++_index < _batch.Count;
    }
}
