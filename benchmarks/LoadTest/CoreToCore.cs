using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Threading;

namespace FapiLog.LoadTest;

/// <summary>
/// The machine check: two threads hand one cache line back and forth, and the round trip is timed in windows of 100,000
/// round trips, a quarter of a second apart. Every multi-producer queue's call pays this transfer when the last writer of
/// its shared lines ran on the other core. On a virtual machine, whose cores the host may place near or far apart from one
/// minute to the next, this shows whether a slow load-test run met a slow machine: run it between load-test runs. It logs
/// nothing, and it runs in a process of its own: both threads spin, so a third busy thread (a logging pipeline's worker,
/// the JIT) would take turns with them on two cores and time the scheduler instead.
/// </summary>
internal static class CoreToCore
{
    private const int RoundTripsPerWindow = 100_000;

    // The shared value sits in the middle of an array of 32 longs: two cache lines on each side keep anything else off its line.
    private const int At = 16;

    /// <summary>The <c>--core-to-core</c> mode: times windows for the duration (at least one), prints each, then a summary.</summary>
    public static int Run(double seconds)
    {
        Console.WriteLine($"core-to-core round trip: two threads hand one cache line back and forth for {seconds:0.#} s; " +
                          $"{Environment.ProcessorCount} cores, .NET {Environment.Version}");
        var line = new long[2 * At];
        var echo = new Thread(() => Echo(line)) { IsBackground = true, Name = "core-to-core echo" };
        echo.Start();

        long end = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
        var windows = new List<double>();
        long value = 0;
        do
        {
            long start = Stopwatch.GetTimestamp();
            for (int i = 0; i < RoundTripsPerWindow; i++)
            {
                // Odd: the echo thread's turn; it answers with the next even number.
                Volatile.Write(ref line[At], ++value);
                SpinUntilChanged(line, value);
                value++;
            }

            double ns = (Stopwatch.GetTimestamp() - start) * 1e9 / Stopwatch.Frequency / RoundTripsPerWindow;
            windows.Add(ns);
            Console.WriteLine($"  {DateTime.UtcNow.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)}  {ns,7:N1} ns");
            // A pause between windows, as the load test's tasks pause between steps.
            Thread.Sleep(250);
        }
        while (Stopwatch.GetTimestamp() < end);

        Volatile.Write(ref line[At], -1);
        echo.Join();

        double[] sorted = [.. windows.Order()];
        int n = sorted.Length;
        double median = n % 2 == 1 ? sorted[n / 2] : (sorted[(n / 2) - 1] + sorted[n / 2]) / 2;
        Console.WriteLine();
        Console.WriteLine($"result: {sorted.Length} windows of {RoundTripsPerWindow:N0} round trips; min {sorted[0]:N1} ns, " +
                          $"median {median:N1} ns, max {sorted[^1]:N1} ns; {sorted.Count(w => w > 1.5 * median)} window(s) above 1.5 x the median");
        return 0;
    }

    private static void SpinUntilChanged(long[] line, long value)
    {
        while (Volatile.Read(ref line[At]) == value)
        {
        }
    }

    private static void Echo(long[] line)
    {
        while (true)
        {
            long v = Volatile.Read(ref line[At]);
            if (v < 0)
            {
                return;
            }

            if ((v & 1) == 1)
            {
                Volatile.Write(ref line[At], v + 1);
            }
        }
    }
}
