using System;

namespace FapiLog.LoadTest;

/// <summary>
/// The report's figures over a sorted array of call times. Linked into FapiLog.Tests as well, which checks them on
/// known inputs.
/// </summary>
internal static class LatencyStats
{
    /// <summary>The <paramref name="p"/>th percentile by nearest rank: the smallest sample at least p % of all are at or under.</summary>
    public static long Percentile(long[] sorted, double p)
    {
        if (sorted.Length == 0)
        {
            throw new ArgumentException("No samples.", nameof(sorted));
        }

        return sorted[Math.Clamp(Rank(sorted.Length, p), 1, sorted.Length) - 1];
    }

    /// <summary>What the calls above the <paramref name="p"/>th percentile add to the average: their sum over all calls.</summary>
    public static double TailShare(long[] sorted, double p)
    {
        if (sorted.Length == 0)
        {
            return 0;
        }

        double sum = 0;
        for (long i = Math.Clamp(Rank(sorted.Length, p), 0, sorted.Length); i < sorted.Length; i++)
        {
            sum += sorted[i];
        }

        return sum / sorted.Length;
    }

    /// <summary>
    /// ceil(p / 100 × n), in decimal: in double, 99.9 / 100 × 100,000 is 99,900.00000000001, which put p99.9 one rank
    /// too high (the maximum of 1,000 calls) and left one call out of the slowest 0.1 %.
    /// </summary>
    private static long Rank(long n, double p)
    {
        if (!(p >= 0 && p <= 100))
        {
            throw new ArgumentOutOfRangeException(nameof(p), p, "A percentile is from 0 to 100.");
        }

        return (long)decimal.Ceiling((decimal)p * n / 100m);
    }
}
