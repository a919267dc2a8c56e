using System;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Google.Protobuf;
using Snappier;

namespace FapiLog.Soak;

/// <summary>What the fake Loki does with the requests of a phase.</summary>
internal enum Phase
{
    /// <summary>Reads the push and answers 204.</summary>
    Accept,

    /// <summary>Listener stopped and open connections closed: connections are refused.</summary>
    Refuse,

    /// <summary>Answers 503.</summary>
    Unavailable,

    /// <summary>Answers 429 with <c>Retry-After: 2</c>.</summary>
    TooMany,

    /// <summary>Reads the push and never answers (until the phase ends or the client gives up).</summary>
    Hang,

    /// <summary>Starts a 200 answer and closes the connection half way through its body.</summary>
    Cut,
}

/// <summary>
/// A Loki push endpoint on 127.0.0.1 that the driver switches between <see cref="Phase"/>s. Accepted pushes are decoded
/// (snappy + protobuf) into the <see cref="Ledger"/>, so that what it accepted can be checked against the sink's counts.
/// </summary>
internal sealed class FakeLoki : IDisposable
{
    private readonly object _lock = new();
    private readonly HashSet<Socket> _open = new();
    private readonly CancellationTokenSource _disposed = new();
    private TcpListener? _listener;
    private CancellationTokenSource _phaseEnd = new();
    private Phase _phase = Phase.Accept;

    public FakeLoki(Ledger ledger)
    {
        Ledger = ledger;
        Start(0);
    }

    public Ledger Ledger { get; }

    public int Port { get; private set; }

    public long Requests;
    public long Accepted;

    public Phase Phase
    {
        get
        {
            lock (_lock)
            {
                return _phase;
            }
        }

        set
        {
            CancellationTokenSource ended;
            List<Socket>? close = null;
            lock (_lock)
            {
                ended = _phaseEnd;
                _phaseEnd = new CancellationTokenSource();
                _phase = value;
                if (value == Phase.Refuse)
                {
                    _listener?.Stop();
                    _listener = null;
                    close = [.. _open];
                }
                else if (_listener is null)
                {
                    Start(Port);
                }
            }

            // Hanging requests end with their phase; a stopped Loki drops its keep-alive connections too.
            ended.Cancel();
            foreach (Socket socket in close ?? [])
            {
                socket.Close();
            }
        }
    }

    private void Start(int port)
    {
        var listener = new TcpListener(IPAddress.Loopback, port);
        listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        listener.Start();
        Port = ((IPEndPoint)listener.LocalEndpoint).Port;
        _listener = listener;
        _ = Task.Run(() => AcceptLoop(listener));
    }

    private async Task AcceptLoop(TcpListener listener)
    {
        while (true)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptSocketAsync(_disposed.Token);
            }
            catch (Exception)
            {
                return;
            }

            lock (_lock)
            {
                _open.Add(socket);
            }

            _ = Task.Run(() => Serve(socket));
        }
    }

    private async Task Serve(Socket socket)
    {
        try
        {
            using var stream = new NetworkStream(socket, ownsSocket: true);
            var reader = new RequestReader(stream);
            while (true)
            {
                byte[]? body = await reader.ReadRequestAsync(_disposed.Token);
                if (body is null)
                {
                    return;
                }

                Interlocked.Increment(ref Requests);
                Phase phase;
                CancellationToken phaseEnd;
                lock (_lock)
                {
                    phase = _phase;
                    phaseEnd = _phaseEnd.Token;
                }

                switch (phase)
                {
                    case Phase.Accept:
                        Ledger.Record(Decode(body));
                        Interlocked.Increment(ref Accepted);
                        await WriteAsync(stream, "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n");
                        break;
                    case Phase.Unavailable:
                        await WriteAsync(stream, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 12\r\n\r\nnot ready\r\n\r\n");
                        break;
                    case Phase.TooMany:
                        await WriteAsync(stream, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\nContent-Length: 14\r\n\r\nrate limited\r\n");
                        break;
                    case Phase.Hang:
                        // Until the client gives up (its read ends) or the phase does.
                        using (var linked = CancellationTokenSource.CreateLinkedTokenSource(phaseEnd, _disposed.Token))
                        {
                            try
                            {
                                while (await stream.ReadAsync(new byte[256], linked.Token) > 0)
                                {
                                }
                            }
                            catch (OperationCanceledException)
                            {
                            }
                        }

                        return;
                    case Phase.Cut:
                        await WriteAsync(stream, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 64\r\n\r\npart of an ans");
                        return;
                    default:
                        return;
                }
            }
        }
        catch (Exception)
        {
            // The client went away, or the phase closed the connection.
        }
        finally
        {
            lock (_lock)
            {
                _open.Remove(socket);
            }
        }
    }

    private static Task WriteAsync(Stream stream, string text) => stream.WriteAsync(Encoding.ASCII.GetBytes(text)).AsTask();

    /// <summary>The lines of a protobuf push body, read with Snappier and Google.Protobuf only.</summary>
    private static List<string> Decode(byte[] body)
    {
        var lines = new List<string>();
        var request = new CodedInputStream(Snappy.DecompressToArray(body));
        uint tag;
        while ((tag = request.ReadTag()) != 0)
        {
            // PushRequest.streams = 1
            var stream = new CodedInputStream(request.ReadBytes().ToByteArray());
            uint streamTag;
            while ((streamTag = stream.ReadTag()) != 0)
            {
                if (WireFormat.GetTagFieldNumber(streamTag) != 2)
                {
                    stream.SkipLastField();
                    continue;
                }

                // StreamAdapter.entries = 2; EntryAdapter.line = 2
                var entry = new CodedInputStream(stream.ReadBytes().ToByteArray());
                uint entryTag;
                while ((entryTag = entry.ReadTag()) != 0)
                {
                    if (WireFormat.GetTagFieldNumber(entryTag) == 2)
                    {
                        lines.Add(entry.ReadString());
                    }
                    else
                    {
                        entry.SkipLastField();
                    }
                }
            }
        }

        return lines;
    }

    public void Dispose()
    {
        _disposed.Cancel();
        Phase = Phase.Refuse;
    }

    /// <summary>Reads HTTP/1.1 requests with a Content-Length body from one connection.</summary>
    private sealed class RequestReader(Stream stream)
    {
        private readonly byte[] _buffer = new byte[64 * 1024];
        private int _start;
        private int _end;

        /// <summary>The next request's body, or null once the client closed the connection.</summary>
        public async Task<byte[]?> ReadRequestAsync(CancellationToken token)
        {
            int length = -1;
            bool first = true;
            while (true)
            {
                string? line = await ReadLineAsync(token);
                if (line is null)
                {
                    return null;
                }

                if (line.Length == 0)
                {
                    if (first)
                    {
                        continue;
                    }

                    break;
                }

                first = false;
                if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
                {
                    length = int.Parse(line.AsSpan(15).Trim(), System.Globalization.CultureInfo.InvariantCulture);
                }
            }

            byte[] body = new byte[Math.Max(0, length)];
            int read = 0;
            while (read < body.Length)
            {
                if (_start == _end && !await FillAsync(token))
                {
                    return null;
                }

                int n = Math.Min(body.Length - read, _end - _start);
                Buffer.BlockCopy(_buffer, _start, body, read, n);
                _start += n;
                read += n;
            }

            return body;
        }

        private async Task<string?> ReadLineAsync(CancellationToken token)
        {
            var line = new StringBuilder();
            while (true)
            {
                if (_start == _end && !await FillAsync(token))
                {
                    return null;
                }

                char c = (char)_buffer[_start++];
                if (c == '\n')
                {
                    return line.ToString().TrimEnd('\r');
                }

                line.Append(c);
            }
        }

        private async Task<bool> FillAsync(CancellationToken token)
        {
            _start = 0;
            _end = await stream.ReadAsync(_buffer, token);
            return _end > 0;
        }
    }
}
