using System;
using System.Diagnostics;
using System.Threading;
using FapiLog.Internal;
using FapiLog.Loki;
using Microsoft.Extensions.Logging;

namespace FapiLog.Tests.Loki;

/// <summary>Builds records the way generated code does, for batches handed straight to the sink or logged into a pipeline.</summary>
internal static class LokiTestEvents
{
    /// <summary>A Loki sink for <paramref name="url"/> that backs off 5–20 ms between attempts, so that retries take no time.</summary>
    public static LokiSink FastRetrying(Uri url, int maxAttempts = 10) => new(new LokiOptions
    {
        Url = url,
        MinBackoff = TimeSpan.FromMilliseconds(5),
        MaxBackoff = TimeSpan.FromMilliseconds(20),
        MaxAttempts = maxAttempts,
    });

    /// <summary>
    /// Writes <paramref name="batch"/> and waits until the sink's sender pushed or gave it up: what a synchronous push
    /// was before the sink got its own sender. Throws the <see cref="LokiPushException"/> of the entries given up.
    /// </summary>
    public static void Push(this LokiSink sink, in LogBatch batch, CancellationToken cancellationToken = default)
    {
        sink.Write(in batch, cancellationToken);
        sink.Flush(cancellationToken);
    }

    public static readonly LogEventDescriptor OrderPlaced = new(
        5, "OrderPlaced", LogLevel.Information, "Order {OrderId} placed by {Customer} for {Amount}",
        LogArgument.Create<long>("orderId"), LogArgument.Create<string>("customer"), LogArgument.Create<decimal>("amount"));

    public static readonly LogEventDescriptor PaymentFailed = new(
        7, "PaymentFailed", LogLevel.Error, "Payment failed for order {OrderId}",
        LogArgument.Create<long>("orderId"));

    public static readonly LogEventDescriptor CacheMiss = new(
        9, "CacheMiss", LogLevel.Warning, "Cache miss for {Key} after {Elapsed} ({Hit})",
        LogArgument.Create<string>("key"), LogArgument.Create<TimeSpan>("elapsed"), LogArgument.Create<bool>("hit"));

    /// <summary>2026-11-23T10:00:00Z plus a few ticks, so the nanosecond part is not zero.</summary>
    public static readonly long BaseTicks = new DateTime(2026, 11, 23, 10, 0, 0, DateTimeKind.Utc).Ticks + 1234567;

    public static long Nanoseconds(long ticks) => (ticks - DateTime.UnixEpoch.Ticks) * 100;

    public static void Order(ref LogRecord record, long ticks, long orderId, string customer, decimal amount,
        ActivityTraceId traceId = default, ActivitySpanId spanId = default)
    {
        Begin(ref record, OrderPlaced, ticks, traceId, spanId);
        var writer = new LogEventWriter(ref record, null, 0, OrderPlaced);
        writer.Write(orderId);
        writer.WriteString(customer);
        writer.Write(amount);
    }

    public static void Payment(ref LogRecord record, long ticks, long orderId, Exception exception)
    {
        Begin(ref record, PaymentFailed, ticks, default, default);
        var writer = new LogEventWriter(ref record, null, 0, PaymentFailed);
        writer.Write(orderId);
        writer.SetException(exception);
    }

    public static void Miss(ref LogRecord record, long ticks, string key, TimeSpan elapsed, bool hit)
    {
        Begin(ref record, CacheMiss, ticks, default, default);
        var writer = new LogEventWriter(ref record, null, 0, CacheMiss);
        writer.WriteString(key);
        writer.Write(elapsed);
        writer.Write(hit);
    }

    /// <summary>A batch over <paramref name="records"/> (any length).</summary>
    public static LogBatch Batch(LogRecord[] records, int count = -1) => new(records, 0, count < 0 ? records.Length : count, -1);

    /// <summary><paramref name="count"/> OrderPlaced events with ids first.. and increasing timestamps.</summary>
    public static LogRecord[] Orders(int count, long firstId = 1, int customerLength = 5)
    {
        var records = new LogRecord[count];
        string customer = new('c', customerLength);
        for (int i = 0; i < count; i++)
        {
            Order(ref records[i], BaseTicks + (i * 10), firstId + i, customer, 10.25m + i);
        }

        return records;
    }

    /// <summary>Logs OrderPlaced into <paramref name="pipeline"/>'s queue as a generated method would; false when not taken.</summary>
    public static bool LogOrder(LogPipeline pipeline, long orderId, string customer, decimal amount)
    {
        LogQueue queue = pipeline.Queue;
        if (!queue.TryClaim(LogLevel.Information, out long position))
        {
            return false;
        }

        ref LogRecord record = ref queue.Slot(position);
        record._timestampTicks = DateTime.UtcNow.Ticks;
        record._descriptor = OrderPlaced;
        var writer = new LogEventWriter(ref record, queue, position, OrderPlaced);
        writer.Write(orderId);
        writer.WriteString(customer);
        writer.Write(amount);
        writer.Commit();
        return true;
    }

    private static void Begin(ref LogRecord record, LogEventDescriptor descriptor, long ticks, ActivityTraceId traceId, ActivitySpanId spanId)
    {
        record._timestampTicks = ticks;
        record._descriptor = descriptor;
        record._exception = null;
        record._traceId = traceId;
        record._spanId = spanId;
    }
}
