using System.Threading;

namespace FapiLog.Internal;

/// <summary>
/// Counters written off the hot path only: drops and samples happen on the slow path, delivery on the worker. The
/// enqueued count is the queue's tail itself, so an accepted call touches no counter at all.
/// </summary>
internal sealed class PipelineCounters
{
    private readonly long[] _dropped = new long[4];
    private long _sampledOut;
    private long _delivered;
    private long _failed;

    public void CountDrop(DropReason reason) => Interlocked.Increment(ref _dropped[(int)reason]);

    public void CountSampledOut() => Interlocked.Increment(ref _sampledOut);

    public void CountDelivered(long n) => Interlocked.Add(ref _delivered, n);

    public void CountFailed(long n) => Interlocked.Add(ref _failed, n);

    public long Dropped(DropReason reason) => Volatile.Read(ref _dropped[(int)reason]);

    public long TotalDropped => Dropped(DropReason.QueueFull) + Dropped(DropReason.BlockTimeout) + Dropped(DropReason.Shutdown) + Dropped(DropReason.WorkerStopped);

    public long SampledOut => Volatile.Read(ref _sampledOut);

    public long Delivered => Volatile.Read(ref _delivered);

    public long Failed => Volatile.Read(ref _failed);
}
