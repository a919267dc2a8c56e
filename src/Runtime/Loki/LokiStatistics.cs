using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;

namespace FapiLog.Loki;

/// <summary>
/// A snapshot of what a Loki sink (or, from <see cref="FapiLogging.LokiStatistics"/>, every Loki sink of the process)
/// has pushed: successful requests, entries and bytes, retries, and what was given up, by reason.
/// </summary>
/// <remarks>
/// Failure reasons are <c>http_NNN</c> (the status code Loki answered with: 4xx other than 429 at once, 429 and 5xx after
/// the last attempt), <c>timeout</c> (no answer within <see cref="LokiOptions.RequestTimeout"/>), <c>connection</c>
/// (refused, reset, DNS, TLS), <c>buffer_full</c> (the send buffer was full and the pipeline drops rather than blocks),
/// <c>shutdown</c> (shutdown ran out of time while the batch was still buffered or being retried) and <c>error</c>
/// (anything else, e.g. a handler that threw).
/// </remarks>
public sealed class LokiStatistics
{
    internal LokiStatistics(long requestsSent, long entriesSent, long bytesSent, long retries, long requestsFailed, long entriesFailed,
        IReadOnlyDictionary<string, long> entriesFailedByReason, long bufferedEntries, long bufferedBytes)
    {
        BufferedEntries = bufferedEntries;
        BufferedBytes = bufferedBytes;
        RequestsSent = requestsSent;
        EntriesSent = entriesSent;
        BytesSent = bytesSent;
        Retries = retries;
        RequestsFailed = requestsFailed;
        EntriesFailed = entriesFailed;
        EntriesFailedByReason = entriesFailedByReason;
    }

    /// <summary>Push requests Loki accepted (any 2xx).</summary>
    public long RequestsSent { get; }

    /// <summary>Entries (events) in the accepted requests.</summary>
    public long EntriesSent { get; }

    /// <summary>Body bytes of the accepted requests, as sent (compressed).</summary>
    public long BytesSent { get; }

    /// <summary>Attempts that were retried after a 429, a 5xx, a timeout or a connection failure, or sent again in halves after a 413.</summary>
    public long Retries { get; }

    /// <summary>
    /// Push requests given up after at least one attempt. Entries given up without a request (<c>buffer_full</c>, a batch
    /// still buffered when shutdown ran out of time, the rest of a batch after Loki stayed unreachable) are not counted here.
    /// The <c>FapiLog</c> meter does not publish it.
    /// </summary>
    public long RequestsFailed { get; }

    /// <summary>Entries given up, in the requests given up and without a request; <see cref="EntriesFailedByReason"/> has them by reason.</summary>
    public long EntriesFailed { get; }

    /// <summary>Entries given up, by reason (<c>http_400</c>, <c>http_503</c>, <c>timeout</c>, <c>connection</c>, <c>buffer_full</c>, <c>shutdown</c>, <c>error</c>).</summary>
    public IReadOnlyDictionary<string, long> EntriesFailedByReason { get; }

    /// <summary>
    /// Entries waiting in the send buffer at the time of the snapshot, the batch being pushed included; of a batch pushed
    /// in parts (after a 413, or over <see cref="LokiOptions.MaxBatchBytes"/>), only the parts not yet sent or given up, so
    /// that <see cref="EntriesSent"/> + <see cref="EntriesFailed"/> + this is every entry the sink was given.
    /// </summary>
    public long BufferedEntries { get; }

    /// <summary>Bytes of rendered entries in the send buffer at the time of the snapshot (what <see cref="LokiOptions.MaxBufferedBytes"/> caps).</summary>
    public long BufferedBytes { get; }

    /// <summary>Entries given up for <paramref name="reason"/>; 0 when none.</summary>
    public long GetEntriesFailed(string reason) => EntriesFailedByReason.TryGetValue(reason, out long count) ? count : 0;

    /// <inheritdoc />
    public override string ToString()
    {
        string reasons = string.Join(", ", EntriesFailedByReason.OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => p.Key + "=" + p.Value.ToString(CultureInfo.InvariantCulture)));
        return string.Create(CultureInfo.InvariantCulture,
            $"requests_sent={RequestsSent} entries_sent={EntriesSent} bytes_sent={BytesSent} retries={Retries} requests_failed={RequestsFailed} entries_failed={EntriesFailed} ({reasons}) buffered_entries={BufferedEntries} buffered_bytes={BufferedBytes}");
    }
}

/// <summary>Live counters behind <see cref="LokiStatistics"/>: written by the worker and sender threads, read from any thread.</summary>
internal sealed class LokiCounters
{
    /// <summary>The sum over every Loki sink of the process, for <see cref="FapiLogging.LokiStatistics"/> and the meter.</summary>
    public static readonly LokiCounters Global = new(null);

    private readonly LokiCounters? _parent;
    private readonly object _lock = new();
    private readonly Dictionary<string, long> _failedByReason = new(StringComparer.Ordinal);
    private long _requestsSent;
    private long _entriesSent;
    private long _bytesSent;
    private long _retries;
    private long _requestsFailed;
    private long _entriesFailed;
    private long _bufferedEntries;
    private long _bufferedBytes;

    public LokiCounters(LokiCounters? parent) => _parent = parent;

    public void CountSent(int entries, int bytes)
    {
        Interlocked.Increment(ref _requestsSent);
        Interlocked.Add(ref _entriesSent, entries);
        Interlocked.Add(ref _bytesSent, bytes);
        _parent?.CountSent(entries, bytes);
    }

    /// <summary>Entries and bytes that entered (positive) or left (negative) a send buffer.</summary>
    public void CountBuffered(int entries, long bytes)
    {
        Interlocked.Add(ref _bufferedEntries, entries);
        Interlocked.Add(ref _bufferedBytes, bytes);
        _parent?.CountBuffered(entries, bytes);
    }

    public void CountRetry()
    {
        Interlocked.Increment(ref _retries);
        _parent?.CountRetry();
    }

    public void CountFailed(int entries, string reason, int requests)
    {
        lock (_lock)
        {
            _requestsFailed += requests;
            _entriesFailed += entries;
            _failedByReason.TryGetValue(reason, out long count);
            _failedByReason[reason] = count + entries;
        }

        _parent?.CountFailed(entries, reason, requests);
    }

    public long EntriesFailed
    {
        get
        {
            lock (_lock)
            {
                return _entriesFailed;
            }
        }
    }

    public LokiStatistics Snapshot()
    {
        lock (_lock)
        {
            return new LokiStatistics(Volatile.Read(ref _requestsSent), Volatile.Read(ref _entriesSent), Volatile.Read(ref _bytesSent),
                Volatile.Read(ref _retries), _requestsFailed, _entriesFailed, new Dictionary<string, long>(_failedByReason, StringComparer.Ordinal),
                Volatile.Read(ref _bufferedEntries), Volatile.Read(ref _bufferedBytes));
        }
    }
}
