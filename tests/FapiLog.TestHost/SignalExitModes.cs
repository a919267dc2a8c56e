using System;
using System.Threading;
using FapiLog;
using FapiLog.Sinks;

namespace FapiLog.TestHost;

/// <summary>
/// What a signal that ends the process leaves unsaid: FapiLog.TestHost MODE FILE COUNT, "Tick" events into the JSON-lines
/// FILE (a <see cref="JsonFileSink"/>). Each mode prints "ready" (plus what it counted) and waits for the signal.
/// signal-while-logging: COUNT events; when a flush hands them to the sinks, another thread logs COUNT more while the sinks
/// write (an application still at work when the signal comes). signal-after-drops: QueueCapacity COUNT (Drop,
/// DropWarningInterval 1 h); twice, a sink holds the worker while COUNT + 3 (then COUNT + 4) events are logged, then
/// everything queued is flushed; the first drops are said before the second burst. signal-sink-fails: a sink that fails
/// every batch beside the file; COUNT events flushed (its failure said), then COUNT more queued. signal-endless-logging:
/// each batch a sink writes, another thread logs 10 more events (ShutdownTimeout 1 h).
/// </summary>
internal static class SignalExitModes
{
    public static int? Run(string mode, string file, int count)
    {
        switch (mode)
        {
            case "signal-while-logging":
                return WhileLogging(file, count);
            case "signal-after-drops":
                return AfterDrops(file, count);
            case "signal-endless-logging":
                return EndlessLogging();
            case "signal-sink-fails":
                FapiLogging.RegisterShutdownHooks();
                FapiLogging.Configure(o =>
                {
                    o.Console = false;
                    o.AddSink(new FailingSink());
                    o.AddSink(new JsonFileSink(file));
                    o.FlushInterval = TimeSpan.FromHours(1);
                    o.BatchSize = 1000;
                });
                Ticks(0, count);
                if (!FapiLogging.Flush(TimeSpan.FromSeconds(30)))
                {
                    return 5;
                }

                Ticks(count, 2 * count);
                return Ready("ready");
            default:
                return null;
        }
    }

    private static int WhileLogging(string file, int count)
    {
        using var inFlush = new ManualResetEventSlim(false);
        using var logged = new ManualResetEventSlim(false);
        FapiLogging.RegisterShutdownHooks();
        FapiLogging.Configure(o =>
        {
            o.Console = false;
            o.AddSink(new JsonFileSink(file));
            o.AddSink(new GateSink(inFlush, logged));
            o.FlushInterval = TimeSpan.FromHours(1);
            o.BatchSize = 1000;
            o.QueueCapacity = 1000;
        });
        var other = new Thread(() =>
        {
            inFlush.Wait();
            Ticks(count, 2 * count);
            logged.Set();
        })
        { IsBackground = true };
        other.Start();
        Ticks(0, count);
        return Ready("ready");
    }

    private static int EndlessLogging()
    {
        // Every batch a sink is given makes another thread log 10 more events before the sink returns: a flush never finds
        // the queue as it was when it began, as with a thread that logs without pause, but step by step.
        var batch = new SemaphoreSlim(0);
        var logged = new SemaphoreSlim(0);
        FapiLogging.RegisterShutdownHooks();
        FapiLogging.Configure(o =>
        {
            o.Console = false;
            o.AddSink(new RelaySink(batch, logged));
            o.FlushInterval = TimeSpan.FromHours(1);
            o.BatchSize = 1000;
            o.ShutdownTimeout = TimeSpan.FromHours(1);
        });
        var other = new Thread(() =>
        {
            for (long next = 100; ; next += 10)
            {
                batch.Wait();
                Ticks(next, next + 10);
                logged.Release();
            }
        })
        { IsBackground = true };
        other.Start();
        Ticks(0, 100);
        return Ready("ready");
    }

    private static int AfterDrops(string file, int count)
    {
        using var open = new ManualResetEventSlim(false);
        using var warned = new ManualResetEventSlim(false);
        FapiLogging.RegisterShutdownHooks();
        FapiLogging.Configure(o =>
        {
            o.Console = false;
            o.AddSink(new ValveSink(open, warned));
            o.AddSink(new JsonFileSink(file));
            o.QueueCapacity = count;
            o.Overflow = OverflowStrategy.Drop;
            o.DropWarningInterval = TimeSpan.FromHours(1);
            o.FlushInterval = TimeSpan.FromHours(1);
            o.BatchSize = 1000;
        });
        long sequence = 0;
        foreach (int extra in new[] { 3, 4 })
        {
            // While the sink holds the worker, the queue admits COUNT events in all (held or waiting): extra are dropped.
            open.Reset();
            Ticks(sequence, sequence + count + extra);
            sequence += count + extra;
            open.Set();
            if (!FapiLogging.Flush(TimeSpan.FromSeconds(30)))
            {
                return 5;
            }

            if (extra == 3 && !warned.Wait(TimeSpan.FromSeconds(30)))
            {
                return 6;   // the first drops were never said into the sinks
            }
        }

        return Ready($"ready dropped={FapiLogging.Statistics.DroppedQueueFull}");
    }

    private static int Ready(string line)
    {
        Console.WriteLine(line);
        Console.Out.Flush();
        Thread.Sleep(Timeout.Infinite);
        return 1;
    }

    private static void Ticks(long from, long to)
    {
        for (long i = from; i < to; i++)
        {
            Program.Tick(i);
        }
    }

    /// <summary>On its first batch, lets another thread log and waits until it has (bounded), then returns.</summary>
    private sealed class GateSink(ManualResetEventSlim inFlush, ManualResetEventSlim logged) : LogSink
    {
        public override void Write(in LogBatch batch, CancellationToken cancellationToken)
        {
            inFlush.Set();
            logged.Wait(TimeSpan.FromSeconds(30), cancellationToken);
        }
    }

    /// <summary>Holds the worker while <paramref name="open"/> is reset; sets <paramref name="warned"/> once a drop warning comes through.</summary>
    private sealed class ValveSink(ManualResetEventSlim open, ManualResetEventSlim warned) : LogSink
    {
        public override void Write(in LogBatch batch, CancellationToken cancellationToken)
        {
            foreach (ref readonly LogRecord record in batch)
            {
                if (record.EventName == "FapiLog.EventsDropped")
                {
                    warned.Set();
                }
            }

            open.Wait(cancellationToken);
        }
    }

    /// <summary>For every batch, lets another thread log and waits until it has (bounded), then returns.</summary>
    private sealed class RelaySink(SemaphoreSlim batch, SemaphoreSlim logged) : LogSink
    {
        public override void Write(in LogBatch written, CancellationToken cancellationToken)
        {
            batch.Release();
            logged.Wait(TimeSpan.FromSeconds(30), cancellationToken);
        }
    }

    /// <summary>Fails every batch.</summary>
    private sealed class FailingSink : LogSink
    {
        public override string Name => "disk";

        public override void Write(in LogBatch batch, CancellationToken cancellationToken) => throw new System.IO.IOException("disk full");
    }
}
