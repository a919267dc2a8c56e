using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Threading;

namespace FapiLog.LoadTest;

/// <summary>
/// The bare rings that <c>--reference</c> times beside the log call: the same event written the same way (clock read,
/// values, references with their write barriers, publication marker) into a ring of the task's own, and into one ring after
/// claiming the position with an atomic increment of a tail all tasks share. Neither ring has a worker, a capacity check or
/// an overflow strategy: the first is what the event costs a design that shares nothing, the second what any
/// multi-producer queue pays before it does anything of its own, on this machine at the time of the run.
/// </summary>
internal static partial class LoadTestRunner
{
    private static readonly object s_bareDescriptor = new();
    private static BareRing[] s_ownRings = [];
    private static BareRing s_sharedRing = new(2);

    /// <summary>A ring per task of capacity / tasks records (together the queue's footprint), and one shared ring of capacity records.</summary>
    private static void PrepareBareRings(LoadTestSettings s)
    {
        int perTask = Math.Max(64, s.Capacity / s.Concurrency);
        s_ownRings = new BareRing[s.Concurrency];
        for (int i = 0; i < s_ownRings.Length; i++)
        {
            s_ownRings[i] = new BareRing(perTask);
        }

        s_sharedRing = new BareRing(s.Capacity);
    }

    /// <summary>The event written into a ring only its task writes: no atomic operation, no line another thread touches.</summary>
    private readonly struct OwnRingCall : ICall
    {
        public void Invoke(int task, long sequence)
            => WriteOwnRing(s_ownRings[task], task * 1_000_000_000L + sequence, s_customers[sequence & 7], 99.5 + sequence);
    }

    /// <summary>The event written after claiming its position with one atomic increment of a tail all tasks share.</summary>
    private readonly struct SharedRingCall : ICall
    {
        public void Invoke(int task, long sequence)
            => WriteSharedRing(s_sharedRing, task * 1_000_000_000L + sequence, s_customers[sequence & 7], 99.5 + sequence);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void WriteOwnRing(BareRing ring, long orderId, string customer, double amount)
    {
        long position = ring.Tail.Value;
        Write(ref ring.Slot(position), position, orderId, customer, amount);
        Volatile.Write(ref ring.Tail.Value, position + 1);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void WriteSharedRing(BareRing ring, long orderId, string customer, double amount)
    {
        long position = Interlocked.Increment(ref ring.Tail.Value) - 1;
        Write(ref ring.Slot(position), position, orderId, customer, amount);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Write(ref BareRecord record, long position, long orderId, string customer, double amount)
    {
        record.Ticks = DateTime.UtcNow.Ticks;
        record.Descriptor = s_bareDescriptor;
        record.Customer = customer;
        record.OrderId = orderId;
        record.Amount = amount;
        Volatile.Write(ref record.Published, position + 1);
    }

    private sealed class BareRing
    {
        private readonly BareRecord[] _slots;
        private readonly int _mask;

        // On a line of its own: the rings of different tasks are allocated one after another.
        public PaddedCounter Tail;

        public BareRing(int records)
        {
            _slots = new BareRecord[(int)BitOperations.RoundUpToPowerOf2((uint)records)];
            _mask = _slots.Length - 1;
            for (int i = 0; i < _slots.Length; i++)
            {
                // Touched now, so that the measured calls do not take the first-touch page faults the queue took in its warm-up.
                _slots[i].Published = -1;
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public ref BareRecord Slot(long position) => ref _slots[(int)position & _mask];
    }
}
