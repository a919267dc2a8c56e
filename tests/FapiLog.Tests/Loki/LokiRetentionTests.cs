using System;
using System.Linq;
using System.Text;
using System.Threading;
using FapiLog.Loki;
using Xunit;

namespace FapiLog.Tests.Loki;

/// <summary>
/// A huge event through the Loki sink: its line is truncated, and the line buffer it grew is neither kept nor counted
/// against the send buffer at its grown size.
/// </summary>
public sealed class LokiRetentionTests
{
    [Fact]
    public void A_huge_event_is_truncated_and_the_sink_keeps_only_what_a_line_at_the_limit_needs()
    {
        using var receiver = new LokiReceiver();
        using var sink = new LokiSink(new LokiOptions { Url = receiver.Url });

        sink.Push(RetentionTests.Normal());
        sink.Push(RetentionTests.Huge());
        sink.Push(RetentionTests.Normal());

        // The huge argument and the huge exception text each arrive as a line cut to the limit (the members after the cut
        // left out), still a JSON object, and
        // the events around them whole.
        string[] lines = receiver.WaitForRequests(3)[1].AllEntries().Select(e => e.Line).ToArray();
        Assert.Equal(4, lines.Length);
        foreach (string line in lines.Where(l => l.Length > 1000))
        {
            Assert.True(Encoding.UTF8.GetByteCount(line) <= LokiOptions.DefaultMaxLineBytes, $"a line of {line.Length} chars");
            Assert.Contains("[truncated by FapiLog, ", line, StringComparison.Ordinal);
            Assert.Equal("error", System.Text.Json.JsonDocument.Parse(line).RootElement.GetProperty("level").GetString());
        }

        Assert.Equal(2, lines.Count(l => l.Length > 1000));
        Assert.Equal(2, lines.Count(l => l.Contains("\"Payload\":\"before\"", StringComparison.Ordinal) || l.Contains("\"Payload\":\"after\"", StringComparison.Ordinal)));

        // What stays is what a batch with two lines at the limit leaves: a spare batch holding them, the sender's request
        // and its compressed form, about 2 × MaxLineBytes each. Not the 4-million-char event (8 MB as text, 4 MB as a line).
        long kept = sink.RetainedBufferBytes;
        long twoLinesAtTheLimit = 8L * LokiOptions.DefaultMaxLineBytes;
        Assert.True(kept <= twoLinesAtTheLimit, $"the sink keeps {kept} B of buffers after the huge event; two lines at the limit need about {twoLinesAtTheLimit} B");
    }

    [Fact]
    public void A_batch_with_a_huge_truncated_event_counts_its_truncated_lines_against_the_send_buffer_not_the_event()
    {
        // Loki hangs, so the batches wait in the send buffer (1 MiB). The huge event's line is cut to 256,000 bytes, but its
        // batch counted the 4 MB it was rendered into: the next batch found the buffer full and, under Drop, was given up.
        using var receiver = new LokiReceiver((_, _) => new ResponsePlan(0, Hang: true));
        using var sink = new LokiSink(new LokiOptions
        {
            Url = receiver.Url,
            MaxAttempts = 1000,
            MinBackoff = TimeSpan.FromMinutes(10),
            MaxBackoff = TimeSpan.FromMinutes(10),
            MaxBufferedBytes = 1024 * 1024,
        });
        sink._pipelineOverflow = (int)OverflowStrategy.Drop;

        sink.Write(RetentionTests.Huge(), CancellationToken.None);
        sink.Write(RetentionTests.Normal(), CancellationToken.None);
        Assert.Equal(7, sink.Statistics.BufferedEntries);
        Assert.Equal(0, sink.Statistics.EntriesFailed);
        Assert.True(sink.HeldBytes < 1024 * 1024, $"the batches hold {sink.HeldBytes} B for two lines cut to {LokiOptions.DefaultMaxLineBytes} B and five short ones");
    }
}
