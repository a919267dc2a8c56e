using System;
using System.Buffers;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text;
using System.Threading;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
using NLog.Targets.Wrappers;
using Serilog;
using ILogger = Microsoft.Extensions.Logging.ILogger;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting.Display;
using ZLogger;
using MelLogLevel = Microsoft.Extensions.Logging.LogLevel;

namespace FapiLog.Comparison;

/// <summary>How a library's queue behaves when it is full.</summary>
public enum QueueMode
{
    /// <summary>Each library's blocking mode: the caller waits for room, nothing is lost.</summary>
    Lossless,

    /// <summary>Each library's dropping mode: the caller returns at once and the event is lost.</summary>
    Dropping,
}

/// <summary>
/// One library set up on its own asynchronous path (caller → bounded queue → one background consumer → a sink of
/// ours that renders the message and the fields into a reused buffer and counts). The call sites are exposed as
/// fields so that the BenchmarkDotNet suites call each library directly, without a virtual call in between.
/// </summary>
public abstract class Contender : IDisposable
{
    /// <summary>Queue capacity given to every library (Serilog.Sinks.Async's and NLog's default, ZLogger's default bound when bounded; FapiLog's default is 8,192, the console logger's 2,500).</summary>
    public const int Capacity = 10_000;

    public static readonly string[] Names = ["FapiLog", "MEL Console", "ZLogger", "Serilog", "NLog"];

    /// <summary>FapiLog with a larger batch (an option users set for throughput), shown beside the default, never instead of it.</summary>
    public const string FapiLogBigBatch = "FapiLog (BatchSize=1000)";

    protected Contender(QueueMode mode)
    {
        Mode = mode;
    }

    public abstract string Name { get; }

    public QueueMode Mode { get; }

    public SinkProbe Probe { get; } = new();

    /// <summary>The enabled event (Information).</summary>
    public abstract void Order(long orderId, string customer, double amount);

    /// <summary>The same event at Debug, below the minimum level.</summary>
    public abstract void OrderDisabled(long orderId, string customer, double amount);

    /// <summary>An Error event with an exception.</summary>
    public abstract void Failed(long orderId, Exception error);

    /// <summary>Asks the library to deliver what it holds now (only FapiLog and NLog have such a call; the others deliver eagerly).</summary>
    public virtual void RequestFlush()
    {
    }

    /// <summary>Drops lost by the library, where it counts them (-1: not counted).</summary>
    public virtual long Dropped => -1;

    public static Contender Create(string name, QueueMode mode) => name switch
    {
        "FapiLog" => new FapiLogContender(mode),
        FapiLogBigBatch => new FapiLogContender(mode, batchSize: 1000),
        "MEL Console" => new MelConsoleContender(mode),
        "ZLogger" => new ZLoggerContender(mode),
        "Serilog" => new SerilogContender(mode),
        "NLog" => new NLogContender(mode),
        _ => throw new ArgumentException("unknown library " + name, nameof(name)),
    };

    public void Dispose()
    {
        Probe.Resume();
        DisposeCore();
        GC.SuppressFinalize(this);
    }

    protected abstract void DisposeCore();
}

/// <summary>FapiLog: generated methods, bounded queue (Block or Drop), one worker, a <see cref="LogSink"/> of ours.</summary>
public sealed class FapiLogContender : Contender
{
    private readonly long _droppedBefore;

    private readonly int? _batchSize;

    public FapiLogContender(QueueMode mode, int? batchSize = null)
        : base(mode)
    {
        _batchSize = batchSize;
        FapiLogging.Configure(o =>
        {
            o.Console = false;
            o.ClearSinks();
            o.AddSink(new FapiProbeSink(Probe));
            o.MinimumLevel = MelLogLevel.Information;
            o.QueueCapacity = Capacity;
            o.Overflow = mode == QueueMode.Lossless ? OverflowStrategy.Block : OverflowStrategy.Drop;
            // Lossless means lossless: a producer may wait as long as the sink needs (the default bound is 5 s).
            o.BlockTimeout = TimeSpan.FromSeconds(60);
            o.ShutdownTimeout = TimeSpan.FromSeconds(10);
            if (batchSize is { } size)
            {
                o.BatchSize = size;
            }
        });
        _droppedBefore = FapiLogging.Statistics.Dropped;
    }

    public override string Name => _batchSize is null ? "FapiLog" : FapiLogBigBatch;

    public override long Dropped => FapiLogging.Statistics.Dropped - _droppedBefore;

    public override void Order(long orderId, string customer, double amount) => FapiEvents.OrderPlaced(orderId, customer, amount);

    public override void OrderDisabled(long orderId, string customer, double amount) => FapiEvents.OrderPlacedDebug(orderId, customer, amount);

    public override void Failed(long orderId, Exception error) => FapiEvents.PaymentFailed(orderId, error);

    public override void RequestFlush() => FapiLogging.Flush(TimeSpan.FromSeconds(60));

    protected override void DisposeCore() => FapiLogging.Shutdown(TimeSpan.FromSeconds(10));

    private sealed class FapiProbeSink(SinkProbe probe) : LogSink
    {
        private readonly ArrayBufferWriter<char> _text = new(4096);

        public override void Write(in LogBatch batch, CancellationToken cancellationToken)
        {
            probe.Enter();
            for (int i = 0; i < batch.Count; i++)
            {
                ref readonly LogRecord record = ref batch[i];
                _text.ResetWrittenCount();
                record.FormatMessage(_text);
                var fields = new FieldRenderer(_text);
                record.VisitFields(ref fields);
                if (record.Exception is { } e)
                {
                    Render.Text(_text, " exception=");
                    Render.Text(_text, e.GetType().Name);
                    Render.Text(_text, ": ");
                    Render.Text(_text, e.Message);
                }
                probe.Keep(_text.WrittenSpan);
            }

            probe.Delivered(batch.Count);
        }
    }

    private readonly struct FieldRenderer(ArrayBufferWriter<char> text) : ILogFieldVisitor
    {
        private void Name(string name)
        {
            Render.Text(text, " ");
            Render.Text(text, name);
            Render.Text(text, "=");
        }

        public void Visit(string name, long value) { Name(name); Render.Value(text, value); }

        public void Visit(string name, ulong value) { Name(name); Render.Value(text, value); }

        public void Visit(string name, double value) { Name(name); Render.Value(text, value); }

        public void Visit(string name, decimal value) { Name(name); Render.Value(text, value); }

        public void Visit(string name, bool value) { Name(name); Render.Text(text, value ? "true" : "false"); }

        public void Visit(string name, string value) { Name(name); Render.Text(text, value); }

        public void Visit(string name, DateTime value) { Name(name); Render.Value(text, value); }

        public void Visit(string name, DateTimeOffset value) { Name(name); Render.Value(text, value); }

        public void Visit(string name, TimeSpan value) { Name(name); Render.Value(text, value); }

        public void Visit(string name, Guid value) { Name(name); Render.Value(text, value); }

        public void VisitNull(string name) { Name(name); Render.Text(text, "null"); }
    }
}

/// <summary>
/// Microsoft.Extensions.Logging's console provider, the default ASP.NET Core path: <c>[LoggerMessage]</c> → Logger →
/// ConsoleLogger, which renders on the caller's thread through the configured <see cref="ConsoleFormatter"/> into its
/// own reused StringWriter and queues the string (MaxQueueLength, QueueFullMode) for its background thread, which
/// writes it to the console. The console is replaced by a counting TextWriter (no terminal I/O), and the formatter is
/// ours: message plus fields plus exception, the same text as the other sinks.
/// </summary>
public sealed class MelConsoleContender : Contender
{
    private static readonly object s_consoleLock = new();
    private readonly ILoggerFactory _factory;

    public MelConsoleContender(QueueMode mode)
        : base(mode)
    {
        lock (s_consoleLock)
        {
            // The console provider captures Console.Out when it is built; swap it only for that moment.
            TextWriter previous = Console.Out;
            Console.SetOut(new CountingTextWriter(Probe));
            try
            {
                _factory = LoggerFactory.Create(b =>
                {
                    b.ClearProviders();
                    b.SetMinimumLevel(MelLogLevel.Information);
                    b.AddConsole(o =>
                    {
                        o.FormatterName = FieldsConsoleFormatter.FormatterName;
                        o.MaxQueueLength = Capacity;
                        o.QueueFullMode = mode == QueueMode.Lossless ? ConsoleLoggerQueueFullMode.Wait : ConsoleLoggerQueueFullMode.DropWrite;
                    });
                    b.AddConsoleFormatter<FieldsConsoleFormatter, ConsoleFormatterOptions>();
                });
                Logger = _factory.CreateLogger("Shop");
                Logger.IsEnabled(MelLogLevel.Information);
            }
            finally
            {
                Console.SetOut(previous);
            }
        }
    }

    public ILogger Logger { get; }

    public override string Name => "MEL Console";

    public override void Order(long orderId, string customer, double amount) => MelEvents.OrderPlaced(Logger, orderId, customer, amount);

    public override void OrderDisabled(long orderId, string customer, double amount) => MelEvents.OrderPlacedDebug(Logger, orderId, customer, amount);

    public override void Failed(long orderId, Exception error) => MelEvents.PaymentFailed(Logger, orderId, error);

    protected override void DisposeCore() => _factory.Dispose();

    /// <summary>Message, then each field as <c> name=value</c>, then the exception's type and message.</summary>
    public sealed class FieldsConsoleFormatter() : ConsoleFormatter(FormatterName)
    {
        public const string FormatterName = "fields";

        public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
        {
            // The formatter delegate is how every console formatter gets the message (a new string each time).
            string message = logEntry.Formatter(logEntry.State, logEntry.Exception);
            textWriter.Write(message);
            if (logEntry.State is IReadOnlyList<KeyValuePair<string, object?>> fields)
            {
                Span<char> buffer = stackalloc char[64];
                for (int i = 0; i < fields.Count; i++)
                {
                    KeyValuePair<string, object?> field = fields[i];
                    if (field.Key == "{OriginalFormat}")
                    {
                        continue;
                    }

                    textWriter.Write(' ');
                    textWriter.Write(field.Key);
                    textWriter.Write('=');
                    switch (field.Value)
                    {
                        case string s:
                            textWriter.Write(s);
                            break;
                        case ISpanFormattable f when f.TryFormat(buffer, out int n, default, CultureInfo.InvariantCulture):
                            textWriter.Write(buffer[..n]);
                            break;
                        default:
                            textWriter.Write(Convert.ToString(field.Value, CultureInfo.InvariantCulture) ?? "null");
                            break;
                    }
                }
            }

            if (logEntry.Exception is { } e)
            {
                textWriter.Write(" exception=");
                textWriter.Write(e.GetType().Name);
                textWriter.Write(": ");
                textWriter.Write(e.Message);
            }

            textWriter.Write('\n');
        }
    }

    /// <summary>Stands in for the terminal: counts the lines the console provider's thread writes.</summary>
    private sealed class CountingTextWriter(SinkProbe probe) : TextWriter
    {
        public override Encoding Encoding => Encoding.UTF8;

        public override void Write(char value)
        {
            probe.Enter();
            if (value == '\n')
            {
                probe.Delivered(1);
            }
        }

        public override void Write(string? value)
        {
            probe.Enter();
            probe.Keep(value.AsSpan().TrimEnd('\n'));
            int lines = value.AsSpan().Count('\n');
            if (lines > 0)
            {
                probe.Delivered(lines);
            }
        }

        public override void Write(char[] buffer, int index, int count)
        {
            probe.Enter();
            int lines = buffer.AsSpan(index, count).Count('\n');
            if (lines > 0)
            {
                probe.Delivered(lines);
            }
        }

        public override void Write(ReadOnlySpan<char> buffer)
        {
            probe.Enter();
            int lines = buffer.Count('\n');
            if (lines > 0)
            {
                probe.Delivered(lines);
            }
        }
    }
}

/// <summary>
/// ZLogger 2: <c>[ZLoggerMessage]</c> → its logger, which keeps the typed values in a pooled entry → its asynchronous
/// stream processor (bounded channel, FullMode Block or Drop, BackgroundBufferCapacity) → our formatter (UTF-8 message,
/// fields, exception, into ZLogger's reused buffer) → a stream of ours that counts the lines.
/// </summary>
public sealed class ZLoggerContender : Contender
{
    private readonly ILoggerFactory _factory;

    public ZLoggerContender(QueueMode mode)
        : base(mode)
    {
        _factory = LoggerFactory.Create(b =>
        {
            b.ClearProviders();
            b.SetMinimumLevel(MelLogLevel.Information);
            b.AddZLoggerStream(new CountingStream(Probe), o =>
            {
                o.FullMode = mode == QueueMode.Lossless ? BackgroundBufferFullMode.Block : BackgroundBufferFullMode.Drop;
                o.BackgroundBufferCapacity = Capacity;
                o.UseFormatter(() => new FieldsFormatter());
            });
        });
        Logger = _factory.CreateLogger("Shop");
    }

    public ILogger Logger { get; }

    public override string Name => "ZLogger";

    public override void Order(long orderId, string customer, double amount) => Logger.OrderPlaced(orderId, customer, amount);

    public override void OrderDisabled(long orderId, string customer, double amount) => Logger.OrderPlacedDebug(orderId, customer, amount);

    public override void Failed(long orderId, Exception error) => Logger.PaymentFailed(orderId, error);

    protected override void DisposeCore() => _factory.Dispose();

    private sealed class FieldsFormatter : IZLoggerFormatter
    {
        public bool WithLineBreak => true;

        public void FormatLogEntry(IBufferWriter<byte> writer, IZLoggerEntry entry)
        {
            entry.ToString(writer);
            for (int i = 0; i < entry.ParameterCount; i++)
            {
                Utf8(writer, " ");
                if (entry.IsSupportUtf8ParameterKey)
                {
                    writer.Write(entry.GetParameterKey(i));
                }
                else
                {
                    Utf8(writer, entry.GetParameterKeyAsString(i));
                }

                Utf8(writer, "=");
                Type type = entry.GetParameterType(i);
                if (type == typeof(long))
                {
                    Utf8Value(writer, entry.GetParameterValue<long>(i));
                }
                else if (type == typeof(double))
                {
                    Utf8Value(writer, entry.GetParameterValue<double>(i));
                }
                else if (type == typeof(string))
                {
                    Utf8(writer, entry.GetParameterValue<string>(i) ?? "null");
                }
                else
                {
                    Utf8(writer, Convert.ToString(entry.GetParameterValue(i), CultureInfo.InvariantCulture) ?? "null");
                }
            }

            if (entry.LogInfo.Exception is { } e)
            {
                Utf8(writer, " exception=");
                Utf8(writer, e.GetType().Name);
                Utf8(writer, ": ");
                Utf8(writer, e.Message);
            }
        }

        private static void Utf8(IBufferWriter<byte> writer, string s)
        {
            Span<byte> span = writer.GetSpan(Encoding.UTF8.GetMaxByteCount(s.Length));
            writer.Advance(Encoding.UTF8.GetBytes(s, span));
        }

        private static void Utf8Value<T>(IBufferWriter<byte> writer, T value)
            where T : IUtf8SpanFormattable
        {
            Span<byte> span = writer.GetSpan(64);
            value.TryFormat(span, out int n, default, CultureInfo.InvariantCulture);
            writer.Advance(n);
        }
    }

    /// <summary>Stands in for a file: counts the lines ZLogger's background writer hands over.</summary>
    private sealed class CountingStream(SinkProbe probe) : Stream
    {
        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => 0;

        public override long Position { get => 0; set { } }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            probe.Enter();
            probe.Keep(buffer.Length > 0 && buffer.IndexOf((byte)'\n') is int end and >= 0 ? buffer[..end] : buffer);
            int lines = buffer.Count((byte)'\n');
            if (lines > 0)
            {
                probe.Delivered(lines);
            }
        }
    }
}

/// <summary>
/// Serilog 4 with Serilog.Sinks.Async: <c>logger.Information(template, a, b, c)</c> (generic overload) → LogEvent with
/// captured properties → the async wrapper's bounded buffer (bufferSize, blockWhenFull) → our ILogEventSink, which
/// renders the message and the properties into a reused StringWriter.
/// </summary>
public sealed class SerilogContender : Contender
{
    public SerilogContender(QueueMode mode)
        : base(mode)
    {
        Logger = new LoggerConfiguration()
            .MinimumLevel.Information()
            .WriteTo.Async(a => a.Sink(new ProbeSink(Probe)), bufferSize: Capacity, blockWhenFull: mode == QueueMode.Lossless)
            .CreateLogger();
    }

    public Serilog.Core.Logger Logger { get; }

    public override string Name => "Serilog";

    public override void Order(long orderId, string customer, double amount) => Logger.Information(FapiEvents.Order, orderId, customer, amount);

    public override void OrderDisabled(long orderId, string customer, double amount) => Logger.Debug(FapiEvents.Order, orderId, customer, amount);

    public override void Failed(long orderId, Exception error) => Logger.Error(error, FapiEvents.Failure, orderId);

    protected override void DisposeCore() => Logger.Dispose();

    private sealed class ProbeSink(SinkProbe probe) : ILogEventSink
    {
        // "{Message:l}", as Serilog's text sinks are configured to render strings without quotes (MessageTemplate.Render
        // quotes them: placed by "alice"), so that Serilog renders the same text as the other libraries.
        private readonly MessageTemplateTextFormatter _message = new("{Message:l}", CultureInfo.InvariantCulture);
        private readonly StringWriter _text = new(new StringBuilder(4096), CultureInfo.InvariantCulture);

        public void Emit(LogEvent logEvent)
        {
            probe.Enter();
            StringBuilder sb = _text.GetStringBuilder();
            sb.Clear();
            _message.Format(logEvent, _text);
            foreach (KeyValuePair<string, LogEventPropertyValue> property in logEvent.Properties)
            {
                _text.Write(' ');
                _text.Write(property.Key);
                _text.Write('=');
                if (property.Value is ScalarValue { Value: string text })
                {
                    _text.Write(text);
                }
                else
                {
                    property.Value.Render(_text, null, CultureInfo.InvariantCulture);
                }
            }

            Render.Exception(sb, logEvent.Exception);
            if (probe.FirstLine is null)
            {
                probe.Keep(sb.ToString());
            }

            probe.Delivered(1);
        }
    }
}

/// <summary>
/// NLog 6 with AsyncTargetWrapper: <c>logger.Info(template, a, b, c)</c> (generic overload) → LogEventInfo → the
/// wrapper's queue (QueueLimit, OverflowAction Block or Discard; default BatchSize and sleep between batches) → our
/// Target, which renders <c>${message}</c> and the message-template parameters into a reused StringBuilder.
/// </summary>
public sealed class NLogContender : Contender
{
    private readonly NLog.LogFactory _factory;

    public NLogContender(QueueMode mode)
        : base(mode)
    {
        _factory = new NLog.LogFactory();
        var config = new NLog.Config.LoggingConfiguration(_factory) { DefaultCultureInfo = CultureInfo.InvariantCulture };
        var target = new ProbeTarget(Probe) { Name = "probe" };
        var async = new AsyncTargetWrapper(target, Capacity,
            mode == QueueMode.Lossless ? AsyncTargetWrapperOverflowAction.Block : AsyncTargetWrapperOverflowAction.Discard)
        {
            Name = "async",
        };
        config.AddTarget(async);
        config.AddRule(NLog.LogLevel.Info, NLog.LogLevel.Fatal, async);
        _factory.Configuration = config;
        Logger = _factory.GetLogger("Shop");
    }

    public NLog.Logger Logger { get; }

    public override string Name => "NLog";

    public override void Order(long orderId, string customer, double amount) => Logger.Info(FapiEvents.Order, orderId, customer, amount);

    public override void OrderDisabled(long orderId, string customer, double amount) => Logger.Debug(FapiEvents.Order, orderId, customer, amount);

    public override void Failed(long orderId, Exception error) => Logger.Error(error, FapiEvents.Failure, orderId);

    public override void RequestFlush() => _factory.Flush(TimeSpan.FromSeconds(60));

    protected override void DisposeCore() => _factory.Dispose();

    private sealed class ProbeTarget(SinkProbe probe) : NLog.Targets.Target
    {
        private readonly NLog.Layouts.Layout _message = NLog.Layouts.Layout.FromString("${message}");
        private readonly StringBuilder _text = new(4096);

        protected override void Write(NLog.LogEventInfo logEvent)
        {
            probe.Enter();
            _text.Clear();
            _message.Render(logEvent, _text);
            NLog.MessageTemplates.MessageTemplateParameters parameters = logEvent.MessageTemplateParameters;
            for (int i = 0; i < parameters.Count; i++)
            {
                NLog.MessageTemplates.MessageTemplateParameter p = parameters[i];
                _text.Append(' ').Append(p.Name).Append('=');
                Render.Value(_text, p.Value);
            }

            Render.Exception(_text, logEvent.Exception);
            if (probe.FirstLine is null)
            {
                probe.Keep(_text.ToString());
            }

            probe.Delivered(1);
        }
    }
}
