using System;

namespace FapiLog.Loki;

/// <summary>
/// One batch as <see cref="LokiBatchEncoder.Prepare(in LogBatch, LokiPreparedBatch)"/> leaves it: every line rendered
/// once, the entries' timestamps, streams and trace metadata, and the send order. It owns its buffers, so the worker can
/// prepare the next batch while the sink's sender still encodes and pushes this one (and splits it again after a 413).
/// </summary>
internal sealed class LokiPreparedBatch
{
    /// <summary>Bytes of the trace and span ids in hex, per entry.</summary>
    internal const int MetadataStride = 32 + 16;

    public readonly ByteBuffer Lines;

    // Per entry, indexed by the entry's position in the batch; sized by the first batch prepared into it, so that a batch
    // waiting in the send buffer holds about what the buffer counts for it (see RetainedBytes).
    public int[] LineStart = [];
    public int[] LineLength = [];
    public long[] Time = [];
    public byte[] Stream = [];
    public bool[] HasTrace = [];
    public byte[] TraceHex = [];

    // Per position in send order.
    public int[] Order = [];
    public int[] EntrySize = [];
    public long[] SortKeys = [];

    public LokiPreparedBatch(int lineCapacity = 256) => Lines = new ByteBuffer(lineCapacity);

    /// <summary>The entries of the prepared batch.</summary>
    public int Count { get; set; }

    /// <summary>
    /// Given up and counted, without a request, by the flush or disposal that cancelled it while it waited behind the batch
    /// being pushed: the sender only lets go of its room in the send buffer.
    /// </summary>
    public bool GivenUp { get; set; }

    /// <summary>
    /// The memory this batch holds: its line buffer and its tables, whatever part of them the batch uses. What the send
    /// buffer counts against <see cref="LokiOptions.MaxBufferedBytes"/>, and what a spare keeps between uses.
    /// </summary>
    public long RetainedBytes => Lines.Array.Length + ((long)Order.Length * TableBytesPerEntry);

    /// <summary>Bytes of the per-entry tables, the least any entry holds.</summary>
    internal const int TableBytesPerEntry = MetadataStride + 48;

    public void EnsureCapacity(int n)
    {
        if (Order.Length >= n)
        {
            return;
        }

        int size = Math.Max(n, Order.Length * 2);
        LineStart = new int[size];
        LineLength = new int[size];
        Time = new long[size];
        Stream = new byte[size];
        HasTrace = new bool[size];
        TraceHex = new byte[size * MetadataStride];
        Order = new int[size];
        EntrySize = new int[size];
        SortKeys = new long[size];
    }
}
