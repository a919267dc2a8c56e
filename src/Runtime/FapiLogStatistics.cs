using System;

namespace FapiLog;

/// <summary>
/// A snapshot of the pipeline's counters since the process started. Every event a log call tried to enqueue ends up in
/// exactly one of <see cref="Enqueued"/>, <see cref="Dropped"/> or <see cref="SampledOut"/>; every enqueued event in exactly
/// one of <see cref="Delivered"/>, <see cref="Failed"/> or <see cref="Pending"/>.
/// </summary>
public sealed class FapiLogStatistics
{
    internal FapiLogStatistics(long enqueued, long droppedQueueFull, long droppedBlockTimeout, long droppedShutdown, long droppedWorkerStopped,
        long sampledOut, long delivered, long failed, long queueCapacity)
    {
        Enqueued = enqueued;
        DroppedQueueFull = droppedQueueFull;
        DroppedBlockTimeout = droppedBlockTimeout;
        DroppedShutdown = droppedShutdown;
        DroppedWorkerStopped = droppedWorkerStopped;
        SampledOut = sampledOut;
        Delivered = delivered;
        Failed = failed;
        QueueCapacity = queueCapacity;
    }

    /// <summary>These counts plus <paramref name="other"/>'s, with this snapshot's <see cref="QueueCapacity"/>.</summary>
    internal FapiLogStatistics Plus(FapiLogStatistics other) => new(
        Enqueued + other.Enqueued, DroppedQueueFull + other.DroppedQueueFull, DroppedBlockTimeout + other.DroppedBlockTimeout,
        DroppedShutdown + other.DroppedShutdown, DroppedWorkerStopped + other.DroppedWorkerStopped, SampledOut + other.SampledOut,
        Delivered + other.Delivered, Failed + other.Failed, QueueCapacity);

    /// <summary>Enabled log calls: <see cref="Enqueued"/> + <see cref="Dropped"/> + <see cref="SampledOut"/>.</summary>
    public long Attempted => Enqueued + Dropped + SampledOut;

    /// <summary>Events accepted into the queue.</summary>
    public long Enqueued { get; }

    /// <summary>Events dropped for any reason.</summary>
    public long Dropped => DroppedQueueFull + DroppedBlockTimeout + DroppedShutdown + DroppedWorkerStopped;

    /// <summary>Events dropped because the queue was full.</summary>
    public long DroppedQueueFull { get; }

    /// <summary>Events dropped after waiting <see cref="FapiLogOptions.BlockTimeout"/> for room.</summary>
    public long DroppedBlockTimeout { get; }

    /// <summary>Events logged after shutdown had begun.</summary>
    public long DroppedShutdown { get; }

    /// <summary>Events dropped because the worker had stopped.</summary>
    public long DroppedWorkerStopped { get; }

    /// <summary>Events not kept by <see cref="OverflowStrategy.Sample"/>.</summary>
    public long SampledOut { get; }

    /// <summary>
    /// Events every sink accepted; for the Loki sink, once Loki accepted them (not when they entered its send buffer).
    /// </summary>
    public long Delivered { get; }

    /// <summary>Events at least one sink failed to write (for Loki: gave up, see <see cref="FapiLogging.LokiStatistics"/> for why).</summary>
    public long Failed { get; }

    /// <summary>Events accepted and neither delivered nor failed yet: in the queue, or in the Loki sink's send buffer.</summary>
    public long Pending => Math.Max(0, Enqueued - Delivered - Failed);

    /// <summary>The configured queue capacity (0 before the pipeline starts).</summary>
    public long QueueCapacity { get; }

    /// <summary>The number dropped for <paramref name="reason"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="reason"/> is not a defined <see cref="DropReason"/>.</exception>
    public long GetDropped(DropReason reason) => reason switch
    {
        DropReason.QueueFull => DroppedQueueFull,
        DropReason.BlockTimeout => DroppedBlockTimeout,
        DropReason.Shutdown => DroppedShutdown,
        DropReason.WorkerStopped => DroppedWorkerStopped,
        _ => throw new ArgumentOutOfRangeException(nameof(reason), reason, "Unknown drop reason."),
    };

    /// <inheritdoc />
    public override string ToString()
        => $"attempted={Attempted} enqueued={Enqueued} dropped={Dropped} (queue_full={DroppedQueueFull} block_timeout={DroppedBlockTimeout} " +
           $"shutdown={DroppedShutdown} worker_stopped={DroppedWorkerStopped}) sampled_out={SampledOut} delivered={Delivered} failed={Failed} pending={Pending}";
}
