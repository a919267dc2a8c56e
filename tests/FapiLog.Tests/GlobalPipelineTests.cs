using System;
using System.Collections.Generic;
using System.Diagnostics.Metrics;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using FapiLog.Internal;
using FapiLog.Sinks;
using FapiLog.Tests.Support;
using Microsoft.Extensions.Logging;
using Xunit;

namespace FapiLog.Tests;

/// <summary>Tests of the process-wide pipeline behind generated code; they share global state, so they never run in parallel.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GlobalPipelineCollection
{
    public const string Name = "global pipeline";
}

[Collection(GlobalPipelineCollection.Name)]
public sealed class GlobalPipelineTests : IDisposable
{
    private static readonly LogEventDescriptor s_hello = new(
        30, "Hello", LogLevel.Information, "Hello {Name}", LogArgument.Create<string>("name"));

    private static readonly LogEventDescriptor s_debug = new(
        31, "Chatter", LogLevel.Debug, "Chatter {N}", LogArgument.Create<int>("n"));

    public GlobalPipelineTests() => FapiLogging.ResetForTesting();

    public void Dispose() => FapiLogging.ResetForTesting();

    [Fact]
    public void Configuring_no_sink_at_all_says_so_on_stderr()
    {
        using var stderr = new StderrCapture();
        FapiLogging.Configure(o => o.Console = false);
        FapiLogging.Configure(o => o.AddSink(new InMemorySink()));

        // Once, for the pipeline without a sink; not for the one with the in-memory sink.
        Assert.Single(stderr.Text.Split('\n'), l => l.Contains("no sink is configured", StringComparison.Ordinal));
    }

    /// <summary>Exactly what a generated method does.</summary>
    private static void Hello(string name)
    {
        if (!FapiLogRuntime.IsEnabled(LogLevel.Information))
        {
            return;
        }

        LogEventWriter w = FapiLogRuntime.Begin(s_hello);
        if (!w.IsActive)
        {
            return;
        }

        w.WriteString(name);
        w.Commit();
    }

    private static void Chatter(int n)
    {
        if (!FapiLogRuntime.IsEnabled(LogLevel.Debug))
        {
            return;
        }

        LogEventWriter w = FapiLogRuntime.Begin(s_debug);
        if (!w.IsActive)
        {
            return;
        }

        w.Write(n);
        w.Commit();
    }

    [Fact]
    public void Configure_then_log_then_flush_reaches_the_sink_and_the_level_filter_applies()
    {
        var sink = new InMemorySink();
        FapiLogging.Configure(o => { o.AddSink(sink); o.Console = false; });

        Hello("alice");
        Chatter(1); // below Information: skipped at the call site, not even counted

        Assert.True(FapiLogging.Flush(TestLog.Safety));
        CapturedLogEvent e = Assert.Single(sink.Events);
        Assert.Equal("Hello alice", e.Message);
        Assert.False(FapiLogRuntime.IsEnabled(LogLevel.Debug));
        Assert.Equal(1, FapiLogging.Statistics.Attempted);
        Assert.Equal(1, FapiLogging.Statistics.Delivered);
    }

    [Fact]
    public void The_level_changes_at_run_time_without_replacing_the_pipeline_or_losing_what_is_queued()
    {
        var sink = new InMemorySink();
        FapiLogging.Configure(o => { o.AddSink(sink); o.Console = false; });
        FapiLog.Internal.LogPipeline? pipeline = FapiLogging.CurrentPipeline;
        Assert.Equal(LogLevel.Information, FapiLogging.MinimumLevel);

        Chatter(1); // skipped
        FapiLogging.SetMinimumLevel(LogLevel.Debug);
        Chatter(2);
        Hello("queued before the change");
        FapiLogging.SetMinimumLevel(LogLevel.Warning);
        Hello("skipped");
        Chatter(3);

        Assert.Equal(LogLevel.Warning, FapiLogging.MinimumLevel);
        Assert.Same(pipeline, FapiLogging.CurrentPipeline);
        Assert.True(FapiLogging.Flush(TestLog.Safety));
        Assert.Equal(new[] { "Chatter 2", "Hello queued before the change" }, sink.Events.Select(e => e.Message));
        Assert.Equal(2, FapiLogging.Statistics.Attempted);
        Assert.Equal(0, FapiLogging.Statistics.Dropped);
    }

    [Fact]
    public void A_call_after_a_Shutdown_that_came_before_any_call_is_refused_and_counted_until_Configure()
    {
        // A Shutdown that found no pipeline did nothing, and the next call configured a running one from the environment:
        // it took the event in, and nothing would shut it down (with FapiLogShutdownHook=false, lost uncounted at exit).
        Environment.SetEnvironmentVariable("FAPILOG_CONSOLE", "false");
        try
        {
            Assert.True(FapiLogging.Shutdown());
            Hello("late");
            FapiLogStatistics refused = FapiLogging.Statistics;
            Assert.Equal(1, refused.Attempted);
            Assert.Equal(0, refused.Enqueued);
            Assert.Equal(1, refused.DroppedShutdown);

            // Configure starts logging again.
            var sink = new InMemorySink();
            FapiLogging.Configure(o => o.AddSink(sink));
            Hello("again");
            Assert.True(FapiLogging.Flush(TestLog.Safety));
            Assert.Equal(["Hello again"], sink.Events.Select(e => e.Message));
        }
        finally
        {
            Environment.SetEnvironmentVariable("FAPILOG_CONSOLE", null);
        }
    }

    [Fact]
    public void A_call_after_a_Shutdown_that_came_before_any_call_opens_nothing_the_environment_names()
    {
        string folder = Path.Combine(Path.GetTempPath(), "fapilog-" + Guid.NewGuid().ToString("N"));
        Environment.SetEnvironmentVariable("FAPILOG_FILE", Path.Combine(folder, "app.jsonl"));
        Environment.SetEnvironmentVariable("FAPILOG_CONSOLE", "false");
        using var stderr = new StderrCapture();
        try
        {
            Assert.True(FapiLogging.Shutdown());
            Hello("late");
            Assert.Equal(1, FapiLogging.Statistics.DroppedShutdown);
            Assert.False(Directory.Exists(folder), "the file the environment names is not created for a refused call");
            Assert.DoesNotContain("no sink is configured", stderr.Text, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable("FAPILOG_FILE", null);
            Environment.SetEnvironmentVariable("FAPILOG_CONSOLE", null);
        }
    }

    [Fact]
    public void A_file_sink_that_a_shutdown_disposed_is_refused_by_the_next_Configure_and_an_in_memory_sink_is_taken_again()
    {
        // The disposed file sink failed every batch of the new pipeline, counted in Failed and reported once a minute.
        string file = Path.Combine(Path.GetTempPath(), "fapilog-" + Guid.NewGuid().ToString("N"), "app.jsonl");
        var fileSink = new JsonFileSink(file);
        var memory = new InMemorySink();
        FapiLogging.Configure(o => o.AddSink(fileSink).AddSink(memory));
        Hello("first");
        Assert.True(FapiLogging.Shutdown());

        var ex = Assert.Throws<FapiLogConfigurationException>(() => FapiLogging.Configure(o => o.AddSink(fileSink).AddSink(memory)));
        Assert.Equal("Sinks", ex.Setting);
        Assert.Equal("file:" + file, ex.Value);
        Assert.Contains("give Configure a new one", ex.Message, StringComparison.Ordinal);

        FapiLogging.Configure(o => o.AddSink(memory));
        Hello("again");
        Assert.True(FapiLogging.Flush(TestLog.Safety));
        Assert.Equal(["Hello first", "Hello again"], memory.Events.Select(e => e.Message));
        Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
    }

    [Fact]
    public void A_Configure_that_fails_after_Shutdown_leaves_the_shutdown_standing()
    {
        // The flag was cleared before the options were checked: a Configure that threw installed nothing, and the next call
        // configured a running pipeline from the environment that nothing would shut down.
        Environment.SetEnvironmentVariable("FAPILOG_CONSOLE", "false");
        try
        {
            Assert.True(FapiLogging.Shutdown());
            Assert.Throws<FapiLogConfigurationException>(() => FapiLogging.Configure(o => o.BatchSize = 0));
            Hello("late");
            Assert.Equal(0, FapiLogging.Statistics.Enqueued);
            Assert.Equal(1, FapiLogging.Statistics.DroppedShutdown);
        }
        finally
        {
            Environment.SetEnvironmentVariable("FAPILOG_CONSOLE", null);
        }
    }

    [Fact]
    public async Task A_call_after_an_asynchronous_Shutdown_that_came_before_any_call_is_refused_and_counted()
    {
        Environment.SetEnvironmentVariable("FAPILOG_CONSOLE", "false");
        try
        {
            Assert.True(await FapiLogging.ShutdownAsync());
            Hello("late");
            Assert.Equal(0, FapiLogging.Statistics.Enqueued);
            Assert.Equal(1, FapiLogging.Statistics.DroppedShutdown);
        }
        finally
        {
            Environment.SetEnvironmentVariable("FAPILOG_CONSOLE", null);
        }
    }

    [Fact]
    public void Setting_the_level_before_anything_started_the_pipeline_starts_it_from_the_environment()
    {
        Environment.SetEnvironmentVariable("FAPILOG_CONSOLE", "false");
        try
        {
            Assert.Null(FapiLogging.MinimumLevel);
            FapiLogging.SetMinimumLevel(LogLevel.Error);
            Assert.True(FapiLogging.IsConfigured);
            Assert.Equal(LogLevel.Error, FapiLogging.MinimumLevel);
            Assert.False(FapiLogRuntime.IsEnabled(LogLevel.Warning));
            Assert.True(FapiLogRuntime.IsEnabled(LogLevel.Error));
        }
        finally
        {
            Environment.SetEnvironmentVariable("FAPILOG_CONSOLE", null);
        }
    }

    [Fact]
    public void A_level_that_does_not_exist_is_rejected_naming_it()
    {
        var sink = new InMemorySink();
        FapiLogging.Configure(o => { o.AddSink(sink); o.Console = false; });
        var ex = Assert.Throws<FapiLogConfigurationException>(() => FapiLogging.SetMinimumLevel((LogLevel)42));
        Assert.Contains("MinimumLevel", ex.Message);
        Assert.Contains("'42'", ex.Message);
        Assert.Equal(LogLevel.Information, FapiLogging.MinimumLevel);
    }

    [Fact]
    public void Without_configure_the_first_call_configures_from_the_environment()
    {
        string file = Path.Combine(Path.GetTempPath(), "fapilog-" + Guid.NewGuid().ToString("N") + ".jsonl");
        Environment.SetEnvironmentVariable("FAPILOG_FILE", file);
        Environment.SetEnvironmentVariable("FAPILOG_CONSOLE", "false");
        try
        {
            Assert.False(FapiLogging.IsConfigured);
            Hello("from-env");
            Assert.True(FapiLogging.IsConfigured);
            Assert.True(FapiLogging.Shutdown(TestLog.Safety));

            string line = Assert.Single(File.ReadAllLines(file));
            using JsonDocument doc = JsonDocument.Parse(line);
            Assert.Equal("Hello from-env", doc.RootElement.GetProperty("message").GetString());
            Assert.Equal("from-env", doc.RootElement.GetProperty("Name").GetString());
        }
        finally
        {
            Environment.SetEnvironmentVariable("FAPILOG_FILE", null);
            Environment.SetEnvironmentVariable("FAPILOG_CONSOLE", null);
            File.Delete(file);
        }
    }

    [Fact]
    public void A_bad_environment_fails_the_first_call_loudly_instead_of_dropping_silently()
    {
        Environment.SetEnvironmentVariable("FAPILOG_QUEUE_CAPACITY", "-5");
        try
        {
            var ex = Assert.Throws<FapiLogConfigurationException>(() => Hello("x"));
            Assert.Equal("FAPILOG_QUEUE_CAPACITY", ex.Setting);
            Assert.False(FapiLogging.IsConfigured);
        }
        finally
        {
            Environment.SetEnvironmentVariable("FAPILOG_QUEUE_CAPACITY", null);
        }
    }

    [Fact]
    public void A_bad_environment_fails_every_call_but_says_so_on_stderr_once()
    {
        // Every call reads the variables again and throws; a loop that caught the exception wrote a line per call.
        Environment.SetEnvironmentVariable("FAPILOG_BATCH_SIZE", "-7");
        using var stderr = new StderrCapture();
        try
        {
            for (int i = 0; i < 3; i++)
            {
                var ex = Assert.Throws<FapiLogConfigurationException>(() => Hello("x"));
                Assert.Equal("FAPILOG_BATCH_SIZE", ex.Setting);
            }

            Assert.Single(stderr.Text.Split('\n'), l => l.Contains("FAPILOG_BATCH_SIZE: '-7'", StringComparison.Ordinal));
        }
        finally
        {
            Environment.SetEnvironmentVariable("FAPILOG_BATCH_SIZE", null);
        }
    }

    [Fact]
    public void After_shutdown_calls_return_at_once_and_are_counted()
    {
        var sink = new InMemorySink();
        FapiLogging.Configure(o => { o.AddSink(sink); o.Console = false; });
        Hello("before");
        Assert.True(FapiLogging.Shutdown());
        Assert.True(FapiLogging.Shutdown()); // idempotent

        Hello("after");

        Assert.Equal(new[] { "Hello before" }, sink.Events.Select(e => e.Message));
        Assert.Equal(1, FapiLogging.Statistics.DroppedShutdown);
    }

    [Fact]
    public void Reconfiguring_flushes_the_old_pipeline_and_keeps_the_counters()
    {
        var first = new InMemorySink();
        var second = new InMemorySink();
        FapiLogging.Configure(o => { o.AddSink(first); o.Console = false; });
        Hello("one");
        FapiLogging.Configure(o => { o.AddSink(second); o.Console = false; });
        Hello("two");
        Assert.True(FapiLogging.Flush(TestLog.Safety));

        Assert.Equal("Hello one", Assert.Single(first.Events).Message);
        Assert.Equal("Hello two", Assert.Single(second.Events).Message);
        Assert.Equal(2, FapiLogging.Statistics.Delivered);
    }

    [Fact]
    public void A_replaced_pipeline_stays_counted_while_its_shutdown_waits_for_a_sink()
    {
        var gate = new GateSink();
        FapiLogging.Configure(o => { o.Console = false; o.BatchSize = 1; o.AddSink(gate); o.ShutdownTimeout = TestLog.Safety; });
        LogPipeline first = FapiLogging.CurrentPipeline!;
        Assert.True(TestLog.Emit(first, 1, 0));
        Assert.True(gate.WaitEntered(TestLog.Safety));

        Task reconfigure = Task.Factory.StartNew(() => FapiLogging.Configure(o => { o.Console = false; o.AddSink(new InMemorySink()); }), TaskCreationOptions.LongRunning);
        Assert.True(SpinWait.SpinUntil(() => !ReferenceEquals(FapiLogging.CurrentPipeline, first), TestLog.Safety));
        try
        {
            // The old pipeline's event is still in its sink: it once vanished from the totals until its shutdown returned.
            FapiLogStatistics during = FapiLogging.Statistics;
            Assert.Equal(1, during.Enqueued);
            Assert.Equal(1, during.Pending);
        }
        finally
        {
            gate.Open();
        }

        Assert.True(reconfigure.Wait(TestLog.Safety));
        FapiLogStatistics after = FapiLogging.Statistics;
        Assert.Equal(1, after.Enqueued);
        Assert.Equal(1, after.Delivered);
        Assert.Equal(0, after.Pending);
    }

    [Fact]
    public void A_shared_sink_is_not_written_by_the_next_pipeline_while_the_old_worker_given_up_on_is_inside_it()
    {
        // Configure again with the same sink while the old worker hangs in it: the replacement's shutdown of the old
        // pipeline times out, and its worker once started anyway, writing to the sink from a second thread.
        var gate = new GateSink(honourCancellation: false);
        var overlap = new OverlapSink(gate);
        FapiLogging.Configure(o => { o.Console = false; o.BatchSize = 1; o.AddSink(overlap); o.ShutdownTimeout = TimeSpan.FromMilliseconds(50); });
        LogPipeline first = FapiLogging.CurrentPipeline!;
        Assert.True(TestLog.Emit(first, 1, 0));
        Assert.True(gate.WaitEntered(TestLog.Safety));

        FapiLogging.Configure(o => { o.Console = false; o.BatchSize = 1; o.AddSink(overlap); });
        LogPipeline second = FapiLogging.CurrentPipeline!;
        Assert.NotSame(first, second);
        Assert.False(first.Stopped.IsCompleted);
        Assert.True(TestLog.Emit(second, 1, 1));
        Assert.False(second.WorkerStarted, "the new worker started while the old one was still inside the shared sink");

        // Once the old worker is out, the new one starts and delivers what it took meanwhile.
        gate.Open();
        Assert.True(first.Stopped.Wait(TestLog.Safety));
        Assert.True(FapiLogging.Flush(TestLog.Safety));
        Assert.True(second.WorkerStarted);
        Assert.Equal(2, Interlocked.Read(ref gate.Received));
        Assert.Equal(1, overlap.MostAtOnce);
    }

    /// <summary>
    /// Configures a pipeline with <paramref name="sink"/>, holds its worker inside the sink, and starts configuring again
    /// with the same sink on another thread; returns once the new pipeline is installed (its worker waiting for the old one).
    /// </summary>
    private static (LogPipeline First, Task Reconfigure) HoldOldWorkerAndReconfigure(HandoverGateSink sink, Action<FapiLogOptions> options)
    {
        FapiLogging.Configure(options);
        LogPipeline first = FapiLogging.CurrentPipeline!;
        sink.ArmNextWrite();
        Assert.True(TestLog.EmitInstalled(1, 0));
        Assert.True(sink.Entered.Wait(TestLog.Safety));

        Task reconfigure = Task.Factory.StartNew(() => FapiLogging.Configure(options), TaskCreationOptions.LongRunning);
        Assert.True(SpinWait.SpinUntil(() => !ReferenceEquals(FapiLogging.CurrentPipeline, first), TestLog.Safety));
        Assert.False(FapiLogging.CurrentPipeline!.WorkerStarted);
        return (first, reconfigure);
    }

    [Fact]
    public void Under_Block_a_shared_sink_that_logs_while_the_old_worker_finishes_does_not_deadlock_with_the_waiting_new_worker()
    {
        // Configure again with the same sink: the new pipeline's worker waits for the old one to exit. A sink that logs
        // (the README allows it) logs from the old worker into the new queue; once that is full, the old worker waited for
        // room that only the new worker makes, and the new worker waited for the old one to exit: for ever under Block.
        var sink = new HandoverGateSink(() => TestLog.EmitInstalled(3, 0));
        try
        {
            (LogPipeline first, Task reconfigure) = HoldOldWorkerAndReconfigure(sink, o =>
            {
                o.Console = false;
                o.QueueCapacity = 4;
                o.BatchSize = 1;
                o.Overflow = OverflowStrategy.Block;
                o.BlockTimeout = Timeout.InfiniteTimeSpan;
                o.ShutdownTimeout = TestLog.Safety;
                o.AddSink(sink);
            });
            for (int i = 0; i < 4; i++)
            {
                Assert.True(TestLog.EmitInstalled(2, i)); // the new queue is full now
            }

            sink.Gate.Set();
            Assert.True(first.Stopped.Wait(TestLog.Safety), "the old worker waited for room in the new queue");
            Assert.True(reconfigure.Wait(TestLog.Safety));
            Assert.True(FapiLogging.Flush(TestLog.Safety));

            // The sink's own call found the new queue full and was dropped (and reported), as on its own worker.
            FapiLogStatistics stats = FapiLogging.Statistics;
            Assert.Equal(5, stats.Delivered);
            Assert.Equal(1, stats.DroppedQueueFull);
            Assert.Equal(0, stats.Pending);
        }
        finally
        {
            sink.Gate.Set();
            FapiLogging.ResetForTesting();
        }
    }

    [Fact]
    public void A_shared_sink_that_flushes_while_Configure_hands_it_over_does_not_wait_for_the_new_worker()
    {
        // The new worker waits for the old one to exit; a sink that calls Flush from the old worker waited for the new
        // pipeline, that is for the new worker: for ever with an infinite timeout.
        bool flushResult = true;
        var sink = new HandoverGateSink(() => flushResult = FapiLogging.Flush(Timeout.InfiniteTimeSpan));
        try
        {
            (LogPipeline first, Task reconfigure) = HoldOldWorkerAndReconfigure(sink, o =>
            {
                o.Console = false;
                o.BatchSize = 1;
                o.ShutdownTimeout = TestLog.Safety;
                o.AddSink(sink);
            });
            Assert.True(TestLog.EmitInstalled(2, 0)); // waits for the new worker

            sink.Gate.Set();
            Assert.True(first.Stopped.Wait(TestLog.Safety), "the old worker waited in Flush for the new worker, which waited for it");
            Assert.False(Volatile.Read(ref flushResult)); // the new pipeline's event was not out yet, and the sink was not kept waiting for it
            Assert.True(reconfigure.Wait(TestLog.Safety));
            Assert.True(FapiLogging.Flush(TestLog.Safety));
            Assert.Equal(2, FapiLogging.Statistics.Delivered);
        }
        finally
        {
            sink.Gate.Set();
            FapiLogging.ResetForTesting();
        }
    }

    /// <summary>On the write after <see cref="ArmNextWrite"/>, waits for its gate, then runs its action (log, flush) on the worker.</summary>
    private sealed class HandoverGateSink(Action onGateOpened) : LogSink
    {
        private volatile bool _armed;

        public ManualResetEventSlim Entered { get; } = new();

        public ManualResetEventSlim Gate { get; } = new();

        public void ArmNextWrite() => _armed = true;

        public override void Write(in LogBatch batch, CancellationToken cancellationToken)
        {
            if (!_armed)
            {
                return;
            }

            _armed = false;
            Entered.Set();
            Gate.Wait(TestLog.Safety);
            onGateOpened();
        }
    }

    /// <summary>Passes batches on to another sink and records how many writes were ever in progress at once.</summary>
    private sealed class OverlapSink(LogSink inner) : LogSink
    {
        private int _inside;
        private int _most;

        public int MostAtOnce => Volatile.Read(ref _most);

        public override void Write(in LogBatch batch, CancellationToken cancellationToken)
        {
            int inside = Interlocked.Increment(ref _inside);
            int most;
            while (inside > (most = Volatile.Read(ref _most)) && Interlocked.CompareExchange(ref _most, inside, most) != most)
            {
            }

            try
            {
                inner.Write(in batch, cancellationToken);
            }
            finally
            {
                Interlocked.Decrement(ref _inside);
            }
        }
    }

    [Fact]
    public void A_replaced_pipeline_whose_shutdown_gave_up_is_counted_when_it_finishes_later()
    {
        var gate = new GateSink(honourCancellation: false);
        // The replacement waits this long for the old pipeline, whose sink is held shut throughout: it always gives up.
        FapiLogging.Configure(o => { o.Console = false; o.BatchSize = 1; o.AddSink(gate); o.ShutdownTimeout = TimeSpan.FromMilliseconds(50); });
        LogPipeline first = FapiLogging.CurrentPipeline!;
        Assert.True(TestLog.Emit(first, 1, 0));
        Assert.True(gate.WaitEntered(TestLog.Safety));
        FapiLogging.Configure(o => { o.Console = false; o.AddSink(new InMemorySink()); });
        Assert.Equal(1, FapiLogging.Statistics.Pending);

        gate.Open();
        Assert.True(first.Stopped.Wait(TestLog.Safety));
        // Once counted from a snapshot taken when the shutdown gave up: pending for ever.
        FapiLogStatistics after = FapiLogging.Statistics;
        Assert.Equal(first.GetStatistics().Delivered + first.GetStatistics().Failed, after.Delivered + after.Failed);
        Assert.Equal(1, after.Delivered + after.Failed);
        Assert.Equal(0, after.Pending);
    }

    [Fact]
    public void The_meter_reports_the_pipeline_counters()
    {
        var sink = new InMemorySink();
        // The gate holds what the worker takes (it ships a half-full queue), so both events stay in the queue.
        var gate = new GateSink();
        FapiLogging.Configure(o => { o.AddSink(gate); o.AddSink(sink); o.Console = false; o.QueueCapacity = 2; o.FlushInterval = TimeSpan.FromHours(1); });
        Hello("a");
        Hello("b");
        Hello("c"); // dropped: queue full
        var seen = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "FapiLog")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string key = instrument.Name;
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                key += ":" + tag.Value;
            }

            seen[key] = value;
        });
        listener.Start();
        listener.RecordObservableInstruments();

        Assert.Equal(2, seen["fapilog.events.enqueued"]);
        Assert.Equal(1, seen["fapilog.events.dropped:queue_full"]);
        Assert.Equal(2, seen["fapilog.queue.depth"]);
        Assert.Equal(0, seen["fapilog.events.delivered"]);
        gate.Open();
    }
}
