using System;
using System.Collections.Generic;
using System.Diagnostics.Metrics;
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
/// The <c>FapiLog</c> meter as a collector (OpenTelemetry, dotnet-counters) sees it: the documented instruments, and
/// counters that never go backwards while pipelines are replaced and shut down.
/// </summary>
[Collection(GlobalPipelineCollection.Name)]
public sealed class MeterTests : IDisposable
{
    private static readonly string[] s_dropReasons = ["queue_full", "block_timeout", "shutdown", "worker_stopped"];

    public MeterTests() => FapiLogging.ResetForTesting();

    public void Dispose() => FapiLogging.ResetForTesting();

    private static bool Emit(long sequence) => TestLog.EmitInstalled(1, sequence);

    /// <summary>A MeterListener on the FapiLog meter; <see cref="Collect"/> returns one collection, keyed by name and tags.</summary>
    private sealed class Collector : IDisposable
    {
        private readonly MeterListener _listener = new();
        private Dictionary<string, long> _values = new();

        public readonly List<Instrument> Instruments = new();

        public Collector()
        {
            _listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == FapiLogMetrics.MeterName)
                {
                    lock (Instruments)
                    {
                        Instruments.Add(instrument);
                    }

                    l.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
            {
                string key = instrument.Name;
                foreach (KeyValuePair<string, object?> tag in tags)
                {
                    key += "|" + tag.Key + "=" + tag.Value;
                }

                Assert.False(_values.ContainsKey(key), "one measurement per instrument and tag set: " + key);
                _values[key] = value;
            });
            _listener.SetMeasurementEventCallback<int>((instrument, _, _, _) => Assert.Fail("int measurement from " + instrument.Name));
            _listener.SetMeasurementEventCallback<double>((instrument, _, _, _) => Assert.Fail("double measurement from " + instrument.Name));
            _listener.Start();
        }

        public Dictionary<string, long> Collect()
        {
            _values = new Dictionary<string, long>();
            _listener.RecordObservableInstruments();
            return _values;
        }

        public void Dispose() => _listener.Dispose();
    }

    [Fact]
    public void The_meter_publishes_the_documented_instruments_with_their_units_and_tags()
    {
        FapiLogging.Configure(o => { o.Console = false; o.AddSink(new InMemorySink()); });
        using var collector = new Collector();
        Dictionary<string, long> values = collector.Collect();

        var expected = new (string Name, string Unit, bool Gauge)[]
        {
            ("fapilog.events.enqueued", "{event}", false),
            ("fapilog.events.dropped", "{event}", false),
            ("fapilog.events.sampled_out", "{event}", false),
            ("fapilog.events.delivered", "{event}", false),
            ("fapilog.sink.failures", "{event}", false),
            ("fapilog.queue.depth", "{event}", true),
            ("fapilog.loki.requests", "{request}", false),
            ("fapilog.loki.entries.sent", "{entry}", false),
            ("fapilog.loki.bytes.sent", "By", false),
            ("fapilog.loki.retries", "{request}", false),
            ("fapilog.loki.entries.failed", "{entry}", false),
            ("fapilog.loki.buffer.entries", "{entry}", true),
            ("fapilog.loki.buffer.bytes", "By", true),
        };
        Assert.Equal(expected.Select(e => e.Name).Order(), collector.Instruments.Select(i => i.Name).Order());
        foreach ((string name, string unit, bool gauge) in expected)
        {
            Instrument instrument = collector.Instruments.Single(i => i.Name == name);
            Assert.Equal(unit, instrument.Unit);
            Assert.False(string.IsNullOrWhiteSpace(instrument.Description), name);
            Assert.True(gauge ? instrument is ObservableGauge<long> : instrument is ObservableCounter<long>, name + " is " + instrument.GetType().Name);
        }

        // Dropped is published for every documented reason, also while it is zero, so that rates start from a sample.
        Assert.Equal(
            s_dropReasons.Select(r => "fapilog.events.dropped|reason=" + r).Order(),
            values.Keys.Where(k => k.StartsWith("fapilog.events.dropped", StringComparison.Ordinal)).Order());
        foreach (string name in new[] { "fapilog.events.enqueued", "fapilog.events.sampled_out", "fapilog.events.delivered", "fapilog.sink.failures", "fapilog.queue.depth" })
        {
            Assert.Equal(0, values[name]);
        }
    }

    [Fact]
    public void The_meter_agrees_with_the_statistics_and_dropped_by_reason_sums_to_the_total()
    {
        var gate = new GateSink();
        FapiLogging.Configure(o =>
        {
            o.Console = false;
            o.AddSink(gate);
            o.QueueCapacity = 8;
            o.BatchSize = 100;
            o.Overflow = OverflowStrategy.Sample;
            o.SampleRate = 0.5;
            o.SampleHighWaterMark = 0.5;
            o.FlushInterval = TimeSpan.FromHours(1);
        });
        for (int i = 0; i < 40; i++)
        {
            Emit(i);
        }

        using var collector = new Collector();
        FapiLogStatistics stats = FapiLogging.Statistics;
        Dictionary<string, long> values = collector.Collect();
        Assert.True(stats.SampledOut > 0 && stats.DroppedQueueFull > 0, stats.ToString());
        AssertAgree(stats, values);

        gate.Open();
        Assert.True(FapiLogging.Shutdown(TestLog.Safety));
        Emit(41); // after shutdown: counted, not processed
        stats = FapiLogging.Statistics;
        values = collector.Collect();
        Assert.Equal(1, stats.DroppedShutdown);
        AssertAgree(stats, values);
        Assert.Equal(0, values["fapilog.queue.depth"]);
    }

    private static void AssertAgree(FapiLogStatistics stats, Dictionary<string, long> values)
    {
        Assert.Equal(stats.Enqueued, values["fapilog.events.enqueued"]);
        Assert.Equal(stats.SampledOut, values["fapilog.events.sampled_out"]);
        Assert.Equal(stats.Delivered, values["fapilog.events.delivered"]);
        Assert.Equal(stats.Failed, values["fapilog.sink.failures"]);
        Assert.Equal(stats.Pending, values["fapilog.queue.depth"]);
        Assert.Equal(stats.DroppedQueueFull, values["fapilog.events.dropped|reason=queue_full"]);
        Assert.Equal(stats.DroppedBlockTimeout, values["fapilog.events.dropped|reason=block_timeout"]);
        Assert.Equal(stats.DroppedShutdown, values["fapilog.events.dropped|reason=shutdown"]);
        Assert.Equal(stats.DroppedWorkerStopped, values["fapilog.events.dropped|reason=worker_stopped"]);
        Assert.Equal(stats.Dropped, s_dropReasons.Sum(r => values["fapilog.events.dropped|reason=" + r]));
        Assert.Equal(stats.Attempted, stats.Enqueued + stats.Dropped + stats.SampledOut);
    }

    [Fact]
    public void Counters_never_go_backwards_across_configure_shutdown_and_a_retired_pipeline_finishing()
    {
        using var collector = new Collector();
        FapiLogging.Configure(o => { o.Console = false; o.AddSink(new InMemorySink()); o.QueueCapacity = 4; o.BatchSize = 100; o.FlushInterval = TimeSpan.FromHours(1); });
        var snapshots = new List<Dictionary<string, long>>();
        void Snap() => snapshots.Add(collector.Collect());

        for (int i = 0; i < 10; i++)
        {
            Emit(i); // some dropped (queue full), depending on how soon the worker takes the first ones
        }

        Snap();
        Assert.True(FapiLogging.Flush(TestLog.Safety));
        Snap();

        // A replacement whose predecessor's shutdown gives up on a hung sink: the predecessor finishes later.
        var gate = new GateSink(honourCancellation: false);
        FapiLogging.Configure(o => { o.Console = false; o.AddSink(gate); o.BatchSize = 1; o.ShutdownTimeout = TimeSpan.FromMilliseconds(1); });
        Snap();
        LogPipeline hung = FapiLogging.CurrentPipeline!;
        Emit(100);
        Assert.True(gate.WaitEntered(TestLog.Safety));
        Emit(101);
        Snap();
        FapiLogging.Configure(o => { o.Console = false; o.AddSink(new InMemorySink()); });
        Snap();
        Emit(200);
        Snap();
        gate.Open();
        Assert.True(hung.Stopped.Wait(TestLog.Safety));
        Snap();
        Assert.True(FapiLogging.Shutdown(TestLog.Safety));
        Snap();
        Emit(300);
        Snap();
        FapiLogging.Configure(o => { o.Console = false; o.AddSink(new InMemorySink()); });
        Snap();
        Emit(400);
        Assert.True(FapiLogging.Shutdown(TestLog.Safety));
        Snap();

        for (int s = 1; s < snapshots.Count; s++)
        {
            foreach ((string key, long value) in snapshots[s - 1])
            {
                if (key == "fapilog.queue.depth")
                {
                    continue; // a gauge
                }

                Assert.True(snapshots[s].TryGetValue(key, out long next), $"{key} vanished at snapshot {s}");
                Assert.True(next >= value, $"{key} went from {value} to {next} at snapshot {s}");
            }
        }

        Dictionary<string, long> last = snapshots[^1];
        FapiLogStatistics stats = FapiLogging.Statistics;
        AssertAgree(stats, last);
        Assert.Equal(10 + 2 + 1 + 1 + 1, stats.Attempted);
        Assert.Equal(stats.Enqueued, stats.Delivered);
        Assert.Equal(1, stats.DroppedShutdown);
        Assert.Equal(0, stats.Pending);
    }

    [Fact]
    public void Collecting_with_no_pipeline_configured_reports_zeros_and_does_not_throw()
    {
        FapiLogMetrics.EnsureCreated();
        using var collector = new Collector();
        Assert.False(FapiLogging.IsConfigured);
        Dictionary<string, long> values = collector.Collect();
        Assert.Equal(0, values["fapilog.events.enqueued"]);
        Assert.Equal(0, values["fapilog.queue.depth"]);
        Assert.False(FapiLogging.IsConfigured); // collecting does not start a pipeline
    }

    [Fact]
    public void Collecting_while_pipelines_are_replaced_from_other_threads_never_sees_a_counter_go_backwards()
    {
        FapiLogging.Configure(o => { o.Console = false; o.AddSink(new InMemorySink()); o.QueueCapacity = 16; });
        using var collector = new Collector();
        using var start = new Barrier(3);
        using var done = new CountdownEvent(2);
        var failures = new List<string>();
        Task producer = Task.Factory.StartNew(() =>
        {
            start.SignalAndWait();
            for (long i = 0; !done.IsSet || i < 1000; i++)
            {
                Emit(i);
                if (i == 100_000)
                {
                    break;
                }
            }
        }, TaskCreationOptions.LongRunning);
        Task configurer = Task.Factory.StartNew(() =>
        {
            start.SignalAndWait();
            for (int i = 0; i < 20; i++)
            {
                FapiLogging.Configure(o => { o.Console = false; o.AddSink(new InMemorySink()); o.QueueCapacity = 16; });
            }

            done.Signal(2);
        }, TaskCreationOptions.LongRunning);

        start.SignalAndWait();
        Dictionary<string, long> previous = collector.Collect();
        while (!done.IsSet)
        {
            Dictionary<string, long> current = collector.Collect();
            foreach ((string key, long value) in previous)
            {
                if (key != "fapilog.queue.depth" && current[key] < value)
                {
                    failures.Add($"{key} went from {value} to {current[key]}");
                }
            }

            previous = current;
        }

        Assert.True(Task.WaitAll([producer, configurer], TestLog.Safety));
        Assert.Empty(failures);
    }
}
