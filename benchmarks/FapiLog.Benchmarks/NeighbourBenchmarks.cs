using System;
using System.Globalization;
using System.Threading;
using BenchmarkDotNet.Attributes;
using FapiLog.Internal;

namespace FapiLog.Benchmarks;

/// <summary>
/// What a consumer working alongside costs the caller on this machine: the burst of <see cref="EnqueueBurstBenchmarks"/>
/// (Drop, room), alone and with a second thread that renders numbers for the whole iteration, as the consumers of
/// ZLogger, Serilog and the console logger do during the comparison's bursts while FapiLog's worker mostly sleeps. The
/// difference is the part of the peers' figures in that table that FapiLog's figure does not pay for.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
[SimpleJob(launchCount: 3, warmupCount: 100, invocationCount: 1)]
public class NeighbourBenchmarks
{
    public const int Burst = EnqueueBurstBenchmarks.Burst;

    private LogPipeline _drop = null!;
    private Thread? _neighbour;
    private volatile bool _stop;
    private volatile bool _running;

    /// <summary>Whether a second thread renders numbers while the burst runs.</summary>
    [Params(false, true)]
    public bool BusyNeighbour { get; set; }

    [GlobalSetup]
    public void Setup() => _drop = EnqueueBenchmarks.Start(OverflowStrategy.Drop, 2 * Burst, null);

    [IterationSetup]
    public void Begin()
    {
        _drop.Flush(TimeSpan.FromSeconds(30));
        if (BusyNeighbour)
        {
            _stop = false;
            _running = false;
            _neighbour = new Thread(Render) { IsBackground = true };
            _neighbour.Start();
            // Timed only once the neighbour is at work.
            SpinWait.SpinUntil(() => _running);
        }
    }

    [IterationCleanup]
    public void End()
    {
        _stop = true;
        _neighbour?.Join();
        _neighbour = null;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        Console.WriteLine($"// neighbour drop: {_drop.GetStatistics()}");
        _drop.Shutdown(TimeSpan.FromSeconds(30));
    }

    [Benchmark(OperationsPerInvoke = Burst, Description = "enabled, Drop, room")]
    public void EnabledDrop()
    {
        for (int i = 0; i < Burst; i++)
        {
            EnqueueBenchmarks.Log(_drop);
        }
    }

    /// <summary>A consumer's kind of work: formatting a long and a double into a reused buffer, over and over.</summary>
    private void Render()
    {
        Span<char> buffer = stackalloc char[64];
        long n = 0;
        _running = true;
        while (!_stop)
        {
            n++;
            n.TryFormat(buffer, out int written, default, CultureInfo.InvariantCulture);
            (n * 0.25).TryFormat(buffer[written..], out _, default, CultureInfo.InvariantCulture);
        }
    }
}
