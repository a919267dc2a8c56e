namespace FapiLog;

/// <summary>What a log call does when the bounded queue has no room for its event.</summary>
public enum OverflowStrategy
{
    /// <summary>The event is dropped and counted (<see cref="DropReason.QueueFull"/>); the caller never waits.</summary>
    Drop = 0,

    /// <summary>
    /// The caller waits for room, at most <see cref="FapiLogOptions.BlockTimeout"/>; an event that still finds no room is
    /// dropped and counted (<see cref="DropReason.BlockTimeout"/>). Never waits after shutdown has begun or once the worker has stopped,
    /// nor on the worker thread itself (a sink that logs), where a full queue drops the event (<see cref="DropReason.QueueFull"/>).
    /// </summary>
    Block = 1,

    /// <summary>
    /// While the queue is filled to <see cref="FapiLogOptions.SampleHighWaterMark"/> or beyond, only <see cref="FapiLogOptions.SampleRate"/>
    /// of the events below <c>Error</c> are kept (the rest are counted as sampled out); <c>Error</c> and <c>Critical</c> are
    /// never sampled out. Events are dropped only when the queue is full.
    /// </summary>
    Sample = 2,
}

/// <summary>Why an event that reached the queue was not accepted.</summary>
public enum DropReason
{
    /// <summary>
    /// The queue was full (strategies <see cref="OverflowStrategy.Drop"/> and <see cref="OverflowStrategy.Sample"/>, and
    /// <see cref="OverflowStrategy.Block"/> for a call made by a sink on the worker thread, which cannot wait for itself).
    /// </summary>
    QueueFull = 0,

    /// <summary>The queue stayed full for longer than <see cref="FapiLogOptions.BlockTimeout"/> (strategy <see cref="OverflowStrategy.Block"/>).</summary>
    BlockTimeout = 1,

    /// <summary>The call came after shutdown had begun.</summary>
    Shutdown = 2,

    /// <summary>The background worker had stopped unexpectedly, so nothing could drain the queue.</summary>
    WorkerStopped = 3,
}
