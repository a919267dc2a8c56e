using System;
using System.Collections.Generic;
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
/// Requests are sent synchronously on the pipeline's worker thread. A push over an open keep-alive connection does not
/// need the thread pool; opening a connection does (HttpClient connects in the background on the pool), so while the pool
/// is starved such a push waits — at most <see cref="LokiOptions.RequestTimeout"/>, which a dedicated thread enforces,
/// and is then retried as a timeout — and the other sinks carry on between attempts.
/// 429, 5xx, timeouts and connection failures are retried with exponential backoff and jitter (honouring
/// <c>Retry-After</c>) with the same body, so a retry is idempotent in Loki; a 413 splits the request in halves; other 4xx
/// are given up at once. While a batch is
/// retried, new events wait in the bounded queue, where the overflow strategy applies. A batch given up makes
/// <see cref="Write"/> throw, which the pipeline counts as failed; <see cref="Statistics"/> has the detail by reason.
/// </remarks>
public sealed class LokiSink : LogSink
{
    private const int MaxErrorBodyChars = 300;

    private readonly HttpClient _client;
    private readonly Uri _pushUri;
    private readonly string _endpoint;
    private readonly string? _tenant;
    private readonly string? _authScheme;
    private readonly string? _authParameter;
    private readonly KeyValuePair<string, string>[] _headers;
    private readonly TimeSpan _requestTimeout;
    private readonly TimeSpan _minBackoff;
    private readonly TimeSpan _maxBackoff;
    private readonly int _maxAttempts;
    private readonly LokiBatchEncoder _encoder;
    private readonly LokiCounters _counters = new(LokiCounters.Global);
    private bool _useAsync;
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
            _authScheme = "Bearer";
            _authParameter = token;
        }
        else if (options.Username is { } user)
        {
            _authScheme = "Basic";
            _authParameter = Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":" + options.Password));
        }

        _headers = [.. options.Headers];
        _requestTimeout = options.RequestTimeout;
        _minBackoff = options.MinBackoff;
        _maxBackoff = options.MaxBackoff;
        _maxAttempts = options.MaxAttempts;
        _encoder = new LokiBatchEncoder(options.Format, options.Gzip, options.MaxBatchBytes, options.MaxLineBytes, [.. options.Labels]);

        HttpMessageHandler handler = options.HttpMessageHandler ?? new SocketsHttpHandler
        {
            ConnectTimeout = options.RequestTimeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            UseCookies = false,
            AllowAutoRedirect = false,
        };

        // A DelegatingHandler that overrides only SendAsync would be skipped by the synchronous path (its Send goes
        // straight to the inner handler), so a handler we did not build is driven through SendAsync, unless it is one of
        // the framework's own transports, whose synchronous Send is complete.
        _useAsync = !(handler is SocketsHttpHandler || handler.GetType() == typeof(HttpClientHandler));

        // The sink owns the handler it created, never one it was given.
        _client = new HttpClient(handler, disposeHandler: options.HttpMessageHandler is null) { Timeout = Timeout.InfiniteTimeSpan };
        _client.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("FapiLog", typeof(LokiSink).Assembly.GetName().Version?.ToString(3) ?? "0"));
    }

    /// <inheritdoc />
    public override string Name => "Loki";

    /// <summary>The push endpoint, e.g. <c>http://localhost:3100/loki/api/v1/push</c>.</summary>
    public Uri PushUri => _pushUri;

    /// <summary>What this sink has pushed, retried and given up so far.</summary>
    public LokiStatistics Statistics => _counters.Snapshot();

    /// <summary>The delay before the most recent retry (tests check that <c>Retry-After</c> was honoured).</summary>
    internal TimeSpan LastRetryDelay { get; private set; }

    /// <summary>
    /// Pushes <paramref name="batch"/>, retrying transient failures; returns once Loki accepted every entry.
    /// </summary>
    /// <exception cref="LokiPushException">Some entries were given up (a 4xx, retries exhausted, or shutdown ran out of time).</exception>
    public override void Write(in LogBatch batch, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        int count = _encoder.Prepare(in batch);
        int from = 0;
        int failed = 0;
        bool shutdown = false;
        Failure? first = null;
        int maxEntries = int.MaxValue;
        while (from < count)
        {
            int to = _encoder.EncodeNext(from, maxEntries, out ArraySegment<byte> body);
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
                first ??= f;
                shutdown |= f.Reason == LokiFailureReasons.Shutdown;
                if (f.Retryable && to < count)
                {
                    // Loki stayed unreachable through every attempt (or shutdown ran out): the rest of the batch would only
                    // wait the same way while the queue fills up, so it is given up with the same reason.
                    _counters.CountFailed(count - to, f.Reason, requests: 0);
                    failed += count - to;
                    break;
                }
            }

            from = to;
        }

        if (first is { } failure1)
        {
            var exception = new LokiPushException(failure1.Reason, failure1.StatusCode, failed, count,
                $"Loki push to {_endpoint} gave up {failed} of {count} entries ({failure1.Reason}, {failure1.Attempts} attempt(s)): {failure1.Detail}");
            if (shutdown && !_shutdownReported)
            {
                // The pipeline reports failures once a minute at most; what shutdown could not deliver is always said.
                _shutdownReported = true;
                Stderr.Write("FapiLog: " + exception.Message);
            }

            throw exception;
        }
    }

    /// <summary>Sends one body until it is accepted, given up, or shutdown cancels; null when accepted.</summary>
    private Failure? Push(ArraySegment<byte> body, int entries, CancellationToken cancellationToken)
    {
        TimeSpan backoff = _minBackoff;
        for (int attempt = 1; ; attempt++)
        {
            Attempt result = cancellationToken.IsCancellationRequested
                ? new Attempt(0, LokiFailureReasons.Shutdown, false, null, "shutdown timed out before the request could be sent")
                : SendOnce(body, cancellationToken);
            if (result.Reason is null)
            {
                _counters.CountSent(entries, body.Count);
                return null;
            }

            if (result.StatusCode == (int)HttpStatusCode.RequestEntityTooLarge && entries > 1)
            {
                return new Failure(result.Reason, result.StatusCode, false, attempt, result.Detail, Split: true);
            }

            bool shutdown = result.Reason == LokiFailureReasons.Shutdown;
            if (shutdown || !result.Retryable || attempt >= _maxAttempts)
            {
                _counters.CountFailed(entries, result.Reason, requests: 1);
                return new Failure(result.Reason, result.StatusCode, result.Retryable || shutdown, attempt, result.Detail);
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

            // A kernel wait that shutdown's abort token ends at once; no timer, no thread pool. On the worker thread the
            // drop warning still goes out meanwhile.
            if (LogPipeline.WaitToRetry(this, delay, cancellationToken))
            {
                _counters.CountFailed(entries, LokiFailureReasons.Shutdown, requests: 1);
                return new Failure(LokiFailureReasons.Shutdown, result.StatusCode, true, attempt,
                    $"shutdown timed out while waiting to retry; last error: {result.Detail}");
            }
        }
    }

    private Attempt SendOnce(ArraySegment<byte> body, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        // Not timeout.CancelAfter: its timer needs the thread pool, and a starved pool must not stall the worker.
        using RequestDeadlines.Registration deadline = RequestDeadlines.CancelAfter(timeout, _requestTimeout);
        HttpRequestMessage request = CreateRequest(body);
        try
        {
            using HttpResponseMessage response = Send(ref request, body, timeout.Token);
            int status = (int)response.StatusCode;
            if (status is >= 200 and < 300)
            {
                return new Attempt(status, null, false, null, null);
            }

            bool retryable = status is 429 or (>= 500 and <= 599);
            string detail = $"HTTP {status.ToString(CultureInfo.InvariantCulture)} {response.ReasonPhrase}: {ReadSnippet(response, timeout.Token)}";
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

    private HttpResponseMessage Send(ref HttpRequestMessage request, ArraySegment<byte> body, CancellationToken token)
    {
        if (!_useAsync)
        {
            try
            {
                return _client.Send(request, HttpCompletionOption.ResponseContentRead, token);
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
        return _client.SendAsync(request, HttpCompletionOption.ResponseContentRead, token).GetAwaiter().GetResult();
    }

    private HttpRequestMessage CreateRequest(ArraySegment<byte> body)
    {
        var content = new ByteArrayContent(body.Array!, body.Offset, body.Count);
        content.Headers.ContentType = new MediaTypeHeaderValue(_encoder.ContentType);
        if (_encoder.ContentEncoding is { } encoding)
        {
            content.Headers.ContentEncoding.Add(encoding);
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

        if (_authScheme is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue(_authScheme, _authParameter);
        }

        foreach (KeyValuePair<string, string> header in _headers)
        {
            request.Headers.TryAddWithoutValidation(header.Key, header.Value);
        }

        return request;
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

    private static string ReadSnippet(HttpResponseMessage response, CancellationToken token)
    {
        try
        {
            using Stream stream = response.Content.ReadAsStream(token);
            byte[] buffer = new byte[MaxErrorBodyChars];
            int read = 0;
            int n;
            while (read < buffer.Length && (n = stream.Read(buffer, read, buffer.Length - read)) > 0)
            {
                read += n;
            }

            string text = Encoding.UTF8.GetString(buffer, 0, read).Trim();
            var sb = new StringBuilder(text.Length);
            foreach (char c in text)
            {
                sb.Append(char.IsControl(c) ? ' ' : c);
            }

            return sb.Length == 0 ? "(empty body)" : sb.ToString();
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException or OperationCanceledException or ObjectDisposedException)
        {
            return "(body unreadable)";
        }
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
    protected override void Dispose(bool disposing)
    {
        if (!disposing || Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

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

    /// <summary>Shutdown ran out of time while the entries were being sent or retried.</summary>
    public const string Shutdown = "shutdown";

    /// <summary>Anything else (for example a custom handler that threw).</summary>
    public const string Error = "error";

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

/// <summary>Thrown by <see cref="LokiSink.Write"/> when entries were given up; the pipeline counts the batch as failed.</summary>
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

    /// <summary>Why the first failed request was given up (see <see cref="LokiFailureReasons"/>).</summary>
    public string Reason { get; }

    /// <summary>The HTTP status of the last answer, or 0 when there was none (timeout, connection failure, shutdown).</summary>
    public int StatusCode { get; }

    /// <summary>Entries given up.</summary>
    public int FailedEntries { get; }

    /// <summary>Entries in the batch.</summary>
    public int BatchEntries { get; }
}
