using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using FapiLog.Internal;
using FapiLog.Loki;
using FapiLog.Sinks;
using FapiLog.Tests.Support;
using Xunit;

namespace FapiLog.Tests.Loki;

/// <summary>How the sink behaves when Loki fails: retries, drops, timeouts, refused connections.</summary>
public sealed class LokiFaultTests
{
    private static LokiOptions Options(Uri url, int maxAttempts = 5) => new()
    {
        Url = url,
        MinBackoff = TimeSpan.FromMilliseconds(10),
        MaxBackoff = TimeSpan.FromMilliseconds(40),
        MaxAttempts = maxAttempts,
    };

    [Fact]
    public void A_500_then_204_is_delivered_once_with_the_same_body()
    {
        using var receiver = new LokiReceiver((i, _) => i == 0 ? new ResponsePlan(500, Body: "ingester unavailable") : ResponsePlan.NoContent);
        using var sink = new LokiSink(Options(receiver.Url));

        sink.Push(LokiTestEvents.Batch(LokiTestEvents.Orders(10)), CancellationToken.None);

        IReadOnlyList<ReceivedRequest> requests = receiver.WaitForRequests(2);
        Assert.Equal(2, requests.Count);
        // The retry carries the original timestamps: byte for byte the same body, so Loki de-duplicates it.
        Assert.Equal(requests[0].Body, requests[1].Body);
        Assert.Equal(Enumerable.Range(1, 10).Select(i => (long)i), requests[1].AllEntries().Select(e => e.Json.GetProperty("OrderId").GetInt64()));
        LokiStatistics stats = sink.Statistics;
        Assert.Equal(1, stats.Retries);
        Assert.Equal(1, stats.RequestsSent);
        Assert.Equal(10, stats.EntriesSent);
        Assert.Equal(0, stats.EntriesFailed);
    }

    [Fact]
    public void A_429_is_retried_after_the_Retry_After_delay()
    {
        using var receiver = new LokiReceiver((i, _) => i == 0 ? new ResponsePlan(429, RetryAfter: "1", Body: "rate limited") : ResponsePlan.NoContent);
        LokiOptions options = Options(receiver.Url);
        options.MaxBackoff = TimeSpan.FromSeconds(5);
        using var sink = new LokiSink(options);

        sink.Push(LokiTestEvents.Batch(LokiTestEvents.Orders(3)), CancellationToken.None);

        Assert.Equal(2, receiver.WaitForRequests(2).Count);
        // The server's delay (1 s), not the 10 ms backoff.
        Assert.Equal(TimeSpan.FromSeconds(1), sink.LastRetryDelay);
        Assert.Equal(1, sink.Statistics.Retries);
        Assert.Equal(3, sink.Statistics.EntriesSent);
    }

    [Fact]
    public void Retry_After_as_an_HTTP_date_is_honoured_and_capped_at_MaxBackoff()
    {
        string inAnHour = DateTimeOffset.UtcNow.AddHours(1).ToString("r", System.Globalization.CultureInfo.InvariantCulture);
        using var receiver = new LokiReceiver((i, _) => i == 0 ? new ResponsePlan(503, RetryAfter: inAnHour) : ResponsePlan.NoContent);
        using var sink = new LokiSink(Options(receiver.Url));

        sink.Push(LokiTestEvents.Batch(LokiTestEvents.Orders(1)), CancellationToken.None);

        Assert.Equal(2, receiver.Requests.Count);
        Assert.Equal(TimeSpan.FromMilliseconds(40), sink.LastRetryDelay);
    }

    [Theory]
    [InlineData(429)]
    [InlineData(503)]
    public void A_Retry_After_beyond_32_bits_of_seconds_is_capped_at_MaxBackoff_not_ignored(int status)
    {
        using var receiver = new LokiReceiver((i, _) => i == 0 ? new ResponsePlan(status, RetryAfter: "4294967296") : ResponsePlan.NoContent);
        LokiOptions options = Options(receiver.Url);
        options.MaxBackoff = TimeSpan.FromMilliseconds(400);
        using var sink = new LokiSink(options);

        sink.Push(LokiTestEvents.Batch(LokiTestEvents.Orders(1)), CancellationToken.None);

        Assert.Equal(2, receiver.Requests.Count);
        // The server asked for a very long wait: MaxBackoff, not the 10 ms computed backoff.
        Assert.Equal(TimeSpan.FromMilliseconds(400), sink.LastRetryDelay);
    }

    [Fact]
    public void Retry_After_as_an_HTTP_date_in_the_past_retries_at_once()
    {
        using var receiver = new LokiReceiver((i, _) => i == 0 ? new ResponsePlan(429, RetryAfter: "Thu, 01 Jan 1970 00:00:00 GMT") : ResponsePlan.NoContent);
        LokiOptions options = Options(receiver.Url);
        options.MinBackoff = TimeSpan.FromSeconds(30);
        options.MaxBackoff = TimeSpan.FromSeconds(30);
        using var sink = new LokiSink(options);

        sink.Push(LokiTestEvents.Batch(LokiTestEvents.Orders(1)), CancellationToken.None);

        Assert.Equal(2, receiver.Requests.Count);
        Assert.Equal(TimeSpan.Zero, sink.LastRetryDelay);
    }

    [Theory]
    [InlineData(400)]
    [InlineData(302)] // a redirect without a Location: nothing to follow
    [InlineData(600)] // not an HTTP status: once retried as if it were a 5xx
    public void A_400_or_an_answer_outside_the_retried_ones_is_dropped_at_once_counted_and_not_retried(int status)
    {
        using var receiver = new LokiReceiver((_, _) => new ResponsePlan(status, Body: "entry too far behind"));
        using var sink = new LokiSink(Options(receiver.Url));

        LokiPushException ex = Assert.Throws<LokiPushException>(() => sink.Push(LokiTestEvents.Batch(LokiTestEvents.Orders(4)), CancellationToken.None));

        string reason = "http_" + status;
        Assert.Equal(reason, ex.Reason);
        Assert.Equal(status, ex.StatusCode);
        Assert.Equal(4, ex.FailedEntries);
        Assert.Contains("entry too far behind", ex.Message, StringComparison.Ordinal);
        Assert.Single(receiver.Requests);
        LokiStatistics stats = sink.Statistics;
        Assert.Equal(0, stats.Retries);
        Assert.Equal(4, stats.GetEntriesFailed(reason));
        Assert.Equal(1, stats.RequestsFailed);
    }

    [Fact]
    public void A_5xx_that_persists_is_given_up_after_MaxAttempts()
    {
        using var receiver = new LokiReceiver((_, _) => new ResponsePlan(503));
        using var sink = new LokiSink(Options(receiver.Url, maxAttempts: 3));

        LokiPushException ex = Assert.Throws<LokiPushException>(() => sink.Push(LokiTestEvents.Batch(LokiTestEvents.Orders(2)), CancellationToken.None));

        Assert.Equal("http_503", ex.Reason);
        Assert.Equal(3, receiver.Requests.Count);
        Assert.Equal(2, sink.Statistics.Retries);
        Assert.Equal(2, sink.Statistics.GetEntriesFailed("http_503"));
    }

    [Fact]
    public void The_refusing_port_of_these_tests_refuses_connections_and_cannot_be_taken_while_held()
    {
        using var refusing = new RefusingPort();

        using (var client = new System.Net.Sockets.TcpClient())
        {
            var refused = Assert.Throws<System.Net.Sockets.SocketException>(() => client.Connect(System.Net.IPAddress.Loopback, refusing.Port));
            Assert.Equal(System.Net.Sockets.SocketError.ConnectionRefused, refused.SocketErrorCode);
        }

        // A server started alongside cannot listen on it meanwhile (.NET binds every TCP socket with SO_REUSEADDR on Unix).
        var server = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, refusing.Port);
        var taken = Assert.Throws<System.Net.Sockets.SocketException>(() => server.Start());
        Assert.Equal(System.Net.Sockets.SocketError.AddressAlreadyInUse, taken.SocketErrorCode);
        server.Server.Dispose();
    }

    [Fact]
    public void Nothing_listening_is_retried_then_failed_and_counted()
    {
        using var refusing = new RefusingPort();
        using var sink = new LokiSink(Options(refusing.Url, maxAttempts: 3));

        LokiPushException ex = Assert.Throws<LokiPushException>(() => sink.Push(LokiTestEvents.Batch(LokiTestEvents.Orders(5)), CancellationToken.None));

        Assert.Equal(LokiFailureReasons.Connection, ex.Reason);
        Assert.Equal(0, ex.StatusCode);
        LokiStatistics stats = sink.Statistics;
        Assert.Equal(2, stats.Retries);
        Assert.Equal(5, stats.GetEntriesFailed(LokiFailureReasons.Connection));
        Assert.Equal(0, stats.EntriesSent);
    }

    [Fact]
    public void A_server_that_never_answers_times_out_and_is_retried()
    {
        using var receiver = new LokiReceiver((_, _) => new ResponsePlan(0, Hang: true));
        LokiOptions options = Options(receiver.Url, maxAttempts: 2);
        options.RequestTimeout = TimeSpan.FromSeconds(1);
        using var sink = new LokiSink(options);

        LokiPushException ex = Assert.Throws<LokiPushException>(() => sink.Push(LokiTestEvents.Batch(LokiTestEvents.Orders(3)), CancellationToken.None));

        Assert.Equal(LokiFailureReasons.Timeout, ex.Reason);
        Assert.Equal(0, ex.StatusCode);
        // The receiver saw the request and never answered (on a loaded machine it may not have read the retry in time).
        Assert.NotEmpty(receiver.WaitForRequests(1));
        Assert.Equal(1, sink.Statistics.Retries);
        Assert.Equal(3, sink.Statistics.GetEntriesFailed(LokiFailureReasons.Timeout));
    }

    [Fact]
    public void A_cancelled_token_ends_the_retry_wait_and_counts_shutdown()
    {
        using var receiver = new LokiReceiver((_, _) => new ResponsePlan(503));
        LokiOptions options = Options(receiver.Url, maxAttempts: 1000);
        options.MinBackoff = TimeSpan.FromMinutes(10);
        options.MaxBackoff = TimeSpan.FromMinutes(10);
        using var sink = new LokiSink(options);
        using var abort = new CancellationTokenSource();
        LokiPushException? caught = null;
        var writer = new Thread(() =>
        {
            try
            {
                sink.Push(LokiTestEvents.Batch(LokiTestEvents.Orders(2)), abort.Token);
            }
            catch (LokiPushException ex)
            {
                caught = ex;
            }
        });
        writer.Start();

        receiver.WaitForRequests(1);
        abort.Cancel();
        Assert.True(writer.Join(LokiReceiver.SafetyTimeout), "the sink did not wake up from its backoff on cancellation");
        Assert.NotNull(caught);
        Assert.Equal(LokiFailureReasons.Shutdown, caught!.Reason);
        Assert.Equal(2, sink.Statistics.GetEntriesFailed(LokiFailureReasons.Shutdown));
    }

    [Fact]
    public void A_batch_given_up_at_shutdown_before_it_was_sent_counts_its_entries_but_no_failed_request()
    {
        // The first batch hangs in flight, the second waits behind it in the send buffer. Disposal cancels the first
        // request and gives the second batch up without one: both count their entries, only the first is a failed request.
        using var receiver = new LokiReceiver((_, _) => new ResponsePlan(0, Hang: true));
        var sink = new LokiSink(Options(receiver.Url));
        sink.Write(LokiTestEvents.Batch(LokiTestEvents.Orders(4)), CancellationToken.None);
        receiver.WaitForRequests(1);
        sink.Write(LokiTestEvents.Batch(LokiTestEvents.Orders(6, firstId: 5)), CancellationToken.None);

        sink.Dispose();

        LokiStatistics stats = sink.Statistics;
        Assert.Single(receiver.Requests);
        Assert.Equal(10, stats.GetEntriesFailed(LokiFailureReasons.Shutdown));
        Assert.Equal(10, stats.EntriesFailed);
        Assert.Equal(1, stats.RequestsFailed);
    }

    [Fact]
    public void A_cancelled_send_source_is_disposed_once_replaced_and_the_last_one_when_the_sink_is_disposed()
    {
        // A flush whose token fires cancels the request in flight through the sink's source, which is then replaced for the
        // next batch. The replaced one (with the kernel event a backoff wait creates) was left to the finalizer.
        int requests = 0;
        using var receiver = new LokiReceiver((_, _) => Interlocked.Increment(ref requests) == 1 ? new ResponsePlan(0, Hang: true) : ResponsePlan.NoContent);
        var sink = new LokiSink(Options(receiver.Url));
        using var abort = new CancellationTokenSource();
        sink.Write(LokiTestEvents.Batch(LokiTestEvents.Orders(2)), CancellationToken.None);
        receiver.WaitForRequests(1);
        CancellationTokenSource first = sink.SendCancellation;
        abort.Cancel();
        Assert.Throws<LokiPushException>(() => sink.Flush(abort.Token));

        sink.Push(LokiTestEvents.Batch(LokiTestEvents.Orders(3)), CancellationToken.None);
        CancellationTokenSource second = sink.SendCancellation;

        Assert.NotSame(first, second);
        Assert.Throws<ObjectDisposedException>(() => first.Token);
        Assert.Equal(3, sink.Statistics.EntriesSent);
        sink.Dispose();
        Assert.Throws<ObjectDisposedException>(() => second.Token);
    }

    [Fact]
    public void A_flush_whose_token_fires_quotes_the_batch_given_up_unsent_last_and_counts_no_attempt_for_it()
    {
        // The request in flight is cancelled, then the batch behind it is given up without one: the report quotes the
        // latest (not sent), not the first.
        using var receiver = new LokiReceiver((_, _) => new ResponsePlan(0, Hang: true));
        using var sink = new LokiSink(Options(receiver.Url));
        using var abort = new CancellationTokenSource();
        sink.Write(LokiTestEvents.Batch(LokiTestEvents.Orders(4)), CancellationToken.None);
        receiver.WaitForRequests(1);
        sink.Write(LokiTestEvents.Batch(LokiTestEvents.Orders(6, firstId: 5)), CancellationToken.None);
        abort.Cancel();

        LokiPushException ex = Assert.Throws<LokiPushException>(() => sink.Flush(abort.Token));

        Assert.Equal(LokiFailureReasons.Shutdown, ex.Reason);
        Assert.Equal(10, ex.FailedEntries);
        Assert.Contains("in 2 batches", ex.Message, StringComparison.Ordinal);
        Assert.Contains("(shutdown, not sent)", ex.Message, StringComparison.Ordinal);
        Assert.Contains("before the request could be sent", ex.Message, StringComparison.Ordinal);
        Assert.Equal(1, sink.Statistics.RequestsFailed);
    }

    [Fact]
    public void A_retry_cancelled_in_flight_quotes_the_error_of_the_attempt_before_it()
    {
        // Loki answered 503, then hung on the retry: what shutdown reports is the 503, not only "in flight".
        using var receiver = new LokiReceiver((i, _) => i == 0 ? new ResponsePlan(503, Body: "ingester down") : new ResponsePlan(0, Hang: true));
        using var sink = new LokiSink(Options(receiver.Url));
        using var abort = new CancellationTokenSource();
        sink.Write(LokiTestEvents.Batch(LokiTestEvents.Orders(2)), CancellationToken.None);
        receiver.WaitForRequests(2);
        abort.Cancel();

        LokiPushException ex = Assert.Throws<LokiPushException>(() => sink.Flush(abort.Token));

        Assert.Equal(LokiFailureReasons.Shutdown, ex.Reason);
        Assert.Equal(503, ex.StatusCode);
        Assert.Contains("in flight; last error: HTTP 503", ex.Message, StringComparison.Ordinal);
        Assert.Contains("ingester down", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_4xx_on_one_part_of_a_split_batch_does_not_stop_the_other_parts()
    {
        using var receiver = new LokiReceiver((i, _) => i == 0 ? new ResponsePlan(400, Body: "bad") : ResponsePlan.NoContent);
        LokiOptions options = Options(receiver.Url);
        options.MaxBatchBytes = 2048;
        using var sink = new LokiSink(options);

        LokiPushException ex = Assert.Throws<LokiPushException>(() => sink.Push(LokiTestEvents.Batch(LokiTestEvents.Orders(60, customerLength: 100)), CancellationToken.None));

        IReadOnlyList<ReceivedRequest> requests = receiver.Requests;
        Assert.True(requests.Count > 1);
        int firstPart = requests[0].AllEntries().Count();
        Assert.Equal(firstPart, ex.FailedEntries);
        Assert.Equal(60 - firstPart, sink.Statistics.EntriesSent);
        Assert.Equal(firstPart, sink.Statistics.GetEntriesFailed("http_400"));
    }

    [Fact]
    public void While_a_split_batch_is_part_way_its_sent_part_is_no_longer_counted_as_buffered()
    {
        // The first part is taken, the second hangs: the first part's entries were counted as sent and still as buffered
        // until the whole batch was done (minutes, at the longest backoff), so sent + failed + buffered exceeded what the
        // sink was given.
        using var receiver = new LokiReceiver((i, _) => i == 0 ? ResponsePlan.NoContent : new ResponsePlan(204, Hang: true));
        LokiOptions options = Options(receiver.Url);
        options.MaxBatchBytes = 2048;
        options.RequestTimeout = TimeSpan.FromMinutes(5);
        var sink = new LokiSink(options);

        sink.Write(LokiTestEvents.Batch(LokiTestEvents.Orders(60, customerLength: 100)), CancellationToken.None);
        IReadOnlyList<ReceivedRequest> requests = receiver.WaitForRequests(2);
        int firstPart = requests[0].AllEntries().Count();
        LokiStatistics partWay = sink.Statistics;
        sink.Dispose();
        LokiStatistics done = sink.Statistics;

        Assert.Equal(firstPart, partWay.EntriesSent);
        Assert.Equal(60 - firstPart, partWay.BufferedEntries);
        Assert.True(partWay.BufferedBytes > 0);
        Assert.Equal(60, done.EntriesSent + done.EntriesFailed);
        Assert.Equal(0, done.BufferedEntries);
        Assert.Equal(0, done.BufferedBytes);
    }

    [Fact]
    public void A_413_splits_the_request_until_it_fits_without_loss_or_duplicates()
    {
        using var receiver = new LokiReceiver((_, request) => request.AllEntries().Count() > 10 ? new ResponsePlan(413, Body: "too large") : ResponsePlan.NoContent);
        using var sink = new LokiSink(Options(receiver.Url));

        sink.Push(LokiTestEvents.Batch(LokiTestEvents.Orders(40)), CancellationToken.None);

        IReadOnlyList<ReceivedRequest> requests = receiver.Requests;
        Assert.Equal([40, 20, 10, 10, 10, 10], requests.Select(r => r.AllEntries().Count()));
        List<long> delivered = requests.Skip(2).SelectMany(r => r.AllEntries()).Select(e => e.Json.GetProperty("OrderId").GetInt64()).ToList();
        Assert.Equal(Enumerable.Range(1, 40).Select(i => (long)i), delivered);
        Assert.Equal(40, sink.Statistics.EntriesSent);
        Assert.Equal(0, sink.Statistics.EntriesFailed);
        Assert.Equal(2, sink.Statistics.Retries);
    }

    [Fact]
    public void A_413_for_a_single_entry_is_given_up_and_counted()
    {
        using var receiver = new LokiReceiver((_, _) => new ResponsePlan(413));
        using var sink = new LokiSink(Options(receiver.Url));

        LokiPushException ex = Assert.Throws<LokiPushException>(() => sink.Push(LokiTestEvents.Batch(LokiTestEvents.Orders(2)), CancellationToken.None));

        Assert.Equal("http_413", ex.Reason);
        Assert.Equal([2, 1, 1], receiver.Requests.Select(r => r.AllEntries().Count()));
        Assert.Equal(2, sink.Statistics.GetEntriesFailed("http_413"));
    }

    [Fact]
    public void After_a_single_entry_too_large_for_a_413_the_rest_of_the_batch_goes_out_in_full_requests_again()
    {
        // One entry of 40 is too large for the proxy: once it was given up, the other 39 went out one per request, since
        // the halved limit was never raised again (found by a review).
        using var receiver = new LokiReceiver((_, request) => request.AllEntries().Any(e => e.Line.Length > 20_000)
            ? new ResponsePlan(413, Body: "too large")
            : ResponsePlan.NoContent);
        using var sink = new LokiSink(Options(receiver.Url));
        var records = new LogRecord[40];
        for (int i = 0; i < records.Length; i++)
        {
            LokiTestEvents.Order(ref records[i], LokiTestEvents.BaseTicks + i, i + 1, i == 0 ? new string('x', 30_000) : "alice", i);
        }

        LokiPushException ex = Assert.Throws<LokiPushException>(() => sink.Push(LokiTestEvents.Batch(records), CancellationToken.None));

        Assert.Equal(1, ex.FailedEntries);
        Assert.Equal([40, 20, 10, 5, 2, 1, 39], receiver.Requests.Select(r => r.AllEntries().Count()));
        Assert.Equal(Enumerable.Range(2, 39).Select(i => (long)i), receiver.Requests[^1].AllEntries().Select(e => e.Json.GetProperty("OrderId").GetInt64()));
        Assert.Equal(39, sink.Statistics.EntriesSent);
        Assert.Equal(1, sink.Statistics.GetEntriesFailed("http_413"));
    }

    [Theory]
    [InlineData(200, 100L)]             // the rest of the body never comes
    [InlineData(204, 0L)]               // control: no body at all
    [InlineData(200, 3_000_000_000L)]   // a body larger than HttpClient would ever buffer
    public void A_2xx_is_a_success_once_its_headers_are_in_whatever_its_body_does(int status, long announced)
    {
        // The whole body was read before the status was looked at: a 200 whose body was slow or huge was retried (a
        // duplicate push) and then counted failed as a timeout or a connection error (found by a review).
        using var receiver = new LokiReceiver((_, _) => announced == 0
            ? new ResponsePlan(status)
            : new ResponsePlan(status, Body: "{\"status\":", AnnouncedLength: announced));
        // The body is read for the connection's sake until the deadline cuts it off; the push stays a success.
        LokiOptions options = Options(receiver.Url, maxAttempts: 2);
        options.RequestTimeout = TimeSpan.FromMilliseconds(300);
        using var sink = new LokiSink(options);

        sink.Push(LokiTestEvents.Batch(LokiTestEvents.Orders(3)), CancellationToken.None);

        Assert.Single(receiver.Requests);
        Assert.Equal(3, sink.Statistics.EntriesSent);
        Assert.Equal(0, sink.Statistics.EntriesFailed);
        Assert.Equal(0, sink.Statistics.Retries);
    }

    [Theory]
    [InlineData(false)]   // the sink's own handler: the body is waited for a second at most
    [InlineData(true)]    // the application's handler: the body is not read at all
    public void A_2xx_whose_body_stalls_does_not_hold_the_sender_until_the_request_deadline(bool applicationsHandler)
    {
        // Reading a 2xx's body for the connection's sake until the request's deadline made every push to a server whose
        // body stalls cost the whole RequestTimeout (10 s by default), and with the application's own handler 2 s more,
        // its background drain (found by a review). The deadline here is an hour: the push must not wait for it, and the
        // minute the test gives it is only a bound on a hang.
        using var receiver = new LokiReceiver((_, _) => new ResponsePlan(200, Body: "{\"status\":", AnnouncedLength: 100));
        using var handler = new System.Net.Http.SocketsHttpHandler();
        LokiOptions options = Options(receiver.Url, maxAttempts: 1);
        options.RequestTimeout = TimeSpan.FromMinutes(10);
        if (applicationsHandler)
        {
            options.HttpMessageHandler = handler;
        }

        using var sink = new LokiSink(options);

        var push = System.Threading.Tasks.Task.Factory.StartNew(
            () => sink.Push(LokiTestEvents.Batch(LokiTestEvents.Orders(3)), CancellationToken.None), System.Threading.Tasks.TaskCreationOptions.LongRunning);

        Assert.True(push.Wait(TimeSpan.FromMinutes(1)), "the push waited for the request's deadline");
        Assert.Equal(3, sink.Statistics.EntriesSent);
    }

    [Theory]
    [InlineData(200, "{\"status\":\"success\"}")]   // a gateway or a Loki-compatible store
    [InlineData(204, "")]                             // Loki
    [InlineData(503, "ingester unavailable")]         // retried, on the same connection
    public void Pushes_keep_one_connection_whatever_the_answers_body(int status, string body)
    {
        // A 2xx's body left unread made HttpClient drain it in the background, and the next push, finding no idle
        // connection, opened a new one: a TCP (with https a TLS) handshake on about every third push (found by a review).
        using var receiver = new LokiReceiver((_, _) => new ResponsePlan(status, Body: body));
        using var sink = new LokiSink(Options(receiver.Url, maxAttempts: 1));

        for (int i = 0; i < 30; i++)
        {
            try
            {
                sink.Push(LokiTestEvents.Batch(LokiTestEvents.Orders(2)), CancellationToken.None);
            }
            catch (LokiPushException) when (status >= 300)
            {
            }
        }

        Assert.Equal(30, receiver.Requests.Count);
        Assert.Equal(1, receiver.Connections);
    }

    [Fact]
    public void A_5xx_whose_body_never_ends_is_counted_as_that_5xx_within_the_request_timeout()
    {
        using var receiver = new LokiReceiver((_, _) => new ResponsePlan(503, Body: "ingester unavail", AnnouncedLength: 1_000));
        LokiOptions options = Options(receiver.Url, maxAttempts: 1);
        options.RequestTimeout = TimeSpan.FromMilliseconds(300);
        using var sink = new LokiSink(options);

        LokiPushException ex = Assert.Throws<LokiPushException>(() => sink.Push(LokiTestEvents.Batch(LokiTestEvents.Orders(2)), CancellationToken.None));

        // The status is what failed, and the start of the body read before the deadline closed the connection is quoted
        // (it was thrown away for "(body unreadable)": found by a review).
        Assert.Equal("http_503", ex.Reason);
        Assert.Equal(503, ex.StatusCode);
        Assert.Contains("HTTP 503 Service Unavailable: ingester unavail", ex.Message, StringComparison.Ordinal);
        Assert.Equal(2, sink.Statistics.GetEntriesFailed("http_503"));
    }

    [Theory]
    [InlineData(301)]
    [InlineData(307)]
    [InlineData(308)]
    public void A_redirect_is_not_followed_and_the_message_names_where_it_points(int status)
    {
        // Deliberately not followed (a 301/302 POST would become a GET, and the tenant and custom headers would go wherever
        // the answer points), so the message says where to point the sink instead.
        using var receiver = new LokiReceiver((_, _) => new ResponsePlan(status, Location: "/moved/loki/api/v1/push?key=secret"));
        using var sink = new LokiSink(Options(receiver.Url));

        LokiPushException ex = Assert.Throws<LokiPushException>(() => sink.Push(LokiTestEvents.Batch(LokiTestEvents.Orders(2)), CancellationToken.None));

        Assert.Equal("http_" + status, ex.Reason);
        Assert.Single(receiver.Requests);
        Assert.Contains($"redirected to http://127.0.0.1:{receiver.Url.Port}/moved/loki/api/v1/push;", ex.Message, StringComparison.Ordinal);
        Assert.Contains("set the Loki URL", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_drop_warning_keeps_its_schedule_while_Loki_retries_one_batch()
    {
        // Loki down and steady traffic: the sink's sender sits in its retry backoff (minutes per batch with the defaults).
        // The warning once waited for the whole backoff, so a service lost events in silence; now the worker does not wait.
        using var refusing = new RefusingPort();
        FapiLogOptions options = TestLog.Options(o =>
        {
            o.QueueCapacity = 4;
            o.BatchSize = 2;
            o.Overflow = OverflowStrategy.Drop;
            o.Loki.Url = refusing.Url;
            o.Loki.MinBackoff = TimeSpan.FromHours(1);
            o.Loki.MaxBackoff = TimeSpan.FromHours(1);
        });
        InMemorySink memory = TestLog.Memory(options);
        var pipeline = new LogPipeline(options, FapiLogging.BuildSinks(options), startWorker: false);
        for (int i = 0; i < 6; i++)
        {
            TestLog.Emit(pipeline, 1, i);
        }

        Assert.Equal(2, pipeline.GetStatistics().DroppedQueueFull);
        LokiSink loki = Assert.Single(pipeline.Sinks.OfType<LokiSink>());
        pipeline.StartWorkerForTesting();
        try
        {
            // Events 0 to 3, then the warning, while the Loki sink waits an hour before its second attempt.
            Assert.True(memory.WaitForCount(5, TestLog.Safety), "no drop warning while the Loki sink was backing off");
            CapturedLogEvent warning = Assert.Single(memory.Events, e => e.EventName == "FapiLog.EventsDropped");
            Assert.Equal(2L, warning["QueueFull"]);
            Assert.Equal(0, loki.Statistics.EntriesSent);

            // Not delivered while Loki has them only in its buffer.
            Assert.Equal(0, pipeline.GetStatistics().Delivered + pipeline.GetStatistics().Failed);
        }
        finally
        {
            // Gives up at once: the Loki sink is told to stop waiting.
            pipeline.Shutdown(TimeSpan.Zero);
            Assert.True(pipeline.Stopped.Wait(TestLog.Safety));
        }
    }
}
