using System;
using System.Diagnostics;
using System.Threading;
using Microsoft.Extensions.Logging;

namespace FapiLog.Internal;

/// <summary>FapiLog's own complaints go to stderr: never into a log call, which could recurse or be dropped itself.</summary>
internal static class Stderr
{
    private static readonly object s_lock = new();

    public static void Write(string message)
    {
        try
        {
            lock (s_lock)
            {
                Console.Error.WriteLine(message);
                Console.Error.Flush();
            }
        }
        catch (Exception)
        {
            // stderr closed or broken: nothing sensible is left to report to.
        }
    }
}

/// <summary>Reports sink failures on stderr, at most once per sink per minute, with the count of events affected.</summary>
internal static class SinkFailureReporter
{
    public static void Report(LogSink sink, int events, Exception ex)
    {
        long now = Stopwatch.GetTimestamp();
        long last = Volatile.Read(ref sink._lastFailureReport);
        if (last != 0 && Stopwatch.GetElapsedTime(last, now) < TimeSpan.FromMinutes(1))
        {
            return;
        }

        Volatile.Write(ref sink._lastFailureReport, now);
        string what = events > 0 ? $"failed {events} event(s)" : "failed";
        Stderr.Write($"FapiLog: sink '{NameOf(sink)}' {what}: {ex.GetType().Name}: {ExceptionText.Message(ex)}");
    }

    /// <summary>
    /// The sink's <see cref="LogSink.Name"/>, which a sink may override: one that throws (in the catch that reports the
    /// sink's failure) must not take the worker down with it, so its type name stands in.
    /// </summary>
    internal static string NameOf(LogSink sink)
    {
        try
        {
            return sink.Name;
        }
        catch (Exception)
        {
            return sink.GetType().FullName ?? sink.GetType().Name;
        }
    }
}

/// <summary>
/// Builds the "events were dropped" warning that the worker writes to stderr and into the sinks, with the counts by
/// reason since the previous warning. Uses a one-slot buffer of its own: the queue may be the thing that is full.
/// </summary>
internal sealed class DropWarning
{
    internal static readonly LogEventDescriptor Descriptor = new(
        eventId: 1,
        eventName: "FapiLog.EventsDropped",
        level: LogLevel.Warning,
        message: "FapiLog dropped {Dropped} event(s) since the last report (queue full: {QueueFull}, block timeout: {BlockTimeout}, " +
                 "after shutdown: {AfterShutdown}, worker stopped: {WorkerStopped}) and sampled out {SampledOut}",
        LogArgument.Create<long>("Dropped"),
        LogArgument.Create<long>("QueueFull"),
        LogArgument.Create<long>("BlockTimeout"),
        LogArgument.Create<long>("AfterShutdown"),
        LogArgument.Create<long>("WorkerStopped"),
        LogArgument.Create<long>("SampledOut"));

    private readonly PipelineCounters _counters;
    private readonly LogRecord[] _slot = new LogRecord[1];
    private readonly long[] _reported = new long[5];
    private long _reportedSampled;
    private long _lastReport = long.MinValue;

    public DropWarning(PipelineCounters counters) => _counters = counters;

    public bool HasUnreported
    {
        get
        {
            // Drops after shutdown are reported only when shutdown has nothing else to say: they are expected.
            return _counters.Dropped(DropReason.QueueFull) != _reported[0]
                || _counters.Dropped(DropReason.BlockTimeout) != _reported[1]
                || _counters.Dropped(DropReason.WorkerStopped) != _reported[3]
                || _counters.SampledOut != _reportedSampled;
        }
    }

    public TimeSpan TimeUntilDue(TimeProvider time, TimeSpan interval)
        => _lastReport == long.MinValue ? TimeSpan.Zero : interval - time.GetElapsedTime(_lastReport);

    public ref LogRecord Take(TimeProvider time)
    {
        _lastReport = time.GetTimestamp();
        long queueFull = Delta(0, DropReason.QueueFull);
        long blockTimeout = Delta(1, DropReason.BlockTimeout);
        long shutDown = Delta(2, DropReason.Shutdown);
        long workerStopped = Delta(3, DropReason.WorkerStopped);
        long sampled = _counters.SampledOut - _reportedSampled;
        _reportedSampled += sampled;

        ref LogRecord record = ref _slot[0];
        // The pipeline's clock, like the events around it (a test's TimeProvider included).
        record._timestampTicks = time.GetUtcNow().UtcTicks;
        record._descriptor = Descriptor;
        var writer = new LogEventWriter(ref record, null, 0, Descriptor);
        writer.Write(queueFull + blockTimeout + shutDown + workerStopped);
        writer.Write(queueFull);
        writer.Write(blockTimeout);
        writer.Write(shutDown);
        writer.Write(workerStopped);
        writer.Write(sampled);
        return ref record;
    }

    public LogBatch AsBatch() => new(_slot, 0, 1, 0);

    private long Delta(int index, DropReason reason)
    {
        long now = _counters.Dropped(reason);
        long delta = now - _reported[index];
        _reported[index] = now;
        return delta;
    }
}
