using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text;
using System.Threading;
using FapiLog.Internal;

namespace FapiLog.Loki;

/// <summary>
/// Pushes batches to Grafana Loki: one request per batch (split when it exceeds <see cref="LokiOptions.MaxBatchBytes"/>),
/// one stream per level with the static labels, the event's JSON object as the line, trace and span ids as structured
/// metadata, and the call's own timestamp in nanoseconds. Protobuf with snappy by default, JSON (optionally gzip) on request.
/// </summary>
/// <remarks>
/// <para>
/// <see cref="Write"/> renders the batch on the pipeline's worker and hands it to the sink's own sender thread, which
/// encodes, compresses and pushes it; the worker goes on to the other sinks at once. Batches wait for the sender in a
/// buffer of at most <see cref="LokiOptions.MaxBufferedBytes"/>, so a slow or unreachable Loki holds up neither the
/// console nor the file. When a batch does not fit, a pipeline with <see cref="OverflowStrategy.Block"/> waits for room,
/// and one with <see cref="OverflowStrategy.Drop"/> or <see cref="OverflowStrategy.Sample"/> gives the batch up
/// (<see cref="LokiFailureReasons.BufferFull"/>); a sink used outside a pipeline waits.
/// </para>
/// <para>
/// 429, 5xx, timeouts and connection failures are retried with exponential backoff and jitter (honouring
/// <c>Retry-After</c>) with the same body, so a retry is idempotent in Loki; a 413 splits the request in halves; other 4xx
/// are given up at once. <see cref="Flush"/> returns when every batch written before it was pushed or given up, and throws
/// a <see cref="LokiPushException"/> for the entries given up since the previous flush; <see cref="Statistics"/> has the
/// detail by reason. The sender is a dedicated thread: a push over an open keep-alive connection does not need the thread
/// pool, and a request takes at most <see cref="LokiOptions.RequestTimeout"/>, which a dedicated timer thread enforces.
/// </para>
/// </remarks>
public sealed class LokiSink : LogSink
{
    private const int MaxErrorBodyChars = 300;

    // The most of a response's body read to keep its connection (a longer one closes the connection instead).
    private const long MaxBodyBytes = 64 * 1024;

    // How long the body of a 2xx is waited for, at most, for the connection's sake.
    private static readonly TimeSpan SuccessBodyWait = TimeSpan.FromSeconds(1);

    // Whether the sink built the handler (with MaxResponseDrainSize = 0), not the application.
    private readonly bool _ownHandler;

    // The sender thread's buffers for a response's body: its start, quoted in an error, and the rest read past it.
    private readonly byte[] _bodyStart = new byte[MaxErrorBodyChars];
    private readonly byte[] _bodyScratch = new byte[4096];

    /// <summary>
    /// Prepared batches kept for reuse once sent, and the largest one kept (a burst of huge lines is let go), also at most a
    /// sixteenth of the send buffer.
    /// </summary>
    private const int SpareLimit = 4;
    private const long SpareMaxBytes = 4 * 1024 * 1024;

    private readonly HttpClient _client;
    private readonly Uri _pushUri;
    private readonly string _endpoint;
    private readonly string? _tenant;
    // "Bearer token" or "Basic base64": the header's text, made once (a parsed AuthenticationHeaderValue per request was
    // an allocation that serializes to the same bytes).
    private readonly string? _authorization;
    private readonly KeyValuePair<string, string>[] _headers;
    private readonly TimeSpan _requestTimeout;
    private readonly TimeSpan _minBackoff;
    private readonly TimeSpan _maxBackoff;
    private readonly int _maxAttempts;
    private readonly long _maxBufferedBytes;
    private readonly LokiCounters _counters = new(LokiCounters.Global);

    // The worker renders with one encoder, the sender frames and compresses with the other; each batch carries its own lines.
    private readonly LokiBatchEncoder _preparer;
    private readonly LokiBatchEncoder _framer;

    // The send buffer, guarded by _gate: batches in the order written; the head is the one being pushed.
    private readonly object _gate = new();
    private readonly Queue<(LokiPreparedBatch Batch, long Bytes, DeliveryTicket? Ticket, long Number)> _pending = new();
    // Whether a "retrying" line was said and no push went through or was given up since, and whether the batch being sent
    // met a failed attempt (a retry or a 413 split): the sender's only (see SayRetrying).
    private bool _retryingSaid;
    private bool _batchRetried;
    // The parts (from, to) in send order of the batch being sent that were given up: the sender's only (see Send).
    private readonly List<(int From, int To)> _failedParts = new();
    private readonly Stack<LokiPreparedBatch> _spare = new();
    private long _bufferedBytes;
    private long _accepted;
    private long _finished;
    private CancellationTokenSource _cancel = new();

    // Batches are numbered 1, 2, … as written (_accepted is the last number). A flush whose token fired gives up the batches
    // up to the number it waits for, not the ones written after it (a pipeline that took the sink over writes those).
    private long _cancelThrough;
    private long _inFlight;
    // The batch in flight that a canceller waited for in vain (see CancelSends).
    private long _inFlightAbandoned;
    private int _cancelling;

    // Sources replaced while a canceller held one: disposed when the last canceller lets go, not under its feet (its Cancel
    // would throw ObjectDisposedException into whoever fired the flush's or shutdown's token).
    private List<CancellationTokenSource>? _retired;

    // The last failed attempt, until an attempt succeeds: what the pipeline's give-up line quotes (see Trouble).
    private string? _trouble;
    private Thread? _sender;
    private bool _stopping;
    private bool _waitingForRoom;
    private List<(long Target, Action Callback)>? _drainWaiters;
    private Failure? _unflushedFailure;
    // The batch _unflushedFailure comes from: a shutdown counts the waiting batches before the one in flight has failed,
    // and the report quotes the latest batch's failure, not the latest counted.
    private long _unflushedFailureBatch;
    private int _unflushedFailed;
    private int _unflushedEntries;
    private int _unflushedBatches;

    // Used by the sender thread only.
    private bool _useAsync;
    // The source of the request in flight, cancelled by its deadline or by the batch's token; a request that neither cancelled
    // leaves it to the next one, so that a push allocates no source of its own (nor a deadline entry).
    private CancellationTokenSource? _request;
    private readonly RequestDeadline _deadline = new();
    // Entries of the batch being sent that are counted as sent or failed already (sender thread only): each part of a
    // split batch leaves the buffered count as it is counted, so that sent + failed + buffered stays the entries written.
    private int _countedOfBatch;
    private bool _shutdownReported;
    private int _disposed;

    /// <summary>Creates a sink for <paramref name="options"/> (validated here; the values are copied, later changes have no effect).</summary>
    /// <exception cref="FapiLogConfigurationException">A setting is invalid or <see cref="LokiOptions.Url"/> is not set.</exception>
    public LokiSink(LokiOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (options.Url is null)
        {
            throw new FapiLogConfigurationException("Loki.Url", null, "an absolute http:// or https:// URL such as http://localhost:3100");
        }

        _pushUri = options.GetPushUri();
        _endpoint = LokiOptions.Redact(_pushUri);
        _tenant = options.Tenant;
        if (options.BearerToken is { } token)
        {
            _authorization = "Bearer " + token;
        }
        else if (options.Username is { } user)
        {
            _authorization = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":" + options.Password));
        }

        _headers = [.. options.Headers];
        _requestTimeout = options.RequestTimeout;
        _minBackoff = options.MinBackoff;
        _maxBackoff = options.MaxBackoff;
        _maxAttempts = options.MaxAttempts;
        _maxBufferedBytes = options.MaxBufferedBytes;
        KeyValuePair<string, string>[] labels = [.. options.Labels];
        _preparer = new LokiBatchEncoder(options.Format, options.Gzip, options.MaxBatchBytes, options.MaxLineBytes, labels);
        _framer = new LokiBatchEncoder(options.Format, options.Gzip, options.MaxBatchBytes, options.MaxLineBytes, labels);

        HttpMessageHandler handler = options.HttpMessageHandler ?? new SocketsHttpHandler
        {
            ConnectTimeout = options.RequestTimeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            UseCookies = false,
            AllowAutoRedirect = false,
            // A body left unread (past MaxBodyBytes, or cut off by the deadline) closes the connection at once: a background
            // drain would keep the sender's blocked read waiting for it (2 s by default), past the request's deadline.
            MaxResponseDrainSize = 0,
        };

        // A DelegatingHandler that overrides only SendAsync would be skipped by the synchronous path (its Send goes
        // straight to the inner handler), so a handler we did not build is driven through SendAsync, unless it is one of
        // the framework's own transports, whose synchronous Send is complete.
        _useAsync = !(handler is SocketsHttpHandler || handler.GetType() == typeof(HttpClientHandler));

        _ownHandler = options.HttpMessageHandler is null;

        // The sink owns the handler it created, never one it was given.
        _client = new HttpClient(handler, disposeHandler: options.HttpMessageHandler is null) { Timeout = Timeout.InfiniteTimeSpan };
        // As text: HttpClient copies a parsed default header into every request, and a string without allocating.
        _client.DefaultRequestHeaders.TryAddWithoutValidation("User-Agent", "FapiLog/" + (typeof(LokiSink).Assembly.GetName().Version?.ToString(3) ?? "0"));
    }

    /// <inheritdoc />
    public override string Name => "Loki";

    /// <inheritdoc />
    internal override bool UsableAfterDispose => false;

    /// <inheritdoc />
    internal override bool DefersDelivery => true;

    /// <summary>The push endpoint, e.g. <c>http://localhost:3100/loki/api/v1/push</c>.</summary>
    public Uri PushUri => _pushUri;

    /// <summary>What this sink has pushed, retried and given up so far.</summary>
    public LokiStatistics Statistics => _counters.Snapshot();

    /// <inheritdoc/>
    internal override string? Trouble => Volatile.Read(ref _trouble);

    /// <summary>The delay before the most recent retry (tests check that <c>Retry-After</c> was honoured).</summary>
    internal TimeSpan LastRetryDelay { get; private set; }

    /// <summary>The source that cancels the sender's requests now (tests check that a replaced one is disposed).</summary>
    internal CancellationTokenSource SendCancellation
    {
        get
        {
            lock (_gate)
            {
                return _cancel;
            }
        }
    }

    /// <summary>The memory the batches in the send buffer hold: their buffers' capacity, not only what is written in them.</summary>
    internal long HeldBytes
    {
        get
        {
            lock (_gate)
            {
                long held = 0;
                foreach ((LokiPreparedBatch batch, _, _, _) in _pending)
                {
                    held += batch.RetainedBytes;
                }

                return held;
            }
        }
    }

    /// <summary>
    /// The memory the sink keeps between batches, in bytes: its encoders' buffers and the spare batches (for tests; the
    /// batches in the send buffer are <see cref="HeldBytes"/>).
    /// </summary>
    internal long RetainedBufferBytes
    {
        get
        {
            lock (_gate)
            {
                long held = _preparer.RetainedBufferBytes + _framer.RetainedBufferBytes;
                foreach (LokiPreparedBatch spare in _spare)
                {
                    held += spare.RetainedBytes;
                }

                return held;
            }
        }
    }

    /// <summary>True while <see cref="Write"/> waits for room in the send buffer (backpressure under Block).</summary>
    internal bool IsWaitingForRoom
    {
        get
        {
            lock (_gate)
            {
                return _waitingForRoom;
            }
        }
    }

    /// <summary>
    /// Renders <paramref name="batch"/> and queues it for the sender; returns at once while the send buffer has room. When
    /// it has none, waits for room if the pipeline blocks (or there is no pipeline), and otherwise gives the batch up.
    /// </summary>
    /// <exception cref="LokiPushException">The batch was given up: the buffer was full (<see cref="LokiFailureReasons.BufferFull"/>),
    /// or <paramref name="cancellationToken"/> fired before the batch was queued (while it was rendered or waited for room), or
    /// the sink was disposed while waiting (<see cref="LokiFailureReasons.Shutdown"/>).</exception>
    public override void Write(in LogBatch batch, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        int count = batch.Count;
        if (count == 0)
        {
            return;
        }

        if (cancellationToken.IsCancellationRequested)
        {
            // Shutdown has run out of time and given up what the buffer held (see GiveUpHeld): a batch the worker still
            // hands out is given up too, not pushed by a sender that the give-up has just freed.
            throw Refuse(count, LokiFailureReasons.Shutdown);
        }

        LokiPreparedBatch? prepared = null;
        lock (_gate)
        {
            // While Loki is down and the buffer full, a dropping pipeline would render every batch only to give it up:
            // one that cannot fit even at the least any entry holds (its tables) is given up unrendered. Not the least
            // seen so far: after one large event, that would refuse batches of small ones that fit.
            if (!(Drops && _bufferedBytes > 0 && _bufferedBytes + ((long)count * LokiPreparedBatch.TableBytesPerEntry) > _maxBufferedBytes))
            {
                prepared = _spare.Count > 0 ? _spare.Pop() : new LokiPreparedBatch();
            }
        }

        if (prepared is null)
        {
            throw Refuse(count, LokiFailureReasons.BufferFull);
        }

        _preparer.Prepare(in batch, prepared);
        // What the batch holds in memory while it waits (a reused one may hold more than it needs now), not only its lines.
        long bytes = prepared.RetainedBytes;
        string? refused = null;
        CancellationTokenRegistration wake = default;
        try
        {
            lock (_gate)
            {
                // A batch larger than the whole buffer is taken when the buffer is empty, so that it is never refused for its size.
                while (!_stopping && _bufferedBytes > 0 && _bufferedBytes + bytes > _maxBufferedBytes)
                {
                    if (Drops)
                    {
                        refused = LokiFailureReasons.BufferFull;
                        break;
                    }

                    if (cancellationToken.IsCancellationRequested)
                    {
                        refused = LokiFailureReasons.Shutdown;
                        break;
                    }

                    if (!wake.Equals(default(CancellationTokenRegistration)) || !cancellationToken.CanBeCanceled)
                    {
                        _waitingForRoom = true;
                        Monitor.Wait(_gate);
                        _waitingForRoom = false;
                        continue;
                    }

                    // Wake up when the token fires: registered once, outside the lock (the callback takes it), then look again.
                    Monitor.Exit(_gate);
                    try
                    {
                        wake = cancellationToken.UnsafeRegister(static state => ((LokiSink)state!).Pulse(), this);
                    }
                    finally
                    {
                        Monitor.Enter(_gate);
                    }
                }

                if (refused is null && _stopping)
                {
                    // Disposed since the check above, or while this waited for room: the sender has stopped or stops once
                    // the buffer is given up, and must not be started again (its source is disposed with the sink).
                    refused = LokiFailureReasons.Shutdown;
                }

                if (refused is null && cancellationToken.IsCancellationRequested)
                {
                    // Fired while the batch was rendered, after the look above: the give-up (see GiveUpHeld) reads under this
                    // lock what it gives up, so a batch queued after it would be pushed by the sender it has just freed.
                    refused = LokiFailureReasons.Shutdown;
                }

                if (refused is null)
                {
                    // The pipeline counts the batch as delivered once the sender has pushed it, not now.
                    DeliveryTicket? ticket = _ticket;
                    ticket?.Hold();
                    _accepted++;
                    _pending.Enqueue((prepared, bytes, ticket, _accepted));
                    _bufferedBytes += bytes;
                    _counters.CountBuffered(count, bytes);
                    StartSender();
                    Monitor.PulseAll(_gate);
                    return;
                }

                Recycle(prepared);
            }
        }
        finally
        {
            wake.Dispose();
        }

        throw Refuse(count, refused);
    }

    /// <summary>True when the pipeline writing to this sink drops rather than blocks (Drop or Sample).</summary>
    private bool Drops => _pipelineOverflow is (int)OverflowStrategy.Drop or (int)OverflowStrategy.Sample;

    private LokiPushException Refuse(int count, string reason)
    {
        _counters.CountFailed(count, reason, requests: 0);
        string why = reason == LokiFailureReasons.BufferFull
            ? $"the send buffer is full ({_maxBufferedBytes} bytes, Loki.MaxBufferedBytes) while Loki is slow or unreachable"
            : Volatile.Read(ref _disposed) != 0
                ? "the sink was disposed before the batch was queued"
                : "shutdown timed out before the batch was queued";
        return new LokiPushException(reason, 0, count, count, $"Loki push to {_endpoint} gave up {count} entries: {why}");
    }

    /// <summary>
    /// Waits until every batch written before the call was pushed or given up. When <paramref name="cancellationToken"/>
    /// fires (shutdown ran out of time), what is still buffered is given up as <see cref="LokiFailureReasons.Shutdown"/>.
    /// </summary>
    /// <exception cref="LokiPushException">Entries were given up since the previous flush; the latest failure's reason and detail, all of their count.</exception>
    public override void Flush(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return;
        }

        long target;
        lock (_gate)
        {
            target = _accepted;
        }

        using (cancellationToken.CanBeCanceled
            ? cancellationToken.UnsafeRegister(static state => { var (sink, through) = ((LokiSink, long))state!; sink.CancelSends(through); }, (this, target))
            : default)
        {
            lock (_gate)
            {
                while (_finished < target && _sender is { IsAlive: true })
                {
                    Monitor.Wait(_gate);
                }
            }
        }

        Failure? failure;
        int failed;
        int entries;
        int batches;
        lock (_gate)
        {
            failure = _unflushedFailure;
            failed = _unflushedFailed;
            entries = _unflushedEntries;
            batches = _unflushedBatches;
            _unflushedFailure = null;
            _unflushedFailureBatch = 0;
            _unflushedFailed = 0;
            _unflushedEntries = 0;
            _unflushedBatches = 0;
        }

        if (failure is { } f)
        {
            throw CreateException(f, failed, entries, batches);
        }
    }

    private LokiPushException CreateException(Failure failure, int failed, int entries, int batches = 1)
    {
        string how = failure.Attempts > 0
            ? $"{failure.Reason}, {failure.Attempts.ToString(CultureInfo.InvariantCulture)} attempt(s)"
            : $"{failure.Reason}, not sent";
        // Under a pipeline the sink is flushed at shutdown only, so the first failure may be hours old: the latest one says
        // what is wrong now.
        string what = batches > 1
            ? $"gave up {failed} of {entries} entries in {batches.ToString(CultureInfo.InvariantCulture)} batches; the latest ({how})"
            : $"gave up {failed} of {entries} entries ({how})";
        return new(failure.Reason, failure.StatusCode, failed, entries, $"Loki push to {_endpoint} {what}: {failure.Detail}");
    }

    private void Pulse()
    {
        lock (_gate)
        {
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>
    /// Gives up the batches numbered up to <paramref name="through"/>: those waiting are counted here and now, the one being
    /// pushed is cancelled, and is waited for (<see cref="InFlightGiveUpWait"/> at most) until the sender has counted it.
    /// </summary>
    private void CancelSends(long through)
    {
        CancellationTokenSource? cancel = null;
        long inFlight = 0;
        lock (_gate)
        {
            _cancelThrough = Math.Max(_cancelThrough, through);
            if (_inFlight != 0 && _inFlight <= _cancelThrough)
            {
                cancel = _cancel;
                inFlight = _inFlight;
                // The sender does not reuse this source for a later batch while it is being cancelled.
                _cancelling++;
            }

            // Shutdown gives up on the pipeline as soon as this returns, and the process often ends next: left to the sender,
            // which encodes each batch before it sees the token, the statistics still showed thousands pending.
            GiveUpWaiting();
        }

        if (cancel is not null)
        {
            try
            {
                // Outside the lock: cancelling runs the in-flight request's callbacks on this thread.
                cancel.Cancel();
            }
            finally
            {
                lock (_gate)
                {
                    if (--_cancelling == 0 && _retired is { } retired)
                    {
                        _retired = null;
                        foreach (CancellationTokenSource source in retired)
                        {
                            source.Dispose();
                        }
                    }
                }
            }
        }

        if (inFlight != 0)
        {
            // A cancelled request or backoff wait ends at once; a handler that ignores cancellation is not waited for long.
            long deadline = Environment.TickCount64 + (long)InFlightGiveUpWait.TotalMilliseconds;
            lock (_gate)
            {
                // Not again for a batch waited for in vain: a pipeline that gives up cancels the flush it is in and then
                // tells each of its Loki sinks (see GiveUpHeld), and a handler that ignores cancellation must cost the
                // shutdown 0.1 s, not 0.2 s.
                if (_inFlightAbandoned != inFlight)
                {
                    _inFlightWaitForTesting?.Invoke();
                    long left;
                    while (_inFlight == inFlight && _sender is { IsAlive: true } && (left = deadline - Environment.TickCount64) > 0)
                    {
                        Monitor.Wait(_gate, (int)left);
                    }

                    if (_inFlight == inFlight)
                    {
                        _inFlightAbandoned = inFlight;
                    }
                }
            }
        }

        Pulse();
    }

    /// <inheritdoc />
    internal override void GiveUpHeld()
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return;
        }

        long through;
        lock (_gate)
        {
            through = _accepted;
        }

        CancelSends(through);
    }

    /// <summary>How long a cancelling flush or disposal waits for the sender to count the batch it was pushing.</summary>
    internal static readonly TimeSpan InFlightGiveUpWait = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Counts the batches numbered up to <see cref="_cancelThrough"/> that wait behind the one being pushed as given up
    /// (<see cref="LokiFailureReasons.Shutdown"/>, no request); under <see cref="_gate"/>.
    /// </summary>
    private void GiveUpWaiting()
    {
        int entries = 0;
        int batches = 0;
        long last = 0;
        foreach ((LokiPreparedBatch batch, long bytes, DeliveryTicket? ticket, long number) in _pending)
        {
            if (number > _cancelThrough)
            {
                break;
            }

            if (number == _inFlight || batch.GivenUp)
            {
                continue;
            }

            batch.GivenUp = true;
            last = number;
            entries += batch.Count;
            batches++;
            _counters.CountBuffered(-batch.Count, -bytes);
            ticket?.Release(failed: true);
        }

        if (batches == 0)
        {
            return;
        }

        _counters.CountFailed(entries, LokiFailureReasons.Shutdown, requests: 0);
        if (last >= _unflushedFailureBatch)
        {
            _unflushedFailure = new Failure(LokiFailureReasons.Shutdown, 0, true, 0, "shutdown timed out before the request could be sent");
            _unflushedFailureBatch = last;
        }

        _unflushedBatches = (int)Math.Min(int.MaxValue, (long)_unflushedBatches + batches);
        _unflushedFailed = (int)Math.Min(int.MaxValue, (long)_unflushedFailed + entries);
        _unflushedEntries = (int)Math.Min(int.MaxValue, (long)_unflushedEntries + entries);
    }

    /// <summary>
    /// Disposes a source nobody sends with any longer (the sender has moved on, or has stopped), or keeps it for the last
    /// canceller that may hold it to dispose; under <see cref="_gate"/>.
    /// </summary>
    private void Retire(CancellationTokenSource source)
    {
        if (_cancelling == 0)
        {
            source.Dispose();
        }
        else
        {
            (_retired ??= new()).Add(source);
        }
    }

    private void StartSender()
    {
        if (_sender is not null)
        {
            return;
        }

        _sender = new Thread(static state => ((LokiSink)state!).SendLoop())
        {
            IsBackground = true,
            Name = "FapiLog Loki sender",
        };
        // Without the caller's execution context: the sender would run in it for good, and HttpClient would send the
        // traceparent of the Activity current at the first batch (a request, when the sink was written to directly).
        _sender.UnsafeStart(this);
    }

    private void Recycle(LokiPreparedBatch prepared)
    {
        prepared.GivenUp = false;
        // A spare counts against the buffer with all it holds when it is reused, so a large one is let go.
        if (_spare.Count < SpareLimit && prepared.RetainedBytes <= Math.Min(SpareMaxBytes, _maxBufferedBytes / 16))
        {
            _spare.Push(prepared);
        }
    }

    private void SendLoop()
    {
        // The worker may be waiting for this thread (for room in the send buffer), so a log call made here (a handler that
        // logs) must not wait for room in the queue behind it.
        LogQueue.MarkDrainingThread();
        while (true)
        {
            LokiPreparedBatch prepared;
            CancellationToken token = default;
            List<Action>? givenUp = null;
            bool settled;
            lock (_gate)
            {
                while (_pending.Count == 0 && !_stopping)
                {
                    Monitor.Wait(_gate);
                }

                if (_pending.Count == 0)
                {
                    return;
                }

                (prepared, long held, _, long number) = _pending.Peek();
                settled = prepared.GivenUp;
                if (settled)
                {
                    // Counted by the flush or disposal that gave it up: only its room is let go here.
                    _pending.Dequeue();
                    _bufferedBytes -= held;
                    Recycle(prepared);
                    _finished++;
                    givenUp = TakeDrainWaiters(all: false);
                    Monitor.PulseAll(_gate);
                }
                else if (number <= _cancelThrough)
                {
                    // Given up without a request.
                    token = new CancellationToken(canceled: true);
                }
                else
                {
                    if (_cancelling > 0 || _cancel.IsCancellationRequested)
                    {
                        // Cancelled (or being cancelled) for earlier batches: this one gets a source of its own. The
                        // earlier batches are done with the old one (the last request's linked source is disposed).
                        Retire(_cancel);
                        _cancel = new CancellationTokenSource();
                    }

                    token = _cancel.Token;
                }

                if (!settled)
                {
                    _inFlight = number;
                }
            }

            if (settled)
            {
                Run(givenUp);
                _sentForTesting?.Invoke();
                continue;
            }

            int failed;
            Failure? failure;
            _countedOfBatch = 0;
            _failedParts.Clear();
            _batchRetried = false;
            try
            {
                failed = Send(prepared, token, out failure);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // Not expected (every request failure is an Attempt); the rest of the batch (parts sent before stay sent)
                // is given up rather than the thread lost. The parts are settled in send order, so the rest is what follows.
                int rest = prepared.Count - _countedOfBatch;
                _failedParts.Add((_countedOfBatch, prepared.Count));
                failed = 0;
                foreach ((int from, int to) in _failedParts)
                {
                    failed += to - from;
                }

                failure = new Failure(LokiFailureReasons.Error, 0, false, 1, $"{ex.GetType().Name}: {ex.Message}");
                CountPartFailed(rest, LokiFailureReasons.Error, requests: 0);
            }

            int entries = prepared.Count;
            DeliveryTicket? ticket;
            lock (_gate)
            {
                (_, long bytes, ticket, long number) = _pending.Dequeue();
                _inFlight = 0;
                _bufferedBytes -= bytes;
                // Its entries have left the buffered count part by part; its bytes leave it now, with the buffer.
                _counters.CountBuffered(-(entries - _countedOfBatch), -bytes);
                if (failure is not null)
                {
                    if (number >= _unflushedFailureBatch)
                    {
                        _unflushedFailure = failure;
                        _unflushedFailureBatch = number;
                    }

                    _unflushedBatches = _unflushedBatches == int.MaxValue ? int.MaxValue : _unflushedBatches + 1;
                    // Saturating: under a pipeline these add up until shutdown, and the statistics keep the exact counts.
                    _unflushedFailed = (int)Math.Min(int.MaxValue, (long)_unflushedFailed + failed);
                    _unflushedEntries = (int)Math.Min(int.MaxValue, (long)_unflushedEntries + entries);
                }

                // Counted before a flush is told (a flush that returns has the batch in the statistics), and before a
                // canceller waiting for this batch (see CancelSends) is woken. Event by event: the parts Loki took of a batch
                // it failed in part are delivered.
                if (ticket is not null && failed > 0 && failed < entries)
                {
                    foreach ((int from, int to) in _failedParts)
                    {
                        ticket.MarkFailed(prepared.Order, from, to);
                    }
                }

                Recycle(prepared);
                ticket?.Release(failed: failed >= entries && failed > 0);
                Monitor.PulseAll(_gate);
            }

            if (failure is { } f)
            {
                Report(f, failed, entries);
            }
            else
            {
                SinkFailureReporter.Succeeded(this);
            }

            List<Action>? drained;
            lock (_gate)
            {
                _finished++;
                drained = TakeDrainWaiters(all: false);
                Monitor.PulseAll(_gate);
            }

            Run(drained);
            _sentForTesting?.Invoke();
        }
    }

    /// <summary>Tests: runs, under the sink's lock, when a canceller begins to wait for the batch in flight.</summary>
    internal Action? _inFlightWaitForTesting;

    /// <summary>Tests: runs on the sender thread once it has finished with a batch (pushed or given up).</summary>
    internal Action? _sentForTesting;

    /// <inheritdoc />
    internal override void WhenDrained(Action callback)
    {
        lock (_gate)
        {
            if (_finished < _accepted && Volatile.Read(ref _disposed) == 0)
            {
                (_drainWaiters ??= new()).Add((_accepted, callback));
                return;
            }
        }

        callback();
    }

    /// <summary>The drain callbacks whose batches are all finished (or every one, at disposal); under <see cref="_gate"/>.</summary>
    private List<Action>? TakeDrainWaiters(bool all)
    {
        if (_drainWaiters is not { Count: > 0 } waiters)
        {
            return null;
        }

        List<Action>? due = null;
        for (int i = waiters.Count - 1; i >= 0; i--)
        {
            if (all || waiters[i].Target <= _finished)
            {
                (due ??= new()).Add(waiters[i].Callback);
                waiters.RemoveAt(i);
            }
        }

        return due;
    }

    private static void Run(List<Action>? callbacks)
    {
        if (callbacks is null)
        {
            return;
        }

        foreach (Action callback in callbacks)
        {
            callback();
        }
    }

    /// <summary>Least time between two "retrying" lines: a Loki that flaps says so once a minute, not once a push.</summary>
    internal static readonly TimeSpan RetryingLineInterval = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Says on stderr, at the first failed attempt of a push that will be tried again, that Loki cannot be reached. The
    /// failure report comes only once a batch is given up, after every attempt: with the defaults about six minutes of
    /// backoff, during which a wrong URL or a Loki that is down looked like a sink that works. At most one such line a
    /// <see cref="RetryingLineInterval"/>; the sender's thread only.
    /// </summary>
    private void SayRetrying(Attempt failed, TimeSpan delay)
    {
        // Timed with the failure reports' state, which a pipeline with another clock that takes the sink over carries over.
        if (!SinkFailureReporter.TakeRetryingLine(this, RetryingLineInterval))
        {
            return;
        }

        _retryingSaid = true;
        Stderr.Write($"FapiLog: Loki push to {_endpoint} failed ({failed.Reason}: {failed.Detail}); trying again, " +
            $"up to {_maxAttempts} attempts in all (next in {delay.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s). " +
            "The events wait in the send buffer meanwhile, and are counted as failed only if every attempt fails.");
    }

    /// <summary>
    /// After a "retrying" line, says that the batch it was about went through: at a later attempt, or in parts after a 413
    /// (each part then goes through at its first attempt). A batch given up is reported as failed instead, and a batch
    /// that went through without trouble says nothing.
    /// </summary>
    private void SayPushedAgain(int attempt)
    {
        if (!_retryingSaid)
        {
            return;
        }

        _retryingSaid = false;
        if (_batchRetried)
        {
            Stderr.Write($"FapiLog: Loki push to {_endpoint} went through at attempt {attempt}{(attempt == 1 ? " of a part, after the request was split" : string.Empty)}.");
        }
    }

    private void Report(Failure failure, int failed, int entries)
    {
        LokiPushException exception = CreateException(failure, failed, entries);
        if (failure.Reason == LokiFailureReasons.Shutdown)
        {
            // Failures are reported once a minute at most; what shutdown could not deliver is always said, once.
            if (!_shutdownReported)
            {
                _shutdownReported = true;
                Stderr.Write("FapiLog: " + exception.Message);

                // The same failure comes back from Flush, which the pipeline reports through the throttle: said once is enough.
                SinkFailureReporter.MarkReported(this);
            }

            return;
        }

        SinkFailureReporter.Report(this, failed, exception);
    }

    /// <summary>Pushes one prepared batch, splitting it after a 413; returns the entries given up and the latest failure.</summary>
    private int Send(LokiPreparedBatch prepared, CancellationToken cancellationToken, out Failure? latest)
    {
        _framer.Use(prepared);
        int count = prepared.Count;
        int from = 0;
        int failed = 0;
        latest = null;
        int maxEntries = int.MaxValue;
        while (from < count)
        {
            int to = _framer.EncodeNext(from, maxEntries, out ArraySegment<byte> body);
            int entries = to - from;
            Failure? failure = Push(body, entries, cancellationToken);
            if (failure is { Split: true })
            {
                // 413: a proxy or Loki has a smaller body limit than MaxBatchBytes. Halve the requests for the rest of
                // this batch rather than lose it; a single entry that is still too large is given up like any other 4xx.
                maxEntries = Math.Max(1, entries / 2);
                _counters.CountRetry();
                continue;
            }

            if (failure is { } f)
            {
                failed += entries;
                latest = f;
                if (f.Retryable && to < count)
                {
                    // Loki stayed unreachable through every attempt (or shutdown ran out): the rest of the batch would only
                    // wait the same way while the buffer fills up, so it is given up with the same reason.
                    CountPartFailed(count - to, f.Reason, requests: 0);
                    failed += count - to;
                    _failedParts.Add((from, count));
                    break;
                }

                _failedParts.Add((from, to));
                if (f.StatusCode == (int)HttpStatusCode.RequestEntityTooLarge)
                {
                    // A single entry too large for the limit: the halving was for it, so the rest of the batch goes out in
                    // full requests again (and halves again only if they are too large themselves), not one entry each.
                    maxEntries = int.MaxValue;
                }
            }

            from = to;
        }

        return failed;
    }

    /// <summary>Counts entries of the batch being sent as failed, and takes them out of the buffered count.</summary>
    private void CountPartFailed(int entries, string reason, int requests)
    {
        _counters.CountFailed(entries, reason, requests);
        Settle(entries);
    }

    /// <summary>Takes entries of the batch being sent, just counted as sent or failed, out of the buffered count.</summary>
    private void Settle(int entries)
    {
        _countedOfBatch += entries;
        _counters.CountBuffered(-entries, 0);
    }

    /// <summary>Sends one body until it is accepted, given up, or shutdown cancels; null when accepted.</summary>
    private Failure? Push(ArraySegment<byte> body, int entries, CancellationToken cancellationToken)
    {
        TimeSpan backoff = _minBackoff;
        Attempt previous = default;
        for (int attempt = 1; ; attempt++)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                return GiveUpAtShutdown(entries, attempt - 1, previous);
            }

            Attempt result = SendOnce(body, cancellationToken);
            if (result.Reason is null)
            {
                Volatile.Write(ref _trouble, null);
                SayPushedAgain(attempt);
                _counters.CountSent(entries, body.Count);
                Settle(entries);
                return null;
            }

            _batchRetried = true;
            if (result.Reason != LokiFailureReasons.Shutdown)
            {
                // Cancelled in flight says nothing about Loki; the attempt before it, still quoted, does.
                Volatile.Write(ref _trouble, $"the last attempt failed ({result.Reason}): {result.Detail}");
            }

            if (result.StatusCode == (int)HttpStatusCode.RequestEntityTooLarge && entries > 1)
            {
                return new Failure(result.Reason, result.StatusCode, false, attempt, result.Detail, Split: true);
            }

            bool shutdown = result.Reason == LokiFailureReasons.Shutdown;
            if (shutdown || !result.Retryable || attempt >= _maxAttempts)
            {
                // Given up: the failure report follows, and no later push may say this one went through.
                _retryingSaid = false;
                CountPartFailed(entries, result.Reason, requests: 1);
                // Cancelled in flight, a retry says nothing about Loki: the attempt before it does.
                return shutdown && previous.Reason is not null
                    ? new Failure(result.Reason, previous.StatusCode, true, attempt, $"{result.Detail}; last error: {previous.Detail}")
                    : new Failure(result.Reason, result.StatusCode, result.Retryable || shutdown, attempt, result.Detail);
            }

            // Exponential backoff with jitter in [d, 2d) as Promtail does, or what the server asked for.
            TimeSpan delay = result.RetryAfter ?? backoff + (backoff * Random.Shared.NextDouble());
            if (delay > _maxBackoff)
            {
                delay = _maxBackoff;
            }

            if (delay < TimeSpan.Zero)
            {
                delay = TimeSpan.Zero;
            }

            backoff = backoff * 2 > _maxBackoff ? _maxBackoff : backoff * 2;
            _counters.CountRetry();
            LastRetryDelay = delay;
            if (attempt == 1)
            {
                SayRetrying(result, delay);
            }

            // A kernel wait that shutdown's abort token ends at once; no timer, no thread pool.
            if (cancellationToken.WaitHandle.WaitOne(delay))
            {
                return GiveUpAtShutdown(entries, attempt, result);
            }

            previous = result;
        }
    }

    /// <summary>
    /// Gives a body up because shutdown ran out of time before its next attempt; <paramref name="attempts"/> were made,
    /// <paramref name="last"/> being the last of them.
    /// </summary>
    private Failure GiveUpAtShutdown(int entries, int attempts, Attempt last)
    {
        // Given up, as after the last attempt: no later push may say this one went through.
        _retryingSaid = false;
        // A body that never left the buffer was no request: its entries are given up all the same, but no request failed.
        CountPartFailed(entries, LokiFailureReasons.Shutdown, requests: attempts > 0 ? 1 : 0);
        return new Failure(LokiFailureReasons.Shutdown, last.StatusCode, true, attempts, attempts > 0
            ? $"shutdown timed out while waiting to retry; last error: {last.Detail}"
            : "shutdown timed out before the request could be sent");
    }

    private Attempt SendOnce(ArraySegment<byte> body, CancellationToken cancellationToken)
    {
        CancellationTokenSource timeout = RequestSource();
        // Disposed after the deadline (usings unwind in reverse): once both are, nothing cancels the source any more, so
        // whether it was cancelled is settled before the next request looks.
        using CancellationTokenRegistration link = cancellationToken.UnsafeRegister(static state => ((CancellationTokenSource)state!).Cancel(), timeout);
        // Not timeout.CancelAfter: its timer needs the thread pool, and a starved pool must not stall the worker.
        using RequestDeadline.Registration deadline = _deadline.CancelAfter(timeout, _requestTimeout);
        HttpRequestMessage request = CreateRequest(body);
        try
        {
            long sent = Stopwatch.GetTimestamp();
            using HttpResponseMessage response = Send(ref request, body, timeout.Token);
            int status = (int)response.StatusCode;
            if (status is >= 200 and < 300)
            {
                // The status decides once the headers are in: a 2xx whose body is slow, endless or huge is a success, not a
                // timeout. Its body (a gateway's JSON; Loki's 204 has none) is still read, so that the connection goes
                // back to the pool for the next push rather than a new one opened, but for a second at most: a body not in
                // by then closes the connection. Not with a handler of the application's, which drains a disposed body
                // in the background on its own terms (and would keep this read waiting for that).
                if (_ownHandler)
                {
                    TimeSpan left = _requestTimeout - Stopwatch.GetElapsedTime(sent);
                    _deadline.Shorten(left < SuccessBodyWait ? left : SuccessBodyWait);
                    ReadBody(response, timeout.Token);
                }

                return new Attempt(status, null, false, null, null);
            }

            // An error's body is read for the start of it that the message quotes, within the request's deadline.
            int snippet = ReadBody(response, timeout.Token);
            bool retryable = status is 429 or (>= 500 and <= 599);
            string detail = $"HTTP {status.ToString(CultureInfo.InvariantCulture)} {response.ReasonPhrase}: {Snippet(snippet)}{Redirect(response)}";
            return new Attempt(status, LokiFailureReasons.Http(status), retryable, retryable ? RetryAfter(response) : null, detail);
        }
        catch (Exception ex) when (ex is OperationCanceledException or HttpRequestException or IOException)
        {
            // Cancellation can surface as any of these (a cancelled socket read is an IOException inside an
            // HttpRequestException), so the tokens, not the exception type, say whether it was shutdown or the timeout.
            if (cancellationToken.IsCancellationRequested)
            {
                return new Attempt(0, LokiFailureReasons.Shutdown, false, null, "shutdown timed out while the request was in flight");
            }

            if (timeout.IsCancellationRequested || ex is OperationCanceledException)
            {
                return new Attempt(0, LokiFailureReasons.Timeout, true, null,
                    $"no answer within {_requestTimeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)} s");
            }

            return new Attempt(0, LokiFailureReasons.Connection, true, null, Describe(ex));
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return new Attempt(0, LokiFailureReasons.Error, false, null, Describe(ex));
        }
        finally
        {
            request.Dispose();
        }
    }

    /// <summary>The source for the next request: the previous one unless its deadline or the batch's token cancelled it.</summary>
    private CancellationTokenSource RequestSource()
    {
        if (_request is { IsCancellationRequested: false } current)
        {
            return current;
        }

        _request?.Dispose();
        return _request = new CancellationTokenSource();
    }

    private HttpResponseMessage Send(ref HttpRequestMessage request, ArraySegment<byte> body, CancellationToken token)
    {
        if (!_useAsync)
        {
            try
            {
                return _client.Send(request, HttpCompletionOption.ResponseHeadersRead, token);
            }
            catch (NotSupportedException)
            {
                // HTTP/2-only endpoints and the like: fall back to SendAsync from now on.
                _useAsync = true;
                request.Dispose();
                request = CreateRequest(body);
            }
        }

        // Blocks the worker on the async path: this one does need the thread pool.
        return _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, token).GetAwaiter().GetResult();
    }

    private HttpRequestMessage CreateRequest(ArraySegment<byte> body)
    {
        var content = new ByteArrayContent(body.Array!, body.Offset, body.Count);
        // The encoder's constant strings as they are: a parsed MediaTypeHeaderValue (and an encoding collection) per
        // request was an allocation that serializes to the same bytes.
        content.Headers.TryAddWithoutValidation("Content-Type", _framer.ContentType);
        if (_framer.ContentEncoding is { } encoding)
        {
            content.Headers.TryAddWithoutValidation("Content-Encoding", encoding);
        }

        var request = new HttpRequestMessage(HttpMethod.Post, _pushUri)
        {
            Content = content,
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
        };

        if (_tenant is not null)
        {
            request.Headers.TryAddWithoutValidation("X-Scope-OrgID", _tenant);
        }

        if (_authorization is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", _authorization);
        }

        foreach (KeyValuePair<string, string> header in _headers)
        {
            request.Headers.TryAddWithoutValidation(header.Key, header.Value);
        }

        return request;
    }

    /// <summary>
    /// For a redirect, where it points and what to do: the sink does not follow redirects (HttpClient would turn a 301 or
    /// 302 POST into a GET, and the tenant and custom headers would go wherever the answer points), so the URL to set is
    /// the one the user needs to hear about. Empty for any other answer.
    /// </summary>
    private string Redirect(HttpResponseMessage response)
    {
        if ((int)response.StatusCode is < 300 or > 399 || response.Headers.Location is not { } location)
        {
            return string.Empty;
        }

        Uri? target = location.IsAbsoluteUri ? location : Uri.TryCreate(_pushUri, location, out Uri? resolved) ? resolved : null;
        if (target is null)
        {
            return string.Empty;
        }

        return $" (redirected to {LokiOptions.Redact(target)}; FapiLog does not follow redirects: set the Loki URL, Loki.Url or FAPILOG_LOKI_URL, to where it points)";
    }

    private static TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        RetryConditionHeaderValue? retryAfter = response.Headers.RetryAfter;
        if (retryAfter?.Delta is { } delta)
        {
            return delta;
        }

        if (retryAfter?.Date is { } date)
        {
            return date - DateTimeOffset.UtcNow;
        }

        // HttpClient reads delta-seconds as a 32-bit number and drops a larger one as invalid; such a server still asks for
        // a long wait (which MaxBackoff then caps), not for the short computed backoff.
        if (retryAfter is null && response.Headers.NonValidated.TryGetValues("Retry-After", out HeaderStringValues raw))
        {
            foreach (string value in raw)
            {
                string digits = value.Trim();
                if (digits.Length > 0 && digits.AsSpan().IndexOfAnyExceptInRange('0', '9') < 0)
                {
                    return TimeSpan.MaxValue;
                }
            }
        }

        return null;
    }

    /// <summary>
    /// Reads the response's body to its end, or to <see cref="MaxBodyBytes"/>, or until the request's deadline; keeps its
    /// first <see cref="MaxErrorBodyChars"/> bytes in <see cref="_bodyStart"/> and returns how many. A synchronous read does
    /// not watch the token, so the deadline ends it by disposing the response, which closes the connection under the read
    /// (the handler drains nothing in the background: see the constructor); what was read before stays.
    /// </summary>
    private int ReadBody(HttpResponseMessage response, CancellationToken token)
    {
        // Loki's 204: nothing to read, and no registration to make for it. Not a chunked body that a proxy gave a
        // Content-Length of 0 as well: Transfer-Encoding wins (RFC 9112 6.3), and .NET reads that body.
        if (response.Content.Headers.ContentLength == 0 && response.Headers.TransferEncodingChunked != true)
        {
            return 0;
        }

        using CancellationTokenRegistration abort = token.UnsafeRegister(static r => ((HttpResponseMessage)r!).Dispose(), response);
        int kept = 0;
        try
        {
            using Stream stream = response.Content.ReadAsStream(token);
            long total = 0;
            int n;
            while (total < MaxBodyBytes && (n = stream.Read(_bodyScratch, 0, _bodyScratch.Length)) > 0)
            {
                int keep = Math.Min(n, _bodyStart.Length - kept);
                Array.Copy(_bodyScratch, 0, _bodyStart, kept, keep);
                kept += keep;
                total += n;
            }
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException or OperationCanceledException or ObjectDisposedException)
        {
            // Cut off by the deadline or the connection: the start read so far is what the message quotes.
        }

        return kept;
    }

    /// <summary>The first <paramref name="length"/> bytes of the body read last, as one line of text.</summary>
    private string Snippet(int length)
    {
        string text = Encoding.UTF8.GetString(_bodyStart, 0, length).Trim();
        var sb = new StringBuilder(text.Length);
        foreach (char c in text)
        {
            sb.Append(char.IsControl(c) ? ' ' : c);
        }

        return sb.Length == 0 ? "(empty body)" : sb.ToString();
    }

    private static string Describe(Exception ex)
    {
        // The innermost message says what happened ("Connection refused (127.0.0.1:3100)"); the URL carries no credentials.
        Exception inner = ex;
        while (inner.InnerException is not null)
        {
            inner = inner.InnerException;
        }

        return ReferenceEquals(inner, ex) ? $"{ex.GetType().Name}: {ex.Message}" : $"{ex.GetType().Name}: {ex.Message} ({inner.Message})";
    }

    /// <inheritdoc />
    /// <remarks>Gives up what is still buffered (a pipeline flushes its sinks before it disposes them) and stops the sender.</remarks>
    protected override void Dispose(bool disposing)
    {
        if (!disposing || Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Thread? sender;
        lock (_gate)
        {
            _stopping = true;
            sender = _sender;
            Monitor.PulseAll(_gate);
        }

        bool stopped = true;
        if (sender is not null)
        {
            CancelSends(long.MaxValue);
            // Cancelled, the sender gives the rest up without sending; a handler that ignores cancellation is not waited for long.
            stopped = sender.Join(TimeSpan.FromSeconds(1));
        }

        // Whatever a wedged sender did not finish, nobody waits for it any longer.
        List<Action>? drained;
        lock (_gate)
        {
            drained = TakeDrainWaiters(all: true);

            // A wedged sender may still wait on the source's handle: that one is left to the finalizer. A stopped one has
            // nothing in flight, so no canceller takes the source any more.
            if (stopped)
            {
                Retire(_cancel);
                _request?.Dispose();
            }
        }

        Run(drained);
        _client.Dispose();
        LokiStatistics s = _counters.Snapshot();
        if (s.EntriesFailed > 0)
        {
            Stderr.Write($"FapiLog: Loki sink ({_endpoint}) closed; {s.EntriesFailed} entries could not be delivered. {s}");
        }
    }

    private readonly record struct Attempt(int StatusCode, string? Reason, bool Retryable, TimeSpan? RetryAfter, string? Detail);

    private readonly record struct Failure(string Reason, int StatusCode, bool Retryable, int Attempts, string? Detail, bool Split = false);
}

/// <summary>The reasons <see cref="LokiStatistics.EntriesFailedByReason"/> and <see cref="LokiPushException.Reason"/> use.</summary>
public static class LokiFailureReasons
{
    /// <summary>No answer within <see cref="LokiOptions.RequestTimeout"/> on the last attempt.</summary>
    public const string Timeout = "timeout";

    /// <summary>The connection failed on the last attempt (refused, reset, DNS, TLS).</summary>
    public const string Connection = "connection";

    /// <summary>
    /// Shutdown ran out of time before the entries were accepted: still in the send buffer, in flight, or waiting to be
    /// retried; or the sink was disposed while a <see cref="LokiSink.Write"/> waited for room.
    /// </summary>
    public const string Shutdown = "shutdown";

    /// <summary>Anything else (for example a custom handler that threw).</summary>
    public const string Error = "error";

    /// <summary>
    /// The send buffer (<see cref="LokiOptions.MaxBufferedBytes"/>) was full while Loki was slow or unreachable, and the
    /// pipeline drops rather than blocks.
    /// </summary>
    public const string BufferFull = "buffer_full";

    private static readonly string[] s_http = CreateHttp();

    /// <summary>The reason for an HTTP status code: <c>http_400</c>, <c>http_503</c>, ….</summary>
    public static string Http(int statusCode)
        => statusCode is >= 100 and < 600 ? s_http[statusCode - 100] : "http_" + statusCode.ToString(CultureInfo.InvariantCulture);

    private static string[] CreateHttp()
    {
        string[] names = new string[500];
        for (int i = 0; i < names.Length; i++)
        {
            names[i] = "http_" + (i + 100).ToString(CultureInfo.InvariantCulture);
        }

        return names;
    }
}

/// <summary>
/// Thrown by <see cref="LokiSink.Write"/> when a batch was given up before it was queued (the pipeline counts it as failed),
/// and by <see cref="LokiSink.Flush"/> for the entries given up since the previous flush.
/// </summary>
public sealed class LokiPushException : Exception
{
    /// <summary>Creates the exception.</summary>
    public LokiPushException(string reason, int statusCode, int failedEntries, int batchEntries, string message)
        : base(message)
    {
        Reason = reason;
        StatusCode = statusCode;
        FailedEntries = failedEntries;
        BatchEntries = batchEntries;
    }

    /// <summary>Why the entries were given up; from <see cref="LokiSink.Flush"/>, the latest failure's reason (see <see cref="LokiFailureReasons"/>).</summary>
    public string Reason { get; }

    /// <summary>The HTTP status of the last answer to the failed request, or 0 when there was none (timeout, connection failure, shutdown before any answer).</summary>
    public int StatusCode { get; }

    /// <summary>Entries given up.</summary>
    public int FailedEntries { get; }

    /// <summary>Entries in the batches these failures came from.</summary>
    public int BatchEntries { get; }
}
