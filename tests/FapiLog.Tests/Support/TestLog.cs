using System;
using System.Linq;
using FapiLog.Internal;
using FapiLog.Sinks;
using Microsoft.Extensions.Logging;

namespace FapiLog.Tests.Support;

/// <summary>
/// Hand-written equivalents of generated log methods, aimed at a given pipeline: the same FapiLogRuntime.Begin /
/// Write / Commit sequence the generator emits, so these tests exercise the real call path.
/// </summary>
internal static class TestLog
{
    public static readonly LogEventDescriptor Sequenced = new(
        10, "Sequenced", LogLevel.Information, "Producer {Producer} event {Sequence}",
        LogArgument.Create<long>("producer"), LogArgument.Create<long>("sequence"));

    public static readonly LogEventDescriptor Failure = new(
        11, "Failure", LogLevel.Error, "Failure {Sequence}", LogArgument.Create<long>("sequence"));

    public static readonly LogEventDescriptor Critical = new(
        12, "Fatal", LogLevel.Critical, "Fatal {Sequence}", LogArgument.Create<long>("sequence"));

    /// <summary>Logs "Sequenced"; returns whether the event was accepted.</summary>
    public static bool Emit(LogPipeline pipeline, long producer, long sequence) => Emit(pipeline, Sequenced, producer, sequence);

    /// <summary>Logs a (producer, sequence) event of <paramref name="descriptor"/>; returns whether it was accepted.</summary>
    public static bool Emit(LogPipeline pipeline, LogEventDescriptor descriptor, long producer, long sequence)
        => Write(FapiLogRuntime.Begin(pipeline.Queue, descriptor, captureTraceContext: true), producer, sequence);

    /// <summary>
    /// What a generated method does, aimed at whatever pipeline is installed (the level check, then the global
    /// <c>Begin</c>): logs a "Sequenced" event; returns whether it was taken.
    /// </summary>
    public static bool EmitInstalled(long producer, long sequence)
        => FapiLogRuntime.IsEnabled(LogLevel.Information) && Write(FapiLogRuntime.Begin(Sequenced), producer, sequence);

    private static bool Write(LogEventWriter w, long producer, long sequence)
    {
        if (!w.IsActive)
        {
            return false;
        }

        w.Write(producer);
        w.Write(sequence);
        w.Commit();
        return true;
    }

    /// <summary>Logs a one-number event of <paramref name="descriptor"/>.</summary>
    public static bool Emit(LogPipeline pipeline, LogEventDescriptor descriptor, long sequence)
    {
        LogEventWriter w = FapiLogRuntime.Begin(pipeline.Queue, descriptor, captureTraceContext: true);
        if (!w.IsActive)
        {
            return false;
        }

        w.Write(sequence);
        w.Commit();
        return true;
    }

    /// <summary>Options for a private pipeline: no console, a long flush interval on a manual clock unless given.</summary>
    public static FapiLogOptions Options(Action<FapiLogOptions>? configure = null)
    {
        var options = new FapiLogOptions
        {
            Console = false,
            FlushInterval = TimeSpan.FromHours(1),
            TimeProvider = new FakeTime(),
            DropWarningInterval = TimeSpan.FromHours(1),
        };
        configure?.Invoke(options);
        options.Validate();
        return options;
    }

    public static LogPipeline Start(FapiLogOptions options) => new(options, FapiLogging.BuildSinks(options));

    public static InMemorySink Memory(FapiLogOptions options)
    {
        var sink = new InMemorySink();
        options.AddSink(sink);
        return sink;
    }

    public static readonly TimeSpan Safety = TimeSpan.FromSeconds(30);

    /// <summary>The sequence numbers of the "Sequenced" events <paramref name="sink"/> has received, in the order received.</summary>
    public static long[] Sequences(InMemorySink sink)
        => sink.Events.Where(e => e.EventName == "Sequenced").Select(e => (long)e["Sequence"]!).ToArray();
}
