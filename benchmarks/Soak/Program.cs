using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;

namespace FapiLog.Soak;

/// <summary>
/// Usage: <c>FapiLog.Soak [--seconds 540] [--phase 20] [--rate 20000] [--workers 4] [--retained 5] [--out DIR] [--end accept|flap]</c>.
/// Starts itself as a child that logs; plays a flapping Loki on 127.0.0.1 (accept, refuse, 503, 429, hang, cut
/// mid-answer, in a loop, each for --phase seconds, and accepting for the last 30 s unless --end flap); samples the
/// child every 10 s; reads every file the file sink rolls before retention deletes it; and at the end checks that the
/// counts add up. Exit code 0 when every check passed.
/// </summary>
public static class Program
{
    private static readonly Phase[] s_cycle = [Phase.Accept, Phase.Refuse, Phase.Unavailable, Phase.TooMany, Phase.Hang, Phase.Cut];

    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "child")
        {
            return Child.Run(args[1], new Uri(args[2]), Int(args[3]), Int(args[4]), Int(args[5]), Int(args[6]));
        }

        int seconds = Option(args, "--seconds", 540);
        int phaseSeconds = Option(args, "--phase", 20);
        int rate = Option(args, "--rate", 20000);
        int workers = Option(args, "--workers", 4);
        int retained = Option(args, "--retained", 5);
        string dir = Path.GetFullPath(args.SkipWhile(a => a != "--out").Skip(1).FirstOrDefault() ?? Path.Combine(Path.GetTempPath(), "fapilog-soak"));
        Directory.CreateDirectory(dir);
        string file = Path.Combine(dir, "app.jsonl");
        // Only what an earlier run left: the folder may be one the user keeps other things in.
        foreach (string old in Directory.GetFiles(dir, "app.jsonl*").Concat(new[] { "samples.csv", "stdout.txt", "stderr.txt" }.Select(f => Path.Combine(dir, f))))
        {
            File.Delete(old);
        }

        long perWorker = ((long)rate / workers * seconds * 3 / 2) + 100_000;
        var fileLedger = new Ledger(workers, perWorker);
        using var loki = new FakeLoki(new Ledger(workers, perWorker));

        var start = new ProcessStartInfo(Environment.ProcessPath!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet")
        {
            start.ArgumentList.Add(typeof(Program).Assembly.Location);
        }

        foreach (string arg in new[] { "child", file, $"http://127.0.0.1:{loki.Port}", Str(workers), Str(rate), Str(seconds), Str(retained) })
        {
            start.ArgumentList.Add(arg);
        }

        var clock = Stopwatch.StartNew();
        using Process child = Process.Start(start)!;
        var stdout = new List<string>();
        var stderr = new List<string>();
        var stdoutReader = new Thread(() => Read(child.StandardOutput, stdout, clock, echo: true)) { IsBackground = true };
        var stderrReader = new Thread(() => Read(child.StandardError, stderr, clock, echo: false)) { IsBackground = true };
        stdoutReader.Start();
        stderrReader.Start();
        using var done = new ManualResetEventSlim(false);
        var rolled = new RolledFiles(file, retained, fileLedger);
        // The last 30 s accept, so that the send buffer drains (a retry waits 10 s at most) and the shutdown is clean; with
        // --end flap the phases go on, and a shutdown during an outage gives up on Loki.
        bool flapToEnd = args.SkipWhile(a => a != "--end").Skip(1).FirstOrDefault() == "flap";
        TimeSpan flapping = flapToEnd ? TimeSpan.MaxValue : TimeSpan.FromSeconds(Math.Max(0, seconds - 30));
        var phases = new Thread(() => Flap(loki, phaseSeconds, flapping, clock, done)) { IsBackground = true };
        var files = new Thread(() => { while (!done.Wait(100)) { rolled.Scan(); } }) { IsBackground = true };
        phases.Start();
        files.Start();

        using var csv = new StreamWriter(Path.Combine(dir, "samples.csv"));
        csv.WriteLine("t,rss_kb,threads,fds,sockets,established,close_wait,log_fds,deleted_fds,phase");
        Console.WriteLine($"soak: {seconds} s, {rate} events/s from {workers} threads, phases of {phaseSeconds} s, fake Loki on 127.0.0.1:{loki.Port}, files in {dir}");
        int sample = 0;
        TimeSpan limit = TimeSpan.FromSeconds(seconds + 90);
        while (!child.WaitForExit(Until(TimeSpan.FromSeconds(10 * (sample + 1)), clock)))
        {
            sample++;
            if (Sampler.Take(child.Id) is { } s)
            {
                string line = $"{clock.Elapsed.TotalSeconds:0},{s.RssKb},{s.Threads},{s.Fds},{s.Sockets},{s.Established},{s.CloseWait},{s.LogFds},{s.DeletedFds},{loki.Phase}";
                csv.WriteLine(line);
                csv.Flush();
                Console.WriteLine($"parent t={clock.Elapsed.TotalSeconds:0} rss={s.RssKb} kB threads={s.Threads} fds={s.Fds} sockets={s.Sockets} " +
                    $"(established {s.Established}, close_wait {s.CloseWait}) log files open={s.LogFds} (deleted {s.DeletedFds}) phase={loki.Phase} " +
                    $"requests={Interlocked.Read(ref loki.Requests)} accepted={Interlocked.Read(ref loki.Accepted)}");
            }

            if (clock.Elapsed > limit)
            {
                Console.WriteLine("FAIL: the child did not exit in time; killed");
                child.Kill(entireProcessTree: true);
                child.WaitForExit(TimeSpan.FromSeconds(10));
                break;
            }
        }

        done.Set();
        phases.Join();
        files.Join();
        stdoutReader.Join(TimeSpan.FromSeconds(10));
        stderrReader.Join(TimeSpan.FromSeconds(10));
        rolled.Scan();
        rolled.ReadRest();
        File.WriteAllLines(Path.Combine(dir, "stdout.txt"), stdout);
        File.WriteAllLines(Path.Combine(dir, "stderr.txt"), stderr);
        return Report(child.ExitCode, stdout, stderr, fileLedger, loki, rolled);
    }

    private static TimeSpan Until(TimeSpan due, Stopwatch clock) => due > clock.Elapsed ? due - clock.Elapsed : TimeSpan.Zero;

    private static void Flap(FakeLoki loki, int phaseSeconds, TimeSpan flapping, Stopwatch clock, ManualResetEventSlim done)
    {
        for (int i = 0; ; i++)
        {
            Phase phase = clock.Elapsed < flapping ? s_cycle[i % s_cycle.Length] : Phase.Accept;
            loki.Phase = phase;
            Console.WriteLine($"parent t={clock.Elapsed.TotalSeconds:0} phase {phase}");
            TimeSpan next = TimeSpan.FromSeconds(phaseSeconds * (i + 1));
            if (done.Wait(Until(next < flapping || phase == Phase.Accept ? next : flapping, clock)))
            {
                return;
            }
        }
    }

    private static void Read(StreamReader reader, List<string> lines, Stopwatch clock, bool echo)
    {
        while (reader.ReadLine() is { } line)
        {
            lock (lines)
            {
                lines.Add(echo ? line : $"[{clock.Elapsed.TotalSeconds:0.0}] {line}");
            }

            if (echo)
            {
                Console.WriteLine("child: " + line);
            }
        }
    }

    private static int Report(int exitCode, List<string> stdout, List<string> stderr, Ledger file, FakeLoki loki, RolledFiles rolled)
    {
        var failures = new List<string>();
        void Check(bool ok, string what)
        {
            Console.WriteLine((ok ? "ok:   " : "FAIL: ") + what);
            if (!ok)
            {
                failures.Add(what);
            }
        }

        Console.WriteLine();
        Console.WriteLine($"child exit code {exitCode}; {stderr.Count} stderr line(s):");
        foreach (IGrouping<string, string> group in stderr.GroupBy(Shape).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            Console.WriteLine($"  {group.Count(),5} x {Cut(group.First(), 400)}");
        }

        string? final = stdout.LastOrDefault(l => l.StartsWith("final ", StringComparison.Ordinal));
        string? logged = stdout.LastOrDefault(l => l.StartsWith("logged ", StringComparison.Ordinal));
        string? shutdown = stdout.LastOrDefault(l => l.StartsWith("shutdown ", StringComparison.Ordinal));
        Check(exitCode == 0 && final is not null && logged is not null && shutdown is not null, "the child exited 0 and printed its final counts");
        if (final is null || logged is null || shutdown is null)
        {
            return 1;
        }

        Dictionary<string, long> n = Numbers(final);
        long[] perWorker = logged[7..].Split(' ').Select(long.Parse).ToArray();
        long sum = perWorker.Sum();
        long shutdownMs = Numbers(shutdown)["ms"];
        Console.WriteLine($"logged {sum}; file: {file.Lines} lines, {file.Distinct} distinct events, {file.Repeats} repeated, {file.OtherLines} FapiLog lines, " +
            $"{file.Unparsed} unparsed, in {rolled.FilesRead} files; Loki accepted {loki.Accepted} requests with {loki.Ledger.Lines} entries, " +
            $"{loki.Ledger.Distinct} distinct events, {loki.Ledger.Repeats} resent, {loki.Ledger.DistinctOther} distinct FapiLog lines");
        Check(shutdownMs <= 5000 + 500, $"shutdown took {shutdownMs} ms (ShutdownTimeout 5 s)");
        Check(n["attempted"] == sum, $"attempted {n["attempted"]} = logged {sum}");
        Check(n["enqueued"] + n["dropped"] + n["sampled_out"] == n["attempted"], "enqueued + dropped + sampled out = attempted");
        Check(n["pending"] == 0 && n["delivered"] + n["failed"] == n["enqueued"], $"delivered {n["delivered"]} + failed {n["failed"]} = enqueued {n["enqueued"]}, nothing pending");
        Check(file.Repeats == 0 && file.Unparsed == 0, "no event written to the file twice, no line unreadable");
        Check(file.Distinct == n["enqueued"], $"the files hold every enqueued event: {file.Distinct} of {n["enqueued"]}");
        Check(file.Missing(perWorker) == n["dropped"], $"the events missing from the files ({file.Missing(perWorker)}) are the dropped ones ({n["dropped"]})" +
            (file.Missing(perWorker) > n["dropped"] ? "; files rolled faster than this tool read them before retention deleted them? (--retained)" : ""));
        long lokiApp = loki.Ledger.Distinct;
        long lokiAll = lokiApp + loki.Ledger.DistinctOther;
        Check(n["entries_sent"] == lokiAll, $"Loki entries_sent {n["entries_sent"]} = distinct entries the fake Loki accepted {lokiAll}");
        Check(n["entries_sent"] + n["entries_failed"] == n["enqueued"] + file.DistinctOther,
            $"Loki entries sent {n["entries_sent"]} + failed {n["entries_failed"]} = enqueued {n["enqueued"]} + FapiLog's own lines {file.DistinctOther}");
        Check(n["delivered"] == lokiApp, $"delivered {n["delivered"]} = distinct events the fake Loki accepted {lokiApp}");
        Check(n["buffered_entries"] == 0 && n["buffered_bytes"] == 0, "the Loki send buffer is empty at the end");
        // A shutdown that gave up says how many events it could not deliver in a line of its own.
        long onStderr = stderr.Sum(line => Regex.Matches(line, @"failed (\d+) (?:more )?event\(s\)|(\d+) more event\(s\) failed|(\d+) event\(s\) were not delivered")
            .Sum(m => long.Parse(m.Groups.Values.Skip(1).First(g => g.Success).Value, CultureInfo.InvariantCulture)));
        Check(onStderr == n["failed"], $"the failed events stderr counted ({onStderr}) add up to failed ({n["failed"]})");
        Console.WriteLine(failures.Count == 0 ? "all checks passed" : $"{failures.Count} check(s) failed");
        return failures.Count == 0 ? 0 : 1;
    }

    /// <summary>A stderr line with its numbers and time taken out, to group lines that say the same thing.</summary>
    private static string Shape(string line) => Regex.Replace(line[(line.IndexOf(']', StringComparison.Ordinal) + 1)..], "[0-9.]+", "#");

    private static string Cut(string text, int length) => text.Length <= length ? text : text[..length] + "…";

    private static Dictionary<string, long> Numbers(string line)
    {
        var numbers = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (Match m in Regex.Matches(line, @"([a-z_0-9]+)=(-?\d+)\b"))
        {
            numbers[m.Groups[1].Value] = long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
        }

        return numbers;
    }

    private static int Option(string[] args, string name, int fallback)
    {
        int at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? Int(args[at + 1]) : fallback;
    }

    private static int Int(string text) => int.Parse(text, CultureInfo.InvariantCulture);

    private static string Str(int value) => value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// Reads each file the file sink rolls once, while it passes <c>app.jsonl.1</c> … <c>.5</c> and before retention deletes
/// it: a rolled file is no longer written, and its first line tells it from the files read before. A burst that rolls
/// the retained files through in less than the 100 ms between two looks loses some: keep more (--retained).
/// </summary>
internal sealed class RolledFiles(string path, int retained, Ledger ledger)
{
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);

    public int FilesRead => _read.Count;

    public void Scan(int upTo = 5)
    {
        for (int i = 1; i <= Math.Min(upTo, retained); i++)
        {
            ReadOnce(path + "." + i.ToString(CultureInfo.InvariantCulture));
        }
    }

    /// <summary>At the end: the current file, and any rolled one not read yet.</summary>
    public void ReadRest()
    {
        Scan(retained);
        ReadOnce(path);
    }

    private void ReadOnce(string file)
    {
        try
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            if (reader.ReadLine() is not { } first || !_read.Add(first))
            {
                return;
            }

            ledger.Record(first);
            while (reader.ReadLine() is { } line)
            {
                ledger.Record(line);
            }
        }
        catch (FileNotFoundException)
        {
        }
    }
}

/// <summary>One sample of the child from /proc.</summary>
internal sealed record Sample(long RssKb, int Threads, int Fds, int Sockets, int Established, int CloseWait, int LogFds, int DeletedFds)
{
}

internal static class Sampler
{
    public static Sample? Take(int pid)
    {
        try
        {
            string status = File.ReadAllText($"/proc/{pid}/status");
            long rss = long.Parse(Regex.Match(status, @"VmRSS:\s+(\d+)").Groups[1].Value, CultureInfo.InvariantCulture);
            int threads = Directory.GetDirectories($"/proc/{pid}/task").Length;
            var sockets = new HashSet<string>(StringComparer.Ordinal);
            int fds = 0, logFds = 0, deleted = 0;
            foreach (string fd in Directory.GetFiles($"/proc/{pid}/fd"))
            {
                fds++;
                string? target = new FileInfo(fd).LinkTarget;
                if (target is null)
                {
                    continue;
                }

                if (target.StartsWith("socket:[", StringComparison.Ordinal))
                {
                    sockets.Add(target[8..^1]);
                }
                else if (target.Contains("app.jsonl", StringComparison.Ordinal))
                {
                    logFds++;
                    deleted += target.EndsWith("(deleted)", StringComparison.Ordinal) ? 1 : 0;
                }
            }

            int established = 0, closeWait = 0;
            foreach (string table in new[] { $"/proc/{pid}/net/tcp", $"/proc/{pid}/net/tcp6" })
            {
                foreach (string row in File.ReadLines(table).Skip(1))
                {
                    string[] cols = row.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    if (cols.Length > 9 && sockets.Contains(cols[9]))
                    {
                        established += cols[3] == "01" ? 1 : 0;
                        closeWait += cols[3] == "08" ? 1 : 0;
                    }
                }
            }

            return new Sample(rss, threads, fds, sockets.Count, established, closeWait, logFds, deleted);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
