using System;
using System.Collections.Generic;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using FapiLog.Hosting.Tests.Support;
using FapiLog.Sinks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xunit;

namespace FapiLog.Hosting.Tests;

/// <summary>
/// The worker's side of an ILogger call: its state's values, the category and a scope's are typed fields the sinks render
/// like a [FapiLog] event's, without allocating once warm (an allocation assertion on the worker thread, not a timing one).
/// </summary>
public sealed class BridgeAllocationTests : HostingTestBase
{
    private const int Warmup = 40;
    private const int Measured = 80;

    [Fact]
    public async Task Rendering_ILogger_calls_with_state_and_scope_allocates_nothing_per_batch_on_the_worker()
    {
        var measured = new MeasuringSink(new ConsoleSink(Stream.Null, json: false, colour: false), new ConsoleSink(Stream.Null, json: true, colour: false));
        using IHost host = BuildHost(new InMemorySink(), configure: o =>
        {
            o.AddSink(measured);
            o.BatchSize = 100;
            o.FlushInterval = TimeSpan.FromHours(1);
        });
        await host.StartAsync();
        ILogger logger = host.Services.GetRequiredService<ILogger<BridgeAllocationTests>>();
        var id = Guid.NewGuid();
        for (int round = 0; round < Warmup + Measured; round++)
        {
            measured.Counting = round >= Warmup;
            using (logger.BeginScope(new Dictionary<string, object?> { ["RequestId"] = "r-1", ["Tenant"] = 7 }))
            {
                for (int i = 0; i < 100; i++)
                {
                    int? retry = i % 2 == 0 ? i : null;
                    logger.LogInformation("Order {OrderId} by {Customer} total {Total} at {When} id {Id} on {Day} retry {Retry}",
                        (long)i, "alice", i * 1.25, DateTime.UtcNow, id, (DayOfWeek)(i % 7), retry);
                }
            }

            measured.WaitForEvents((round + 1) * 100L);
        }

        await host.StopAsync();
        Assert.Equal(Measured, measured.Allocated.Count);
        FapiLog.Tests.Support.SteadyState.AssertAllocatesNothing(measured.Allocated, "the worker's batches");
    }

    /// <summary>Writes to <c>inner</c> and counts what that allocates on the worker thread.</summary>
    private sealed class MeasuringSink(params LogSink[] inner) : LogSink
    {
        private readonly FapiLog.Tests.Support.DeliveryCounter _delivered = new();

        public volatile bool Counting;

        /// <summary>What each counted batch allocated in the inner sinks.</summary>
        public List<long> Allocated { get; } = new();

        public override void Write(in LogBatch batch, CancellationToken cancellationToken)
        {
            long start = GC.GetAllocatedBytesForCurrentThread();
            foreach (LogSink sink in inner)
            {
                sink.Write(in batch, cancellationToken);
            }

            long allocated = GC.GetAllocatedBytesForCurrentThread() - start;
            if (Counting)
            {
                Allocated.Add(allocated);
            }

            _delivered.Add(batch.Count);
        }

        public void WaitForEvents(long count) => _delivered.WaitFor(count);
    }
}
