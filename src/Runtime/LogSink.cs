using System;
using System.Threading;

namespace FapiLog;

/// <summary>
/// Receives batches of events from the background worker. All calls come from that one thread, in order, so a sink needs
/// no locking of its own; it must not block forever (honour the token) and should reuse its buffers.
/// </summary>
/// <example>
/// <code>
/// sealed class CountingSink : LogSink
/// {
///     public long Count;
///     public override void Write(in LogBatch batch, CancellationToken cancellationToken) => Count += batch.Count;
/// }
/// FapiLogging.Configure(o => o.AddSink(new CountingSink()));
/// </code>
/// </example>
public abstract class LogSink : IDisposable
{
    /// <summary>This sink's failures not yet reported on stderr, created at its first failure: the throttle is per sink.</summary>
    internal Internal.SinkFailureState? _failures;

    /// <summary>The clock failure reports are throttled by: the pipeline's (a test's fake one), set when its worker starts.</summary>
    internal volatile TimeProvider _reportClock = TimeProvider.System;

    /// <summary>
    /// The overflow strategy (as int) of the pipeline that writes to this sink (the latest one), or -1 when no pipeline
    /// does: a sink with a send buffer of its own (Loki) waits for room under <see cref="OverflowStrategy.Block"/> and
    /// gives up otherwise.
    /// </summary>
    internal volatile int _pipelineOverflow = -1;

    /// <summary>Set by the pipeline around <see cref="Write"/> for a sink that <see cref="DefersDelivery"/>: the batch's count.</summary>
    internal Internal.DeliveryTicket? _ticket;

    /// <summary>True for a sink that keeps batches after <see cref="Write"/> returns and pushes them later (Loki).</summary>
    internal virtual bool DefersDelivery => false;

    /// <summary>
    /// For a sink that <see cref="DefersDelivery"/>: calls <paramref name="callback"/> once every batch written before
    /// this call was pushed or given up (at once when there is none; at the latest when the sink is disposed).
    /// </summary>
    internal virtual void WhenDrained(Action callback) => callback();

    /// <summary>
    /// For a sink that <see cref="DefersDelivery"/>: gives up the batches it holds now, as a shutdown that ran out of time
    /// does, also when the worker has not reached the sink's flush (another sink holds it up).
    /// </summary>
    internal virtual void GiveUpHeld()
    {
    }

    /// <summary>
    /// What holds this sink's events up right now (the last failed attempt of a sink that retries), or null: the pipeline
    /// quotes it when a shutdown gives up, in the line it writes before returning, since a report the sink writes from
    /// its own thread after the abort may come after the process has ended.
    /// </summary>
    internal virtual string? Trouble => null;

    /// <summary>A short name for statistics and error messages; the type name by default.</summary>
    public virtual string Name => GetType().Name;

    /// <summary>
    /// Writes a batch. Returning means the events are delivered; throwing means this sink failed them (they are counted
    /// as failed, reported on stderr under <see cref="Name"/> at most once a minute, and the worker carries on).
    /// <paramref name="cancellationToken"/> fires when shutdown runs out of time.
    /// </summary>
    public abstract void Write(in LogBatch batch, CancellationToken cancellationToken);

    /// <summary>Pushes anything buffered to its destination; called by <see cref="FapiLogging.Flush"/> and at shutdown.</summary>
    public virtual void Flush(CancellationToken cancellationToken)
    {
    }

    /// <summary>
    /// Releases the sink's resources; called once by the worker after the final flush (for a sink that a later
    /// <see cref="FapiLogging.Configure(System.Action{FapiLogOptions})"/> took over, by the pipeline that used it last).
    /// </summary>
    public void Dispose()
    {
        _disposeCalled = true;
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Set by <see cref="Dispose()"/>, by a pipeline's shutdown or by the application.</summary>
    internal volatile bool _disposeCalled;

    /// <summary>
    /// False for FapiLog's own sinks, which fail every batch once disposed (their file or HTTP client is gone):
    /// <c>Configure</c> refuses such a sink once disposed. A sink of yours may be written to again after
    /// <see cref="Dispose()"/> (an <see cref="Sinks.InMemorySink"/> is), which only you know.
    /// </summary>
    internal virtual bool UsableAfterDispose => true;

    /// <summary>Releases resources.</summary>
    protected virtual void Dispose(bool disposing)
    {
    }
}
