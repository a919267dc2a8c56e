using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using FapiLog.Internal;
using FapiLog.Tests.Support;
using Xunit;

namespace FapiLog.Tests;

public class ConcurrencyTests
{
    [Theory]
    [InlineData(OverflowStrategy.Block, 64, 8)]
    [InlineData(OverflowStrategy.Drop, 64, 8)]
    [InlineData(OverflowStrategy.Block, 1000, 100)]
    public void Every_accepted_event_is_delivered_exactly_once_in_each_producers_order(OverflowStrategy strategy, int capacity, int batchSize)
    {
        const int producers = 4;
        const int perProducer = 20_000;
        FapiLogOptions options = TestLog.Options(o =>
        {
            o.QueueCapacity = capacity;
            o.BatchSize = batchSize;
            o.Overflow = strategy;
            o.BlockTimeout = Timeout.InfiniteTimeSpan;
            o.FlushInterval = TimeSpan.FromMilliseconds(1);
            o.TimeProvider = TimeProvider.System;
        });
        var sink = new SequenceSink();
        options.AddSink(sink);
        LogPipeline pipeline = TestLog.Start(options);

        var accepted = new List<long>[producers];
        using var start = new Barrier(producers);
        Task[] tasks = Enumerable.Range(0, producers).Select(p => Task.Factory.StartNew(() =>
        {
            var mine = new List<long>(perProducer);
            start.SignalAndWait();
            for (long i = 0; i < perProducer; i++)
            {
                if (TestLog.Emit(pipeline, p, i))
                {
                    mine.Add(i);
                }
            }

            accepted[p] = mine;
        }, TaskCreationOptions.LongRunning)).ToArray();

        Assert.True(Task.WaitAll(tasks, TimeSpan.FromMinutes(2)));
        Assert.True(pipeline.Shutdown(TimeSpan.FromMinutes(1)));

        FapiLogStatistics stats = pipeline.GetStatistics();
        Assert.Equal(producers * perProducer, stats.Attempted);
        Assert.Equal(accepted.Sum(a => a.Count), stats.Enqueued);
        Assert.Equal(stats.Enqueued, stats.Delivered);
        Assert.Equal(stats.Enqueued, sink.Seen.Count);
        if (strategy == OverflowStrategy.Block)
        {
            Assert.Equal(0, stats.Dropped);
        }

        for (int p = 0; p < producers; p++)
        {
            // Exactly the accepted events of this producer, once each, in the order it logged them.
            List<long> delivered = sink.Seen.Where(s => s.Producer == p).Select(s => s.Sequence).ToList();
            Assert.Equal(accepted[p], delivered);
        }
    }

    [Fact]
    public void Calls_racing_with_shutdown_are_either_delivered_or_counted_never_lost()
    {
        FapiLogOptions options = TestLog.Options(o => { o.QueueCapacity = 256; o.BatchSize = 32; o.TimeProvider = TimeProvider.System; o.FlushInterval = TimeSpan.FromMilliseconds(1); });
        var sink = new SequenceSink();
        options.AddSink(sink);
        LogPipeline pipeline = TestLog.Start(options);
        int accepted = 0;
        using var running = new CountdownEvent(2);
        Task[] producers = Enumerable.Range(0, 2).Select(p => Task.Factory.StartNew(() =>
        {
            running.Signal();
            for (long i = 0; i < 200_000; i++)
            {
                if (TestLog.Emit(pipeline, p, i))
                {
                    Interlocked.Increment(ref accepted);
                }
            }
        }, TaskCreationOptions.LongRunning)).ToArray();

        running.Wait();
        Assert.True(pipeline.Shutdown(TimeSpan.FromMinutes(1)));
        Assert.True(Task.WaitAll(producers, TimeSpan.FromMinutes(1)));

        FapiLogStatistics stats = pipeline.GetStatistics();
        Assert.Equal(400_000, stats.Attempted);
        Assert.Equal(accepted, stats.Enqueued);
        Assert.Equal(accepted, sink.Seen.Count);
        Assert.Equal(accepted, stats.Delivered);
    }
}
