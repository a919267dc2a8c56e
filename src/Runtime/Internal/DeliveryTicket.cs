using System.Threading;

namespace FapiLog.Internal;

/// <summary>
/// The delivery count of one batch while a sink with a send buffer of its own (Loki) still holds it: the pipeline holds
/// the ticket while it hands the batch to its sinks, each such sink holds it until its sender pushed or gave the batch up,
/// and the last to let go counts the batch as delivered, or as failed when any sink failed it. So
/// <see cref="FapiLogStatistics.Delivered"/> means delivered, not queued in a sink.
/// </summary>
internal sealed class DeliveryTicket
{
    private readonly PipelineCounters _counters;
    private readonly TicketPool _pool;
    private int _holds;
    private int _failed;
    private int _count;

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
    }

    /// <summary>A sink keeps the batch for later: the count waits for its <see cref="Release"/>.</summary>
    public void Hold() => Interlocked.Increment(ref _holds);

    /// <summary>Lets go; <paramref name="failed"/> when this holder failed the batch (or some of it).</summary>
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

        if (Volatile.Read(ref _failed) != 0)
        {
            _counters.CountFailed(_count);
        }
        else
        {
            _counters.CountDelivered(_count);
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
