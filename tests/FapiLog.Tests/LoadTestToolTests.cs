using System;
using System.Collections.Generic;
using System.Linq;
using FapiLog.LoadTest;
using Xunit;

namespace FapiLog.Tests;

/// <summary>The load-test tool's report arithmetic (benchmarks/LoadTest, its pure files linked into this project).</summary>
public class LoadTestToolTests
{
    private static long[] OneTo(int n) => Enumerable.Range(1, n).Select(i => (long)i).ToArray();

    [Theory]
    [InlineData(1_000, 50, 500)]
    [InlineData(1_000, 99, 990)]
    [InlineData(1_000, 99.9, 999)]
    [InlineData(2_000, 99.9, 1_998)]
    [InlineData(10_000, 99.9, 9_990)]
    [InlineData(100_000, 99.9, 99_900)]
    [InlineData(25_000, 99.9, 24_975)]
    [InlineData(100, 99.9, 100)]
    [InlineData(10, 99, 10)]
    [InlineData(10, 50, 5)]
    [InlineData(7, 50, 4)]
    [InlineData(1_000, 100, 1_000)]
    [InlineData(1_000, 0, 1)]
    public void Percentile_is_the_nearest_rank(int n, double p, long expected)
        => Assert.Equal(expected, LatencyStats.Percentile(OneTo(n), p));

    [Theory]
    [InlineData(0)]
    [InlineData(50)]
    [InlineData(99.9)]
    [InlineData(100)]
    public void Percentile_of_a_single_sample_is_that_sample(double p)
        => Assert.Equal(42, LatencyStats.Percentile([42], p));

    [Fact]
    public void Percentile_of_repeated_values_and_out_of_range_requests()
    {
        long[] sorted = [5, 5, 5, 9];
        Assert.Equal(5, LatencyStats.Percentile(sorted, 75));
        Assert.Equal(9, LatencyStats.Percentile(sorted, 75.1));
        Assert.Throws<ArgumentException>(() => LatencyStats.Percentile([], 50));
        Assert.Throws<ArgumentOutOfRangeException>(() => LatencyStats.Percentile(sorted, 100.1));
        Assert.Throws<ArgumentOutOfRangeException>(() => LatencyStats.Percentile(sorted, double.NaN));
    }

    [Fact]
    public void Tail_share_sums_exactly_the_slowest_calls_over_all_calls()
    {
        // 100,000 calls of 1 ns and the slowest 100 (0.1 %) of 1,001 ns: those 100 add 100 × 1,000 / 100,000 = 1 ns.
        long[] sorted = Enumerable.Repeat(1L, 99_900).Concat(Enumerable.Repeat(1_001L, 100)).ToArray();
        Assert.Equal(1.0 + 100.0 / 100_000, LatencyStats.TailShare(sorted, 99.9), 12);
        Assert.Equal((900 * 1.0 + 100 * 1_001.0) / 100_000, LatencyStats.TailShare(sorted, 99), 12);

        long[] oneTo1000 = OneTo(1_000);
        Assert.Equal(1_000.0 / 1_000, LatencyStats.TailShare(oneTo1000, 99.9));
        Assert.Equal(oneTo1000.Sum() / 1_000.0, LatencyStats.TailShare(oneTo1000, 0));
        Assert.Equal(0, LatencyStats.TailShare(oneTo1000, 100));
        Assert.Equal(0, LatencyStats.TailShare([7], 99));
        Assert.Equal(0, LatencyStats.TailShare([], 99));
    }

    private static LoadTestSettings Parse(string[] args, Dictionary<string, string>? env = null)
        => LoadTestSettings.Parse(args, name => env is not null && env.TryGetValue(name, out string? v) ? v : null);

    [Fact]
    public void Defaults_are_those_the_usage_gives()
    {
        LoadTestSettings s = Parse([]);
        Assert.Equal((4, 2_500, 10.0, OverflowStrategy.Drop, 8_192, 100, 2.0, "render", false, false),
            (s.Concurrency, s.RatePerTask, s.DurationSeconds, s.Strategy, s.Capacity, s.BatchSize, s.FlushIntervalSeconds, s.Sink, s.Reference, s.CoreToCore));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Every_flag_short_and_long_sets_its_setting(bool shortFlags)
    {
        string[] args = shortFlags
            ? ["-c", "3", "-r", "700", "-d", "1.5", "-s", "Sample", "-q", "64", "-b", "7", "-f", "0.25", "--sink", "null", "--reference"]
            : ["--concurrency", "3", "--rate", "700", "--duration", "1.5", "--strategy", "sample", "--capacity", "64", "--batch-size", "7",
               "--flush-interval", "0.25", "--sink", "null", "--reference"];
        LoadTestSettings s = Parse(args);
        Assert.Equal((3, 700, 1.5, OverflowStrategy.Sample, 64, 7, 0.25, "null", true),
            (s.Concurrency, s.RatePerTask, s.DurationSeconds, s.Strategy, s.Capacity, s.BatchSize, s.FlushIntervalSeconds, s.Sink, s.Reference));
        Assert.True(Parse(["--core-to-core"]).CoreToCore);
    }

    [Fact]
    public void Every_variable_sets_its_setting_and_a_flag_wins_over_it()
    {
        var env = new Dictionary<string, string>
        {
            ["FAPILOG_LOADTEST_CONCURRENCY"] = "2",
            ["FAPILOG_LOADTEST_RATE"] = "900",
            ["FAPILOG_LOADTEST_DURATION"] = "3",
            ["FAPILOG_LOADTEST_STRATEGY"] = "block",
            ["FAPILOG_LOADTEST_CAPACITY"] = "128",
            ["FAPILOG_LOADTEST_BATCH_SIZE"] = "9",
            ["FAPILOG_LOADTEST_FLUSH_INTERVAL"] = "0.5",
            ["FAPILOG_LOADTEST_SINK"] = "null",
            ["FAPILOG_LOADTEST_REFERENCE"] = "true",
            ["FAPILOG_LOADTEST_CORE_TO_CORE"] = "True",
        };
        LoadTestSettings s = Parse([], env);
        Assert.Equal((2, 900, 3.0, OverflowStrategy.Block, 128, 9, 0.5, "null", true, true),
            (s.Concurrency, s.RatePerTask, s.DurationSeconds, s.Strategy, s.Capacity, s.BatchSize, s.FlushIntervalSeconds, s.Sink, s.Reference, s.CoreToCore));

        LoadTestSettings flags = Parse(["-c", "5", "-s", "drop", "--sink", "render"], env);
        Assert.Equal((5, OverflowStrategy.Drop, "render", 900), (flags.Concurrency, flags.Strategy, flags.Sink, flags.RatePerTask));
    }

    [Fact]
    public void A_warm_up_pass_keeps_every_setting_but_the_duration_and_leaves_the_run_as_it_was()
    {
        LoadTestSettings s = Parse(["-c", "3", "-r", "700", "-d", "12", "-s", "block", "-q", "64", "-b", "7", "-f", "0.25", "--sink", "null", "--reference"]);
        LoadTestSettings pass = s.WithDuration(1);
        Assert.Equal((3, 700, 1.0, OverflowStrategy.Block, 64, 7, 0.25, "null", true),
            (pass.Concurrency, pass.RatePerTask, pass.DurationSeconds, pass.Strategy, pass.Capacity, pass.BatchSize, pass.FlushIntervalSeconds, pass.Sink, pass.Reference));
        Assert.Equal(12.0, s.DurationSeconds);
    }

    [Fact]
    public void A_bare_ring_record_spans_what_a_queue_slot_spans()
    {
        // The bare rings of --reference hold these where the queue holds LogRecord: the same memory per event, or the
        // comparison would measure the footprint rather than the sharing. Fails when LogRecord's layout changes.
        Assert.Equal(System.Runtime.CompilerServices.Unsafe.SizeOf<LogRecord>(), System.Runtime.CompilerServices.Unsafe.SizeOf<BareRecord>());
    }

    [Theory]
    [InlineData("--concurrency", "0")]
    [InlineData("-c", "two")]
    [InlineData("--rate", "-1")]
    [InlineData("--rate", "1.5")]
    [InlineData("--duration", "0")]
    [InlineData("-d", "NaN")]
    [InlineData("--strategy", "lossless")]
    [InlineData("--capacity", "16777217")]
    [InlineData("--batch-size", "0")]
    [InlineData("--flush-interval", "1e400")]
    [InlineData("--sink", "console")]
    public void A_bad_flag_value_is_named_with_its_value(string flag, string value)
    {
        var ex = Assert.ThrowsAny<ArgumentException>(() => Parse([flag, value]));
        string longName = flag switch { "-c" => "--concurrency", "-d" => "--duration", _ => flag };
        Assert.StartsWith($"{longName}: '{value}' ", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("CONCURRENCY", "0")]
    [InlineData("RATE", "fast")]
    [InlineData("DURATION", "-2")]
    [InlineData("STRATEGY", "lossless")]
    [InlineData("CAPACITY", "0")]
    [InlineData("BATCH_SIZE", "x")]
    [InlineData("FLUSH_INTERVAL", "0")]
    [InlineData("SINK", "console")]
    [InlineData("REFERENCE", "yes")]
    [InlineData("CORE_TO_CORE", "1")]
    public void A_bad_variable_value_is_named_by_the_variable_not_by_a_flag(string name, string value)
    {
        var ex = Assert.ThrowsAny<ArgumentException>(() => Parse([], new Dictionary<string, string> { ["FAPILOG_LOADTEST_" + name] = value }));
        Assert.StartsWith($"FAPILOG_LOADTEST_{name}: '{value}' ", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_or_incomplete_options_and_empty_runs_are_refused()
    {
        Assert.Contains("'--rates'", Assert.ThrowsAny<ArgumentException>(() => Parse(["--rates", "5"])).Message, StringComparison.Ordinal);
        Assert.Contains("'-d'", Assert.ThrowsAny<ArgumentException>(() => Parse(["-d"])).Message, StringComparison.Ordinal);
        Assert.StartsWith("--reference:", Assert.ThrowsAny<ArgumentException>(() => Parse(["--reference", "-r", "0"])).Message, StringComparison.Ordinal);

        // One event per second for half a second is no event at all: the report had nothing to show, and --reference
        // failed on the empty sample set.
        Assert.StartsWith("--rate 1 for --duration 0.5 s", Assert.ThrowsAny<ArgumentException>(() => Parse(["-r", "1", "-d", "0.5"])).Message, StringComparison.Ordinal);
        Assert.Equal(1, Parse(["-r", "1", "-d", "1"]).RatePerTask);
        Assert.Equal(0, Parse(["-r", "0", "-d", "0.1"]).RatePerTask);
    }
}
