using System;
using System.Runtime.InteropServices;
using System.Threading;
using BenchmarkDotNet.Attributes;
using FapiLog.Internal;

namespace FapiLog.Benchmarks;

/// <summary>
/// What an enabled call cannot be cheaper than on this machine, measured the way <see cref="EnqueueBurstBenchmarks"/>
/// measures the call (bursts of <see cref="Burst"/>, one invocation per iteration, 100 warm-ups, three launches): the
/// precise clock read alone, and the clock read plus the least a multi-producer queue must do (a compare-and-swap on a
/// shared tail, 64 bytes written into the claimed slot, a published marker), with no consumer and nothing else.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
[SimpleJob(launchCount: 3, warmupCount: 100, invocationCount: 1)]
public class CallFloorBenchmarks
{
    public const int Burst = EnqueueBurstBenchmarks.Burst;

    private readonly long[] _ticks = new long[Burst];
    private readonly Slot[] _ring = new Slot[2 * Burst];
    private Tail _tail;
    private LogPipeline _drop = null!;

    [GlobalSetup]
    public void Setup() => _drop = EnqueueBenchmarks.Start(OverflowStrategy.Drop, 2 * Burst, null);

    [IterationSetup]
    public void Drain()
    {
        _tail.Value = 0;
        _drop.Flush(TimeSpan.FromSeconds(30));
    }

    [GlobalCleanup]
    public void Cleanup() => _drop.Shutdown(TimeSpan.FromSeconds(30));

    [Benchmark(Baseline = true, OperationsPerInvoke = Burst, Description = "FapiLog call, Drop, room (as EnqueueBurst)")]
    public void FapiLogCall()
    {
        for (int i = 0; i < Burst; i++)
        {
            EnqueueBenchmarks.Log(_drop);
        }
    }

    [Benchmark(OperationsPerInvoke = Burst, Description = "DateTime.UtcNow only")]
    public void ClockOnly()
    {
        long[] ticks = _ticks;
        for (int i = 0; i < ticks.Length; i++)
        {
            ticks[i] = DateTime.UtcNow.Ticks;
        }
    }

    [Benchmark(OperationsPerInvoke = Burst, Description = "clock + CAS claim + 64-byte slot write")]
    public void ClockClaimWrite()
    {
        Slot[] ring = _ring;
        int mask = ring.Length - 1;
        for (int i = 0; i < Burst; i++)
        {
            long position;
            do
            {
                position = Volatile.Read(ref _tail.Value);
            }
            while (Interlocked.CompareExchange(ref _tail.Value, position + 1, position) != position);

            ref Slot slot = ref ring[(int)position & mask];
            slot.Timestamp = DateTime.UtcNow.Ticks;
            slot.A = position;
            slot.B = i;
            slot.C = position ^ i;
            slot.D = 99;
            slot.E = 100;
            slot.F = 101;
            Volatile.Write(ref slot.Published, position + 1);
        }
    }

    /// <summary>A 64-byte slot: marker, timestamp and six values.</summary>
    private struct Slot
    {
        public long Published;
        public long Timestamp;
        public long A;
        public long B;
        public long C;
        public long D;
        public long E;
        public long F;
    }

    /// <summary>The tail on a cache line of its own, as in the real queue.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 192)]
    private struct Tail
    {
        [FieldOffset(64)]
        public long Value;
    }
}
