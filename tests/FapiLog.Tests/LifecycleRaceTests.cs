using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using FapiLog.Internal;
using FapiLog.Sinks;
using FapiLog.Tests.Support;
using Microsoft.Extensions.Logging;
using Xunit;

namespace FapiLog.Tests;

/// <summary>
/// The global pipeline's lifecycle (Configure, Flush, Shutdown) racing with itself and with log calls from other threads:
/// every call is accounted for, nothing is delivered twice, nothing hangs and no exception reaches a caller.
/// </summary>
[Collection(GlobalPipelineCollection.Name)]
public sealed class LifecycleRaceTests : IDisposable
{
    public LifecycleRaceTests() => FapiLogging.ResetForTesting();

    public void Dispose() => FapiLogging.ResetForTesting();

    private static bool Emit(long producer, long sequence) => TestLog.EmitInstalled(producer, sequence);

    private static Task Run(Action action) => Task.Factory.StartNew(action, TaskCreationOptions.LongRunning);

    /// <summary>
    /// A pipeline whose sink holds an event at its gate, and a Configure on another thread that has installed the next
    /// pipeline and is waiting for the first one's shutdown, which waits for the gate.
    /// </summary>
    private static (GateSink Gate, LogPipeline First, Task Reconfigure) ReplaceWhileDelivering()
    {
        var gate = new GateSink();
        FapiLogging.Configure(o => { o.Console = false; o.BatchSize = 1; o.AddSink(gate); o.ShutdownTimeout = TestLog.Safety; });
        LogPipeline first = FapiLogging.CurrentPipeline!;
        Assert.True(Emit(1, 0));
        Assert.True(gate.WaitEntered(TestLog.Safety));

        Task reconfigure = Run(() => FapiLogging.Configure(o => { o.Console = false; o.AddSink(new InMemorySink()); }));
        Assert.True(SpinWait.SpinUntil(() => !ReferenceEquals(FapiLogging.CurrentPipeline, first), TestLog.Safety));
        return (gate, first, reconfigure);
    }

    [Fact]
    public void Flush_while_configure_replaces_the_pipeline_waits_for_the_events_logged_into_the_old_one()
    {
        (GateSink gate, LogPipeline first, Task reconfigure) = ReplaceWhileDelivering();
        try
        {
            // The event was logged before these calls and stays in the old pipeline's sink for as long as they may wait:
            // they must not report it flushed (they did, having looked at the new, empty pipeline only).
            Assert.False(FapiLogging.Flush(TimeSpan.FromSeconds(1)));
            Assert.False(FapiLogging.FlushAsync(TimeSpan.FromSeconds(1)).GetAwaiter().GetResult());
        }
        finally
        {
            gate.Open();
        }

        Assert.True(FapiLogging.Flush(TestLog.Safety));
        Assert.Equal(1, Interlocked.Read(ref gate.Received));
        Assert.True(reconfigure.Wait(TestLog.Safety));
    }

    [Fact]
    public void Flush_after_configure_gave_up_on_a_hung_old_pipeline_flushes_the_new_one()
    {
        // A sink that ignores cancellation: the replaced pipeline's worker stays inside Write after Configure gave up on it.
        var gate = new GateSink(honourCancellation: false);
        FapiLogging.Configure(o => { o.Console = false; o.BatchSize = 1; o.AddSink(gate); o.ShutdownTimeout = TimeSpan.FromMilliseconds(50); });
        LogPipeline first = FapiLogging.CurrentPipeline!;
        Assert.True(Emit(1, 0));
        Assert.True(gate.WaitEntered(TestLog.Safety));
        try
        {
            var memory = new InMemorySink();
            FapiLogging.Configure(o => { o.Console = false; o.AddSink(memory); });
            Assert.False(first.Stopped.IsCompleted);

            // The old pipeline was given up on (and reported on stderr) by Configure; the new one is healthy.
            Assert.True(Emit(2, 0));
            Assert.True(FapiLogging.Flush(TestLog.Safety));
            Assert.True(FapiLogging.FlushAsync(TestLog.Safety).GetAwaiter().GetResult());
            Assert.Single(memory.Events);
        }
        finally
        {
            gate.Open();
        }

        Assert.True(first.Stopped.Wait(TestLog.Safety));
    }

    [Fact]
    public void A_signal_while_configure_replaces_the_pipeline_flushes_the_old_one_too_within_one_timeout_and_counts_what_it_holds()
    {
        var gate = new GateSink();
        FapiLogging.Configure(o => { o.Console = false; o.BatchSize = 1; o.AddSink(gate); o.ShutdownTimeout = TestLog.Safety; });
        LogPipeline first = FapiLogging.CurrentPipeline!;
        Assert.True(Emit(1, 0));
        Assert.True(gate.WaitEntered(TestLog.Safety));
        TimeSpan timeout = TimeSpan.FromMilliseconds(300);
        Task reconfigure = Run(() => FapiLogging.Configure(o => { o.Console = false; o.AddSink(new InMemorySink()); o.ShutdownTimeout = timeout; }));
        Assert.True(SpinWait.SpinUntil(() => !ReferenceEquals(FapiLogging.CurrentPipeline, first), TestLog.Safety));
        TimeSpan? given = null;
        first._flushWaitForTesting = t => given ??= t;

        using var stderr = new StderrCapture();
        bool flushed;
        try
        {
            flushed = FapiLogging.FlushForSignal(System.Runtime.InteropServices.PosixSignal.SIGTERM);
        }
        finally
        {
            gate.Open();
        }

        // The event logged before the signal sits in the old pipeline's sink: the handler flushed only the new, empty
        // pipeline, said nothing, and the process ended with the event lost and unreported.
        Assert.False(flushed);
        string report = Assert.Single(stderr.Text.Split('\n'), l => l.Contains("FapiLog: SIGTERM:", StringComparison.Ordinal));
        Assert.Contains("the flush did not finish within 0.3 s; 1 event(s) were not delivered to every sink yet", report, StringComparison.Ordinal);
        // The old pipeline gets what is left of the one timeout, not a timeout of its own on top.
        Assert.NotNull(given);
        Assert.True(given < timeout, $"the replaced pipeline's flush was given {given}, more than what was left of {timeout}");
        Assert.True(reconfigure.Wait(TestLog.Safety));
        Assert.Equal(1, Interlocked.Read(ref gate.Received));
    }

    [Fact]
    public void Shutdown_while_configure_replaces_the_pipeline_also_waits_for_the_old_one()
    {
        (GateSink gate, LogPipeline first, Task reconfigure) = ReplaceWhileDelivering();

        // The old pipeline cannot finish (its sink is held shut until cancelled): Shutdown must say so, not report success
        // while an event logged before it is still undelivered, and must tell that sink to give up.
        Assert.False(FapiLogging.Shutdown(TimeSpan.FromSeconds(1)));
        Assert.True(first.Stopped.Wait(TestLog.Safety));
        Assert.True(reconfigure.Wait(TestLog.Safety));
        FapiLogStatistics stats = FapiLogging.Statistics;
        Assert.Equal(1, stats.Enqueued);
        Assert.Equal(1, stats.Failed);
        Assert.Equal(0, stats.Pending);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Shutdown_that_gave_up_on_a_pipeline_reports_it_even_when_configure_installed_another_meanwhile(bool async)
    {
        // The first pipeline cannot finish within this call's timeout: its sink is held until shutdown gives up on it.
        (_, _, Task<bool> shutdown) = ShutdownWhileItsSinkIsHeld(async, TimeSpan.FromSeconds(1));
        // While it waits, a Configure installs a new pipeline (and itself waits for the first one to finish).
        FapiLogging.Configure(o => { o.Console = false; o.AddSink(new InMemorySink()); });

        Assert.True(shutdown.Wait(TestLog.Safety));
        Assert.False(shutdown.Result); // the event logged before it was not delivered: the new pipeline's success must not hide that
        Assert.Equal(1, FapiLogging.Statistics.Failed);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Shutdown_gives_a_pipeline_configure_installed_during_it_only_what_is_left_of_its_timeout(bool async)
    {
        (GateSink gate, LogPipeline first, Task<bool> shutdown) = ShutdownWhileItsSinkIsHeld(async, TestLog.Safety);

        // While the shutdown waits for the first pipeline, a Configure installs a second (and waits for the first one too).
        Task reconfigure = Run(() => FapiLogging.Configure(o => { o.Console = false; o.AddSink(new InMemorySink()); }));
        Assert.True(SpinWait.SpinUntil(() => !ReferenceEquals(FapiLogging.CurrentPipeline, first), TestLog.Safety));
        LogPipeline second = FapiLogging.CurrentPipeline!;
        TimeSpan? given = null;
        second._shutdownWaitForTesting = t => given ??= t;
        gate.Open();

        Assert.True(shutdown.Wait(TestLog.Safety));
        Assert.True(shutdown.Result);
        Assert.True(reconfigure.Wait(TestLog.Safety));
        Assert.True(second.Stopped.IsCompleted);
        // The whole call is bounded by one timeout: the second pipeline was given the full timeout again, so a call could
        // take a multiple of it.
        Assert.NotNull(given);
        Assert.True(given < TestLog.Safety, $"the pipeline installed during the shutdown was given {given}, the whole timeout again");
    }

    /// <summary>
    /// A pipeline whose sink holds one event at its gate, and <see cref="FapiLogging.Shutdown(TimeSpan)"/> (or its async
    /// form) with <paramref name="timeout"/> begun on another thread and waiting for it.
    /// </summary>
    private static (GateSink Gate, LogPipeline First, Task<bool> Shutdown) ShutdownWhileItsSinkIsHeld(bool async, TimeSpan timeout)
    {
        var gate = new GateSink();
        FapiLogging.Configure(o => { o.Console = false; o.BatchSize = 1; o.AddSink(gate); o.ShutdownTimeout = TestLog.Safety; });
        LogPipeline first = FapiLogging.CurrentPipeline!;
        Assert.True(Emit(1, 0));
        Assert.True(gate.WaitEntered(TestLog.Safety));
        Task<bool> shutdown = Task.Factory.StartNew(
            () => async ? FapiLogging.ShutdownAsync(timeout).GetAwaiter().GetResult() : FapiLogging.Shutdown(timeout),
            TaskCreationOptions.LongRunning);
        Assert.True(SpinWait.SpinUntil(() => first.IsShutDown, TestLog.Safety));
        return (gate, first, shutdown);
    }

    /// <summary>
    /// A Block pipeline of capacity 1 whose sink holds the one event at its gate, and a call on another thread waiting for
    /// room in it.
    /// </summary>
    private static (GateSink Gate, LogPipeline First, Task<bool> Blocked) WaitForRoom()
    {
        var gate = new GateSink();
        FapiLogging.Configure(o =>
        {
            o.Console = false;
            o.QueueCapacity = 1;
            o.BatchSize = 1;
            o.Overflow = OverflowStrategy.Block;
            o.BlockTimeout = Timeout.InfiniteTimeSpan;
            o.ShutdownTimeout = TestLog.Safety;
            o.AddSink(gate);
        });
        LogPipeline first = FapiLogging.CurrentPipeline!;
        Assert.True(Emit(1, 0));
        Assert.True(gate.WaitEntered(TestLog.Safety)); // the worker holds the only slot inside the sink
        Task<bool> blocked = Task.Factory.StartNew(() => Emit(1, 1), TaskCreationOptions.LongRunning);
        Assert.True(SpinWait.SpinUntil(() => first.Queue.BlockedProducers == 1 || blocked.IsCompleted, TestLog.Safety));
        return (gate, first, blocked);
    }

    [Fact]
    public void A_call_waiting_for_room_when_configure_replaces_the_pipeline_is_taken_by_the_new_one()
    {
        (GateSink gate, _, Task<bool> blocked) = WaitForRoom();
        var memory = new InMemorySink();
        Task reconfigure = Run(() => FapiLogging.Configure(o => { o.Console = false; o.AddSink(memory); }));
        try
        {
            // The old pipeline cannot finish before the gate opens; the waiting call must not depend on it. It was counted
            // as shut down, and lost, as if the user had shut logging down.
            Assert.True(blocked.Wait(TestLog.Safety));
            Assert.True(blocked.Result);
        }
        finally
        {
            gate.Open();
        }

        Assert.True(reconfigure.Wait(TestLog.Safety));
        Assert.True(FapiLogging.Flush(TestLog.Safety));
        Assert.Equal(new long[] { 1 }, TestLog.Sequences(memory));
        Assert.Equal(1, Interlocked.Read(ref gate.Received));
        FapiLogStatistics stats = FapiLogging.Statistics;
        Assert.Equal(2, stats.Attempted);
        Assert.Equal(2, stats.Enqueued);
        Assert.Equal(2, stats.Delivered);
        Assert.Equal(0, stats.Dropped);
    }

    [Fact]
    public void A_call_waiting_for_room_when_shutdown_begins_gives_up_also_when_configure_follows()
    {
        (GateSink gate, LogPipeline first, Task<bool> blocked) = WaitForRoom();
        Task<bool> shutdown = Task.Factory.StartNew(() => FapiLogging.Shutdown(TestLog.Safety), TaskCreationOptions.LongRunning);
        Task? reconfigure = null;
        try
        {
            Assert.True(blocked.Wait(TestLog.Safety));
            Assert.False(blocked.Result);
            // A Configure after the shutdown began replaces a pipeline that is shut down already: nothing it refused moves
            // over (and the shutdown, still waiting for the gate, shuts the new pipeline down too).
            reconfigure = Run(() => FapiLogging.Configure(o => { o.Console = false; o.AddSink(new InMemorySink()); }));
            Assert.True(SpinWait.SpinUntil(() => !ReferenceEquals(FapiLogging.CurrentPipeline, first), TestLog.Safety));
        }
        finally
        {
            gate.Open();
        }

        Assert.True(reconfigure.Wait(TestLog.Safety));
        Assert.True(shutdown.Wait(TestLog.Safety));
        Assert.True(first.Stopped.IsCompleted);
        FapiLogStatistics stats = FapiLogging.Statistics;
        Assert.Equal(1, stats.Enqueued);
        Assert.Equal(1, stats.DroppedShutdown);
        Assert.Equal(1, stats.Dropped);
    }

    [Theory]
    [InlineData(OverflowStrategy.Drop, false)]
    [InlineData(OverflowStrategy.Block, false)]
    [InlineData(OverflowStrategy.Drop, true)]
    [InlineData(OverflowStrategy.Block, true)]
    [InlineData(OverflowStrategy.Sample, true)]
    public void Configure_from_two_threads_while_others_log_flush_and_shut_down_accounts_for_every_call_and_delivers_each_once(OverflowStrategy strategy, bool sameSink)
    {
        const int producers = 4;
        const int perProducer = 5000;
        const int configurers = 2;
        const int configuresEach = 5;
        var recorder = new RaceRecorder();
        var shared = new RaceSink(recorder);
        void Options(FapiLogOptions o)
        {
            o.Console = false;
            o.QueueCapacity = 64;
            o.BatchSize = 8;
            o.Overflow = strategy;
            o.BlockTimeout = Timeout.InfiniteTimeSpan;
            o.SampleRate = 0.5;
            o.FlushInterval = TimeSpan.FromMilliseconds(1);
            o.ShutdownTimeout = TestLog.Safety;
            o.AddSink(sameSink ? shared : new RaceSink(recorder));
        }

        FapiLogging.Configure(Options);
        var accepted = new List<long>[producers];
        var errors = new List<Exception>();
        using var start = new Barrier(producers + configurers + 2);
        using var producersDone = new CountdownEvent(producers);
        using var configurersLeft = new CountdownEvent(configurers);
        long attempts = 0;
        Task[] tasks =
        [
            .. Enumerable.Range(0, producers).Select(p => Run(() =>
            {
                var mine = new List<long>(perProducer);
                start.SignalAndWait();
                long i = 0;
                try
                {
                    // Logging goes on for as long as pipelines are being replaced, so that every switch has calls racing it.
                    for (; i < perProducer || configurersLeft.CurrentCount > 0; i++)
                    {
                        if (Emit(p, i))
                        {
                            mine.Add(i);
                        }
                    }
                }
                catch (Exception ex)
                {
                    lock (errors)
                    {
                        errors.Add(ex);
                    }
                }
                finally
                {
                    accepted[p] = mine;
                    Interlocked.Add(ref attempts, i);
                    producersDone.Signal();
                }
            })),
            .. Enumerable.Range(0, configurers).Select(_ => Run(() =>
            {
                start.SignalAndWait();
                for (int i = 0; i < configuresEach; i++)
                {
                    FapiLogging.Configure(Options);
                }

                configurersLeft.Signal();
            })),
            Run(() =>
            {
                start.SignalAndWait();
                while (!producersDone.IsSet)
                {
                    Assert.True(FapiLogging.Flush(TestLog.Safety));
                }
            }),
            // A shutdown in the middle of it all: the pipelines configured after it run again, calls in between are counted.
            Run(() =>
            {
                start.SignalAndWait();
                Assert.True(FapiLogging.Shutdown(TestLog.Safety));
            }),
        ];

        Assert.True(Task.WaitAll(tasks, TimeSpan.FromMinutes(1)));
        Assert.Empty(errors);
        Assert.True(FapiLogging.Shutdown(TestLog.Safety));

        FapiLogStatistics stats = FapiLogging.Statistics;
        long acceptedCount = accepted.Sum(a => a.Count);
        Assert.Equal(attempts, stats.Attempted);
        Assert.Equal(acceptedCount, stats.Enqueued);
        Assert.Equal(stats.Enqueued, stats.Delivered);
        Assert.Equal(0, stats.Failed);
        Assert.Equal(0, stats.Pending);
        Assert.Equal(0, recorder.Overlaps);
        if (!sameSink)
        {
            // (A sink carried over is disposed by the racing Shutdown when it wins before the next Configure: as documented,
            // Shutdown disposes the sinks, and a Configure after it that adds the same instance gets it disposed.)
            Assert.Equal(0, recorder.WritesAfterDispose);
        }

        if (strategy == OverflowStrategy.Block)
        {
            // Blocked calls end only by being taken or, at a replaced pipeline's shutdown, counted as shut down.
            Assert.True(stats.Dropped == stats.DroppedShutdown, $"dropped for another reason than shutdown: {stats}");
        }

        for (int p = 0; p < producers; p++)
        {
            // Exactly the accepted events of this producer, each once.
            List<long> delivered = recorder.Seen.Where(s => s.Producer == p).Select(s => s.Sequence).Order().ToList();
            Assert.Equal(accepted[p], delivered);
        }
    }

    [Theory]
    [InlineData(OverflowStrategy.Drop)]
    [InlineData(OverflowStrategy.Block)]
    public void Shutdown_and_flush_from_many_threads_while_others_log_deliver_each_accepted_call_once_and_count_the_rest(OverflowStrategy strategy)
    {
        const int producers = 3;
        const int perProducer = 20_000;
        var recorder = new RaceRecorder();
        FapiLogging.Configure(o =>
        {
            o.Console = false;
            o.QueueCapacity = 256;
            o.BatchSize = 16;
            o.Overflow = strategy;
            o.BlockTimeout = Timeout.InfiniteTimeSpan;
            o.FlushInterval = TimeSpan.FromMilliseconds(1);
            o.ShutdownTimeout = TestLog.Safety;
            o.AddSink(new RaceSink(recorder));
        });

        var accepted = new long[producers];
        using var start = new Barrier(producers + 4);
        using var logging = new CountdownEvent(producers);
        Task[] producerTasks = Enumerable.Range(0, producers).Select(p => Run(() =>
        {
            start.SignalAndWait();
            for (long i = 0; i < perProducer; i++)
            {
                if (i == 100)
                {
                    logging.Signal();
                }

                if (Emit(p, i))
                {
                    accepted[p]++;
                }
            }
        })).ToArray();
        Task<bool>[] lifecycle =
        [
            Task.Factory.StartNew(() => { start.SignalAndWait(); logging.Wait(); return FapiLogging.Shutdown(TestLog.Safety); }, TaskCreationOptions.LongRunning),
            Task.Factory.StartNew(() => { start.SignalAndWait(); logging.Wait(); return FapiLogging.ShutdownAsync(TestLog.Safety).GetAwaiter().GetResult(); }, TaskCreationOptions.LongRunning),
            Task.Factory.StartNew(() => { start.SignalAndWait(); logging.Wait(); return FapiLogging.Flush(TestLog.Safety); }, TaskCreationOptions.LongRunning),
            Task.Factory.StartNew(() => { start.SignalAndWait(); logging.Wait(); return FapiLogging.FlushAsync(TestLog.Safety).GetAwaiter().GetResult(); }, TaskCreationOptions.LongRunning),
        ];

        Assert.True(Task.WaitAll(producerTasks, TimeSpan.FromMinutes(1)));
        Assert.True(Task.WaitAll(lifecycle, TimeSpan.FromMinutes(1)));
        Assert.All(lifecycle, t => Assert.True(t.Result));

        FapiLogStatistics stats = FapiLogging.Statistics;
        Assert.Equal(producers * perProducer, stats.Attempted);
        Assert.Equal(accepted.Sum(), stats.Enqueued);
        Assert.Equal(stats.Enqueued, stats.Delivered);
        Assert.Equal(0, stats.Pending);
        Assert.Equal(0, stats.DroppedBlockTimeout + stats.DroppedWorkerStopped);
        Assert.Equal(stats.Enqueued, recorder.Seen.Count);
        Assert.Equal(stats.Enqueued, recorder.Seen.Distinct().Count());
        Assert.Equal(0, recorder.Overlaps);
    }

    /// <summary>What every <see cref="RaceSink"/> of a test received, and whether any of them was misused.</summary>
    private sealed class RaceRecorder
    {
        public readonly List<(long Producer, long Sequence)> Seen = new();
        public int Overlaps;
        public int WritesAfterDispose;
    }

    /// <summary>Records (producer, sequence) pairs; counts a Write that overlaps another on the same sink or comes after Dispose.</summary>
    private sealed class RaceSink(RaceRecorder recorder) : LogSink
    {
        private int _inside;
        private volatile bool _disposed;

        public override void Write(in LogBatch batch, CancellationToken cancellationToken)
        {
            if (Interlocked.Increment(ref _inside) != 1)
            {
                Interlocked.Increment(ref recorder.Overlaps);
            }

            if (_disposed)
            {
                Interlocked.Increment(ref recorder.WritesAfterDispose);
            }

            foreach (ref readonly LogRecord record in batch)
            {
                if (record.Descriptor != TestLog.Sequenced)
                {
                    continue; // the pipeline's own drop warning
                }

                var reader = new SequenceReader();
                record.VisitFields(ref reader);
                lock (recorder.Seen)
                {
                    recorder.Seen.Add((reader.Producer, reader.Sequence));
                }
            }

            Interlocked.Decrement(ref _inside);
        }

        protected override void Dispose(bool disposing) => _disposed = true;
    }
}
