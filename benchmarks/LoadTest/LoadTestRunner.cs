using System;
using System.Buffers;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using Microsoft.Extensions.Logging;

namespace FapiLog.LoadTest;

/// <summary>
/// Open-loop load: each task logs the events that are due by the clock, in 1 ms steps, so a slow call does not lower
/// the offered rate (the next step catches up). Every call is timed with the monotonic clock; the figures include one
/// clock read (about 28 ns on the reference machine), which is reported beside them.
/// </summary>
internal static partial class LoadTestRunner
{
    private static readonly string[] s_customers = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"];

    public static int Run(LoadTestSettings s)
    {
        var sink = new RenderingSink(s.Sink == "render");
        FapiLogging.Configure(o =>
        {
            o.Console = false;
            o.Overflow = s.Strategy;
            o.QueueCapacity = s.Capacity;
            o.BatchSize = s.BatchSize;
            o.FlushInterval = TimeSpan.FromSeconds(s.FlushIntervalSeconds);
            o.BlockTimeout = TimeSpan.FromSeconds(30);
            o.ShutdownTimeout = TimeSpan.FromSeconds(60);
            o.CaptureTraceContext = true;
            o.AddSink(sink);
        });

        bool unlimited = s.RatePerTask == 0;
        Console.WriteLine($"FapiLog load test: {s.Concurrency} task(s) x {(unlimited ? "max" : s.RatePerTask.ToString("N0", CultureInfo.InvariantCulture))} events/s " +
                          $"for {s.DurationSeconds} s; strategy={s.Strategy} capacity={s.Capacity} batch={s.BatchSize} " +
                          $"flush={s.FlushIntervalSeconds} s sink={s.Sink}; {Environment.ProcessorCount} cores, .NET {Environment.Version}");

        // Warm the call path before measuring; these events are not part of the report.
        Warmup(s.Capacity);
        var references = new List<(string Name, Measurement Result)>();
        if (s.Reference)
        {
            Settle<EmptyCall>(s);
            references.Add(("an empty call", Measure<EmptyCall>(s, null)));
            Settle<ClockCall>(s);
            references.Add(("a DateTime.UtcNow read", Measure<ClockCall>(s, null)));
            Settle<SharedAtomicCall>(s);
            references.Add(("an atomic increment of a counter all tasks share", Measure<SharedAtomicCall>(s, null)));
            PrepareBareRings(s);
            Settle<OwnRingCall>(s);
            references.Add(("the event into a bare ring of the task's own", Measure<OwnRingCall>(s, null)));
            Settle<SharedRingCall>(s);
            references.Add(("the event into a bare ring all tasks claim in", Measure<SharedRingCall>(s, null)));
        }

        Settle<LogCall>(s);
        FapiLogStatistics baseline = FapiLogging.Statistics;
        long baselineRendered = sink.Rendered;
        long baselineOwn = sink.FapiLogOwn;
        Measurement measured = Measure<LogCall>(s, elapsed =>
        {
            FapiLogStatistics now = FapiLogging.Statistics;
            Console.Error.WriteLine(
                $"  t={elapsed.TotalSeconds,5:0.0}s attempted={now.Attempted - baseline.Attempted,12:N0} " +
                $"enqueued={now.Enqueued - baseline.Enqueued,12:N0} dropped={now.Dropped - baseline.Dropped,12:N0} " +
                $"sampled={now.SampledOut - baseline.SampledOut,12:N0} " +
                $"delivered={now.Delivered - baseline.Delivered,12:N0} depth={now.Pending,6:N0}");
        });

        long began = measured.Began;
        TimeSpan logging = measured.Elapsed;
        long[] all = measured.Sorted;
        bool flushed = FapiLogging.Flush(TimeSpan.FromSeconds(120));
        TimeSpan total = Stopwatch.GetElapsedTime(began);
        FapiLogStatistics end = FapiLogging.Statistics;
        FapiLogging.Shutdown();

        long attempted = end.Attempted - baseline.Attempted;
        long delivered = end.Delivered - baseline.Delivered;
        double toNs = 1e9 / Stopwatch.Frequency;

        Console.WriteLine();
        Console.WriteLine("result");
        // The library's attempted is its own count (enqueued + dropped + sampled out): the calls the tasks made are counted
        // here too, so that an event lost without being counted would show.
        string callsMade = measured.Calls == attempted ? "the calls the tasks made" : $"BUT the tasks made {measured.Calls:N0} calls";
        Console.WriteLine($"  attempted      {attempted,14:N0}   {callsMade}");
        Console.WriteLine($"  enqueued       {end.Enqueued - baseline.Enqueued,14:N0}");
        Console.WriteLine($"  dropped        {end.Dropped - baseline.Dropped,14:N0}   queue full {end.DroppedQueueFull - baseline.DroppedQueueFull:N0}, " +
                          $"block timeout {end.DroppedBlockTimeout - baseline.DroppedBlockTimeout:N0}, after shutdown {end.DroppedShutdown - baseline.DroppedShutdown:N0}, " +
                          $"worker stopped {end.DroppedWorkerStopped - baseline.DroppedWorkerStopped:N0}");
        Console.WriteLine($"  sampled out    {end.SampledOut - baseline.SampledOut,14:N0}");
        Console.WriteLine($"  delivered      {delivered,14:N0}   rendered by the sink {sink.Rendered - baselineRendered:N0} (and {sink.FapiLogOwn - baselineOwn:N0} drop warnings), failed {end.Failed - baseline.Failed:N0}, flushed {flushed}");
        Console.WriteLine($"  offered rate   {attempted / logging.TotalSeconds,14:N0} events/s over {logging.TotalSeconds:0.00} s");
        Console.WriteLine($"  delivered rate {delivered / total.TotalSeconds,14:N0} events/s over {total.TotalSeconds:0.00} s (until the last event was delivered)");
        if (all.Length > 0)
        {
            // A flat-out run makes more calls than it keeps samples of: say which ones the figures are from.
            string which = all.Length < attempted ? $" of {attempted:N0}, each task's first {measured.PerTaskLimit:N0}" : "";
            Console.WriteLine($"  enqueue latency (ns, {all.Length:N0} calls{which}, incl. one clock read):");
            Console.WriteLine($"    avg {all.Average() * toNs,10:N1}   p50 {LatencyStats.Percentile(all, 50) * toNs,8:N0}   p99 {LatencyStats.Percentile(all, 99) * toNs,8:N0}   " +
                              $"p99.9 {LatencyStats.Percentile(all, 99.9) * toNs,8:N0}   max {all[^1] * toNs,10:N0}");
            Console.WriteLine($"    of the avg, the slowest 1% of calls contribute {LatencyStats.TailShare(all, 99) * toNs:N1} ns and the slowest 0.1% {LatencyStats.TailShare(all, 99.9) * toNs:N1} ns");
            Console.WriteLine($"    methods the JIT compiled on the producer threads during the run: {measured.CompiledOnProducers:N0}");
        }

        if (!unlimited)
        {
            PauseStats p = measured.Pauses;
            Console.WriteLine($"  the first call after each 1 ms pause: avg {p.FirstTicks * toNs / Math.Max(1, p.FirstCalls),8:N1} ns over {p.FirstCalls:N0} calls; " +
                              $"the other calls: avg {p.OtherTicks * toNs / Math.Max(1, p.OtherCalls):N1} ns over {p.OtherCalls:N0}");
            Console.WriteLine($"  reference, after the same pause: an atomic increment of a counter only that task uses costs " +
                              $"{p.ProbeTicks * toNs / Math.Max(1, p.Probes):N1} ns (incl. one clock read)");
            double headroomMs = 1000.0 * s.Capacity / (s.RatePerTask * (double)s.Concurrency);
            Console.WriteLine($"  longest gap between two steps of a task: {p.LongestGapTicks * 1000.0 / Stopwatch.Frequency:N1} ms (steps are 1 ms apart; after a gap " +
                              $"longer than capacity / offered rate = {headroomMs:N1} ms, the catch-up can fill the queue before the worker runs)");
        }

        if (references.Count > 0)
        {
            Console.WriteLine();
            Console.WriteLine("the log call beside references timed the same way (ns, same pacing and tasks, one after another in this run):");
            Console.WriteLine($"  {"call",-50} {"avg",8} {"p50",6} {"p99",7} {"p99.9",7} {"first after pause",18} {"others",8}");
            foreach ((string name, Measurement r) in references.Append(("the log call", measured)))
            {
                Console.WriteLine($"  {name,-50} {r.Sorted.Average() * toNs,8:N1} {LatencyStats.Percentile(r.Sorted, 50) * toNs,6:N0} {LatencyStats.Percentile(r.Sorted, 99) * toNs,7:N0} " +
                                  $"{LatencyStats.Percentile(r.Sorted, 99.9) * toNs,7:N0} {r.Pauses.FirstTicks * toNs / Math.Max(1, r.Pauses.FirstCalls),18:N1} " +
                                  $"{r.Pauses.OtherTicks * toNs / Math.Max(1, r.Pauses.OtherCalls),8:N1}");
            }
        }

        return 0;
    }

    /// <summary>
    /// The calls of one run: the samples sorted (each task's first <paramref name="PerTaskLimit"/>), the pause split summed
    /// over tasks, when it began and how long it ran.
    /// </summary>
    /// <param name="CompiledOnProducers">Methods the JIT compiled on the producer threads while they ran (a call that waits for the JIT).</param>
    /// <param name="Calls">The calls the tasks made, counted by the tool itself (Sorted may keep fewer).</param>
    private sealed record Measurement(long[] Sorted, int PerTaskLimit, PauseStats Pauses, long Began, TimeSpan Elapsed, long CompiledOnProducers, long Calls);

    /// <summary>Runs the tasks (paced, or flat out when the rate is 0) timing every <typeparamref name="TCall"/>.</summary>
    private static Measurement Measure<TCall>(LoadTestSettings s, Action<TimeSpan>? everySecond)
        where TCall : struct, ICall
    {
        bool unlimited = s.RatePerTask == 0;
        long perTask = unlimited ? 0 : (long)(s.RatePerTask * s.DurationSeconds);
        int sampleCapacity = unlimited ? 1 << 22 : (int)Math.Min(perTask, 1 << 26);
        var samples = new long[s.Concurrency][];
        var counts = new long[s.Concurrency];
        var pauses = new PauseStats[s.Concurrency];
        for (int i = 0; i < s.Concurrency; i++)
        {
            samples[i] = new long[sampleCapacity];
            pauses[i] = new PauseStats();
        }

        // Start every measurement from the same heap: a background collection of what an earlier one left (the reference
        // runs' sample arrays) would otherwise compete with the tasks for the two cores and show up in the tail.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        using var start = new Barrier(s.Concurrency + 1);
        long durationTicks = (long)(s.DurationSeconds * Stopwatch.Frequency);
        long compiledOnProducers = 0;
        var threads = Enumerable.Range(0, s.Concurrency).Select(t => new Thread(() =>
        {
            start.SignalAndWait();
            long compiledBefore = System.Runtime.JitInfo.GetCompiledMethodCount(currentThread: true);
            counts[t] = unlimited
                ? Flood(t, samples[t], durationTicks)
                : Paced<TCall>(t, samples[t], pauses[t], perTask, s.RatePerTask, durationTicks);
            Interlocked.Add(ref compiledOnProducers, System.Runtime.JitInfo.GetCompiledMethodCount(currentThread: true) - compiledBefore);
        }) { IsBackground = true, Name = "producer " + t }).ToArray();
        foreach (Thread thread in threads)
        {
            thread.Start();
        }

        start.SignalAndWait();
        long began = Stopwatch.GetTimestamp();
        while (!threads.All(t => t.Join(TimeSpan.FromSeconds(1))))
        {
            everySecond?.Invoke(Stopwatch.GetElapsedTime(began));
        }

        TimeSpan elapsed = Stopwatch.GetElapsedTime(began);
        long[] all = Merge(samples, counts);
        Array.Sort(all);
        return new Measurement(all, sampleCapacity, PauseStats.Sum(pauses), began, elapsed, Interlocked.Read(ref compiledOnProducers), counts.Sum());
    }

    /// <summary>
    /// Runs the measurement itself, unreported, in passes of 1 s (at least two, at most <see cref="MaxSettlePasses"/>) until
    /// one in which the JIT compiled nothing on the producer threads, then drains the queue. Tiered compilation promotes
    /// the log method only once it is called from the loop the measurement times: without this, the first second or so of
    /// a measured run ran it at tier 0, then instrumented, and one producer compiled the instrumented versions of it and
    /// its callees in the middle of a call (0.4–0.9 ms once per run, 4–9 ns of a 10,000 logs/s run's average). The report
    /// is about the code an application runs once it is warm; it says whether the producers compiled anything during it.
    /// </summary>
    private static void Settle<TCall>(LoadTestSettings s)
        where TCall : struct, ICall
    {
        if (s.RatePerTask == 0)
        {
            // A throughput run makes millions of calls through another loop; a one-time compilation is noise there.
            return;
        }

        LoadTestSettings pass = s.WithDuration(1);
        int passes = 0;
        long compiled;
        do
        {
            compiled = Measure<TCall>(pass, null).CompiledOnProducers;
            FapiLogging.Flush(TimeSpan.FromSeconds(60));
            passes++;
        }
        while ((passes < 2 || compiled > 0) && passes < MaxSettlePasses);

        Console.Error.WriteLine($"  warm-up for {typeof(TCall).Name}: {passes} pass(es) of 1 s; in the last the producers compiled {compiled} method(s)");
    }

    private const int MaxSettlePasses = 6;

    private static void Warmup(int capacity)
    {
        // Flushed well before the queue reaches Sample's high-water mark, so that a small queue drops and samples out
        // nothing here: a warm-up loss would show up as a drop warning during the measured run.
        int flushEvery = Math.Max(1, Math.Min(256, capacity / 4));
        long until = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 2;
        long i = 0;
        while (Stopwatch.GetTimestamp() < until)
        {
            OrderPlaced(i++, s_customers[i & 7], 99.5);
            if (i % flushEvery == 0)
            {
                FapiLogging.Flush(TimeSpan.FromSeconds(10));
            }
        }

        FapiLogging.Flush(TimeSpan.FromSeconds(10));
    }

    /// <summary>
    /// Makes the calls that are due by the clock each millisecond, then sleeps until the next. After each pause it first times an
    /// atomic increment of a counter only this task touches, a reference for what touching memory costs right after the
    /// pause, reported beside the first log call. Compiled fully optimized from the start, so that the first
    /// calls of a run do not include the JIT compiling this loop (tens to hundreds of microseconds each, once per task).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static long Paced<TCall>(int task, long[] samples, PauseStats pause, long total, int ratePerTask, long durationTicks)
        where TCall : struct, ICall
    {
        long start = Stopwatch.GetTimestamp();
        long end = start + durationTicks;
        long sent = 0;
        double perTick = (double)ratePerTask / Stopwatch.Frequency;
        long previous = start;
        while (sent < total)
        {
            long now = Stopwatch.GetTimestamp();
            pause.LongestGapTicks = Math.Max(pause.LongestGapTicks, now - previous);
            previous = now;
            long due = now >= end ? total : Math.Min(total, (long)((now - start) * perTick));
            if (sent < due)
            {
                long probe = Stopwatch.GetTimestamp();
                Interlocked.Increment(ref pause.Probe);
                pause.ProbeTicks += Stopwatch.GetTimestamp() - probe;
                pause.Probes++;
            }

            for (bool first = true; sent < due; sent++, first = false)
            {
                long before = Stopwatch.GetTimestamp();
                default(TCall).Invoke(task, sent);
                long took = Stopwatch.GetTimestamp() - before;
                // Past the sample array's bound (a rate above 6.7 M/s per task for 10 s) the calls are still made and
                // split by position, but no longer sorted into the percentiles.
                if (sent < samples.Length)
                {
                    samples[sent] = took;
                }

                if (first)
                {
                    pause.FirstTicks += took;
                    pause.FirstCalls++;
                }
                else
                {
                    pause.OtherTicks += took;
                    pause.OtherCalls++;
                }
            }

            if (sent < total)
            {
                Thread.Sleep(1);
            }
        }

        return sent;
    }

    /// <summary>What a paced run times: the log call, or one of the references. A struct, so that each is compiled on its own.</summary>
    private interface ICall
    {
        void Invoke(int task, long sequence);
    }

    private readonly struct LogCall : ICall
    {
        public void Invoke(int task, long sequence) => OrderPlaced(task * 1_000_000_000L + sequence, s_customers[sequence & 7], 99.5 + sequence);
    }

    /// <summary>A call that does nothing: what the harness itself costs (the clock read, the call, the pause's effect).</summary>
    private readonly struct EmptyCall : ICall
    {
        public void Invoke(int task, long sequence) => Nothing();
    }

    /// <summary>The precise clock read every log call makes for its timestamp.</summary>
    private readonly struct ClockCall : ICall
    {
        public void Invoke(int task, long sequence) => ReadClock();
    }

    /// <summary>One atomic increment of a counter that all tasks share: what any claim on a shared multi-producer queue costs at least.</summary>
    private readonly struct SharedAtomicCall : ICall
    {
        public void Invoke(int task, long sequence) => IncrementShared();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Nothing()
    {
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static long ReadClock() => DateTime.UtcNow.Ticks;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void IncrementShared() => Interlocked.Increment(ref s_shared.Value);

    private static PaddedCounter s_shared;

    [StructLayout(LayoutKind.Explicit, Size = 192)]
    private struct PaddedCounter
    {
        [FieldOffset(64)]
        public long Value;
    }

    /// <summary>Logs as fast as possible for the duration (a throughput run).</summary>
    private static long Flood(int task, long[] samples, long durationTicks)
    {
        long end = Stopwatch.GetTimestamp() + durationTicks;
        long sent = 0;
        while (true)
        {
            long before = Stopwatch.GetTimestamp();
            if (before >= end)
            {
                return sent;
            }

            OrderPlaced(task * 1_000_000_000L + sent, s_customers[sent & 7], 99.5);
            long after = Stopwatch.GetTimestamp();
            if (sent < samples.Length)
            {
                samples[sent] = after - before;
            }

            sent++;
        }
    }

    /// <summary>The measured call: a generated [FapiLog] method.</summary>
    [FapiLog(LogLevel.Information, "Order {OrderId} placed by {Customer} for {Amount}", EventId = 1)]
    private static partial void OrderPlaced(long orderId, string customer, double amount);

    private static long[] Merge(long[][] samples, long[] counts)
    {
        long n = counts.Select((c, i) => Math.Min(c, samples[i].Length)).Sum();
        var all = new long[n];
        long at = 0;
        for (int i = 0; i < samples.Length; i++)
        {
            long c = Math.Min(counts[i], samples[i].Length);
            Array.Copy(samples[i], 0, all, at, c);
            at += c;
        }

        return all;
    }

    /// <summary>One task's split of its calls by position after a pause, and its cold-memory reference (its own object).</summary>
    private sealed class PauseStats
    {
        public long Probe;
        public long Probes;
        public long ProbeTicks;
        public long FirstCalls;
        public long FirstTicks;
        public long OtherCalls;
        public long OtherTicks;
        public long LongestGapTicks;

        public static PauseStats Sum(PauseStats[] all) => new()
        {
            LongestGapTicks = all.Max(p => p.LongestGapTicks),
            Probes = all.Sum(p => p.Probes),
            ProbeTicks = all.Sum(p => p.ProbeTicks),
            FirstCalls = all.Sum(p => p.FirstCalls),
            FirstTicks = all.Sum(p => p.FirstTicks),
            OtherCalls = all.Sum(p => p.OtherCalls),
            OtherTicks = all.Sum(p => p.OtherTicks),
        };
    }

    /// <summary>A sink that keeps up and does real work: renders every message and every field into reused buffers.</summary>
    private sealed class RenderingSink(bool render) : LogSink
    {
        private readonly ArrayBufferWriter<char> _text = new(4096);
        private long _rendered;
        private long _fapiLogOwn;

        /// <summary>The load test's own events written.</summary>
        public long Rendered => Volatile.Read(ref _rendered);

        /// <summary>
        /// FapiLog's own events (the drop warnings) written: the pipeline sends them to the sinks without counting them
        /// as enqueued or delivered, so they are kept apart for the rendered count to match the delivered one.
        /// </summary>
        public long FapiLogOwn => Volatile.Read(ref _fapiLogOwn);

        public override void Write(in LogBatch batch, CancellationToken cancellationToken)
        {
            long own = 0;
            for (int i = 0; i < batch.Count; i++)
            {
                ref readonly LogRecord record = ref batch[i];
                if (record.EventName.StartsWith("FapiLog.", StringComparison.Ordinal))
                {
                    own++;
                }

                if (render)
                {
                    _text.ResetWrittenCount();
                    record.FormatMessage(_text);
                    var fields = new FieldRenderer(_text);
                    record.VisitFields(ref fields);
                }
            }

            Volatile.Write(ref _fapiLogOwn, _fapiLogOwn + own);
            Volatile.Write(ref _rendered, _rendered + batch.Count - own);
        }
    }

    private readonly struct FieldRenderer(ArrayBufferWriter<char> text) : ILogFieldVisitor
    {
        private void Name(string name)
        {
            text.Write(name);
            text.Write("=");
        }

        private void Value<T>(T value) where T : ISpanFormattable
        {
            value.TryFormat(text.GetSpan(64), out int n, default, CultureInfo.InvariantCulture);
            text.Advance(n);
        }

        public void Visit(string name, long value) { Name(name); Value(value); }

        public void Visit(string name, ulong value) { Name(name); Value(value); }

        public void Visit(string name, double value) { Name(name); Value(value); }

        public void Visit(string name, decimal value) { Name(name); Value(value); }

        public void Visit(string name, bool value) { Name(name); text.Write(value ? "true" : "false"); }

        public void Visit(string name, string value) { Name(name); text.Write(value); }

        public void Visit(string name, DateTime value) { Name(name); Value(value); }

        public void Visit(string name, DateTimeOffset value) { Name(name); Value(value); }

        public void Visit(string name, TimeSpan value) { Name(name); Value(value); }

        public void Visit(string name, Guid value) { Name(name); Value(value); }

        public void VisitNull(string name) { Name(name); text.Write("null"); }
    }
}
