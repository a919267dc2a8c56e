using System;
using System.Linq;
using FapiLog.LoadTest;
using Xunit;

namespace FapiLog.Tests;

/// <summary>The load-test tool's report arithmetic (benchmarks/LoadTest, its pure files linked into this project).</summary>
public class LoadTestToolTests
{
    private static long[] OneTo(int n) => Enumerable.Range(1, n).Select(i => (long)i).ToArray();

    [Theory]
    [InlineData(1_000, 50, 500)]
    [InlineData(1_000, 99, 990)]
    [InlineData(1_000, 99.9, 999)]
    [InlineData(2_000, 99.9, 1_998)]
    [InlineData(10_000, 99.9, 9_990)]
    [InlineData(100_000, 99.9, 99_900)]
    [InlineData(25_000, 99.9, 24_975)]
    [InlineData(100, 99.9, 100)]
    [InlineData(10, 99, 10)]
    [InlineData(10, 50, 5)]
    [InlineData(7, 50, 4)]
    [InlineData(1_000, 100, 1_000)]
    [InlineData(1_000, 0, 1)]
    public void Percentile_is_the_nearest_rank(int n, double p, long expected)
        => Assert.Equal(expected, LatencyStats.Percentile(OneTo(n), p));

    [Theory]
    [InlineData(0)]
    [InlineData(50)]
    [InlineData(99.9)]
    [InlineData(100)]
    public void Percentile_of_a_single_sample_is_that_sample(double p)
        => Assert.Equal(42, LatencyStats.Percentile([42], p));

    [Fact]
    public void Percentile_of_repeated_values_and_out_of_range_requests()
    {
        long[] sorted = [5, 5, 5, 9];
        Assert.Equal(5, LatencyStats.Percentile(sorted, 75));
        Assert.Equal(9, LatencyStats.Percentile(sorted, 75.1));
        Assert.Throws<ArgumentException>(() => LatencyStats.Percentile([], 50));
        Assert.Throws<ArgumentOutOfRangeException>(() => LatencyStats.Percentile(sorted, 100.1));
        Assert.Throws<ArgumentOutOfRangeException>(() => LatencyStats.Percentile(sorted, double.NaN));
    }

    [Fact]
    public void Tail_share_sums_exactly_the_slowest_calls_over_all_calls()
    {
        // 100,000 calls of 1 ns and the slowest 100 (0.1 %) of 1,001 ns: those 100 add 100 × 1,000 / 100,000 = 1 ns.
        long[] sorted = Enumerable.Repeat(1L, 99_900).Concat(Enumerable.Repeat(1_001L, 100)).ToArray();
        Assert.Equal(1.0 + 100.0 / 100_000, LatencyStats.TailShare(sorted, 99.9), 12);
        Assert.Equal((900 * 1.0 + 100 * 1_001.0) / 100_000, LatencyStats.TailShare(sorted, 99), 12);

        long[] oneTo1000 = OneTo(1_000);
        Assert.Equal(1_000.0 / 1_000, LatencyStats.TailShare(oneTo1000, 99.9));
        Assert.Equal(oneTo1000.Sum() / 1_000.0, LatencyStats.TailShare(oneTo1000, 0));
        Assert.Equal(0, LatencyStats.TailShare(oneTo1000, 100));
        Assert.Equal(0, LatencyStats.TailShare([7], 99));
        Assert.Equal(0, LatencyStats.TailShare([], 99));
    }
}
