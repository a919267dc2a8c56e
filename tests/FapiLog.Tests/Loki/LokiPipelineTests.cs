using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using FapiLog.Internal;
using FapiLog.Loki;
using Xunit;

namespace FapiLog.Tests.Loki;

/// <summary>Tests that replace Console.Error run alone.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ConsoleCollection
{
    public const string Name = "Console";
}

/// <summary>The Loki sink inside a real pipeline: end-to-end delivery through faults, and bounded shutdown.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class LokiPipelineTests
{
    private static ResponsePlan Flaky(int index) => (index % 4) switch
    {
        1 => new ResponsePlan(500, Body: "ingester down"),
        2 when index % 3 == 2 => new ResponsePlan(0, Hang: true),
        2 => new ResponsePlan(429, RetryAfter: "0"),
        _ => ResponsePlan.NoContent,
    };

    [Fact]
    public void With_Block_nothing_is_lost_or_duplicated_whatever_the_receiver_does_within_the_retry_bound()
    {
        using var receiver = new LokiReceiver((i, _) => Flaky(i));
        var options = new FapiLogOptions
        {
            QueueCapacity = 64,
            Overflow = OverflowStrategy.Block,
            BlockTimeout = Timeout.InfiniteTimeSpan,
            BatchSize = 20,
            FlushInterval = TimeSpan.FromMilliseconds(20),
        };
        options.Loki.Url = receiver.Url;
        options.Loki.MinBackoff = TimeSpan.FromMilliseconds(5);
        options.Loki.MaxBackoff = TimeSpan.FromMilliseconds(20);
        options.Loki.RequestTimeout = TimeSpan.FromMilliseconds(300);
        var sink = new LokiSink(options.Loki);
        var pipeline = new LogPipeline(options, [sink]);
        try
        {
            const int PerProducer = 250;
            var producers = Enumerable.Range(0, 2).Select(p => new Thread(() =>
            {
                for (int i = 0; i < PerProducer; i++)
                {
                    Assert.True(LokiTestEvents.LogOrder(pipeline, (p * PerProducer) + i + 1, "producer" + p, i));
                }
            })).ToList();
            producers.ForEach(t => t.Start());
            producers.ForEach(t => Assert.True(t.Join(LokiReceiver.SafetyTimeout)));
            Assert.True(pipeline.Flush(LokiReceiver.SafetyTimeout));

            // What Loki stores: the entries of the answered 2xx pushes, an entry with the same stream, timestamp and line kept
            // once. A push answered 2xx after RequestTimeout (a loaded machine) is sent again with the same body, and Loki
            // keeps one copy; a retry that changed a timestamp or line would show here as a duplicate OrderId.
            IReadOnlyList<ReceivedRequest> requests = receiver.Requests;
            List<long> delivered = requests.Where((_, i) => Flaky(i).Status is >= 200 and < 300)
                .SelectMany(r => r.Decode())
                .SelectMany(s => s.Entries.Select(e => (s.LabelText, e.Nanoseconds, e.Line, Entry: e)))
                .DistinctBy(e => (e.LabelText, e.Nanoseconds, e.Line))
                .Select(e => e.Entry.Json.GetProperty("OrderId").GetInt64()).ToList();
            Assert.Equal(Enumerable.Range(1, 2 * PerProducer).Select(i => (long)i), delivered.Order());
            Assert.True(sink.Statistics.Retries > 0);
            Assert.Equal(0, sink.Statistics.EntriesFailed);
            FapiLogStatistics stats = pipeline.GetStatistics();
            Assert.Equal(2 * PerProducer, stats.Delivered);
            Assert.Equal(0, stats.Failed);
            Assert.Equal(0, stats.Dropped);
        }
        finally
        {
            pipeline.Shutdown(TimeSpan.FromSeconds(5));
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Shutdown_while_Loki_is_down_or_hung_returns_within_the_bound_and_reports(bool hung)
    {
        using var receiver = new LokiReceiver((_, _) => hung ? new ResponsePlan(0, Hang: true) : new ResponsePlan(503, Body: "down"));
        var options = new FapiLogOptions
        {
            QueueCapacity = 100,
            BatchSize = 10,
            FlushInterval = TimeSpan.FromMilliseconds(20),
            ShutdownTimeout = TimeSpan.FromMilliseconds(500),
        };
        options.Loki.Url = receiver.Url;
        options.Loki.MaxAttempts = 1000;
        options.Loki.MinBackoff = TimeSpan.FromMilliseconds(50);
        options.Loki.MaxBackoff = TimeSpan.FromMilliseconds(200);
        var sink = new LokiSink(options.Loki);
        var pipeline = new LogPipeline(options, [sink]);
        TextWriter originalError = Console.Error;
        var error = new StringWriter();
        Console.SetError(TextWriter.Synchronized(error));
        try
        {
            for (int i = 1; i <= 25; i++)
            {
                Assert.True(LokiTestEvents.LogOrder(pipeline, i, "x", 1m));
            }

            receiver.WaitForRequests(1);
            bool finished = true;
            var shutdown = new Thread(() => finished = pipeline.Shutdown(options.ShutdownTimeout));
            shutdown.Start();
            Assert.True(shutdown.Join(LokiReceiver.SafetyTimeout), "Shutdown did not return");
            Assert.False(finished);
            Assert.True(pipeline.Stopped.Wait(LokiReceiver.SafetyTimeout), "the worker did not stop after the abort");

            FapiLogStatistics stats = pipeline.GetStatistics();
            Assert.Equal(0, stats.Delivered);
            Assert.Equal(25, stats.Failed);
            Assert.Equal(25, sink.Statistics.GetEntriesFailed(LokiFailureReasons.Shutdown));
            string reported = error.ToString();
            Assert.Contains("were not delivered", reported, StringComparison.Ordinal);
            Assert.Contains("Loki push to", reported, StringComparison.Ordinal);
            Assert.Contains("25 entries could not be delivered", reported, StringComparison.Ordinal);
        }
        finally
        {
            Console.SetError(originalError);
        }
    }

    [Fact]
    public void While_Loki_hangs_the_bounded_queue_drops_and_counts_the_overflow()
    {
        using var receiver = new LokiReceiver((_, _) => new ResponsePlan(0, Hang: true));
        var options = new FapiLogOptions
        {
            QueueCapacity = 50,
            BatchSize = 10,
            Overflow = OverflowStrategy.Drop,
            FlushInterval = TimeSpan.FromMilliseconds(20),
            ShutdownTimeout = TimeSpan.FromMilliseconds(200),
        };
        options.Loki.Url = receiver.Url;
        options.Loki.MaxAttempts = 1000;
        var sink = new LokiSink(options.Loki);
        var pipeline = new LogPipeline(options, [sink]);
        TextWriter originalError = Console.Error;
        Console.SetError(TextWriter.Null);
        try
        {
            Assert.True(LokiTestEvents.LogOrder(pipeline, 0, "first", 1m));
            receiver.WaitForRequests(1);

            // The worker is stuck in a push that never returns: the queue fills up and the rest is dropped and counted.
            int taken = 1;
            for (int i = 1; i < 500; i++)
            {
                taken += LokiTestEvents.LogOrder(pipeline, i, "x", 1m) ? 1 : 0;
            }

            FapiLogStatistics stats = pipeline.GetStatistics();
            Assert.Equal(taken, stats.Enqueued);
            Assert.True(stats.Enqueued <= options.QueueCapacity, $"{stats.Enqueued} enqueued");
            Assert.Equal(500 - stats.Enqueued, stats.DroppedQueueFull);
            Assert.Equal(0, stats.Delivered);
        }
        finally
        {
            Assert.False(pipeline.Shutdown(options.ShutdownTimeout));
            Assert.True(pipeline.Stopped.Wait(LokiReceiver.SafetyTimeout));
            Console.SetError(originalError);
        }
    }
}
