using System;
using System.Threading;
using BenchmarkDotNet.Attributes;
using FapiLog.Internal;
using Microsoft.Extensions.Logging;

namespace FapiLog.Benchmarks;

/// <summary>
/// The cost of one log call at the queue on the paths that do not enqueue: level disabled, queue full under Drop, above
/// the high-water mark under Sample. The call is the same IsEnabled / Begin / Write / Commit sequence that generated
/// code runs. The enqueue itself is measured by <see cref="EnqueueBurstBenchmarks"/>.
/// </summary>
[MemoryDiagnoser]
public class EnqueueBenchmarks
{
    private static readonly LogEventDescriptor s_order = new(
        1, "OrderPlaced", LogLevel.Information, "Order {OrderId} placed by {Customer} for {Amount}",
        LogArgument.Create<long>("orderId"), LogArgument.Create<string>("customer"), LogArgument.Create<double>("amount"));

    private LogPipeline _drop = null!;
    private LogPipeline _full = null!;
    private LogPipeline _sampling = null!;
    private HeldSink _holder = null!;

    [GlobalSetup]
    public void Setup()
    {
        _drop = Start(OverflowStrategy.Drop, 8192, null);
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
        foreach ((string name, LogPipeline p) in new[] { ("full", _full), ("sampling", _sampling) })
        {
            Console.WriteLine($"// {name}: {p.GetStatistics()}");
        }

        _holder.Release();
        foreach (LogPipeline p in new[] { _drop, _full, _sampling })
        {
            p.Shutdown(TimeSpan.FromSeconds(30));
        }
    }

    internal static LogPipeline Start(OverflowStrategy strategy, int capacity, LogSink? sink, double sampleRate = 0.1)
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

    internal static void Log(LogPipeline pipeline)
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

    [Benchmark(Baseline = true, Description = "queue full, Drop (counted drop)")]
    public void FullDrop() => Log(_full);

    [Benchmark(Description = "above high-water, Sample (sampled out)")]
    public void SampledOut() => Log(_sampling);

    internal sealed class NullSink : LogSink
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

/// <summary>
/// The enqueue with room, under each strategy: each invocation logs a burst of <see cref="Burst"/> events into a queue of
/// twice that capacity that the worker drained before the iteration, so no call ever finds the queue full (the cleanup
/// prints the counts to prove it). The worker drains concurrently into a sink that does nothing. With one invocation per
/// iteration the benchmark method is called once per iteration, so 100 warm-up iterations are what it takes for tiered
/// compilation (tier 0, instrumented tier 1, then tier 1 with the profile) to finish before the measured ones. Three
/// launches, because on a 2-core machine where the worker and the caller may share a physical core, one process can run
/// in a slower mode for its whole life.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
[SimpleJob(launchCount: 3, warmupCount: 100, invocationCount: 1)]
public class EnqueueBurstBenchmarks
{
    public const int Burst = 4096;

    private LogPipeline _drop = null!;
    private LogPipeline _block = null!;
    private LogPipeline _sample = null!;

    [GlobalSetup]
    public void Setup()
    {
        _drop = EnqueueBenchmarks.Start(OverflowStrategy.Drop, 2 * Burst, null);
        _block = EnqueueBenchmarks.Start(OverflowStrategy.Block, 2 * Burst, null);
        _sample = EnqueueBenchmarks.Start(OverflowStrategy.Sample, 2 * Burst, null);
    }

    [IterationSetup]
    public void Drain()
    {
        _drop.Flush(TimeSpan.FromSeconds(30));
        _block.Flush(TimeSpan.FromSeconds(30));
        _sample.Flush(TimeSpan.FromSeconds(30));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach ((string name, LogPipeline p) in new[] { ("drop", _drop), ("block", _block), ("sample", _sample) })
        {
            Console.WriteLine($"// burst {name}: {p.GetStatistics()}");
            p.Shutdown(TimeSpan.FromSeconds(30));
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Burst, Description = "enabled, Drop, room")]
    public void EnabledDrop()
    {
        for (int i = 0; i < Burst; i++)
        {
            EnqueueBenchmarks.Log(_drop);
        }
    }

    [Benchmark(OperationsPerInvoke = Burst, Description = "enabled, Block, room")]
    public void EnabledBlock()
    {
        for (int i = 0; i < Burst; i++)
        {
            EnqueueBenchmarks.Log(_block);
        }
    }

    [Benchmark(OperationsPerInvoke = Burst, Description = "enabled, Sample, room")]
    public void EnabledSample()
    {
        for (int i = 0; i < Burst; i++)
        {
            EnqueueBenchmarks.Log(_sample);
        }
    }
}
