using System;
using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using Microsoft.Extensions.Logging;

namespace FapiLog.Internal;

/// <summary>
/// The bounded multi-producer, single-consumer queue. Producers claim a position with one compare-and-swap on the tail,
/// fill the slot in place and publish it by writing the slot's marker; the single worker reads published slots from the
/// head in order, hands them to the sinks by reference and releases them in one step per batch.
/// </summary>
/// <remarks>
/// The ring's length is a power of two at least <c>capacity</c>, but admission is checked against the configured capacity
/// (<c>tail - head &lt; capacity</c>), so users see and count exactly the number they configured. Shutdown sets a bit in the
/// tail word itself, which makes "closed" and "claimed" one atomic fact: no event can slip in after the final position is known.
/// </remarks>
internal sealed class LogQueue
{
    /// <summary>Set in <see cref="_positions"/>.Tail once shutdown has begun; claims fail from then on.</summary>
    internal const long ClosedBit = 1L << 62;

    /// <summary>The close reason of a queue whose pipeline <c>Configure</c> replaced: not a drop reason of its own.</summary>
    private const int Replaced = -2;

    /// <summary>
    /// How many replaced pipelines a call follows to the next one before it gives up (counted as <see cref="DropReason.Shutdown"/>):
    /// a call waiting for room while pipelines are replaced one after another must still end.
    /// </summary>
    internal const int MaxReplacementsFollowed = 8;

    private readonly LogRecord[] _slots;
    private readonly int _mask;
    private readonly long _capacity;
    private readonly long _fastPathLimit;
    private readonly long _highWaterMark;
    private readonly OverflowStrategy _strategy;
    private readonly double _sampleRate;
    private readonly long _blockTimeoutTicks;
    private readonly long _halfCapacity;
    private readonly long _fullBatch;
    private readonly long _wakeProducersAt;
    private readonly PipelineCounters _counters;
    private readonly object _spaceLock = new();
    private Positions _positions;
    private long _sampleSequence;
    private int _blockedProducers;
    private volatile bool _consumerStopped;
    // Why the tail was closed (a DropReason, or Replaced): shutdown, the worker's death, or Configure installing another
    // pipeline. Written before the closed bit.
    private int _closeReason = -1;
    // The queue of the pipeline that replaced this one; written before the close reason Replaced.
    private LogQueue? _successor;
    private readonly TimeProvider? _testClock;

    /// <summary>Set by producers when the worker should look: the first pending event, or a full batch.</summary>
    internal readonly ManualResetEventSlim WakeWorker = new(false, spinCount: 0);

    public LogQueue(int capacity, OverflowStrategy strategy, double sampleRate, double sampleHighWaterMark, TimeSpan blockTimeout, int batchSize,
        PipelineCounters counters, TimeProvider time)
    {
        _testClock = ReferenceEquals(time, TimeProvider.System) ? null : time;
        int ringLength = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(capacity, 2));
        _slots = AllocateSlots(ringLength, capacity);
        _mask = ringLength - 1;
        _capacity = capacity;
        _strategy = strategy;
        _sampleRate = sampleRate;
        _highWaterMark = Math.Max(1, (long)Math.Floor(capacity * sampleHighWaterMark));
        _fastPathLimit = strategy == OverflowStrategy.Sample ? _highWaterMark : capacity;
        _blockTimeoutTicks = blockTimeout == Timeout.InfiniteTimeSpan ? long.MaxValue : blockTimeout.Ticks;
        _halfCapacity = Math.Max(1, capacity / 2);
        _fullBatch = Math.Min(batchSize, _halfCapacity);
        _wakeProducersAt = Math.Max(1, capacity / 4);
        _counters = counters;
    }

    /// <summary>
    /// The ring, one array of <paramref name="ringLength"/> slots. When the process has no room for it (the largest
    /// capacity needs gigabytes; a container's memory limit caps the heap below that), the setting is what is wrong, so the
    /// error names it and the memory it needs; nothing else has been allocated or started yet.
    /// </summary>
    private static LogRecord[] AllocateSlots(int ringLength, int capacity)
    {
        try
        {
            return new LogRecord[ringLength];
        }
        catch (OutOfMemoryException ex)
        {
            long mebibytes = ((long)ringLength * Unsafe.SizeOf<LogRecord>()) >> 20;
            throw new FapiLogConfigurationException(nameof(FapiLogOptions.QueueCapacity), capacity.ToString(System.Globalization.CultureInfo.InvariantCulture),
                $"a capacity this process has memory for: {ringLength} slots of {Unsafe.SizeOf<LogRecord>()} bytes need {mebibytes} MiB in one array, and allocating it failed", ex);
        }
    }

    public long Capacity => _capacity;

    /// <summary>Producers asleep waiting for room (Block), for tests and diagnostics.</summary>
    public int BlockedProducers => Volatile.Read(ref _blockedProducers);

    /// <summary>Positions claimed so far (the number of events ever enqueued).</summary>
    public long Tail => Volatile.Read(ref _positions.Tail) & ~ClosedBit;

    /// <summary>Positions released by the worker so far.</summary>
    public long Head => Volatile.Read(ref _positions.Head);

    public bool IsClosed => (Volatile.Read(ref _positions.Tail) & ClosedBit) != 0;

    public long Depth => Tail - Head;

    /// <summary>
    /// How many pending events make a batch due: <c>BatchSize</c>, or half the capacity when that is smaller, so that a
    /// queue smaller than a batch is still drained before it fills.
    /// </summary>
    public long FullBatch => _fullBatch;

    /// <summary>A view of [head, head + count) for the sinks.</summary>
    public LogBatch GetBatch(long head, int count) => new(_slots, head, count, _mask, this);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref LogRecord Slot(long position) => ref _slots[(int)position & _mask];

    /// <summary>Claims the next position, or applies the overflow strategy when there is no room.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryClaim(LogLevel level, out long position)
    {
        if (TryClaimFast(out position))
        {
            return true;
        }

        long deadline = long.MaxValue;
        long calledAtTicks = 0;
        return TryClaimSlow(level, out position, ref deadline, ref calledAtTicks, followReplacement: false) == ClaimOutcome.Claimed;
    }

    /// <summary>Claims the next position when there is room below the fast-path limit and no other producer gets in between.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryClaimFast(out long position)
    {
        long tail = Volatile.Read(ref _positions.Tail);
        // A closed tail has bit 62 set, so this difference is huge and the slow path sees shutdown too.
        if (tail - Volatile.Read(ref _positions.Head) < _fastPathLimit
            && Interlocked.CompareExchange(ref _positions.Tail, tail + 1, tail) == tail)
        {
            position = tail;
            return true;
        }

        position = 0;
        return false;
    }

    /// <summary>
    /// The queue of the pipeline that replaced this one, once <see cref="TryClaimSlow"/> has returned
    /// <see cref="ClaimOutcome.Replaced"/>.
    /// </summary>
    public LogQueue? Successor => Volatile.Read(ref _successor);

    /// <summary>
    /// Claims a position after the fast path failed: applies the overflow strategy, or counts the refusal of a closed queue.
    /// Under <see cref="OverflowStrategy.Block"/> the wait ends at <paramref name="deadline"/> (a Stopwatch timestamp) or
    /// after <c>BlockTimeout</c>, whichever comes first; the earlier of the two is written back when the wait begins, so
    /// that a call that moves on to a successor keeps the time it has already waited against its bound. So is the time of
    /// the call into <paramref name="calledAtTicks"/> (<see cref="UtcNowTicks"/>), unless it is set already: the event's
    /// timestamp, so that a call that waited for room keeps the time it was made.
    /// </summary>
    /// <returns>
    /// <see cref="ClaimOutcome.Replaced"/>, with nothing counted, when the queue was closed because its pipeline was replaced
    /// and <paramref name="followReplacement"/> is true: the caller claims in <see cref="Successor"/> instead.
    /// </returns>
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal ClaimOutcome TryClaimSlow(LogLevel level, out long position, ref long deadline, ref long calledAtTicks, bool followReplacement)
    {
        bool sampledIn = false;
        bool waited = false;
        var spinner = new SpinWait();
        while (true)
        {
            long tail = Volatile.Read(ref _positions.Tail);
            if ((tail & ClosedBit) != 0)
            {
                position = 0;
                int reason = Volatile.Read(ref _closeReason);
                if (reason == Replaced)
                {
                    if (followReplacement)
                    {
                        return ClaimOutcome.Replaced;
                    }

                    reason = (int)DropReason.Shutdown;
                }

                _counters.CountDrop((DropReason)reason);
                // Said on stderr as any drop is: a call after the shutdown (the application's last line, logged after
                // app.Run() returned) was counted and nothing said it was lost.
                SayDrop(mayWait: false);
                return ClaimOutcome.Refused;
            }

            long depth = tail - Volatile.Read(ref _positions.Head);
            if (depth >= _capacity)
            {
                // The worker itself (a sink that logs) must not wait: only it can make room, so it would wait for ever. Nor
                // must another pipeline's worker (the new worker waits for it to exit) or a sink's own sender (Loki's,
                // through a handler that logs: the worker may be waiting for it).
                if (_strategy != OverflowStrategy.Block || Thread.CurrentThread == Consumer || InDrainingFlow)
                {
                    _counters.CountDrop(DropReason.QueueFull);
                    SayDrop(mayWait: false);
                    position = 0;
                    return ClaimOutcome.Refused;
                }

                if (!waited)
                {
                    waited = true;
                    if (calledAtTicks == 0)
                    {
                        calledAtTicks = UtcNowTicks();
                    }

                    if (_blockTimeoutTicks != long.MaxValue)
                    {
                        deadline = Math.Min(deadline, Stopwatch.GetTimestamp() + ToStopwatchTicks(_blockTimeoutTicks));
                    }
                }

                DropReason? reason = WaitForSpace(deadline, ref spinner);
                if (reason is { } r && r != DropReason.Shutdown)
                {
                    _counters.CountDrop(r);
                    SayDrop(mayWait: true);
                    position = 0;
                    return ClaimOutcome.Refused;
                }

                // Room, or the queue was closed: the top of the loop counts the latter (or moves on to the successor).
                continue;
            }

            if (_strategy == OverflowStrategy.Sample && !sampledIn && depth >= _highWaterMark && level < LogLevel.Error)
            {
                if (!SampleKeeps())
                {
                    _counters.CountSampledOut();
                    SayDrop(mayWait: false);
                    position = 0;
                    return ClaimOutcome.Refused;
                }

                sampledIn = true;
            }

            if (Interlocked.CompareExchange(ref _positions.Tail, tail + 1, tail) == tail)
            {
                position = tail;
                return ClaimOutcome.Claimed;
            }
        }
    }

    /// <summary>Converts a wait bound into the Stopwatch deadline that <see cref="TryClaimSlow"/> takes.</summary>
    public static long DeadlineAfter(TimeSpan maxWait) => Stopwatch.GetTimestamp() + ToStopwatchTicks(Math.Max(0, maxWait.Ticks));

    /// <summary>
    /// Keeps exactly floor(n * rate) of the first n events offered above the high-water mark: deterministic, so that the
    /// counts are exact, and spread evenly rather than in bursts.
    /// </summary>
    private bool SampleKeeps()
    {
        long n = Interlocked.Increment(ref _sampleSequence);
        return (long)(n * _sampleRate) > (long)((n - 1) * _sampleRate);
    }

    // Scaled in floating point: ticks * Frequency overflows a long above about 15 minutes where Stopwatch counts nanoseconds.
    private static long ToStopwatchTicks(long timeSpanTicks)
        => (long)Math.Min(timeSpanTicks * ((double)Stopwatch.Frequency / TimeSpan.TicksPerSecond), long.MaxValue / 2);

    /// <summary>
    /// Waits (spinning briefly, then sleeping) until the queue may have room; null when it may, otherwise why it gave up.
    /// <see cref="DropReason.Shutdown"/> means "closed": the caller then counts the drop under the reason the queue was
    /// closed for (shutdown, or the worker's death), or moves on to the pipeline that replaced this one.
    /// </summary>
    /// <remarks>
    /// A stopped consumer is reported as closed too, never as <see cref="DropReason.WorkerStopped"/> of its own: the worker
    /// closes the queue before it marks itself stopped (with the reason WorkerStopped when it died), so a waiter that read
    /// "not closed" and then "stopped" saw a shutdown that completed in between, and must count it as such.
    /// </remarks>
    private DropReason? WaitForSpace(long deadline, ref SpinWait spinner)
    {
        if (!spinner.NextSpinWillYield)
        {
            spinner.SpinOnce(sleep1Threshold: -1);
            return IsClosed || _consumerStopped ? DropReason.Shutdown : null;
        }

        lock (_spaceLock)
        {
            Interlocked.Increment(ref _blockedProducers);
            // Space is needed: the worker may be waiting for a full batch or its timer, so tell it now.
            WakeWorker.Set();
            try
            {
                while (true)
                {
                    if (IsClosed || _consumerStopped)
                    {
                        return DropReason.Shutdown;
                    }

                    // Registered as a waiter (full fence above) before re-reading the head: the worker advances the head
                    // and then reads the waiter count, so one of the two always sees the other.
                    if (Tail - Head < _capacity)
                    {
                        return null;
                    }

                    if (deadline == long.MaxValue)
                    {
                        // No timeout: the worker pulses when it frees room, shutdown and the worker's end pulse too.
                        Monitor.Wait(_spaceLock);
                        continue;
                    }

                    long now = Stopwatch.GetTimestamp();
                    if (now >= deadline)
                    {
                        return DropReason.BlockTimeout;
                    }

                    long remainingMs = (long)((double)(deadline - now) * 1000 / Stopwatch.Frequency);
                    Monitor.Wait(_spaceLock, (int)Math.Clamp(remainingMs + 1, 1, int.MaxValue));
                }
            }
            finally
            {
                Interlocked.Decrement(ref _blockedProducers);
            }
        }
    }

    /// <summary>
    /// Makes a written slot visible to the worker. Producers almost never make a system call: they wake the worker only
    /// when it is idle and this event completes a batch, or when the queue reaches half its capacity.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Publish(ref LogRecord record, long position)
    {
        Volatile.Write(ref record._published, position + 1);
        long depth = position - Volatile.Read(ref _positions.Head);
        // While traffic flows the worker polls on its own; only an idle worker needs the batch signal, and a half-full
        // queue always gets one, so that a burst is drained before it overflows.
        if ((depth == _fullBatch - 1 && WorkerIdle) || depth == _halfCapacity)
        {
            WakeWorker.Set();
        }
    }

    /// <summary>The worker thread, which drains the queue: a call it makes (from a sink) never waits for room.</summary>
    internal Thread? Consumer;

    /// <summary>
    /// Called by a producer that has just dropped or sampled out an event (counted already) and found no drop report under
    /// way (<see cref="DropReportPending"/>): the worker says drops between batches only, and one held in a sink would keep
    /// them from stderr for as long as it is held, so the pipeline says them from here, or arms a timer that will.
    /// </summary>
    /// <remarks>
    /// The argument says whether the caller may wait for stderr: true for a call that gave up after <c>BlockTimeout</c>
    /// (it has waited that long already), false for a drop on a full queue or a sample-out, which must not wait.
    /// </remarks>
    internal Action<bool>? DropCounted;

    /// <summary>
    /// Nonzero while the pipeline has a drop report under way or a timer armed for one (see <see cref="DropCounted"/>); the
    /// pipeline sets and clears it. A drop that finds it set leaves its drop to that report: under overload the drop path
    /// runs millions of times a second, and this one read is all it adds.
    /// </summary>
    internal int DropReportPending;

    /// <summary>Has the drop just counted said on stderr, unless a report under way or armed will say it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void SayDrop(bool mayWait)
    {
        // The count before it was an interlocked operation, a full fence: either this read sees the flag cleared, or the
        // report that clears it sees this drop when it looks again after clearing (see LogPipeline.ReportDropsOffWorker).
        if (Volatile.Read(ref DropReportPending) == 0)
        {
            DropCounted?.Invoke(mayWait);
        }
    }

    /// <summary>
    /// Set on the threads that drain a queue or a sink (every pipeline's worker, the Loki sender), which others may wait for:
    /// a call they make never waits for room either, in any pipeline's queue (the worker of a pipeline that took over a
    /// sink waits for the previous worker to exit, and the worker may wait for the Loki sender). An async local, so that it
    /// also holds where such a thread's work continues (a handler that logs after awaiting the response, on the thread pool).
    /// </summary>
    private static readonly AsyncLocal<bool> s_drainingFlow = new();

    /// <summary>Marks the calling thread's flow as one that drains: its log calls never wait for room (see <see cref="s_drainingFlow"/>).</summary>
    internal static void MarkDrainingThread() => s_drainingFlow.Value = true;

    /// <summary>True on a flow <see cref="MarkDrainingThread"/> marked: it must not wait for a queue or a flush.</summary>
    internal static bool InDrainingFlow => s_drainingFlow.Value;

    /// <summary>Set by the worker while it sleeps for a whole flush interval (no traffic): producers must then wake it for a full batch.</summary>
    internal volatile bool WorkerIdle;

    /// <summary>The current time in UTC ticks: the system clock, or the test clock when one was configured.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public long UtcNowTicks() => _testClock is null ? DateTime.UtcNow.Ticks : _testClock.GetUtcNow().UtcTicks;

    /// <summary>True once the producer of <paramref name="position"/> has published it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsPublished(long position) => Volatile.Read(ref Slot(position)._published) == position + 1;

    /// <summary>Waits for producers that claimed positions in [head, head + count) to publish them (nanoseconds, normally).</summary>
    public void WaitPublished(long head, int count)
    {
        for (long p = head; p < head + count; p++)
        {
            if (!IsPublished(p))
            {
                var spinner = new SpinWait();
                while (!IsPublished(p))
                {
                    spinner.SpinOnce();
                }
            }
        }
    }

    /// <summary>Frees [head, head + count) for producers (worker only).</summary>
    public void Release(long head, int count)
    {
        for (long p = head; p < head + count; p++)
        {
            Slot(p).ClearReferences();
        }

        Interlocked.Exchange(ref _positions.Head, head + count);
        // Sleeping producers are woken once a quarter of the queue is free, not after every batch: waking them for a
        // few slots would cost a context switch per batch per producer. Draining only ever frees more, so the threshold
        // is always reached while the worker runs; producers that are still spinning see every freed slot at once.
        if (Volatile.Read(ref _blockedProducers) > 0 && _capacity - (Tail - (head + count)) >= _wakeProducersAt)
        {
            lock (_spaceLock)
            {
                Monitor.PulseAll(_spaceLock);
            }
        }
    }

    /// <summary>
    /// Closes the queue: no claim succeeds afterwards, and each refused call is counted as <paramref name="reason"/> (the
    /// first closer's reason wins). Returns the final tail (every position below it will be published).
    /// </summary>
    public long Close(DropReason reason = DropReason.Shutdown) => Close((int)reason);

    /// <summary>
    /// Closes the queue because <paramref name="successor"/>'s pipeline replaces this one: a call refused from now on (one
    /// that waited for room, or read the installed queue just before the switch) claims in <paramref name="successor"/>
    /// instead, unless another reason closed the queue first. Returns the final tail, as <see cref="Close(DropReason)"/> does.
    /// </summary>
    public long CloseForReplacement(LogQueue successor)
    {
        Volatile.Write(ref _successor, successor);
        return Close(Replaced);
    }

    private long Close(int reason)
    {
        Interlocked.CompareExchange(ref _closeReason, reason, -1);
        long tail = Volatile.Read(ref _positions.Tail);
        while ((tail & ClosedBit) == 0)
        {
            long seen = Interlocked.CompareExchange(ref _positions.Tail, tail | ClosedBit, tail);
            if (seen == tail)
            {
                break;
            }

            tail = seen;
        }

        WakeBlockedProducers();
        return tail & ~ClosedBit;
    }

    /// <summary>Called when the worker is gone for good, so that blocked producers stop waiting for it.</summary>
    public void MarkConsumerStopped()
    {
        // Closed first (a no-op when shutdown or the worker's fault closed it already; the first reason stays), so that
        // "stopped" always implies "closed": WaitForSpace relies on it to count a waiter's drop under the closing reason.
        Close(DropReason.WorkerStopped);
        _consumerStopped = true;
        WakeBlockedProducers();
    }

    private void WakeBlockedProducers()
    {
        lock (_spaceLock)
        {
            Monitor.PulseAll(_spaceLock);
        }
    }

    /// <summary>Tail and head on their own cache lines: producers hammer the tail, the worker writes the head once per batch.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 3 * CacheLine)]
    private struct Positions
    {
        private const int CacheLine = 64;

        [FieldOffset(CacheLine)]
        public long Tail;

        [FieldOffset(2 * CacheLine)]
        public long Head;
    }
}

/// <summary>How <see cref="LogQueue.TryClaimSlow"/> ended.</summary>
internal enum ClaimOutcome
{
    /// <summary>A position was claimed.</summary>
    Claimed,

    /// <summary>No position: dropped or sampled out, and counted.</summary>
    Refused,

    /// <summary>The queue's pipeline was replaced: nothing counted, the call claims in the successor's queue.</summary>
    Replaced,
}
