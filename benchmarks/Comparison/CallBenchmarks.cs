using System;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Exporters;
using Perfolizer.Horology;
using ZLogger;

namespace FapiLog.Comparison;

/// <summary>
/// Jobs for the call-site suites: a full run, or a smoke run when COMPARISON_QUICK=1 (the variable reaches the
/// benchmark processes BenchmarkDotNet starts). Times in nanoseconds, allocations in bytes, ratio to FapiLog. The full
/// run starts three processes per benchmark at different moments, so that a burst of load from elsewhere on a shared
/// machine lands in one launch rather than in the whole result. The burst suites run one invocation per iteration, so
/// each benchmark method is called once per iteration: 100 warm-up iterations let tiered compilation (tier 0, then
/// instrumented tier 1, then tier 1 with the profile) finish for every library before anything is measured. With 4,
/// most of the measured iterations ran instrumented or on-stack-replaced code, and every library's figure moved:
/// FapiLog's call read 60–90 ns instead of 42–60 ns, NLog's about 300 ns instead of 85–100 ns.
/// </summary>
public sealed class ComparisonConfig : ManualConfig
{
    public ComparisonConfig()
    {
        bool quick = Environment.GetEnvironmentVariable("COMPARISON_QUICK") == "1";
        Job job = quick
            ? Job.Default.WithWarmupCount(1).WithIterationCount(3).WithIterationTime(TimeInterval.FromMilliseconds(100)).WithLaunchCount(1)
            : Job.Default.WithWarmupCount(100).WithIterationCount(10).WithIterationTime(TimeInterval.FromMilliseconds(250)).WithLaunchCount(3);
        AddJob(job.WithId(quick ? "Quick" : "Full"));
        AddDiagnoser(MemoryDiagnoser.Default);
        AddColumn(StatisticColumn.Median);
        AddExporter(MarkdownExporter.GitHub);
        SummaryStyle = SummaryStyle.Default.WithTimeUnit(TimeUnit.Nanosecond).WithRatioStyle(RatioStyle.Value);
        WithOrderer(new BenchmarkDotNet.Order.DefaultOrderer(BenchmarkDotNet.Order.SummaryOrderPolicy.Declared));
    }
}

/// <summary>All five libraries set up side by side; each benchmark uses only its own.</summary>
public abstract class CallBenchmarkBase
{
    protected const string Customer = "alice";
    protected FapiLogContender _fapi = null!;
    protected MelConsoleContender _mel = null!;
    protected ZLoggerContender _zlogger = null!;
    protected SerilogContender _serilog = null!;
    protected NLogContender _nlog = null!;
    protected long _id;

    protected Contender[] All => [_fapi, _mel, _zlogger, _serilog, _nlog];

    protected void CreateAll(QueueMode mode)
    {
        _fapi = new FapiLogContender(mode);
        _mel = new MelConsoleContender(mode);
        _zlogger = new ZLoggerContender(mode);
        _serilog = new SerilogContender(mode);
        _nlog = new NLogContender(mode);
    }

    [GlobalCleanup]
    public void DisposeAll()
    {
        foreach (Contender c in All)
        {
            Console.WriteLine($"// {c.Name}: sink saw {c.Probe.Seen:N0}, dropped {(c.Dropped < 0 ? "not counted" : c.Dropped.ToString("N0"))}");
            c.Dispose();
        }
    }
}

/// <summary>The level is below the minimum: the call only checks it.</summary>
[Config(typeof(ComparisonConfig))]
public class LevelDisabled : CallBenchmarkBase
{
    [GlobalSetup]
    public void Setup() => CreateAll(QueueMode.Lossless);

    [Benchmark(Baseline = true, Description = "FapiLog [FapiLog]")]
    public void FapiLog() => FapiEvents.OrderPlacedDebug(_id++, Customer, 99.5);

    [Benchmark(Description = "MEL [LoggerMessage] + Console")]
    public void MelConsole() => MelEvents.OrderPlacedDebug(_mel.Logger, _id++, Customer, 99.5);

    [Benchmark(Description = "ZLogger [ZLoggerMessage]")]
    public void ZLogger() => _zlogger.Logger.OrderPlacedDebug(_id++, Customer, 99.5);

    [Benchmark(Description = "Serilog + Async")]
    public void Serilog() => _serilog.Logger.Debug(FapiEvents.Order, _id++, Customer, 99.5);

    [Benchmark(Description = "NLog + AsyncWrapper")]
    public void NLog() => _nlog.Logger.Debug(FapiEvents.Order, _id++, Customer, 99.5);
}

/// <summary>
/// Suites that log bursts of <see cref="Burst"/> calls per invocation (well under every library's capacity of 10,000):
/// before each iteration every sink has seen everything logged so far, so no call ever finds the queue full.
/// </summary>
public abstract class BurstBenchmarkBase : CallBenchmarkBase
{
    public const int Burst = 4_000;

    /// <summary>Events logged so far, per contender in the order of <see cref="CallBenchmarkBase.All"/>.</summary>
    protected readonly long[] _sent = new long[5];

    [IterationSetup]
    public void Drain()
    {
        Contender[] all = All;
        for (int i = 0; i < all.Length; i++)
        {
            all[i].RequestFlush();
            if (!all[i].Probe.WaitFor(_sent[i], TimeSpan.FromSeconds(60)))
            {
                throw new InvalidOperationException($"{all[i].Name}: the sink saw {all[i].Probe.Seen} of {_sent[i]} events");
            }
        }
    }
}

/// <summary>
/// Enabled while the queue has room: each invocation is a burst of <see cref="Burst"/> calls (well under every
/// library's capacity of 10,000), and before each iteration the sink has seen everything logged so far, so no call
/// ever finds the queue full. Not every consumer runs during a burst (about 0.2–0.3 ms): ZLogger's, Serilog's and the
/// console logger's wake on the first event and run alongside, while FapiLog's worker (polling every 1 ms while batches
/// fill) and NLog's (a 1 ms timer) mostly sleep through it, which favours those two (see the README's method notes).
/// </summary>
[Config(typeof(ComparisonConfig))]
public class EnabledWithRoom : BurstBenchmarkBase
{

    [GlobalSetup]
    public void Setup() => CreateAll(QueueMode.Lossless);

    [Benchmark(Baseline = true, OperationsPerInvoke = Burst, Description = "FapiLog [FapiLog]")]
    public void FapiLog()
    {
        for (int i = 0; i < Burst; i++)
        {
            FapiEvents.OrderPlaced(_id++, Customer, 99.5);
        }

        _sent[0] += Burst;
    }

    [Benchmark(OperationsPerInvoke = Burst, Description = "MEL [LoggerMessage] + Console")]
    public void MelConsole()
    {
        for (int i = 0; i < Burst; i++)
        {
            MelEvents.OrderPlaced(_mel.Logger, _id++, Customer, 99.5);
        }

        _sent[1] += Burst;
    }

    [Benchmark(OperationsPerInvoke = Burst, Description = "ZLogger [ZLoggerMessage]")]
    public void ZLogger()
    {
        for (int i = 0; i < Burst; i++)
        {
            _zlogger.Logger.OrderPlaced(_id++, Customer, 99.5);
        }

        _sent[2] += Burst;
    }

    [Benchmark(OperationsPerInvoke = Burst, Description = "Serilog + Async")]
    public void Serilog()
    {
        for (int i = 0; i < Burst; i++)
        {
            _serilog.Logger.Information(FapiEvents.Order, _id++, Customer, 99.5);
        }

        _sent[3] += Burst;
    }

    [Benchmark(OperationsPerInvoke = Burst, Description = "NLog + AsyncWrapper")]
    public void NLog()
    {
        for (int i = 0; i < Burst; i++)
        {
            _nlog.Logger.Info(FapiEvents.Order, _id++, Customer, 99.5);
        }

        _sent[4] += Burst;
    }
}

/// <summary>
/// Enabled with an exception (Error level), in bursts under the capacity as in <see cref="EnabledWithRoom"/>. The
/// exception was thrown once, so it carries a stack trace; the sinks render its type and message.
/// </summary>
[Config(typeof(ComparisonConfig))]
public class WithException : BurstBenchmarkBase
{
    private Exception _error = null!;

    [GlobalSetup]
    public void Setup()
    {
        CreateAll(QueueMode.Lossless);
        try
        {
            throw new InvalidOperationException("card declined");
        }
        catch (InvalidOperationException e)
        {
            _error = e;
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Burst, Description = "FapiLog [FapiLog]")]
    public void FapiLog()
    {
        for (int i = 0; i < Burst; i++)
        {
            FapiEvents.PaymentFailed(_id++, _error);
        }

        _sent[0] += Burst;
    }

    [Benchmark(OperationsPerInvoke = Burst, Description = "MEL [LoggerMessage] + Console")]
    public void MelConsole()
    {
        for (int i = 0; i < Burst; i++)
        {
            MelEvents.PaymentFailed(_mel.Logger, _id++, _error);
        }

        _sent[1] += Burst;
    }

    [Benchmark(OperationsPerInvoke = Burst, Description = "ZLogger [ZLoggerMessage]")]
    public void ZLogger()
    {
        for (int i = 0; i < Burst; i++)
        {
            _zlogger.Logger.PaymentFailed(_id++, _error);
        }

        _sent[2] += Burst;
    }

    [Benchmark(OperationsPerInvoke = Burst, Description = "Serilog + Async")]
    public void Serilog()
    {
        for (int i = 0; i < Burst; i++)
        {
            _serilog.Logger.Error(_error, FapiEvents.Failure, _id++);
        }

        _sent[3] += Burst;
    }

    [Benchmark(OperationsPerInvoke = Burst, Description = "NLog + AsyncWrapper")]
    public void NLog()
    {
        for (int i = 0; i < Burst; i++)
        {
            _nlog.Logger.Error(_error, FapiEvents.Failure, _id++);
        }

        _sent[4] += Burst;
    }
}

/// <summary>
/// Enabled under saturation: every library in its dropping mode (FapiLog Drop, ZLogger Drop, Serilog
/// blockWhenFull=false, NLog Discard, console DropWrite) with its sink stalled and its queue already full, so every
/// measured call meets a full queue. (The blocking modes under saturation are the throughput comparison.)
/// </summary>
[Config(typeof(ComparisonConfig))]
public class Saturated : CallBenchmarkBase
{
    [GlobalSetup]
    public void Setup()
    {
        CreateAll(QueueMode.Dropping);
        foreach (Contender c in All)
        {
            c.Probe.Stall();
            for (int i = 0; i < Contender.Capacity * 4; i++)
            {
                c.Order(i, Customer, 99.5);
            }
        }

        System.Threading.Thread.Sleep(200);
        foreach (Contender c in All)
        {
            for (int i = 0; i < Contender.Capacity * 2; i++)
            {
                c.Order(i, Customer, 99.5);
            }
        }
    }

    [Benchmark(Baseline = true, Description = "FapiLog [FapiLog]")]
    public void FapiLog() => FapiEvents.OrderPlaced(_id++, Customer, 99.5);

    [Benchmark(Description = "MEL [LoggerMessage] + Console")]
    public void MelConsole() => MelEvents.OrderPlaced(_mel.Logger, _id++, Customer, 99.5);

    [Benchmark(Description = "ZLogger [ZLoggerMessage]")]
    public void ZLogger() => _zlogger.Logger.OrderPlaced(_id++, Customer, 99.5);

    [Benchmark(Description = "Serilog + Async")]
    public void Serilog() => _serilog.Logger.Information(FapiEvents.Order, _id++, Customer, 99.5);

    [Benchmark(Description = "NLog + AsyncWrapper")]
    public void NLog() => _nlog.Logger.Info(FapiEvents.Order, _id++, Customer, 99.5);
}
