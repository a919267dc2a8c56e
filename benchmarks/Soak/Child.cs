using System;
using System.Diagnostics;
using System.Globalization;
using System.Threading;
using Microsoft.Extensions.Logging;

namespace FapiLog.Soak;

/// <summary>
/// The logging process: WORKERS threads log at RATE events/s in all through a generated method into a rolling JSON-lines
/// file and a Loki sink, for SECONDS; a sample line every 10 s on stdout; then a timed shutdown and the final counts.
/// </summary>
internal static partial class Child
{
    private static readonly string[] s_customers = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"];

    public static int Run(string file, Uri loki, int workers, int rate, int seconds, int retained)
    {
        FapiLogging.Configure(o =>
        {
            o.Console = false;
            o.FilePath = file;
            o.FileMaxBytes = 1024 * 1024;
            o.FileRetainedFiles = retained;
            o.Loki.Url = loki;
            o.Loki.Labels["service_name"] = "soak";
            o.Loki.MaxBackoff = TimeSpan.FromSeconds(10);
        });

        var sequences = new long[workers];
        var threads = new Thread[workers];
        using var stop = new ManualResetEventSlim(false);
        double perWorker = (double)rate / workers;
        for (int w = 0; w < workers; w++)
        {
            int worker = w;
            threads[w] = new Thread(() => Produce(worker, perWorker, sequences, stop)) { Name = "soak producer " + w };
            threads[w].Start();
        }

        var clock = Stopwatch.StartNew();
        int sample = 0;
        while (sample * 10 < seconds)
        {
            TimeSpan wait = TimeSpan.FromSeconds(10 * (sample + 1)) - clock.Elapsed;
            if (wait > TimeSpan.Zero)
            {
                Thread.Sleep(wait);
            }

            sample++;
            Print("sample", clock);
        }

        stop.Set();
        foreach (Thread thread in threads)
        {
            thread.Join();
        }

        Print("stopped", clock);
        var shutdown = Stopwatch.StartNew();
        bool clean = FapiLogging.Shutdown();
        shutdown.Stop();
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"shutdown clean={clean} ms={shutdown.Elapsed.TotalMilliseconds:0}"));
        Print("final", clock);
        Console.Out.WriteLine("logged " + string.Join(' ', sequences));
        Console.Out.Flush();
        return 0;
    }

    private static void Print(string what, Stopwatch clock)
    {
        GCMemoryInfo info = GC.GetGCMemoryInfo();
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{what} t={clock.Elapsed.TotalSeconds:0} gc_total={GC.GetTotalMemory(false)} heap_size={info.HeapSizeBytes} " +
            $"gen2={GC.CollectionCount(2)} | {FapiLogging.Statistics} | {FapiLogging.LokiStatistics}"));
        Console.Out.Flush();
    }

    private static void Produce(int worker, double rate, long[] sequences, ManualResetEventSlim stop)
    {
        var clock = Stopwatch.StartNew();
        long seq = 0;
        var error = new InvalidOperationException("payment declined");
        while (!stop.IsSet)
        {
            long due = (long)(clock.Elapsed.TotalSeconds * rate);
            while (seq < due)
            {
                if (seq % 1000 == 999)
                {
                    Failed(worker, seq, seq * 7, error);
                }
                else
                {
                    Tick(worker, seq, seq * 7, s_customers[seq & 7], 99.50m + (seq % 100));
                }

                seq++;
            }

            Volatile.Write(ref sequences[worker], seq);
            Thread.Sleep(1);
        }
    }

    [FapiLog(LogLevel.Information, "Soak {Worker} {Seq}: order {OrderId} placed by {Customer} for {Amount}", EventId = 1)]
    private static partial void Tick(int worker, long seq, long orderId, string customer, decimal amount);

    [FapiLog(LogLevel.Error, "Soak {Worker} {Seq}: payment failed for order {OrderId}", EventId = 2)]
    private static partial void Failed(int worker, long seq, long orderId, Exception error);
}
