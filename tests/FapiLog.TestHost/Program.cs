using System;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using FapiLog;
using FapiLog.Loki;
using Microsoft.Extensions.Logging;

namespace FapiLog.TestHost;

/// <summary>
/// Usage: FapiLog.TestHost MODE FILE COUNT. Logs COUNT "Tick" events into the JSON-lines FILE, then:
/// exit: returns from Main (the ProcessExit hook must flush); unhandled: throws (the UnhandledException hook logs it and
/// flushes); sigterm: prints "ready" and waits to be killed with SIGTERM; starve: saturates the thread pool first and
/// flushes explicitly, exiting 0 only if everything was delivered; starve-loki URL: the same with a Loki sink at URL as
/// well (flushes while starved, then releases the pool, logs COUNT more and flushes again; exits 0 if neither flush hung);
/// starve-drops: QueueCapacity COUNT (Drop), a sink that holds the worker from the first event on, the pool saturated; logs
/// COUNT + 10 more, so that 11 are dropped, then waits for "release" on stdin (the test reads the drop warning on stderr
/// first), lets the pool and the sink go, flushes and prints the statistics; activity-before: an Activity is current before FapiLog
/// is first used (its trace id is printed); activities: COUNT events without an Activity, one inside one (its trace id is
/// printed), one after it stopped. More exit and shutdown modes (hung sinks, signals to a Generic Host, crashes, Configure
/// during exit) are in <see cref="ExitModes"/>.
/// </summary>
public static class Program
{
    private static readonly LogEventDescriptor s_tick = new(
        1, "Tick", LogLevel.Information, "Tick {Sequence}", LogArgument.Create<long>("sequence"));

    public static int Main(string[] args)
    {
        string mode = args[0];
        string file = args[1];
        int count = int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture);
        if (ExitModes.Run(mode, file, count) is { } exitCode)
        {
            return exitCode;
        }

        // An activity that is current before FapiLog is first used at all.
        Activity? early = mode == "activity-before" ? new Activity("early").Start() : null;

        // What the generated module initializer does in an application with [FapiLog] methods.
        FapiLogging.RegisterShutdownHooks();
        FapiLogging.Configure(o =>
        {
            o.FilePath = file;
            o.Console = false;
            o.BatchSize = 1000;
            o.FlushInterval = mode.StartsWith("starve", StringComparison.Ordinal) ? TimeSpan.FromMilliseconds(50) : TimeSpan.FromHours(1);
            o.QueueCapacity = Math.Max(1000, 2 * count);
            if (mode == "starve-loki")
            {
                o.Loki.Url = new Uri(args[3]);
                o.Loki.RequestTimeout = TimeSpan.FromSeconds(1);
                o.Loki.MaxAttempts = 2;
                o.Loki.MinBackoff = TimeSpan.FromMilliseconds(10);
                o.Loki.MaxBackoff = TimeSpan.FromMilliseconds(50);
            }
        });

        if (mode == "starve-drops")
        {
            return StarveDrops(file, count);
        }

        using var blockers = new ManualResetEventSlim(false);
        if (mode.StartsWith("starve", StringComparison.Ordinal))
        {
            Starve(blockers);
        }

        for (long i = 0; i < count; i++)
        {
            Tick(i);
        }

        switch (mode)
        {
            case "exit":
                return 0;
            case "activity-before":
                Console.WriteLine("trace " + early!.TraceId.ToHexString());
                return 0;
            case "activities":
                // Count events so far had no activity; the next one has, and the one after has none again.
                Activity later = new Activity("later").Start();
                Tick(count);
                later.Stop();
                Tick(count + 1);
                Console.WriteLine("trace " + later.TraceId.ToHexString());
                return 0;
            case "unhandled":
                throw new InvalidOperationException("unhandled on purpose");
            case "sigterm":
                Console.WriteLine("ready");
                Console.Out.Flush();
                Thread.Sleep(Timeout.Infinite);
                return 1;
            case "starve-loki":
                {
                    // The push needs a new connection, which HttpClient opens on the starved pool: it must time out rather
                    // than hold the worker (and the file sink) until the pool recovers.
                    bool starvedFlush = FapiLogging.Flush(TimeSpan.FromSeconds(30));
                    blockers.Set();
                    for (long i = count; i < 2 * count; i++)
                    {
                        Tick(i);
                    }

                    bool laterFlush = FapiLogging.Flush(TimeSpan.FromSeconds(30));
                    LokiStatistics loki = FapiLogging.LokiStatistics;
                    Console.WriteLine($"starved flush={starvedFlush} later flush={laterFlush} loki sent={loki.EntriesSent} failed={loki.EntriesFailed} " +
                                      string.Join(",", loki.EntriesFailedByReason.Select(r => r.Key + "=" + r.Value)));
                    return starvedFlush && laterFlush ? 0 : 3;
                }

            case "starve":
                bool flushed = FapiLogging.Flush(TimeSpan.FromSeconds(60));
                Console.WriteLine($"flushed={flushed} {FapiLogging.Statistics}");
                int code = flushed && FapiLogging.Statistics.Delivered == count ? 0 : 3;
                blockers.Set();
                return code;
            default:
                Console.Error.WriteLine("unknown mode " + mode);
                return 2;
        }
    }

    /// <summary>
    /// Drops while the worker is held in a sink and the thread pool is starved: the warning must reach stderr all the same
    /// (a timer on the pool would say it only once the pool recovered, and a starved pool is when Loki's pushes stall and
    /// the queue fills).
    /// </summary>
    private static int StarveDrops(string file, int capacity)
    {
        using var entered = new ManualResetEventSlim(false);
        using var release = new ManualResetEventSlim(false);
        FapiLogging.Configure(o =>
        {
            o.Console = false;
            o.AddSink(new HoldingSink(entered, release));
            o.FilePath = file;
            o.QueueCapacity = capacity;
            o.Overflow = OverflowStrategy.Drop;
            o.FlushInterval = TimeSpan.FromMilliseconds(10);
        });

        using var blockers = new ManualResetEventSlim(false);
        Starve(blockers);
        Tick(0);
        if (!entered.Wait(TimeSpan.FromMinutes(1)))
        {
            Console.Error.WriteLine("the sink was never entered");
            return 5;
        }

        // The worker holds event 0 and its slot: capacity - 1 more fit, the 11 after them are dropped.
        for (long i = 1; i <= capacity + 10; i++)
        {
            Tick(i);
        }

        string? line = Console.In.ReadLine();
        blockers.Set();
        release.Set();
        bool flushed = FapiLogging.Flush(TimeSpan.FromSeconds(30));
        FapiLogStatistics statistics = FapiLogging.Statistics;
        Console.WriteLine($"flushed={flushed} dropped={statistics.DroppedQueueFull} {statistics}");
        return line == "release" && flushed ? 0 : 3;
    }

    /// <summary>Holds the worker in its first write until released.</summary>
    private sealed class HoldingSink(ManualResetEventSlim entered, ManualResetEventSlim release) : LogSink
    {
        public override void Write(in LogBatch batch, CancellationToken cancellationToken)
        {
            entered.Set();
            release.Wait(cancellationToken);
        }
    }

    /// <summary>Caps the pool at its minimum size and occupies every thread, so nothing queued to it can run.</summary>
    private static void Starve(ManualResetEventSlim release)
    {
        ThreadPool.GetMinThreads(out int workers, out int io);
        ThreadPool.SetMaxThreads(workers, io);
        using var started = new CountdownEvent(workers);
        for (int i = 0; i < workers; i++)
        {
            ThreadPool.UnsafeQueueUserWorkItem(_ =>
            {
                started.Signal();
                release.Wait();
            }, null);
        }

        started.Wait();
        // Proof that the pool is starved: this item cannot start until the blockers are released.
        using var probe = new ManualResetEventSlim(false);
        ThreadPool.UnsafeQueueUserWorkItem(_ => probe.Set(), null);
        if (probe.Wait(TimeSpan.FromMilliseconds(200)))
        {
            Console.Error.WriteLine("the thread pool was not starved");
            Environment.Exit(4);
        }
    }

    internal static void Tick(long sequence)
    {
        if (!FapiLogRuntime.IsEnabled(LogLevel.Information))
        {
            return;
        }

        LogEventWriter w = FapiLogRuntime.Begin(s_tick);
        if (!w.IsActive)
        {
            return;
        }

        w.Write(sequence);
        w.Commit();
    }
}
