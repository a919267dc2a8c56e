using System;
using System.IO;
using System.Linq;
using System.Threading;
using FapiLog.Internal;
using FapiLog.Sinks;
using FapiLog.Tests.Support;
using Microsoft.Extensions.Logging;
using Xunit;

namespace FapiLog.Tests;

/// <summary>
/// What the draining side allocates per batch once warm: the worker loop and the built-in sinks. Allocation assertions on
/// the worker thread (a sink before and one after the measured ones read its allocation counter), not timing ones.
/// </summary>
public sealed class WorkerAllocationTests
{
    private const int Warmup = 50;
    private const int Measured = 100;

    /// <summary>Every kind the task names: a long, a string, a double, a DateTime, a Guid, an enum and a nullable.</summary>
    internal static readonly LogEventDescriptor Mixed = new(
        60, "Mixed", LogLevel.Information, "Order {OrderId} by {Customer} total {Total} at {When} id {Id} on {Day} retry {Retry}",
        LogArgument.Create<long>("orderId"), LogArgument.Create<string>("customer"), LogArgument.Create<double>("total"),
        LogArgument.Create<DateTime>("when"), LogArgument.Create<Guid>("id"), LogArgument.Create<DayOfWeek>("day"),
        LogArgument.Create<int?>("retry"));

    internal static readonly LogEventDescriptor Failed = new(
        61, "Failed", LogLevel.Error, "Order {OrderId} failed", LogArgument.Create<long>("orderId"));

    [Fact]
    public void The_worker_and_the_stream_sinks_allocate_nothing_per_batch_in_steady_state()
    {
        string path = Path.Combine(Path.GetTempPath(), "fapilog-alloc-" + Guid.NewGuid().ToString("N") + ".jsonl");
        try
        {
            var before = new Probe();
            var after = new Probe();
            // The system clock, as in production: a test clock arms a timer (its own allocation) for every idle wait.
            FapiLogOptions options = TestLog.Options(o =>
            {
                o.BatchSize = 100;
                o.TimeProvider = TimeProvider.System;
            });
            LogSink[] sinks =
            [
                before,
                new ConsoleSink(Stream.Null, json: false, colour: false),
                new ConsoleSink(Stream.Null, json: false, colour: true),
                new ConsoleSink(Stream.Null, json: true, colour: false),
                new JsonFileSink(path, maxBytes: 1L << 40, retainedFiles: 1),
                after,
            ];
            var pipeline = new LogPipeline(options, sinks);
            var guid = Guid.NewGuid();
            for (int round = 0; round < Warmup + Measured; round++)
            {
                for (int i = 0; i < 100; i++)
                {
                    LogEventWriter w = FapiLogRuntime.Begin(pipeline.Queue, Mixed, captureTraceContext: true);
                    Assert.True(w.IsActive);
                    w.Write((long)i);
                    w.WriteString(i % 2 == 0 ? "alice" : "bob");
                    w.Write(i * 1.25);
                    w.Write(DateTime.UtcNow);
                    w.Write(guid);
                    w.Write((DayOfWeek)(i % 7));
                    w.WriteNullable(i % 3 == 0 ? null : (int?)i);
                    w.Commit();
                }

                after.WaitForEvents((round + 1) * 100L);
            }

            Assert.True(pipeline.Shutdown(TestLog.Safety));
            Assert.Equal((Warmup + Measured) * 100L, pipeline.GetStatistics().Delivered);
            // The sinks: from the first probe's Write to the second's, per batch; the loop: from one batch's second probe
            // to the next batch's first.
            SteadyState.AssertAllocatesNothing(after.AllocatedSince(before, Warmup), "the sinks");
            SteadyState.AssertAllocatesNothing(before.AllocatedSince(after, Warmup, previousBatch: true), "the worker loop");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void An_exception_is_rendered_once_per_batch_whatever_the_number_of_sinks()
    {
        // Every sink writes the exception's full text, and ToString builds it (its stack trace text above all) anew
        // each time: three sinks took it three times. Now the batch takes it once, and each sink writes that.
        Exception error = Thrown();
        long oneText = AllocationOf(() => error.ToString());
        Assert.True(oneText > 0);

        var before = new Probe();
        var after = new Probe();
        FapiLogOptions options = TestLog.Options(o => o.BatchSize = 1);
        LogSink[] sinks =
        [
            before,
            new ConsoleSink(Stream.Null, json: false, colour: false),
            new ConsoleSink(Stream.Null, json: true, colour: false),
            new ConsoleSink(Stream.Null, json: true, colour: false),
            after,
        ];
        var pipeline = new LogPipeline(options, sinks);
        for (int round = 0; round < Warmup + Measured; round++)
        {
            LogEventWriter w = FapiLogRuntime.Begin(pipeline.Queue, Failed, captureTraceContext: true);
            Assert.True(w.IsActive);
            w.Write((long)round);
            w.SetException(error);
            w.Commit();
            after.WaitForEvents(round + 1L);
        }

        Assert.True(pipeline.Shutdown(TestLog.Safety));
        long perBatch = after.AllocatedSince(before, Warmup).Sum() / Measured;
        Assert.True(perBatch < 2 * oneText, $"three sinks allocated {perBatch} B per event; one ToString of the exception is {oneText} B");
    }

    [Fact]
    public void A_batch_with_more_distinct_exceptions_than_the_shared_texts_keep_renders_each_with_its_own_text_in_every_sink()
    {
        // The per-batch table of exception texts holds a bounded number of exceptions (beyond it a search would cost more
        // than it saves); the rest go through a scratch entry, which must never hand one exception's text to another.
        const int Events = 100;
        var outputs = new[] { new MemoryStream(), new MemoryStream() };
        FapiLogOptions options = TestLog.Options(o => o.BatchSize = Events);
        var pipeline = new LogPipeline(
            options, [new ConsoleSink(outputs[0], json: true, colour: false), new ConsoleSink(outputs[1], json: true, colour: false)], startWorker: false);
        for (int i = 0; i < Events; i++)
        {
            LogEventWriter w = FapiLogRuntime.Begin(pipeline.Queue, Failed, captureTraceContext: false);
            Assert.True(w.IsActive);
            w.Write((long)i);
            // Every other event repeats the previous one's exception, so that reuse is exercised past the table too.
            w.SetException(new InvalidOperationException($"failure {i - (i % 2)}"));
            w.Commit();
        }

        pipeline.StartWorkerForTesting();
        Assert.True(pipeline.Shutdown(TestLog.Safety));

        foreach (MemoryStream output in outputs)
        {
            string[] lines = System.Text.Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(Events, lines.Length);
            for (int i = 0; i < Events; i++)
            {
                using var line = System.Text.Json.JsonDocument.Parse(lines[i]);
                System.Text.Json.JsonElement exception = line.RootElement.GetProperty("exception");
                Assert.Equal($"failure {i - (i % 2)}", exception.GetProperty("message").GetString());
                Assert.StartsWith($"System.InvalidOperationException: failure {i - (i % 2)}", exception.GetProperty("stack").GetString());
            }
        }
    }

    private static Exception Thrown()
    {
        try
        {
            throw new InvalidOperationException("card declined");
        }
        catch (InvalidOperationException ex)
        {
            return ex;
        }
    }

    private static long AllocationOf(Func<string> take)
    {
        for (int i = 0; i < 10; i++)
        {
            take();
        }

        long start = GC.GetAllocatedBytesForCurrentThread();
        take();
        return GC.GetAllocatedBytesForCurrentThread() - start;
    }

    /// <summary>Reads the worker's allocation counter at each Write; counts the events it saw.</summary>
    private sealed class Probe : LogSink
    {
        private readonly long[] _counter = new long[Warmup + Measured + 1];
        private readonly DeliveryCounter _delivered = new();
        private int _batches;

        public override void Write(in LogBatch batch, CancellationToken cancellationToken)
        {
            long now = GC.GetAllocatedBytesForCurrentThread();
            if (_batches < _counter.Length)
            {
                _counter[_batches] = now;
            }

            _batches++;
            _delivered.Add(batch.Count);
        }

        public void WaitForEvents(long count) => _delivered.WaitFor(count);

        /// <summary>
        /// Bytes allocated on the worker from <paramref name="start"/>'s reading to this one's, for each batch after
        /// <paramref name="skip"/>; with <paramref name="previousBatch"/>, from start's reading of the batch before.
        /// </summary>
        public long[] AllocatedSince(Probe start, int skip, bool previousBatch = false)
        {
            Assert.Equal(Warmup + Measured, _batches);
            int offset = previousBatch ? 1 : 0;
            var perBatch = new long[_batches - skip - offset];
            for (int i = 0; i < perBatch.Length; i++)
            {
                int batch = skip + offset + i;
                perBatch[i] = _counter[batch] - start._counter[batch - offset];
            }

            return perBatch;
        }
    }
}
