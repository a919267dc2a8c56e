using System;
using System.Numerics;
using System.Threading;

namespace FapiLog.Internal;

/// <summary>
/// The delivery count of one batch while a sink with a send buffer of its own (Loki) still holds it: the pipeline holds
/// the ticket while it hands the batch to its sinks, each such sink holds it until its sender pushed or gave the batch up,
/// and the last to let go counts each event of the batch as delivered, or as failed when any sink failed it. So
/// <see cref="FapiLogStatistics.Delivered"/> means delivered, not queued in a sink.
/// </summary>
/// <remarks>
/// A sink that pushes a batch in several requests (past <c>MaxBatchBytes</c>, or halved after a 413) can fail some of its
/// events and deliver the others: it marks the failed ones by their place in the batch. They were all counted failed,
/// and the events Loki took were missing from <see cref="FapiLogStatistics.Delivered"/>. The marks are kept only once a
/// batch fails in part, which allocates then, on a failure path.
/// </remarks>
internal sealed class DeliveryTicket
{
    private readonly PipelineCounters _counters;
    private readonly TicketPool _pool;
    private int _holds;
    private int _failed;
    private int _count;
    // Events failed by some holder, a bit each by place in the batch; under its own lock (holders release from their threads).
    private ulong[]? _failedEvents;
    private bool _anyMarked;

    public DeliveryTicket(PipelineCounters counters, TicketPool pool)
    {
        _counters = counters;
        _pool = pool;
    }

    public void Reset(int count)
    {
        _count = count;
        _failed = 0;
        _holds = 1;
        if (_anyMarked)
        {
            Array.Clear(_failedEvents!);
            _anyMarked = false;
        }
    }

    /// <summary>A sink keeps the batch for later: the count waits for its <see cref="Release"/>.</summary>
    public void Hold() => Interlocked.Increment(ref _holds);

    /// <summary>
    /// Marks the events at <paramref name="places"/>[<paramref name="from"/>..<paramref name="to"/>) (places in the batch) as
    /// failed by this holder, which then releases with <c>failed: false</c> unless it failed the whole batch.
    /// </summary>
    public void MarkFailed(int[] places, int from, int to)
    {
        lock (this)
        {
            int words = (_count + 63) >> 6;
            if (_failedEvents is null || _failedEvents.Length < words)
            {
                _failedEvents = new ulong[words];
            }

            for (int i = from; i < to; i++)
            {
                int place = places[i];
                _failedEvents[place >> 6] |= 1UL << (place & 63);
            }

            _anyMarked = true;
        }
    }

    /// <summary>Lets go; <paramref name="failed"/> when this holder failed the whole batch.</summary>
    public void Release(bool failed)
    {
        if (failed)
        {
            Volatile.Write(ref _failed, 1);
        }

        if (Interlocked.Decrement(ref _holds) != 0)
        {
            return;
        }

        int failedEvents = _count;
        if (Volatile.Read(ref _failed) == 0)
        {
            failedEvents = 0;
            lock (this)
            {
                if (_anyMarked)
                {
                    foreach (ulong word in _failedEvents!)
                    {
                        failedEvents += BitOperations.PopCount(word);
                    }
                }
            }
        }

        if (failedEvents > 0)
        {
            _counters.CountFailed(failedEvents);
        }

        if (failedEvents < _count)
        {
            _counters.CountDelivered(_count - failedEvents);
        }

        _pool.Return(this);
    }
}

/// <summary>Reused tickets, so that a batch costs no allocation once the pool has as many as are in flight.</summary>
internal sealed class TicketPool
{
    private const int Limit = 64;
    private readonly PipelineCounters _counters;
    private readonly DeliveryTicket[] _free = new DeliveryTicket[Limit];
    private int _count;

    public TicketPool(PipelineCounters counters) => _counters = counters;

    public DeliveryTicket Rent(int count)
    {
        DeliveryTicket? ticket = null;
        lock (_free)
        {
            if (_count > 0)
            {
                ticket = _free[--_count];
                _free[_count] = null!;
            }
        }

        ticket ??= new DeliveryTicket(_counters, this);
        ticket.Reset(count);
        return ticket;
    }

    public void Return(DeliveryTicket ticket)
    {
        lock (_free)
        {
            if (_count < Limit)
            {
                _free[_count++] = ticket;
            }
        }
    }
}
