using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Threading;

namespace FapiLog.Comparison;

public sealed record ThroughputResult(string Library, int Threads, int Events, double[] EventsPerSecond, bool Lossless, long Dropped)
{
    public double Median => Stats.Median(EventsPerSecond);
}

public sealed record LatencyResult(
    string Library, int Rate, int Tasks, double Seconds, long Calls, long Seen, double AverageNs, double[] PercentileNs,
    double MaxNs, double BytesPerCall, long Dropped, int Repetitions = 1);

public static class Stats
{
    /// <summary>The percentiles reported and drawn (the chart's x axis).</summary>
    public static readonly double[] Percentiles = [50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99];

    public static double Median(double[] values)
    {
        double[] sorted = [.. values.Order()];
        int n = sorted.Length;
        return n == 0 ? double.NaN : n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    /// <summary>
    /// By nearest rank, as the load test reports it (its LatencyStats, linked in): computed here in double, p99.9 came out
    /// one rank too high at every run size the comparison uses.
    /// </summary>
    public static long Percentile(long[] sorted, double p) => FapiLog.LoadTest.LatencyStats.Percentile(sorted, p);
}

/// <summary>
/// Lossless throughput: N events from 1, 2 and 4 producer threads in each library's blocking mode, timed from the
/// moment the producers are released until the sink has seen all N (after the producers finish, FapiLog and NLog are
/// asked to flush, the call their users make; the other three deliver eagerly). A warm-up round precedes the rounds.
/// </summary>
public static class ThroughputRunner
{
    private static readonly string[] s_customers = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"];

    public static List<ThroughputResult> Run(string[] libraries, int[] threadCounts, int events, int rounds)
    {
        // Rounds are interleaved (round 1 of every library and thread count, then round 2, ...), so that a change in
        // the machine's load during the run spreads over all libraries instead of landing on one.
        var rates = new Dictionary<(string, int), double[]>();
        var lossless = new Dictionary<(string, int), bool>();
        var dropped = new Dictionary<(string, int), long>();
        for (int r = 0; r < rounds; r++)
        {
            foreach (string library in libraries)
            {
                foreach (int threads in threadCounts)
                {
                    using Contender c = Contender.Create(library, QueueMode.Lossless);
                    Round(c, Math.Max(threads * 1000, events / 10), threads);
                    Collect();
                    (double rate, bool ok) = Round(c, events, threads);
                    (string, int) key = (library, threads);
                    if (!rates.TryGetValue(key, out double[]? list))
                    {
                        rates[key] = list = new double[rounds];
                        lossless[key] = true;
                        dropped[key] = 0;
                    }

                    list[r] = rate;
                    lossless[key] &= ok;
                    dropped[key] += Math.Max(0, c.Dropped);
                    Console.WriteLine($"  round {r + 1}/{rounds} {library,-26} {threads} thread(s): {rate,12:N0} events/s{(ok ? "" : "  NOT ALL DELIVERED")}");
                }
            }
        }

        var results = new List<ThroughputResult>();
        foreach (string library in libraries)
        {
            foreach (int threads in threadCounts)
            {
                var result = new ThroughputResult(library, threads, events, rates[(library, threads)], lossless[(library, threads)], dropped[(library, threads)]);
                results.Add(result);
                Console.WriteLine($"  {library,-26} {threads} thread(s): median {result.Median,12:N0} events/s");
            }
        }

        return results;
    }

    private static (double Rate, bool Ok) Round(Contender c, int events, int threads)
    {
        long before = c.Probe.Seen;
        int perThread = events / threads;
        long total = (long)perThread * threads;
        using var start = new Barrier(threads + 1);
        var workers = new Thread[threads];
        for (int t = 0; t < threads; t++)
        {
            int task = t;
            workers[t] = new Thread(() =>
            {
                start.SignalAndWait();
                long id = task * 1_000_000_000L;
                for (int i = 0; i < perThread; i++)
                {
                    c.Order(id + i, s_customers[i & 7], 99.5 + i);
                }
            })
            { IsBackground = true, Name = "producer " + t };
            workers[t].Start();
        }

        start.SignalAndWait();
        long began = Stopwatch.GetTimestamp();
        foreach (Thread w in workers)
        {
            w.Join();
        }

        c.RequestFlush();
        bool ok = c.Probe.WaitFor(before + total, TimeSpan.FromSeconds(120));
        TimeSpan elapsed = Stopwatch.GetElapsedTime(began);
        return (total / elapsed.TotalSeconds, ok);
    }

    internal static void Collect()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }
}

/// <summary>
/// The load test's latency comparison for every library: 4 tasks at a fixed total rate, open loop (each task logs the
/// events due by the clock in 1 ms steps, so a slow call does not lower the offered rate), each call timed with the
/// monotonic clock (the figures include one clock read). Bytes per call are those the producer threads allocated.
/// Every library runs in its blocking (lossless) mode; at these rates the queues should not fill. Each figure is the
/// median over the repetitions.
/// </summary>
public static class LatencyRunner
{
    private static readonly string[] s_customers = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"];

    public static List<LatencyResult> Run(string[] libraries, int[] rates, int tasks, double seconds, int repetitions)
    {
        // Repetitions are interleaved across libraries (as the throughput rounds are); each figure reported is the
        // median of that figure over the repetitions.
        var runs = new Dictionary<(string, int), List<LatencyResult>>();
        for (int rep = 0; rep < repetitions; rep++)
        {
            foreach (string library in libraries)
            {
                using Contender c = Contender.Create(library, QueueMode.Lossless);
                Warmup(c);
                foreach (int rate in rates)
                {
                    ThroughputRunner.Collect();
                    LatencyResult r = RunOne(c, rate, tasks, seconds);
                    if (!runs.TryGetValue((library, rate), out List<LatencyResult>? list))
                    {
                        runs[(library, rate)] = list = [];
                    }

                    list.Add(r);
                    Console.WriteLine($"  rep {rep + 1}/{repetitions} {library,-12} {rate,9:N0}/s: avg {r.AverageNs,8:N0} ns  p50 {r.PercentileNs[0],8:N0}  p99 {r.PercentileNs[4],8:N0}  " +
                                      $"p99.9 {r.PercentileNs[6],8:N0}  max {r.MaxNs,10:N0}  {r.BytesPerCall:0.#} B/call  seen {r.Seen:N0}/{r.Calls:N0}");
                }
            }
        }

        var results = new List<LatencyResult>();
        foreach (string library in libraries)
        {
            foreach (int rate in rates)
            {
                List<LatencyResult> list = runs[(library, rate)];
                LatencyResult first = list[0];
                results.Add(first with
                {
                    Calls = list.Sum(x => x.Calls),
                    Seen = list.Sum(x => x.Seen),
                    AverageNs = Stats.Median([.. list.Select(x => x.AverageNs)]),
                    PercentileNs = [.. Enumerable.Range(0, Stats.Percentiles.Length).Select(i => Stats.Median([.. list.Select(x => x.PercentileNs[i])]))],
                    MaxNs = Stats.Median([.. list.Select(x => x.MaxNs)]),
                    BytesPerCall = list.Average(x => x.BytesPerCall),
                    Dropped = list.Any(x => x.Dropped < 0) ? -1 : list.Sum(x => x.Dropped),
                    Repetitions = list.Count,
                });
            }
        }

        return results;
    }

    private static void Warmup(Contender c)
    {
        long until = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 2;
        long i = 0;
        while (Stopwatch.GetTimestamp() < until)
        {
            c.Order(i, s_customers[i & 7], 99.5);
            i++;
            if ((i & 1023) == 0)
            {
                Thread.Sleep(1);
            }
        }

        c.RequestFlush();
        c.Probe.WaitFor(i, TimeSpan.FromSeconds(60));
    }

    private static LatencyResult RunOne(Contender c, int rate, int tasks, double seconds)
    {
        long seenBefore = c.Probe.Seen;
        long droppedBefore = c.Dropped;
        int perTaskRate = rate / tasks;
        long perTask = (long)(perTaskRate * seconds);
        var samples = new long[tasks][];
        var bytes = new long[tasks];
        using var start = new Barrier(tasks + 1);
        var threads = new Thread[tasks];
        for (int t = 0; t < tasks; t++)
        {
            int task = t;
            samples[t] = new long[perTask];
            threads[t] = new Thread(() =>
            {
                start.SignalAndWait();
                long allocated = GC.GetAllocatedBytesForCurrentThread();
                Paced(c, task, samples[task], perTask, perTaskRate, seconds);
                bytes[task] = GC.GetAllocatedBytesForCurrentThread() - allocated;
            })
            { IsBackground = true, Name = "producer " + t };
            threads[t].Start();
        }

        start.SignalAndWait();
        foreach (Thread t in threads)
        {
            t.Join();
        }

        long calls = perTask * tasks;
        c.RequestFlush();
        c.Probe.WaitFor(seenBefore + calls, TimeSpan.FromSeconds(60));
        long seen = c.Probe.Seen - seenBefore;

        long[] all = samples.SelectMany(s => s).ToArray();
        Array.Sort(all);
        double toNs = 1e9 / Stopwatch.Frequency;
        double[] pct = Stats.Percentiles.Select(p => Stats.Percentile(all, p) * toNs).ToArray();
        return new LatencyResult(c.Name, rate, tasks, seconds, calls, seen, all.Average() * toNs, pct, all[^1] * toNs,
            (double)bytes.Sum() / calls, c.Dropped < 0 ? -1 : c.Dropped - droppedBefore);
    }

    /// <summary>Logs what is due by the clock each millisecond, then sleeps until the next.</summary>
    private static void Paced(Contender c, int task, long[] samples, long total, int ratePerTask, double seconds)
    {
        long start = Stopwatch.GetTimestamp();
        long end = start + (long)(seconds * Stopwatch.Frequency);
        long sent = 0;
        double perTick = (double)ratePerTask / Stopwatch.Frequency;
        long baseId = task * 1_000_000_000L;
        while (sent < total)
        {
            long now = Stopwatch.GetTimestamp();
            long due = now >= end ? total : Math.Min(total, (long)((now - start) * perTick));
            for (; sent < due; sent++)
            {
                long before = Stopwatch.GetTimestamp();
                c.Order(baseId + sent, s_customers[sent & 7], 99.5 + sent);
                samples[sent] = Stopwatch.GetTimestamp() - before;
            }

            if (sent < total)
            {
                Thread.Sleep(1);
            }
        }
    }
}
