using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Snappier;

namespace FapiLog.Tests.Loki;

/// <summary>What the receiver answers to one request.</summary>
/// <param name="Location">A Location header to send.</param>
/// <param name="AnnouncedLength">
/// A Content-Length larger than <paramref name="Body"/>: the body is sent, then the receiver stays silent (a body that is
/// slow, endless or huge).
/// </param>
internal sealed record ResponsePlan(int Status, string? RetryAfter = null, string Body = "", bool Hang = false, string? Location = null, long? AnnouncedLength = null)
{
    public static readonly ResponsePlan NoContent = new(204);
}

internal sealed record DecodedEntry(long Nanoseconds, string Line, IReadOnlyDictionary<string, string> Metadata)
{
    public JsonElement Json => JsonDocument.Parse(Line).RootElement;
}

internal sealed record DecodedStream(string LabelText, IReadOnlyDictionary<string, string> Labels, IReadOnlyList<DecodedEntry> Entries);

internal sealed record ReceivedRequest(string Method, string Path, IReadOnlyDictionary<string, string> Headers, byte[] Body)
{
    public string? Header(string name) => Headers.TryGetValue(name, out string? value) ? value : null;

    /// <summary>Decodes the push body without any of the sink's code: Snappier + Google.Protobuf, or System.Text.Json.</summary>
    public IReadOnlyList<DecodedStream> Decode()
    {
        string contentType = Header("Content-Type") ?? "";
        if (contentType.StartsWith("application/x-protobuf", StringComparison.Ordinal))
        {
            return DecodeProtobuf(Snappy.DecompressToArray(Body));
        }

        byte[] json = Body;
        if (Header("Content-Encoding") == "gzip")
        {
            using var input = new GZipStream(new MemoryStream(Body), CompressionMode.Decompress);
            using var output = new MemoryStream();
            input.CopyTo(output);
            json = output.ToArray();
        }

        return DecodeJson(json);
    }

    public IEnumerable<DecodedEntry> AllEntries() => Decode().SelectMany(s => s.Entries);

    private static List<DecodedStream> DecodeProtobuf(byte[] bytes)
    {
        var streams = new List<DecodedStream>();
        var input = new CodedInputStream(bytes);
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            Expect(tag, "PushRequest", 1);
            streams.Add(DecodeStream(input.ReadBytes()));
        }

        return streams;
    }

    private static DecodedStream DecodeStream(ByteString bytes)
    {
        string labels = "";
        var entries = new List<DecodedEntry>();
        var input = new CodedInputStream(bytes.ToByteArray());
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            Expect(tag, "StreamAdapter", 1, 2);
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1: labels = input.ReadString(); break;
                default: entries.Add(DecodeEntry(input.ReadBytes())); break;
            }
        }

        return new DecodedStream(labels, ParseLabels(labels), entries);
    }

    private static DecodedEntry DecodeEntry(ByteString bytes)
    {
        long ns = 0;
        string line = "";
        var metadata = new Dictionary<string, string>();
        var input = new CodedInputStream(bytes.ToByteArray());
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            Expect(tag, "EntryAdapter", 1, 2, 3);
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1:
                    Timestamp ts = Timestamp.Parser.ParseFrom(input.ReadBytes());
                    ns = (ts.Seconds * 1_000_000_000L) + ts.Nanos;
                    break;
                case 2: line = input.ReadString(); break;
                case 3:
                    var pair = new CodedInputStream(input.ReadBytes().ToByteArray());
                    string name = "", value = "";
                    uint pairTag;
                    while ((pairTag = pair.ReadTag()) != 0)
                    {
                        Expect(pairTag, "LabelPairAdapter", 1, 2);
                        if (WireFormat.GetTagFieldNumber(pairTag) == 1)
                        {
                            name = pair.ReadString();
                        }
                        else
                        {
                            value = pair.ReadString();
                        }
                    }

                    metadata[name] = value;
                    break;
            }
        }

        return new DecodedEntry(ns, line, metadata);
    }

    /// <summary>
    /// Refuses a field the sink has no business sending, or one with the wrong wire type (all of these are
    /// length-delimited): a lenient decoder would skip it, and the test would pass on a body Loki reads differently.
    /// </summary>
    private static void Expect(uint tag, string message, params int[] fields)
    {
        int field = WireFormat.GetTagFieldNumber(tag);
        if (Array.IndexOf(fields, field) < 0 || WireFormat.GetTagWireType(tag) != WireFormat.WireType.LengthDelimited)
        {
            throw new FormatException($"{message}: unexpected field {field} with wire type {WireFormat.GetTagWireType(tag)}");
        }
    }

    private static List<DecodedStream> DecodeJson(byte[] json)
    {
        var streams = new List<DecodedStream>();
        using JsonDocument doc = JsonDocument.Parse(json);
        foreach (JsonElement stream in doc.RootElement.GetProperty("streams").EnumerateArray())
        {
            var labels = new Dictionary<string, string>();
            foreach (JsonProperty label in stream.GetProperty("stream").EnumerateObject())
            {
                labels[label.Name] = label.Value.GetString()!;
            }

            var entries = new List<DecodedEntry>();
            foreach (JsonElement value in stream.GetProperty("values").EnumerateArray())
            {
                // The timestamp must be a string of nanoseconds: GetString throws on a number.
                if (value.GetArrayLength() is not (2 or 3))
                {
                    throw new FormatException($"a value of {value.GetArrayLength()} elements: Loki reads [ns, line] or [ns, line, metadata]");
                }

                long ns = long.Parse(value[0].GetString()!, System.Globalization.CultureInfo.InvariantCulture);
                string line = value[1].GetString()!;
                var metadata = new Dictionary<string, string>();
                if (value.GetArrayLength() > 2)
                {
                    foreach (JsonProperty m in value[2].EnumerateObject())
                    {
                        metadata[m.Name] = m.Value.GetString()!;
                    }
                }

                entries.Add(new DecodedEntry(ns, line, metadata));
            }

            streams.Add(new DecodedStream("", labels, entries));
        }

        return streams;
    }

    /// <summary>Parses Prometheus label syntax: <c>{a="b", c="d\"e"}</c>.</summary>
    public static Dictionary<string, string> ParseLabels(string text)
    {
        var labels = new Dictionary<string, string>();
        int i = 0;
        Expect('{');
        while (true)
        {
            SkipSpaces();
            if (text[i] == '}')
            {
                break;
            }

            int nameStart = i;
            while (text[i] != '=')
            {
                i++;
            }

            string name = text[nameStart..i].Trim();
            i++;
            Expect('"');
            var value = new StringBuilder();
            while (text[i] != '"')
            {
                if (text[i] == '\\')
                {
                    i++;
                    value.Append(text[i] switch { 'n' => '\n', char c => c });
                }
                else
                {
                    value.Append(text[i]);
                }

                i++;
            }

            i++;
            labels[name] = value.ToString();
            SkipSpaces();
            if (text[i] == ',')
            {
                i++;
            }
        }

        return labels;

        void Expect(char c)
        {
            if (text[i] != c)
            {
                throw new FormatException($"Expected '{c}' at {i} in {text}");
            }

            i++;
        }

        void SkipSpaces()
        {
            while (text[i] == ' ')
            {
                i++;
            }
        }
    }
}

/// <summary>
/// A minimal HTTP/1.1 server on 127.0.0.1 (random free port) that records every request and answers as the test says.
/// Written on a raw <see cref="TcpListener"/> so that a test can also make it hang or refuse.
/// </summary>
internal sealed class LokiReceiver : IDisposable
{
    private readonly TcpListener _listener;
    private readonly Func<int, ReceivedRequest, ResponsePlan> _respond;
    private readonly List<ReceivedRequest> _requests = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _clients = new();

    /// <summary>How many connections were accepted so far.</summary>
    public int Connections
    {
        get
        {
            lock (_clients)
            {
                return _clients.Count;
            }
        }
    }

    public LokiReceiver(Func<int, ReceivedRequest, ResponsePlan>? respond = null)
    {
        _respond = respond ?? ((_, _) => ResponsePlan.NoContent);
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _ = Task.Run(AcceptLoop);
    }

    public int Port { get; }

    public Uri Url => new($"http://127.0.0.1:{Port}");

    public static readonly TimeSpan SafetyTimeout = TimeSpan.FromSeconds(60);

    public IReadOnlyList<ReceivedRequest> Requests
    {
        get
        {
            lock (_requests)
            {
                return _requests.ToList();
            }
        }
    }

    /// <summary>Waits (on a signal, with a generous safety timeout) until at least <paramref name="count"/> requests arrived.</summary>
    public IReadOnlyList<ReceivedRequest> WaitForRequests(int count)
    {
        DateTime deadline = DateTime.UtcNow + SafetyTimeout;
        lock (_requests)
        {
            while (_requests.Count < count)
            {
                TimeSpan left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero || !Monitor.Wait(_requests, left))
                {
                    throw new TimeoutException($"Expected {count} request(s), got {_requests.Count}.");
                }
            }

            return _requests.ToList();
        }
    }

    private async Task AcceptLoop()
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

            lock (_clients)
            {
                _clients.Add(client);
            }

            _ = Task.Run(() => Serve(client));
        }
    }

    private async Task Serve(TcpClient client)
    {
        try
        {
            using (client)
            {
                NetworkStream stream = client.GetStream();
                var reader = new BufferedReader(stream);
                while (!_stop.IsCancellationRequested)
                {
                    string? requestLine = await reader.ReadLineAsync(_stop.Token);
                    if (string.IsNullOrEmpty(requestLine))
                    {
                        return;
                    }

                    var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
                    string? line;
                    while (!string.IsNullOrEmpty(line = await reader.ReadLineAsync(_stop.Token)))
                    {
                        int colon = line.IndexOf(':', StringComparison.Ordinal);
                        string name = line[..colon].Trim();
                        string value = line[(colon + 1)..].Trim();
                        headers[name] = headers.TryGetValue(name, out string? existing) ? existing + ", " + value : value;
                    }

                    int length = headers.TryGetValue("Content-Length", out string? cl) ? int.Parse(cl, System.Globalization.CultureInfo.InvariantCulture) : 0;
                    byte[] body = await reader.ReadBytesAsync(length, _stop.Token);
                    string[] parts = requestLine.Split(' ');
                    var request = new ReceivedRequest(parts[0], parts[1], headers, body);
                    int index;
                    lock (_requests)
                    {
                        index = _requests.Count;
                        _requests.Add(request);
                        Monitor.PulseAll(_requests);
                    }

                    ResponsePlan plan = _respond(index, request);
                    if (plan.Hang)
                    {
                        await Task.Delay(Timeout.Infinite, _stop.Token);
                        return;
                    }

                    byte[] responseBody = Encoding.UTF8.GetBytes(plan.Body);
                    var head = new StringBuilder();
                    head.Append("HTTP/1.1 ").Append(plan.Status).Append(' ').Append(Reason(plan.Status)).Append("\r\n");
                    head.Append("Content-Length: ").Append(plan.AnnouncedLength ?? responseBody.Length).Append("\r\n");
                    if (plan.RetryAfter is not null)
                    {
                        head.Append("Retry-After: ").Append(plan.RetryAfter).Append("\r\n");
                    }

                    if (plan.Location is not null)
                    {
                        head.Append("Location: ").Append(plan.Location).Append("\r\n");
                    }

                    head.Append("\r\n");
                    await stream.WriteAsync(Encoding.ASCII.GetBytes(head.ToString()), _stop.Token);
                    await stream.WriteAsync(responseBody, _stop.Token);
                    await stream.FlushAsync(_stop.Token);
                    if (plan.AnnouncedLength is not null)
                    {
                        await Task.Delay(Timeout.Infinite, _stop.Token);
                        return;
                    }
                }
            }
        }
        catch (Exception)
        {
            // The client went away or the receiver stopped.
        }
    }

    private static string Reason(int status) => status switch
    {
        200 => "OK", 204 => "No Content", 400 => "Bad Request", 401 => "Unauthorized", 413 => "Payload Too Large",
        429 => "Too Many Requests", 500 => "Internal Server Error", 503 => "Service Unavailable", _ => "Status",
    };

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        lock (_clients)
        {
            foreach (TcpClient client in _clients)
            {
                client.Dispose();
            }
        }
    }

    /// <summary>Reads CRLF lines and then raw bytes from one stream.</summary>
    private sealed class BufferedReader(Stream stream)
    {
        private readonly byte[] _buffer = new byte[64 * 1024];
        private int _start;
        private int _end;

        public async Task<string?> ReadLineAsync(CancellationToken token)
        {
            var line = new List<byte>();
            while (true)
            {
                if (_start == _end && !await FillAsync(token))
                {
                    return line.Count == 0 ? null : Encoding.ASCII.GetString(line.ToArray());
                }

                byte b = _buffer[_start++];
                if (b == '\n')
                {
                    if (line.Count > 0 && line[^1] == '\r')
                    {
                        line.RemoveAt(line.Count - 1);
                    }

                    return Encoding.ASCII.GetString(line.ToArray());
                }

                line.Add(b);
            }
        }

        public async Task<byte[]> ReadBytesAsync(int count, CancellationToken token)
        {
            byte[] result = new byte[count];
            int read = 0;
            while (read < count)
            {
                if (_start == _end && !await FillAsync(token))
                {
                    throw new EndOfStreamException();
                }

                int n = Math.Min(count - read, _end - _start);
                Array.Copy(_buffer, _start, result, read, n);
                _start += n;
                read += n;
            }

            return result;
        }

        private async Task<bool> FillAsync(CancellationToken token)
        {
            _start = 0;
            _end = await stream.ReadAsync(_buffer, token);
            return _end > 0;
        }
    }
}

/// <summary>
/// A port on 127.0.0.1 that refuses connections for as long as this is held: a socket bound to it that never listens. A
/// port probed and released (as these tests once did) could be given to a server another test project starts alongside
/// before the test connected to it.
/// </summary>
internal sealed class RefusingPort : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

    public RefusingPort()
    {
        _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        // .NET sets SO_REUSEADDR on every TCP socket it binds on Unix, and with it a server that sets it too (any .NET
        // server) may still bind and listen on this port. Cleared after the bind, the port is this socket's alone.
        _socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, false);
        Port = ((IPEndPoint)_socket.LocalEndPoint!).Port;
    }

    public int Port { get; }

    public Uri Url => new($"http://127.0.0.1:{Port}");

    public void Dispose() => _socket.Dispose();
}
