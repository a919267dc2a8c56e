using System;
using System.Collections.Generic;
using System.Globalization;

namespace FapiLog.LoadTest;

/// <summary>The load test's settings: flags win over FAPILOG_LOADTEST_* variables, which win over the defaults.</summary>
internal sealed class LoadTestSettings
{
    public int Concurrency { get; private set; } = 4;

    /// <summary>Events per second per task; 0 means as fast as possible (a throughput run).</summary>
    public int RatePerTask { get; private set; } = 2_500;

    public double DurationSeconds { get; private set; } = 10;

    /// <summary>These settings with another duration (the warm-up passes).</summary>
    public LoadTestSettings WithDuration(double seconds)
    {
        var copy = (LoadTestSettings)MemberwiseClone();
        copy.DurationSeconds = seconds;
        return copy;
    }

    public OverflowStrategy Strategy { get; private set; } = OverflowStrategy.Drop;

    public int Capacity { get; private set; } = new FapiLogOptions().QueueCapacity;

    public int BatchSize { get; private set; } = 100;

    public double FlushIntervalSeconds { get; private set; } = 2;

    /// <summary>render: the worker renders message and fields of every event into a reused buffer; null: discards.</summary>
    public string Sink { get; private set; } = "render";

    /// <summary>
    /// Also times five references with the same pacing and tasks: an empty call, a clock read, a shared atomic increment, and
    /// the event written into a bare ring of the task's own and into a bare ring all tasks claim in.
    /// </summary>
    public bool Reference { get; private set; }

    /// <summary>Logs nothing: times the round trip of one cache line between two threads for the duration (a machine check).</summary>
    public bool CoreToCore { get; private set; }

    public static string Usage => """
        FapiLog load test: logs "Order {OrderId} placed by {Customer} for {Amount}" from N tasks at a fixed rate,
        measures every call, and reports what happened to every event.

        usage: dotnet run -c Release --project benchmarks/LoadTest -- [options]

          -c, --concurrency N     tasks logging at once                      FAPILOG_LOADTEST_CONCURRENCY   default 4
          -r, --rate N            events per second per task (0 = max)       FAPILOG_LOADTEST_RATE          default 2500
          -d, --duration S        seconds to log for                         FAPILOG_LOADTEST_DURATION      default 10
          -s, --strategy NAME     drop | block | sample                      FAPILOG_LOADTEST_STRATEGY      default drop
          -q, --capacity N        queue capacity                             FAPILOG_LOADTEST_CAPACITY      default 8192
          -b, --batch-size N      batch size                                 FAPILOG_LOADTEST_BATCH_SIZE    default 100
          -f, --flush-interval S  flush interval in seconds                  FAPILOG_LOADTEST_FLUSH_INTERVAL default 2
              --sink NAME         render | null                              FAPILOG_LOADTEST_SINK          default render
              --reference         before the log call, time an empty call,   FAPILOG_LOADTEST_REFERENCE     true | false
                                  a DateTime.UtcNow read, an atomic increment
                                  of a shared counter, and the event written
                                  into a bare ring of the task's own and into
                                  one all tasks claim in, the same way (paced runs)
              --core-to-core      log nothing: time one cache line's         FAPILOG_LOADTEST_CORE_TO_CORE  true | false
                                  round trip between two threads every 0.25 s
                                  for the duration (is the machine slow now?)
          -h, --help              this text
        """;

    public static LoadTestSettings Parse(string[] args, Func<string, string?> env)
    {
        var s = new LoadTestSettings();

        // Each value remembers where it came from, so that an error names the variable the user set, not a flag they
        // never typed.
        var values = new Dictionary<string, (string Value, string Source)>(StringComparer.Ordinal);
        foreach ((string key, string name) in Keys)
        {
            if (env(EnvPrefix + name) is { Length: > 0 } value)
            {
                values[key] = (value, EnvPrefix + name);
            }
        }

        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            if (arg == "--reference")
            {
                values["reference"] = ("true", arg);
                continue;
            }

            if (arg == "--core-to-core")
            {
                values["core-to-core"] = ("true", arg);
                continue;
            }

            string? key = arg switch
            {
                "-c" or "--concurrency" => "concurrency",
                "-r" or "--rate" => "rate",
                "-d" or "--duration" => "duration",
                "-s" or "--strategy" => "strategy",
                "-q" or "--capacity" => "capacity",
                "-b" or "--batch-size" => "batch-size",
                "-f" or "--flush-interval" => "flush-interval",
                "--sink" => "sink",
                _ => null,
            };
            if (key is null || i + 1 >= args.Length)
            {
                throw new ArgumentException($"Unknown or incomplete option '{arg}'.\n\n{Usage}");
            }

            values[key] = (args[++i], "--" + key);
        }

        foreach ((string key, (string value, string source)) in values)
        {
            switch (key)
            {
                case "concurrency": s.Concurrency = Int(source, value, 1, 1024); break;
                case "rate": s.RatePerTask = Int(source, value, 0, 100_000_000); break;
                case "duration": s.DurationSeconds = Number(source, value, 0.1, 3600); break;
                case "strategy":
                    s.Strategy = value.ToLowerInvariant() switch
                    {
                        "drop" => OverflowStrategy.Drop,
                        "block" => OverflowStrategy.Block,
                        "sample" => OverflowStrategy.Sample,
                        _ => throw new ArgumentException($"{source}: '{value}' is not one of drop, block, sample."),
                    };
                    break;
                case "capacity": s.Capacity = Int(source, value, 1, FapiLogOptions.MaxQueueCapacity); break;
                case "batch-size": s.BatchSize = Int(source, value, 1, FapiLogOptions.MaxQueueCapacity); break;
                case "flush-interval": s.FlushIntervalSeconds = Number(source, value, 0.001, 86400); break;
                case "reference": s.Reference = Bool(source, value); break;
                case "core-to-core": s.CoreToCore = Bool(source, value); break;
                case "sink":
                    s.Sink = value is "render" or "null" ? value : throw new ArgumentException($"{source}: '{value}' is not one of render, null.");
                    break;
            }
        }

        if (s.Reference && s.RatePerTask == 0)
        {
            throw new ArgumentException("--reference: the references are timed at the run's pace; give a --rate above 0.");
        }

        if (s.RatePerTask > 0 && s.RatePerTask * s.DurationSeconds < 1)
        {
            throw new ArgumentException(
                $"--rate {s.RatePerTask} for --duration {s.DurationSeconds.ToString(CultureInfo.InvariantCulture)} s is less than one event per task; " +
                "give a higher rate or a longer duration.");
        }

        return s;
    }

    private const string EnvPrefix = "FAPILOG_LOADTEST_";

    private static readonly (string Key, string Env)[] Keys =
    [
        ("concurrency", "CONCURRENCY"), ("rate", "RATE"), ("duration", "DURATION"), ("strategy", "STRATEGY"),
        ("capacity", "CAPACITY"), ("batch-size", "BATCH_SIZE"), ("flush-interval", "FLUSH_INTERVAL"), ("sink", "SINK"),
        ("reference", "REFERENCE"), ("core-to-core", "CORE_TO_CORE"),
    ];

    private static int Int(string source, string value, int min, int max)
        => int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n >= min && n <= max
            ? n
            : throw new ArgumentException($"{source}: '{value}' is not a whole number from {min} to {max}.");

    private static double Number(string source, string value, double min, double max)
        => double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double n) && n >= min && n <= max
            ? n
            : throw new ArgumentException($"{source}: '{value}' is not a number from {min} to {max}.");

    private static bool Bool(string source, string value)
        => bool.TryParse(value, out bool b) ? b : throw new ArgumentException($"{source}: '{value}' is not true or false.");
}
