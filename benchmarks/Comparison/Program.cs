using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Threading;
using BenchmarkDotNet.Running;

namespace FapiLog.Comparison;

/// <summary>
/// FapiLog beside Microsoft's console provider, ZLogger, Serilog and NLog, on the same event and the same sink work.
/// <list type="bullet">
/// <item><c>check</c>: logs a few events through every library and prints what each sink rendered.</item>
/// <item><c>bdn [BenchmarkDotNet arguments]</c>: the call-site suites (disabled, enabled with room, saturated, exception).</item>
/// <item><c>throughput [--events N] [--rounds R] [--threads 1,2,4] [--out DIR]</c>: lossless throughput (FapiLog also with BatchSize=1000).</item>
/// <item><c>latency [--rates 10000,200000] [--tasks 4] [--seconds S] [--repetitions R] [--out DIR]</c>: call latency, and the chart.</item>
/// </list>
/// <c>--libraries FapiLog,ZLogger,...</c> narrows the last three. benchmarks/run.sh runs them all and writes the report.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        Serilog.Debugging.SelfLog.Enable(Console.Error);
        CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        string mode = args.Length > 0 ? args[0] : "check";
        string[] rest = args.Skip(1).ToArray();
        switch (mode)
        {
            case "bdn":
                BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(rest);
                return 0;
            case "check":
                return Check(Libraries(rest));
            case "throughput":
            {
                int events = Int(rest, "--events", 1_000_000);
                int rounds = Int(rest, "--rounds", 5);
                int[] threads = Ints(rest, "--threads", [1, 2, 4]);
                string outDir = Option(rest, "--out") ?? "results";
                Directory.CreateDirectory(outDir);
                Console.WriteLine($"Lossless throughput: {events:N0} events x {rounds} rounds, threads {string.Join(",", threads)}");
                List<ThroughputResult> results = ThroughputRunner.Run(Libraries(rest, [.. Contender.Names, Contender.FapiLogBigBatch]), threads, events, rounds);
                File.WriteAllText(Path.Combine(outDir, "throughput.json"), JsonSerializer.Serialize(results, s_json));
                File.WriteAllText(Path.Combine(outDir, "throughput.md"), Report.ThroughputMarkdown(results, rounds));
                return results.All(r => r.Lossless) ? 0 : 1;
            }

            case "latency":
            {
                int[] rates = Ints(rest, "--rates", [10_000, 200_000]);
                int tasks = Int(rest, "--tasks", 4);
                double seconds = double.Parse(Option(rest, "--seconds") ?? "5", CultureInfo.InvariantCulture);
                int repetitions = Int(rest, "--repetitions", 3);
                string outDir = Option(rest, "--out") ?? "results";
                string subtitle = Option(rest, "--subtitle") ?? $"{Environment.ProcessorCount} cores, .NET {Environment.Version}";
                Directory.CreateDirectory(outDir);
                Console.WriteLine($"Call latency: rates {string.Join(",", rates)} from {tasks} tasks for {seconds} s each, {repetitions} repetitions");
                List<LatencyResult> results = LatencyRunner.Run(Libraries(rest), rates, tasks, seconds, repetitions);
                File.WriteAllText(Path.Combine(outDir, "latency.json"), JsonSerializer.Serialize(results, s_json));
                File.WriteAllText(Path.Combine(outDir, "latency.md"), Report.LatencyMarkdown(results));
                File.WriteAllText(Path.Combine(outDir, "latency.svg"), Report.LatencySvg(results, subtitle));
                return 0;
            }

            default:
                Console.Error.WriteLine("usage: FapiLog.Comparison check|bdn|throughput|latency [options]");
                return 2;
        }
    }

    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true };

    private static int Check(string[] libraries)
    {
        Exception error;
        try
        {
            throw new InvalidOperationException("card declined");
        }
        catch (InvalidOperationException e)
        {
            error = e;
        }

        int failures = 0;
        var rendered = new Dictionary<string, HashSet<string>>();
        void Rendered(string kind, string? line)
        {
            if (!rendered.TryGetValue(kind, out HashSet<string>? lines))
            {
                rendered[kind] = lines = [];
            }

            lines.Add(line ?? "(nothing)");
        }

        foreach (QueueMode mode in new[] { QueueMode.Lossless, QueueMode.Dropping })
        {
            foreach (string library in libraries)
            {
                using Contender c = Contender.Create(library, mode);
                c.Order(42, "alice", 99.5);
                c.RequestFlush();
                c.Probe.WaitFor(1, TimeSpan.FromSeconds(10));
                for (int i = 0; i < 999; i++)
                {
                    c.Order(i, "bob", 1.25);
                    c.OrderDisabled(i, "bob", 1.25);
                }

                for (int i = 0; i < 100; i++)
                {
                    c.Failed(i, error);
                }

                c.RequestFlush();
                bool ok = c.Probe.WaitFor(1100, TimeSpan.FromSeconds(10));
                Thread.Sleep(50);
                bool exact = c.Probe.Seen == 1100;
                failures += ok && exact ? 0 : 1;
                Console.WriteLine($"{library,-12} {mode,-9} seen {c.Probe.Seen,5} of 1100 {(ok && exact ? "ok" : "FAIL")}  first: {c.Probe.FirstLine}");
                Rendered("order", c.Probe.FirstLine);
            }
        }

        // The error event's text (exception type and message) from a fresh instance, whose first line it is.
        foreach (string library in libraries)
        {
            using Contender c = Contender.Create(library, QueueMode.Lossless);
            c.Failed(7, error);
            c.RequestFlush();
            bool ok = c.Probe.WaitFor(1, TimeSpan.FromSeconds(10));
            failures += ok ? 0 : 1;
            Console.WriteLine($"{library,-12} {QueueMode.Lossless,-9} error event {(ok ? "ok" : "FAIL")}           first: {c.Probe.FirstLine}");
            Rendered("error", c.Probe.FirstLine);
        }

        foreach ((string kind, HashSet<string> lines) in rendered)
        {
            bool same = lines.Count == 1;
            failures += same ? 0 : 1;
            Console.WriteLine(same ? $"{kind} event: every library rendered the same text" : $"{kind} event: FAIL, the libraries rendered {lines.Count} different texts");
        }

        return failures == 0 ? 0 : 1;
    }

    private static string[] Libraries(string[] args, string[]? fallback = null) =>
        Option(args, "--libraries")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? fallback ?? Contender.Names;

    private static string? Option(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    private static int Int(string[] args, string name, int fallback) =>
        Option(args, name) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

    private static int[] Ints(string[] args, string name, int[] fallback) =>
        Option(args, name) is { } v ? v.Split(',').Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToArray() : fallback;
}
