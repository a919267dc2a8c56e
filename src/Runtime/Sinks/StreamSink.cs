using System;
using System.Buffers;
using System.IO;
using System.Text;
using System.Text.Json;
using System.Threading;
using FapiLog.Internal;

namespace FapiLog.Sinks;

/// <summary>
/// Base of the sinks that write one line per event to a <see cref="Stream"/>: a batch is rendered into one reused UTF-8
/// buffer and written with a single call, so the steady state allocates nothing.
/// </summary>
public abstract class StreamSink : LogSink
{
    private static readonly byte[] s_newLine = "\n"u8.ToArray();
    private readonly ArrayBufferWriter<byte> _bytes = new(16 * 1024);
    private readonly Utf8JsonWriter _json;
    private readonly PooledCharBuffer _chars = new(1024);
    private readonly PooledCharBuffer _message = new(256);
    private Stream? _stream;

    /// <summary>Creates the sink over <paramref name="stream"/> (owned: disposed with the sink when <paramref name="ownsStream"/>).</summary>
    protected StreamSink(Stream stream, bool ownsStream)
    {
        _stream = stream ?? throw new ArgumentNullException(nameof(stream));
        OwnsStream = ownsStream;
        _json = new Utf8JsonWriter(_bytes, JsonFormatting.WriterOptions);
    }

    /// <summary>Whether the stream is disposed with the sink.</summary>
    protected bool OwnsStream { get; }

    /// <inheritdoc />
    public override void Write(in LogBatch batch, CancellationToken cancellationToken)
    {
        Stream stream = _stream ?? throw new ObjectDisposedException(Name);
        _bytes.ResetWrittenCount();
        for (int i = 0; i < batch.Count; i++)
        {
            WriteRecord(in batch[i]);
        }

        stream.Write(_bytes.WrittenSpan);
        stream.Flush();
    }

    /// <summary>Appends one event, including its line break, to the batch buffer.</summary>
    private protected abstract void WriteRecord(in LogRecord record);

    /// <summary>Appends the event as one JSON line.</summary>
    private protected void AppendJsonLine(in LogRecord record)
    {
        _json.Reset(_bytes);
        JsonFormatting.WriteEvent(_json, in record, _message, JsonLineParts.All);
        _json.Flush();
        _bytes.Write(s_newLine);
    }

    /// <summary>A reused char buffer for text renderings, cleared.</summary>
    private protected PooledCharBuffer Chars
    {
        get
        {
            _chars.Clear();
            return _chars;
        }
    }

    /// <summary>Encodes <paramref name="text"/> as UTF-8 into the batch buffer.</summary>
    private protected void AppendUtf8(ReadOnlySpan<char> text)
    {
        Span<byte> span = _bytes.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length));
        int written = Encoding.UTF8.GetBytes(text, span);
        _bytes.Advance(written);
    }

    /// <inheritdoc />
    public override void Flush(CancellationToken cancellationToken) => _stream?.Flush();

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Stream? stream = Interlocked.Exchange(ref _stream, null);
            if (stream is not null)
            {
                stream.Flush();
                if (OwnsStream)
                {
                    stream.Dispose();
                }
            }

            _json.Dispose();
            _chars.Dispose();
            _message.Dispose();
        }

        base.Dispose(disposing);
    }
}

/// <summary>Appends events as JSON lines (one object per line, the members of the Loki line plus timestamp and trace ids).</summary>
public sealed class JsonFileSink : StreamSink
{
    /// <summary>Opens (creating folders as needed) and appends to <paramref name="path"/>; other processes may read it meanwhile.</summary>
    public JsonFileSink(string path)
        : base(Open(path), ownsStream: true)
    {
        Path = path;
    }

    /// <summary>The file written to.</summary>
    public string Path { get; }

    /// <inheritdoc />
    public override string Name => "file:" + Path;

    private static FileStream Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string? folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(folder))
        {
            Directory.CreateDirectory(folder);
        }

        return new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
    }

    private protected override void WriteRecord(in LogRecord record) => AppendJsonLine(in record);
}

/// <summary>
/// Writes events to standard output: readable text (coloured by level on a terminal, unless <c>NO_COLOR</c> is set) or
/// JSON lines.
/// </summary>
public sealed class ConsoleSink : StreamSink
{
    private readonly bool _json;
    private readonly bool _colour;

    /// <summary>Creates a console sink; <paramref name="json"/> selects JSON lines.</summary>
    public ConsoleSink(bool json = false)
        : this(Console.OpenStandardOutput(), json, colour: !json && !Console.IsOutputRedirected && Environment.GetEnvironmentVariable("NO_COLOR") is null)
    {
    }

    /// <summary>Creates a console-format sink over any stream (for tests and redirection).</summary>
    public ConsoleSink(Stream output, bool json, bool colour)
        : base(output, ownsStream: false)
    {
        _json = json;
        _colour = colour;
    }

    /// <inheritdoc />
    public override string Name => "console";

    private protected override void WriteRecord(in LogRecord record)
    {
        if (_json)
        {
            AppendJsonLine(in record);
            return;
        }

        PooledCharBuffer text = Chars;
        Span<char> time = stackalloc char[40];
        record.Timestamp.UtcDateTime.TryFormat(time, out int n, "yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture);
        ValueReader.Append(text, time.Slice(0, n));
        ValueReader.Append(text, " ");
        if (_colour)
        {
            ValueReader.Append(text, Colour(record.Level));
        }

        ValueReader.Append(text, PaddedLevel(record.Level));
        if (_colour)
        {
            ValueReader.Append(text, "\u001b[0m");
        }

        ValueReader.Append(text, record.Descriptor.EventName);
        ValueReader.Append(text, ": ");
        record.FormatMessage(text);
        if (record.Exception is { } ex)
        {
            ValueReader.Append(text, "\n");
            ValueReader.Append(text, ex.ToString());
        }

        ValueReader.Append(text, "\n");
        AppendUtf8(text.WrittenSpan);
    }

    private static readonly string[] s_paddedLevels = ["trace   ", "debug   ", "info    ", "warning ", "error   ", "critical", "none    "];

    private static string PaddedLevel(Microsoft.Extensions.Logging.LogLevel level)
        => (uint)level < (uint)s_paddedLevels.Length ? s_paddedLevels[(int)level] : "unknown ";

    private static string Colour(Microsoft.Extensions.Logging.LogLevel level) => level switch
    {
        Microsoft.Extensions.Logging.LogLevel.Trace or Microsoft.Extensions.Logging.LogLevel.Debug => "\u001b[90m",
        Microsoft.Extensions.Logging.LogLevel.Information => "\u001b[32m",
        Microsoft.Extensions.Logging.LogLevel.Warning => "\u001b[33m",
        _ => "\u001b[1;31m",
    };
}
