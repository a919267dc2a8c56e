using System;
using System.Collections.Generic;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using FapiLog.Loki;
using Xunit;

namespace FapiLog.Tests.Loki;

/// <summary>
/// A response that carries both Transfer-Encoding: chunked and Content-Length: 0 (a proxy that adds a length to a chunked
/// answer). HTTP/1.1 (RFC 9112 6.3) has Transfer-Encoding override Content-Length, and .NET reads the chunked body; the
/// sink must not take the stale Content-Length for "empty" (found by a review).
/// </summary>
public sealed class LokiEmptyAnnouncedTests
{
    [Fact]
    public void An_error_with_a_chunked_body_and_a_stale_Content_Length_0_quotes_its_body()
    {
        using var server = new RawServer("HTTP/1.1 503 Service Unavailable\r\n", "ingester unavailable");
        using var sink = new LokiSink(new LokiOptions { Url = server.Url, MaxAttempts = 1 });

        LokiPushException ex = Assert.Throws<LokiPushException>(() => sink.Push(LokiTestEvents.Batch(LokiTestEvents.Orders(2)), CancellationToken.None));

        Assert.True(ex.Message.Contains("HTTP 503 Service Unavailable: ingester unavailable", StringComparison.Ordinal), ex.Message);
    }

    /// <summary>A loopback HTTP/1.1 server that answers every request with the given head, Content-Length: 0 and a chunked body.</summary>
    private sealed class RawServer : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();

        public RawServer(string head, string chunkedBody)
        {
            _listener.Start();
            Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
            _ = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    TcpClient client;
                    try
                    {
                        client = await _listener.AcceptTcpClientAsync(_stop.Token);
                    }
                    catch (Exception)
                    {
                        return;
                    }

                    _ = Task.Run(() => Serve(client, head, chunkedBody));
                }
            });
        }

        public int Port { get; }

        public Uri Url => new($"http://127.0.0.1:{Port}");

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
        }

        private static int IndexOf(List<byte> haystack, byte[] needle)
        {
            for (int i = 0; i + needle.Length <= haystack.Count; i++)
            {
                bool match = true;
                for (int j = 0; j < needle.Length && match; j++)
                {
                    match = haystack[i + j] == needle[j];
                }

                if (match)
                {
                    return i;
                }
            }

            return -1;
        }

        private async Task Serve(TcpClient client, string head, string chunkedBody)
        {
            try
            {
                using (client)
                {
                    NetworkStream stream = client.GetStream();
                    var buffered = new List<byte>();
                    var buf = new byte[8192];
                    while (true)
                    {
                        int headerEnd;
                        while ((headerEnd = IndexOf(buffered, "\r\n\r\n"u8.ToArray())) < 0)
                        {
                            int n = await stream.ReadAsync(buf, _stop.Token);
                            if (n == 0)
                            {
                                return;
                            }

                            buffered.AddRange(buf.AsSpan(0, n).ToArray());
                        }

                        string headers = Encoding.ASCII.GetString(buffered.GetRange(0, headerEnd).ToArray());
                        int length = 0;
                        foreach (string line in headers.Split("\r\n"))
                        {
                            if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
                            {
                                length = int.Parse(line["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
                            }
                        }

                        int needed = headerEnd + 4 + length;
                        while (buffered.Count < needed)
                        {
                            int n = await stream.ReadAsync(buf, _stop.Token);
                            if (n == 0)
                            {
                                return;
                            }

                            buffered.AddRange(buf.AsSpan(0, n).ToArray());
                        }

                        buffered.RemoveRange(0, needed);
                        byte[] body = Encoding.ASCII.GetBytes(chunkedBody);
                        string chunk = body.Length == 0 ? "0\r\n\r\n" : $"{body.Length:x}\r\n{chunkedBody}\r\n0\r\n\r\n";
                        await stream.WriteAsync(Encoding.ASCII.GetBytes(head + "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk), _stop.Token);
                        await stream.FlushAsync(_stop.Token);
                    }
                }
            }
            catch (Exception)
            {
                // The client went away or the server stopped.
            }
        }
    }
}
