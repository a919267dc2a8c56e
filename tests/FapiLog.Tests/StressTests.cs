using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using FapiLog.Internal;
using FapiLog.Tests.Support;
using Microsoft.Extensions.Logging;
using Xunit;

namespace FapiLog.Tests;

/// <summary>
/// Randomized load against a private pipeline: many producers, mixed levels, small queues, a sink that fails some batches,
/// flushes from the producers and a shutdown at a random moment. What is asserted is exact: the accounting identities at
/// quiescence, exactly-once delivery and each producer's order. The seed fixes the workload, not the interleaving.
/// </summary>
public class StressTests
{
    private static readonly LogEventDescriptor[] s_byLevel =
    [
        Descriptor(LogLevel.Trace), Descriptor(LogLevel.Debug), Descriptor(LogLevel.Information),
        Descriptor(LogLevel.Warning), Descriptor(LogLevel.Error), Descriptor(LogLevel.Critical),
    ];

    private static LogEventDescriptor Descriptor(LogLevel level) => new(
        100 + (int)level, "Stress" + level, level, "Producer {Producer} event {Sequence}",
        LogArgument.Create<long>("producer"), LogArgument.Create<long>("sequence"));

    [Theory]
    [InlineData(OverflowStrategy.Drop, 1, 1, 1)]
    [InlineData(OverflowStrategy.Drop, 3, 8, 2)]
    [InlineData(OverflowStrategy.Drop, 10, 4, 3)]
    [InlineData(OverflowStrategy.Block, 1, 1, 4)]
    [InlineData(OverflowStrategy.Block, 3, 8, 5)]
    [InlineData(OverflowStrategy.Block, 7, 100, 6)]
    [InlineData(OverflowStrategy.Sample, 1, 1, 7)]
    [InlineData(OverflowStrategy.Sample, 5, 3, 8)]
    [InlineData(OverflowStrategy.Sample, 12, 100, 9)]
    public void Random_load_with_failures_flushes_and_a_shutdown_accounts_for_every_call(OverflowStrategy strategy, int capacity, int batchSize, int seed)
    {
        const int producers = 4;
        const int perProducer = 3000;
        FapiLogOptions options = TestLog.Options(o =>
        {
            o.MinimumLevel = LogLevel.Trace;
            o.QueueCapacity = capacity;
            o.BatchSize = batchSize;
            o.Overflow = strategy;
            o.SampleRate = 0.25;
            o.SampleHighWaterMark = 0.5;
            o.BlockTimeout = Timeout.InfiniteTimeSpan;
            o.FlushInterval = TimeSpan.FromMilliseconds(1);
            o.TimeProvider = TimeProvider.System;
        });
        var recorder = new RecordingSink(producers);
        var flaky = new FlakySink();
        options.AddSink(recorder);
        options.AddSink(flaky);
        LogPipeline pipeline = TestLog.Start(options);

        var master = new Random(seed);
        int shutdownAfter = master.Next(producers * perProducer / 4, producers * perProducer);
        int[] seeds = Enumerable.Range(0, producers).Select(_ => master.Next()).ToArray();
        int attempts = 0;
        bool shutdownResult = false;
        var accepted = new List<long>[producers];
        var flushFailures = new List<string>();
        using var start = new Barrier(producers + 1);
        using var shutdownDue = new ManualResetEventSlim(false);

        Task[] tasks = Enumerable.Range(0, producers).Select(p => Task.Factory.StartNew(() =>
        {
            var random = new Random(seeds[p]);
            var mine = new List<long>(perProducer);
            start.SignalAndWait();
            for (long i = 0; i < perProducer; i++)
            {
                LogEventDescriptor descriptor = s_byLevel[random.Next(s_byLevel.Length)];
                if (TestLog.Emit(pipeline, descriptor, p, i))
                {
                    mine.Add(i);
                }

                if (Interlocked.Increment(ref attempts) == shutdownAfter)
                {
                    shutdownDue.Set();
                }

                if (random.Next(500) == 0 && pipeline.Flush(TestLog.Safety))
                {
                    // A successful flush means every event this producer had logged reached the sinks.
                    List<long> seen = recorder.Snapshot(p);
                    if (!seen.SequenceEqual(mine))
                    {
                        lock (flushFailures)
                        {
                            flushFailures.Add($"producer {p} after {i}: {seen.Count} seen, {mine.Count} accepted");
                        }
                    }
                }
            }

            accepted[p] = mine;
        }, TaskCreationOptions.LongRunning)).ToArray();

        Task shutdown = Task.Factory.StartNew(() =>
        {
            start.SignalAndWait();
            shutdownDue.Wait();
            shutdownResult = pipeline.Shutdown(TestLog.Safety);
        }, TaskCreationOptions.LongRunning);

        Assert.True(Task.WaitAll(tasks, TestLog.Safety));
        Assert.True(shutdown.Wait(TestLog.Safety));
        Assert.True(shutdownResult);
        Assert.Empty(flushFailures);

        FapiLogStatistics stats = pipeline.GetStatistics();
        long acceptedCount = accepted.Sum(a => a.Count);
        Assert.Equal(producers * perProducer, stats.Attempted);
        Assert.Equal(stats.Attempted, stats.Enqueued + stats.Dropped + stats.SampledOut);
        Assert.Equal(acceptedCount, stats.Enqueued);
        Assert.Equal(stats.Enqueued, stats.Delivered + stats.Failed);
        Assert.Equal(0, stats.Pending);
        Assert.Equal(flaky.FailedEvents, stats.Failed);
        Assert.Equal(0, stats.DroppedWorkerStopped);
        Assert.Equal(0, stats.DroppedBlockTimeout);
        if (strategy == OverflowStrategy.Block)
        {
            Assert.Equal(0, stats.DroppedQueueFull);
        }

        if (strategy != OverflowStrategy.Sample)
        {
            Assert.Equal(0, stats.SampledOut);
        }

        for (int p = 0; p < producers; p++)
        {
            // Exactly the accepted events of this producer, once each, in the order it logged them.
            Assert.Equal(accepted[p], recorder.Snapshot(p));
        }
    }

    /// <summary>Records each producer's sequence numbers as the sinks see them.</summary>
    private sealed class RecordingSink(int producers) : LogSink
    {
        private readonly List<long>[] _seen = Enumerable.Range(0, producers).Select(_ => new List<long>()).ToArray();

        public List<long> Snapshot(int producer)
        {
            lock (_seen)
            {
                return [.. _seen[producer]];
            }
        }

        public override void Write(in LogBatch batch, CancellationToken cancellationToken)
        {
            lock (_seen)
            {
                foreach (ref readonly LogRecord record in batch)
                {
                    if (!record.EventName.StartsWith("Stress", StringComparison.Ordinal))
                    {
                        continue;
                    }

                    var reader = new SequenceReader();
                    record.VisitFields(ref reader);
                    _seen[reader.Producer].Add(reader.Sequence);
                }
            }
        }
    }

    /// <summary>Fails every fifth batch of events (never the pipeline's own warning), counting the events it failed.</summary>
    private sealed class FlakySink : LogSink
    {
        private int _batches;

        public long FailedEvents;

        public override void Write(in LogBatch batch, CancellationToken cancellationToken)
        {
            if (batch.Count > 0 && batch[0].Descriptor == DropWarning.Descriptor)
            {
                return;
            }

            if (++_batches % 5 == 0)
            {
                FailedEvents += batch.Count;
                throw new InvalidOperationException("flaky sink");
            }
        }
    }
}
