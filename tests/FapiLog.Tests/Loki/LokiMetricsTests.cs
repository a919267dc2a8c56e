using System;
using System.Collections.Generic;
using System.Diagnostics.Metrics;
using System.Threading;
using FapiLog.Loki;
using Xunit;

namespace FapiLog.Tests.Loki;

/// <summary>The Loki counters of the <c>FapiLog</c> meter and <see cref="FapiLogging.LokiStatistics"/>.</summary>
public sealed class LokiMetricsTests
{
    [Fact]
    public void Loki_counters_are_published_on_the_FapiLog_meter_and_in_the_process_statistics()
    {
        using var receiver = new LokiReceiver((i, _) => i == 0 ? new ResponsePlan(503) : i == 2 ? new ResponsePlan(400) : ResponsePlan.NoContent);
        using var sink = new LokiSink(new LokiOptions { Url = receiver.Url, MinBackoff = TimeSpan.FromMilliseconds(5), MaxBackoff = TimeSpan.FromMilliseconds(10) });
        sink.Push(LokiTestEvents.Batch(LokiTestEvents.Orders(7)), CancellationToken.None);
        Assert.Throws<LokiPushException>(() => sink.Push(LokiTestEvents.Batch(LokiTestEvents.Orders(3)), CancellationToken.None));

        FapiLogMetrics.EnsureCreated();
        var values = new Dictionary<string, long>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == FapiLogMetrics.MeterName && instrument.Name.StartsWith("fapilog.loki.", StringComparison.Ordinal))
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string key = instrument.Name;
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                key += "|" + tag.Key + "=" + tag.Value;
            }

            lock (values)
            {
                values[key] = value;
            }
        });
        listener.Start();
        listener.RecordObservableInstruments();

        // The process-wide counters include other tests' sinks: at least this sink's numbers.
        Assert.True(values["fapilog.loki.requests"] >= 1);
        Assert.True(values["fapilog.loki.entries.sent"] >= 7);
        Assert.True(values["fapilog.loki.bytes.sent"] >= sink.Statistics.BytesSent);
        Assert.True(values["fapilog.loki.retries"] >= 1);
        Assert.True(values["fapilog.loki.entries.failed|reason=http_400"] >= 3);

        LokiStatistics global = FapiLogging.LokiStatistics;
        Assert.True(global.EntriesSent >= 7);
        Assert.True(global.GetEntriesFailed("http_400") >= 3);
        Assert.Equal(1, sink.Statistics.RequestsSent);
        Assert.Equal(3, sink.Statistics.GetEntriesFailed("http_400"));
    }
}
