using System;
using System.Runtime.CompilerServices;

namespace FapiLog;

/// <summary>
/// A batch of events handed to <see cref="LogSink.Write"/>: a view over the queue's slots, in the order the events were
/// enqueued. Valid only during that call; a sink that needs an event later must copy what it needs. Reading an event of a
/// batch kept past that call throws <see cref="InvalidOperationException"/> once the worker has released it (a read on
/// another thread at the very moment of the release is not caught: keeping the batch is the bug to fix).
/// </summary>
public readonly struct LogBatch
{
    private readonly LogRecord[] _slots;
    private readonly long _start;
    private readonly int _mask;
    // The queue whose slots these are, null for a batch over slots of its own. Once the worker has released the batch
    // (its head has moved past _start) the slots are cleared and then reused by later events: a batch kept past Write
    // would read a null descriptor or someone else's values, so it throws instead.
    private readonly Internal.LogQueue? _queue;

    internal LogBatch(LogRecord[] slots, long start, int count, int mask, Internal.LogQueue? queue = null)
    {
        _slots = slots;
        _start = start;
        _mask = mask;
        _queue = queue;
        Count = count;
    }

    /// <summary>The number of events.</summary>
    public int Count { get; }

    /// <summary>The event at <paramref name="index"/> (0 is the oldest).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is not below <see cref="Count"/>.</exception>
    /// <exception cref="InvalidOperationException">The <see cref="LogSink.Write"/> call this batch was given to has returned.</exception>
    public ref readonly LogRecord this[int index]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            if ((uint)index >= (uint)Count)
            {
                throw new ArgumentOutOfRangeException(nameof(index));
            }

            if (_queue is not null && _queue.Head != _start)
            {
                Internal.ThrowHelper.ThrowBatchReleased();
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
