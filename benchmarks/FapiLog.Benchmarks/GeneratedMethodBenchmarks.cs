using System;
using System.Threading;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Logging;

namespace FapiLog.Benchmarks;

/// <summary>
/// The call-site cost of one log call on the same template ("Order {OrderId} placed by {Customer} for {Amount}"; long,
/// string, double): a FapiLog generated method (enabled and disabled) beside the hand-written runtime enqueue it expands to,
/// <c>LoggerMessage.Define</c>, and Microsoft's <c>[LoggerMessage]</c> generator. FapiLog ships to a sink that discards, with
/// a queue large enough that the worker keeps it drained, so the enabled case measures the enqueue; Microsoft's loggers are
/// enabled (or not) but do nothing, so they measure their call site too.
/// </summary>
[MemoryDiagnoser]
public class GeneratedMethodBenchmarks
{
    private static readonly LogEventDescriptor s_handWritten = new(
        100, "OrderPlacedByHand", LogLevel.Information, "Order {OrderId} placed by {Customer} for {Amount}",
        LogArgument.Create<long>("orderId"), LogArgument.Create<string>("customer"), LogArgument.Create<double>("amount"));

    private static readonly Action<ILogger, long, string, double, Exception?> s_define = LoggerMessage.Define<long, string, double>(
        LogLevel.Information, new EventId(1, "OrderPlaced"), "Order {OrderId} placed by {Customer} for {Amount}");

    private readonly ILogger _enabled = new NoOpLogger(enabled: true);
    private readonly ILogger _disabled = new NoOpLogger(enabled: false);
    private readonly string _customer = "alice";
    private long _orderId = 42;

    [GlobalSetup]
    public void Setup()
    {
        FapiLogging.Configure(o =>
        {
            o.AddSink(new DiscardSink());
            o.Console = false;
            o.MinimumLevel = LogLevel.Information;
            o.QueueCapacity = 1 << 20;
            o.BatchSize = 4096;
            o.CaptureTraceContext = true;
        });
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        FapiLogging.Flush(TimeSpan.FromSeconds(30));
        FapiLogStatistics s = FapiLogging.Statistics;

        // Printed into the BenchmarkDotNet log: the enabled case must have measured enqueues, not drops.
        Console.WriteLine($"// FapiLog statistics: enqueued {s.Enqueued}, dropped (queue full) {s.DroppedQueueFull}, delivered {s.Delivered}");
        FapiLogging.Shutdown();
    }

    [Benchmark(Description = "FapiLog generated, enabled")]
    public void FapiLogGeneratedEnabled() => BenchLog.OrderPlaced(_orderId++, _customer, 99.5);

    [Benchmark(Description = "FapiLog runtime enqueue by hand")]
    public void FapiLogRuntimeEnqueue()
    {
        if (!FapiLogRuntime.IsEnabled(LogLevel.Information))
        {
            return;
        }

        LogEventWriter w = FapiLogRuntime.Begin(s_handWritten);
        if (!w.IsActive)
        {
            return;
        }

        w.Write(_orderId++);
        w.WriteString(_customer);
        w.Write(99.5);
        w.Commit();
    }

    [Benchmark(Description = "FapiLog generated, disabled")]
    public void FapiLogGeneratedDisabled() => BenchLog.OrderPlacedDebug(_orderId++, _customer, 99.5);

    [Benchmark(Description = "LoggerMessage.Define, enabled")]
    public void DefineEnabled() => s_define(_enabled, _orderId++, _customer, 99.5, null);

    [Benchmark(Description = "LoggerMessage.Define, disabled")]
    public void DefineDisabled() => s_define(_disabled, _orderId++, _customer, 99.5, null);

    [Benchmark(Description = "[LoggerMessage] generated, enabled")]
    public void LoggerMessageEnabled() => MicrosoftLog.OrderPlaced(_enabled, _orderId++, _customer, 99.5);

    [Benchmark(Description = "[LoggerMessage] generated, disabled")]
    public void LoggerMessageDisabled() => MicrosoftLog.OrderPlaced(_disabled, _orderId++, _customer, 99.5);

    private sealed class DiscardSink : LogSink
    {
        public override void Write(in LogBatch batch, CancellationToken cancellationToken)
        {
        }
    }

    /// <summary>A logger whose provider is enabled (or not) and does nothing, so only the call site is measured.</summary>
    private sealed class NoOpLogger(bool enabled) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => enabled;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
        }
    }
}

/// <summary>The FapiLog methods under test: the same template at an enabled and at a disabled level.</summary>
public static partial class BenchLog
{
    [FapiLog(LogLevel.Information, "Order {OrderId} placed by {Customer} for {Amount}", EventId = 1)]
    public static partial void OrderPlaced(long orderId, string customer, double amount);

    [FapiLog(LogLevel.Debug, "Order {OrderId} placed by {Customer} for {Amount}", EventId = 2)]
    public static partial void OrderPlacedDebug(long orderId, string customer, double amount);
}

/// <summary>The same template through Microsoft's [LoggerMessage] generator.</summary>
public static partial class MicrosoftLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Order {OrderId} placed by {Customer} for {Amount}")]
    public static partial void OrderPlaced(ILogger logger, long orderId, string customer, double amount);
}
