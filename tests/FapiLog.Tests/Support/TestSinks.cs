using System;
using System.Collections.Generic;
using System.Threading;

namespace FapiLog.Tests.Support;

/// <summary>Blocks every Write until <see cref="Open"/> is called; tells the test when the worker is inside Write.</summary>
internal sealed class GateSink : LogSink
{
    private readonly ManualResetEventSlim _open = new(false);
    private readonly SemaphoreSlim _entered = new(0);
    private readonly bool _honourCancellation;

    public GateSink(bool honourCancellation = true) => _honourCancellation = honourCancellation;

    public long Received;

    public void Open() => _open.Set();

    /// <summary>Waits until the worker has entered Write (a safety timeout, not a synchronization sleep).</summary>
    public bool WaitEntered(TimeSpan timeout) => _entered.Wait(timeout);

    public override void Write(in LogBatch batch, CancellationToken cancellationToken)
    {
        _entered.Release();
        if (_honourCancellation)
        {
            _open.Wait(cancellationToken);
        }
        else
        {
            _open.Wait();
        }

        Interlocked.Add(ref Received, batch.Count);
    }
}

/// <summary>Records (producer, sequence) pairs from the "Sequenced" event, to check exactly-once delivery and order.</summary>
internal sealed class SequenceSink : LogSink
{
    public readonly List<(long Producer, long Sequence)> Seen = new();

    public override void Write(in LogBatch batch, CancellationToken cancellationToken)
    {
        foreach (ref readonly LogRecord record in batch)
        {
            if (record.Descriptor != TestLog.Sequenced)
            {
                continue; // e.g. the pipeline's own "events were dropped" warning
            }

            var reader = new SequenceReader();
            record.VisitFields(ref reader);
            Seen.Add((reader.Producer, reader.Sequence));
        }
    }
}

/// <summary>
/// Lets one batch of events through per <see cref="Release"/> (the pipeline's own drop warning passes at once and is
/// counted in <see cref="Warnings"/>); tells the test when the worker is inside Write with a batch.
/// </summary>
internal sealed class StepSink : LogSink
{
    private readonly SemaphoreSlim _permits = new(0);
    private readonly SemaphoreSlim _entered = new(0);
    private volatile bool _open;
    private int _warnings;

    public int Warnings => Volatile.Read(ref _warnings);

    public bool WaitEntered(TimeSpan timeout) => _entered.Wait(timeout);

    public void Release() => _permits.Release();

    public void ReleaseAll()
    {
        _open = true;
        _permits.Release();
    }

    public override void Write(in LogBatch batch, CancellationToken cancellationToken)
    {
        if (batch.Count > 0 && batch[0].Descriptor == FapiLog.Internal.DropWarning.Descriptor)
        {
            Interlocked.Increment(ref _warnings);
            return;
        }

        if (_open)
        {
            return;
        }

        _entered.Release();
        _permits.Wait(cancellationToken);
        if (_open)
        {
            _permits.Release();
        }
    }
}

/// <summary>Throws on every Write.</summary>
internal sealed class FailingSink : LogSink
{
    public override void Write(in LogBatch batch, CancellationToken cancellationToken) => throw new InvalidOperationException("sink is broken");
}

/// <summary>Reads the (producer, sequence) pair of a stress or "Sequenced" event.</summary>
internal struct SequenceReader : ILogFieldVisitor
{
    public int Producer;
    public long Sequence;

    public void Visit(string name, long value)
    {
        if (name == "Producer")
        {
            Producer = (int)value;
        }
        else
        {
            Sequence = value;
        }
    }

    public void Visit(string name, ulong value) => throw new InvalidOperationException(name);

    public void Visit(string name, double value) => throw new InvalidOperationException(name);

    public void Visit(string name, decimal value) => throw new InvalidOperationException(name);

    public void Visit(string name, bool value) => throw new InvalidOperationException(name);

    public void Visit(string name, string value) => throw new InvalidOperationException(name);

    public void Visit(string name, DateTime value) => throw new InvalidOperationException(name);

    public void Visit(string name, DateTimeOffset value) => throw new InvalidOperationException(name);

    public void Visit(string name, TimeSpan value) => throw new InvalidOperationException(name);

    public void Visit(string name, Guid value) => throw new InvalidOperationException(name);

    public void VisitNull(string name) => throw new InvalidOperationException(name);
}

/// <summary>A sink that writes nothing and runs <paramref name="onFlush"/> at each flush (the worker's final one, in the tests that use it).</summary>
internal sealed class FlushHookSink(Action onFlush) : LogSink
{
    public override void Write(in LogBatch batch, CancellationToken cancellationToken)
    {
    }

    public override void Flush(CancellationToken cancellationToken) => onFlush();
}

/// <summary>
/// Holds a pipeline's worker once it has decided which sinks to dispose (the end of its shutdown), until
/// <see cref="Release"/>. The events are not disposed: the worker may still be leaving its wait.
/// </summary>
internal sealed class DisposalHold
{
    private readonly ManualResetEventSlim _reached = new();
    private readonly ManualResetEventSlim _released = new();

    public DisposalHold(Internal.LogPipeline pipeline) => pipeline._beforeDisposingSinksForTesting = () =>
    {
        _reached.Set();
        _released.Wait(TestLog.Safety);
    };

    /// <summary>Waits until the worker is held; false when it did not get there within <see cref="TestLog.Safety"/>.</summary>
    public bool WaitReached() => _reached.Wait(TestLog.Safety);

    public void Release() => _released.Set();
}
