using System;
using System.Threading;
using BenchmarkDotNet.Attributes;
using FapiLog.Internal;
using Microsoft.Extensions.Logging;

namespace FapiLog.Benchmarks;

/// <summary>
/// The cost of one log call at the queue, by path: level disabled; enabled with room under each strategy; and the
/// overflow paths (queue full under Drop, above the high-water mark under Sample). The call is the same
/// IsEnabled / Begin / Write / Commit sequence that generated code runs. The worker drains into a sink that does nothing,
/// so "room" cases measure the producer side; <see cref="Cleanup"/> prints the drop counts to show the queue had room.
/// </summary>
[MemoryDiagnoser]
public class EnqueueBenchmarks
{
    private static readonly LogEventDescriptor s_order = new(
        1, "OrderPlaced", LogLevel.Information, "Order {OrderId} placed by {Customer} for {Amount}",
        LogArgument.Create<long>("orderId"), LogArgument.Create<string>("customer"), LogArgument.Create<double>("amount"));

    private LogPipeline _drop = null!;
    private LogPipeline _block = null!;
    private LogPipeline _sample = null!;
    private LogPipeline _full = null!;
    private LogPipeline _sampling = null!;
    private HeldSink _holder = null!;

    [GlobalSetup]
    public void Setup()
    {
        _drop = Start(OverflowStrategy.Drop, 8192, null);
        _block = Start(OverflowStrategy.Block, 8192, null);
        _sample = Start(OverflowStrategy.Sample, 8192, null);
        _holder = new HeldSink();
        // These two never drain: the first fills up (every call is a counted drop), the second sits above its high-water
        // mark with a sample rate of 0 (every call is a counted sample-out).
        _full = Start(OverflowStrategy.Drop, 1024, _holder);
        _sampling = Start(OverflowStrategy.Sample, 1024, _holder, sampleRate: 0);
        for (int i = 0; i < 1024; i++)
        {
            Log(_full);
            Log(_sampling);
        }

        // The global pipeline at Warning, so that the real static level check says no to Information.
        FapiLogging.Configure(o => { o.MinimumLevel = LogLevel.Warning; o.Console = false; o.AddSink(new NullSink()); });
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach ((string name, LogPipeline p) in new[] { ("drop", _drop), ("block", _block), ("sample", _sample), ("full", _full), ("sampling", _sampling) })
        {
            Console.WriteLine($"// {name}: {p.GetStatistics()}");
        }

        _holder.Release();
        foreach (LogPipeline p in new[] { _drop, _block, _sample, _full, _sampling })
        {
            p.Shutdown(TimeSpan.FromSeconds(30));
        }
    }

    private static LogPipeline Start(OverflowStrategy strategy, int capacity, LogSink? sink, double sampleRate = 0.1)
    {
        var options = new FapiLogOptions
        {
            Overflow = strategy,
            QueueCapacity = capacity,
            BatchSize = 1000,
            FlushInterval = TimeSpan.FromMilliseconds(1),
            SampleRate = sampleRate,
            SampleHighWaterMark = 0.5,
            Console = false,
            DropWarningInterval = TimeSpan.FromDays(1),
        };
        options.AddSink(sink ?? new NullSink());
        options.Validate();
        return new LogPipeline(options, options.Sinks);
    }

    private static void Log(LogPipeline pipeline)
    {
        LogEventWriter w = FapiLogRuntime.Begin(pipeline.Queue, s_order, captureTraceContext: true);
        if (!w.IsActive)
        {
            return;
        }

        w.Write(42L);
        w.WriteString("alice");
        w.Write(99.5);
        w.Commit();
    }

    [Benchmark(Description = "disabled (level check only)")]
    public void Disabled()
    {
        // What the generated method runs when Information is below the minimum level.
        if (FapiLogRuntime.IsEnabled(LogLevel.Information))
        {
            Log(_drop);
        }
    }

    [Benchmark(Baseline = true, Description = "enabled, Drop, room")]
    public void EnabledDrop() => Log(_drop);

    [Benchmark(Description = "enabled, Block, room")]
    public void EnabledBlock() => Log(_block);

    [Benchmark(Description = "enabled, Sample, room")]
    public void EnabledSample() => Log(_sample);

    [Benchmark(Description = "queue full, Drop (counted drop)")]
    public void FullDrop() => Log(_full);

    [Benchmark(Description = "above high-water, Sample (sampled out)")]
    public void SampledOut() => Log(_sampling);

    private sealed class NullSink : LogSink
    {
        public override void Write(in LogBatch batch, CancellationToken cancellationToken)
        {
        }
    }

    /// <summary>Holds the worker inside Write so that the queue never drains.</summary>
    private sealed class HeldSink : LogSink
    {
        private readonly ManualResetEventSlim _release = new(false);

        public void Release() => _release.Set();

        public override void Write(in LogBatch batch, CancellationToken cancellationToken) => _release.Wait(cancellationToken);
    }
}
