using System;
using System.Collections.Generic;
using System.Globalization;
using FapiLog.Internal;
using FapiLog.Sinks;
using Microsoft.Extensions.Logging;

namespace FapiLog;

/// <summary>
/// Settings of the global pipeline. <see cref="FapiLogging.Configure(System.Action{FapiLogOptions})"/> starts from the defaults, applies the
/// <c>FAPILOG_*</c> environment variables, then your callback; the result is validated before anything starts.
/// </summary>
public sealed class FapiLogOptions
{
    /// <summary>Largest accepted <see cref="QueueCapacity"/>.</summary>
    public static readonly int MaxQueueCapacity = 1 << 24;

    private readonly List<LogSink> _sinks = new();

    /// <summary>Events below this level are skipped at the call site (one compare). Default <see cref="LogLevel.Information"/>; env <c>FAPILOG_MIN_LEVEL</c>.</summary>
    public LogLevel MinimumLevel { get; set; } = LogLevel.Information;

    /// <summary>
    /// How many events the queue admits. Default 8192 (1.25 MiB of slots, allocated when the pipeline starts); env
    /// <c>FAPILOG_QUEUE_CAPACITY</c>.
    /// </summary>
    public int QueueCapacity { get; set; } = 8192;

    /// <summary>What a call does when the queue is full. Default <see cref="OverflowStrategy.Drop"/>; env <c>FAPILOG_OVERFLOW</c> (drop, block, sample).</summary>
    public OverflowStrategy Overflow { get; set; } = OverflowStrategy.Drop;

    /// <summary>Share of events kept while sampling, 0 to 1. Default 0.1; env <c>FAPILOG_SAMPLE_RATE</c>.</summary>
    public double SampleRate { get; set; } = 0.1;

    /// <summary>
    /// Queue fill (share of <see cref="QueueCapacity"/>, above 0 and at most 1) from which <see cref="OverflowStrategy.Sample"/>
    /// samples: a call that finds at least this share of the capacity queued is sampled. Default 0.75; env <c>FAPILOG_SAMPLE_HIGH_WATER</c>.
    /// </summary>
    public double SampleHighWaterMark { get; set; } = 0.75;

    /// <summary>Most events handed to the sinks at once. Default 100; env <c>FAPILOG_BATCH_SIZE</c>.</summary>
    public int BatchSize { get; set; } = 100;

    /// <summary>
    /// Longest time an event waits in the queue for its batch to fill. Default 2 s; above zero and at most one day (the
    /// worker's waits are whole milliseconds, so less than 1 ms works as 1 ms); env <c>FAPILOG_FLUSH_INTERVAL</c> (seconds).
    /// </summary>
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Longest time shutdown waits for the queue to drain and the sinks to finish. Default 5 s; above zero and at most one
    /// day (<see cref="System.Threading.Timeout.InfiniteTimeSpan"/> is refused here: pass it to
    /// <see cref="FapiLogging.Shutdown"/> to wait without a limit); env <c>FAPILOG_SHUTDOWN_TIMEOUT</c> (seconds).
    /// </summary>
    public TimeSpan ShutdownTimeout { get; set; } = DefaultShutdownTimeout;

    /// <summary>The default <see cref="ShutdownTimeout"/>: also the budget of an exit hook that finds no pipeline.</summary>
    internal static readonly TimeSpan DefaultShutdownTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Longest time a call waits for room under <see cref="OverflowStrategy.Block"/> before its event is dropped and counted.
    /// Default 5 s; env <c>FAPILOG_BLOCK_TIMEOUT</c> (seconds). <see cref="System.Threading.Timeout.InfiniteTimeSpan"/> waits
    /// as long as the worker lives (never after shutdown).
    /// </summary>
    public TimeSpan BlockTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Least time between two "events were dropped" warnings (stderr and the sinks). Default 10 s; above zero and at most
    /// one day; env <c>FAPILOG_DROP_WARNING_INTERVAL</c> (seconds).
    /// </summary>
    public TimeSpan DropWarningInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Whether calls record <see cref="System.Diagnostics.Activity.Current"/>'s trace and span ids. Default true.</summary>
    public bool CaptureTraceContext { get; set; } = true;

    /// <summary>Loki settings; the Loki sink is added when <see cref="LokiOptions.Url"/> is set.</summary>
    public LokiOptions Loki { get; } = new();

    /// <summary>
    /// Whether to write to the console. Null (the default) means: yes, unless you added sinks of your own or a
    /// <see cref="FilePath"/> (a Loki URL alone keeps the console, as the environment-only setup promises) and left
    /// <see cref="ConsoleJson"/> false. Env <c>FAPILOG_CONSOLE</c> (true, false, json).
    /// </summary>
    public bool? Console { get; set; }

    /// <summary>
    /// Console output as JSON lines instead of readable text. Default false. True also turns the console on beside a file
    /// or sinks of your own, unless <see cref="Console"/> is false.
    /// </summary>
    public bool ConsoleJson { get; set; }

    /// <summary>A JSON-lines file to append to, or null. Env <c>FAPILOG_FILE</c>.</summary>
    public string? FilePath { get; set; }

    /// <summary>
    /// Size in bytes at which the <see cref="FilePath"/> file is rolled (renamed to <c>FilePath.1</c>, the older ones moving up
    /// one number) and a new one begun; 0, the default, never rolls. At least 1024 otherwise. Env <c>FAPILOG_FILE_MAX_BYTES</c>.
    /// </summary>
    public long FileMaxBytes { get; set; }

    /// <summary>
    /// Rolled files kept beside the current one (<c>FilePath.1</c> … <c>FilePath.N</c>), 0 to 1000; the oldest beyond it is
    /// deleted, and so, at the first roll, are rolled files numbered above it that an earlier run kept. Default 5. Env
    /// <c>FAPILOG_FILE_RETAINED_FILES</c>.
    /// </summary>
    public int FileRetainedFiles { get; set; } = 5;

    /// <summary>
    /// The clock that stamps each event's <see cref="LogRecord.Timestamp"/> and that the worker uses for flush deadlines and
    /// the drop warning interval; replace it in tests. Default <see cref="TimeProvider.System"/>.
    /// </summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>The sinks added with <see cref="AddSink"/>.</summary>
    public IReadOnlyList<LogSink> Sinks => _sinks;

    /// <summary>Adds a sink of your own (or an <see cref="InMemorySink"/>).</summary>
    public FapiLogOptions AddSink(LogSink sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        _sinks.Add(sink);
        return this;
    }

    /// <summary>Removes every sink added with <see cref="AddSink"/>.</summary>
    public FapiLogOptions ClearSinks()
    {
        _sinks.Clear();
        return this;
    }

    /// <summary>Applies the <c>FAPILOG_*</c> environment variables; throws <see cref="FapiLogConfigurationException"/> naming a bad one.</summary>
    /// <param name="getVariable">Reads a variable; <see cref="Environment.GetEnvironmentVariable(string)"/> when null.</param>
    public FapiLogOptions ApplyEnvironment(Func<string, string?>? getVariable = null)
    {
        // From the process's own environment, the names read are kept: a FAPILOG_* variable that none of them is (a typo,
        // FAPILOG_LOKI_ULR) is said on stderr afterwards, where it was ignored without a word.
        HashSet<string>? read = null;
        if (getVariable is null)
        {
            read = new HashSet<string>(UnknownVariables.NameComparer);
            getVariable = name =>
            {
                read.Add(name);
                return Environment.GetEnvironmentVariable(name);
            };
        }

        if (SettingParser.Get(getVariable, "FAPILOG_MIN_LEVEL") is { } level)
        {
            MinimumLevel = SettingParser.ParseLevel(level, "FAPILOG_MIN_LEVEL");
        }

        if (SettingParser.Get(getVariable, "FAPILOG_QUEUE_CAPACITY") is { } capacity)
        {
            QueueCapacity = SettingParser.ParseInt(capacity, "FAPILOG_QUEUE_CAPACITY", 1, MaxQueueCapacity);
        }

        if (SettingParser.Get(getVariable, "FAPILOG_OVERFLOW") is { } overflow)
        {
            Overflow = overflow.ToLowerInvariant() switch
            {
                "drop" => OverflowStrategy.Drop,
                "block" => OverflowStrategy.Block,
                "sample" => OverflowStrategy.Sample,
                _ => throw new FapiLogConfigurationException("FAPILOG_OVERFLOW", overflow, "one of drop, block, sample"),
            };
        }

        if (SettingParser.Get(getVariable, "FAPILOG_SAMPLE_RATE") is { } rate)
        {
            SampleRate = SettingParser.ParseFraction(rate, "FAPILOG_SAMPLE_RATE");
        }

        if (SettingParser.Get(getVariable, "FAPILOG_SAMPLE_HIGH_WATER") is { } highWater)
        {
            SampleHighWaterMark = SettingParser.ParseFraction(highWater, "FAPILOG_SAMPLE_HIGH_WATER", allowZero: false);
        }

        if (SettingParser.Get(getVariable, "FAPILOG_BATCH_SIZE") is { } batch)
        {
            BatchSize = SettingParser.ParseInt(batch, "FAPILOG_BATCH_SIZE", 1, MaxQueueCapacity);
        }

        if (SettingParser.Get(getVariable, "FAPILOG_FLUSH_INTERVAL") is { } interval)
        {
            FlushInterval = SettingParser.ParseSeconds(interval, "FAPILOG_FLUSH_INTERVAL", 86400);
        }

        if (SettingParser.Get(getVariable, "FAPILOG_SHUTDOWN_TIMEOUT") is { } shutdown)
        {
            ShutdownTimeout = SettingParser.ParseSeconds(shutdown, "FAPILOG_SHUTDOWN_TIMEOUT", 86400);
        }

        if (SettingParser.Get(getVariable, "FAPILOG_BLOCK_TIMEOUT") is { } block)
        {
            BlockTimeout = SettingParser.ParseSeconds(block, "FAPILOG_BLOCK_TIMEOUT", 86400);
        }

        if (SettingParser.Get(getVariable, "FAPILOG_DROP_WARNING_INTERVAL") is { } warning)
        {
            DropWarningInterval = SettingParser.ParseSeconds(warning, "FAPILOG_DROP_WARNING_INTERVAL", 86400);
        }

        if (SettingParser.Get(getVariable, "FAPILOG_CONSOLE") is { } console)
        {
            switch (console.ToLowerInvariant())
            {
                case "true" or "1" or "yes" or "text": Console = true; ConsoleJson = false; break;
                case "json": Console = true; ConsoleJson = true; break;
                case "false" or "0" or "no": Console = false; break;
                default: throw new FapiLogConfigurationException("FAPILOG_CONSOLE", console, "one of true, false, json (or 1, 0, yes, no, text)");
            }
        }

        if (SettingParser.Get(getVariable, "FAPILOG_FILE") is { } file)
        {
            FilePath = file;
        }

        if (SettingParser.Get(getVariable, "FAPILOG_FILE_MAX_BYTES") is { } fileMaxBytes)
        {
            FileMaxBytes = SettingParser.ParseFileMaxBytes(fileMaxBytes, "FAPILOG_FILE_MAX_BYTES");
        }

        if (SettingParser.Get(getVariable, "FAPILOG_FILE_RETAINED_FILES") is { } retained)
        {
            FileRetainedFiles = SettingParser.ParseInt(retained, "FAPILOG_FILE_RETAINED_FILES", 0, JsonFileSink.MaxRetainedFiles);
        }

        Loki.ApplyEnvironment(getVariable);
        if (read is not null)
        {
            UnknownVariables.Report(read);
        }

        return this;
    }

    /// <summary>Checks every setting; throws <see cref="FapiLogConfigurationException"/> naming the first bad one.</summary>
    public void Validate()
    {
        foreach (LogSink sink in _sinks)
        {
            if (sink._disposeCalled && !sink.UsableAfterDispose)
            {
                // It failed every batch, counted in Failed and reported once a minute, for as long as the pipeline ran.
                ThrowHelper.ThrowConfiguration(nameof(Sinks), sink.Name,
                    "a sink that is not disposed: this one was disposed (a pipeline that had it shut down disposes its sinks); give Configure a new one");
            }
        }

        if (MinimumLevel < LogLevel.Trace || MinimumLevel > LogLevel.None)
        {
            ThrowHelper.ThrowConfiguration(nameof(MinimumLevel), MinimumLevel.ToString(), "a LogLevel from Trace to None");
        }

        if (QueueCapacity < 1 || QueueCapacity > MaxQueueCapacity)
        {
            ThrowHelper.ThrowConfiguration(nameof(QueueCapacity), QueueCapacity.ToString(CultureInfo.InvariantCulture), $"a whole number from 1 to {MaxQueueCapacity}");
        }

        if (!Enum.IsDefined(Overflow))
        {
            ThrowHelper.ThrowConfiguration(nameof(Overflow), Overflow.ToString(), "Drop, Block or Sample");
        }

        if (!(SampleRate >= 0 && SampleRate <= 1))
        {
            ThrowHelper.ThrowConfiguration(nameof(SampleRate), SampleRate.ToString(CultureInfo.InvariantCulture), "a number from 0 to 1");
        }

        if (!(SampleHighWaterMark > 0 && SampleHighWaterMark <= 1))
        {
            ThrowHelper.ThrowConfiguration(nameof(SampleHighWaterMark), SampleHighWaterMark.ToString(CultureInfo.InvariantCulture), "a number above 0 and at most 1");
        }

        if (BatchSize < 1 || BatchSize > MaxQueueCapacity)
        {
            ThrowHelper.ThrowConfiguration(nameof(BatchSize), BatchSize.ToString(CultureInfo.InvariantCulture), $"a whole number from 1 to {MaxQueueCapacity}");
        }

        CheckPositive(FlushInterval, nameof(FlushInterval), allowInfinite: false);
        CheckPositive(ShutdownTimeout, nameof(ShutdownTimeout), allowInfinite: false);
        CheckPositive(BlockTimeout, nameof(BlockTimeout), allowInfinite: true);
        CheckPositive(DropWarningInterval, nameof(DropWarningInterval), allowInfinite: false);
        if (TimeProvider is null)
        {
            ThrowHelper.ThrowConfiguration(nameof(TimeProvider), null, "a TimeProvider");
        }

        if (FilePath is { Length: 0 })
        {
            ThrowHelper.ThrowConfiguration(nameof(FilePath), FilePath, "a file path or null");
        }

        if (FileMaxBytes != 0 && FileMaxBytes < JsonFileSink.MinRollBytes)
        {
            ThrowHelper.ThrowConfiguration(nameof(FileMaxBytes), FileMaxBytes.ToString(CultureInfo.InvariantCulture), SettingParser.FileMaxBytesExpectation);
        }

        if (FileRetainedFiles < 0 || FileRetainedFiles > JsonFileSink.MaxRetainedFiles)
        {
            ThrowHelper.ThrowConfiguration(nameof(FileRetainedFiles), FileRetainedFiles.ToString(CultureInfo.InvariantCulture),
                $"a whole number from 0 to {JsonFileSink.MaxRetainedFiles}");
        }

        Loki.Validate();
    }

    private static void CheckPositive(TimeSpan value, string name, bool allowInfinite)
    {
        if (allowInfinite && value == System.Threading.Timeout.InfiniteTimeSpan)
        {
            return;
        }

        if (value <= TimeSpan.Zero || value > TimeSpan.FromDays(1))
        {
            // Timeout.InfiniteTimeSpan prints as -00:00:00.0010000, which few would recognise as what they wrote (Flush
            // and Shutdown take it, so it is a natural thing to try here too): say so.
            ThrowHelper.ThrowConfiguration(name, value.ToString("c", CultureInfo.InvariantCulture),
                "a duration above zero and at most one day" + (allowInfinite ? ", or Timeout.InfiniteTimeSpan"
                    : value == System.Threading.Timeout.InfiniteTimeSpan ? " (that value is Timeout.InfiniteTimeSpan, which only BlockTimeout takes)" : string.Empty));
        }
    }
}
