using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using FapiLog.Sinks;
using Xunit;

namespace FapiLog.Tests;

/// <summary>The promises of the public API's doc comments, checked one by one.</summary>
[Collection(GlobalPipelineCollection.Name)]
public sealed class ApiSurfaceTests : IDisposable
{
    public ApiSurfaceTests() => FapiLogging.ResetForTesting();

    public void Dispose() => FapiLogging.ResetForTesting();

    private static void ConfigureInMemory(InMemorySink sink) => FapiLogging.Configure(new FapiLogOptions { Console = false }.AddSink(sink));

    [Fact]
    public void Flush_and_Shutdown_take_TimeSpan_MaxValue_as_no_limit()
    {
        var sink = new InMemorySink();
        ConfigureInMemory(sink);

        Assert.True(FapiLogging.Flush(TimeSpan.MaxValue));
        Assert.True(FapiLogging.FlushAsync(TimeSpan.MaxValue).GetAwaiter().GetResult());
        Assert.True(FapiLogging.Shutdown(TimeSpan.MaxValue));
        Assert.True(FapiLogging.ShutdownAsync(TimeSpan.MaxValue).GetAwaiter().GetResult());
    }

    [Fact]
    public void Flush_and_Shutdown_take_Timeout_InfiniteTimeSpan_as_no_limit()
    {
        ConfigureInMemory(new InMemorySink());

        Assert.True(FapiLogging.Flush(Timeout.InfiniteTimeSpan));
        Assert.True(FapiLogging.FlushAsync(Timeout.InfiniteTimeSpan).GetAwaiter().GetResult());
        Assert.True(FapiLogging.Shutdown(Timeout.InfiniteTimeSpan));
    }

    [Fact]
    public void A_negative_Shutdown_timeout_is_refused_before_the_pipeline_is_touched()
    {
        ConfigureInMemory(new InMemorySink());

        Assert.Throws<ArgumentOutOfRangeException>("timeout", () => FapiLogging.Shutdown(TimeSpan.FromSeconds(-1)));
        Assert.Throws<ArgumentOutOfRangeException>("timeout", () => FapiLogging.ShutdownAsync(TimeSpan.FromSeconds(-1)).GetAwaiter().GetResult());
        Assert.Throws<ArgumentOutOfRangeException>("timeout", () => FapiLogging.Flush(TimeSpan.FromSeconds(-1)));
        Assert.Throws<ArgumentOutOfRangeException>("timeout", () => FapiLogging.FlushAsync(TimeSpan.FromSeconds(-1)).GetAwaiter().GetResult());

        // The pipeline still runs: nothing was shut down by the refused call.
        Assert.False(FapiLogging.CurrentPipeline!.IsShutDown);
    }

    /// <summary>Every public type and member of FapiLog, nested types and enum values included.</summary>
    private static IEnumerable<System.Reflection.MemberInfo> PublicSurface()
    {
        foreach (Type type in typeof(FapiLogging).Assembly.GetExportedTypes())
        {
            yield return type;
            foreach (System.Reflection.MemberInfo member in type.GetMembers(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance
                | System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.DeclaredOnly))
            {
                yield return member;
            }
        }
    }

    [Fact]
    public void Public_names_spell_Shutdown_as_one_word_as_FapiLogging_Shutdown_does()
    {
        // DropReason.ShutDown and DroppedShutDown beside Shutdown(), ShutdownTimeout and LokiFailureReasons.Shutdown: one
        // spelling, .NET's (Socket.Shutdown, HostOptions.ShutdownTimeout), so that a name can be guessed from another.
        string[] twoWords = PublicSurface().Where(m => m.Name.Contains("ShutDown", StringComparison.Ordinal))
            .Select(m => (m.DeclaringType?.Name + "." + m.Name).TrimStart('.')).Distinct().ToArray();
        Assert.Empty(twoWords);

        var sink = new InMemorySink();
        ConfigureInMemory(sink);
        Assert.True(FapiLogging.Shutdown());
        Typed(1f, 'a', DayOfWeek.Monday, 1, 1u, null);
        FapiLogStatistics stats = FapiLogging.Statistics;
        Assert.Equal(1, stats.DroppedShutdown);
        Assert.Equal(1, stats.GetDropped(DropReason.Shutdown));
    }

    [Fact]
    public void StreamSink_shows_other_assemblies_no_constructor_or_member_they_could_not_use()
    {
        // Its abstract WriteRecord is private protected, so no other assembly can complete a class derived from it: a
        // protected constructor and OwnsStream only advertised a base that cannot be used, and would bind a later version.
        const System.Reflection.BindingFlags declared = System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic
            | System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.DeclaredOnly;
        static bool VisibleOutside(System.Reflection.MethodBase m) => m.IsPublic || m.IsFamily || m.IsFamilyOrAssembly;
        Type type = typeof(StreamSink);

        Assert.DoesNotContain(type.GetConstructors(declared), VisibleOutside);
        string[] ownMembers = type.GetMethods(declared)
            .Where(m => VisibleOutside(m) && m.GetBaseDefinition().DeclaringType == type)
            .Select(m => m.Name).ToArray();
        Assert.Empty(ownMembers);

        // What it does offer is LogSink's, and its sinks work as before.
        var output = new System.IO.MemoryStream();
        FapiLogging.Configure(new FapiLogOptions { Console = false }.AddSink(new ConsoleSink(output, json: true, colour: false)));
        Typed(1f, 'a', DayOfWeek.Monday, 1, 1u, null);
        Assert.True(FapiLogging.Flush(TimeSpan.FromSeconds(30)));
        Assert.Contains("\"event\":\"Typed\"", System.Text.Encoding.UTF8.GetString(output.ToArray()));
    }

    [Fact]
    public void LogArgument_shows_what_a_value_is_but_not_how_a_slot_stores_it()
    {
        // StorageKind, Size and IsReference describe the queue slot's layout: public, they would bind a later version to it.
        string[] shown = typeof(LogArgument).GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance)
            .Select(p => p.Name).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(["EnumType", "IsNullable", "Kind", "Name"], shown);

        LogArgument day = s_typed.Arguments[2];
        Assert.Equal(("level2", ArgumentKind.Enum, false, typeof(DayOfWeek)), (day.Name, day.Kind, day.IsNullable, day.EnumType));
        LogArgument n = s_typed.Arguments[3];
        Assert.Equal(("n", ArgumentKind.Int32, true, (Type?)null), (n.Name, n.Kind, n.IsNullable, n.EnumType));
    }

    public static TheoryData<string, Action<FapiLogOptions>> OutOfRangeOptions() => new()
    {
        { "QueueCapacity", o => o.QueueCapacity = int.MaxValue },
        { "QueueCapacity", o => o.QueueCapacity = FapiLogOptions.MaxQueueCapacity + 1 },
        { "QueueCapacity", o => o.QueueCapacity = 0 },
        { "BatchSize", o => o.BatchSize = int.MaxValue },
        { "SampleRate", o => o.SampleRate = double.NaN },
        { "SampleRate", o => o.SampleRate = double.PositiveInfinity },
        { "SampleRate", o => o.SampleRate = -0.1 },
        { "SampleHighWaterMark", o => o.SampleHighWaterMark = double.NaN },
        { "SampleHighWaterMark", o => o.SampleHighWaterMark = 0 },
        { "FlushInterval", o => o.FlushInterval = TimeSpan.MaxValue },
        { "FlushInterval", o => o.FlushInterval = TimeSpan.MinValue },
        { "FlushInterval", o => o.FlushInterval = Timeout.InfiniteTimeSpan },
        { "ShutdownTimeout", o => o.ShutdownTimeout = TimeSpan.FromTicks(-1) },
        { "ShutdownTimeout", o => o.ShutdownTimeout = TimeSpan.MaxValue },
        { "BlockTimeout", o => o.BlockTimeout = TimeSpan.MaxValue },
        { "BlockTimeout", o => o.BlockTimeout = TimeSpan.FromSeconds(-2) },
        { "DropWarningInterval", o => o.DropWarningInterval = TimeSpan.Zero },
        { "MinimumLevel", o => o.MinimumLevel = (Microsoft.Extensions.Logging.LogLevel)42 },
        { "Overflow", o => o.Overflow = (OverflowStrategy)42 },
        { "FileMaxBytes", o => o.FileMaxBytes = -1 },
        { "FileRetainedFiles", o => o.FileRetainedFiles = int.MaxValue },
        { "TimeProvider", o => o.TimeProvider = null! },
        { "Loki.RequestTimeout", o => o.Loki.RequestTimeout = TimeSpan.MaxValue },
        { "Loki.MinBackoff", o => o.Loki.MinBackoff = TimeSpan.MinValue },
        { "Loki.MaxAttempts", o => o.Loki.MaxAttempts = int.MaxValue },
        { "Loki.MaxBatchBytes", o => o.Loki.MaxBatchBytes = int.MaxValue },
        { "Loki.MaxLineBytes", o => o.Loki.MaxLineBytes = -1 },
        { "Loki.MaxBufferedBytes", o => o.Loki.MaxBufferedBytes = 1024 },
        { "Loki.Labels", o => o.Loki.Labels["app"] = null! },
        { "Loki.Headers", o => o.Loki.Headers["X-Key"] = null! },
    };

    [Theory]
    [MemberData(nameof(OutOfRangeOptions))]
    public void Every_out_of_range_option_fails_at_configuration_naming_the_option(string setting, Action<FapiLogOptions> configure)
    {
        var options = new FapiLogOptions { Console = false };
        configure(options);

        var ex = Assert.Throws<FapiLogConfigurationException>(() => FapiLogging.Configure(options));
        Assert.Equal(setting, ex.Setting);
        Assert.False(FapiLogging.IsConfigured);
    }

    [Theory]
    [InlineData("FAPILOG_LOKI_TIMEOUT", "1200")]
    [InlineData("FAPILOG_LOKI_TIMEOUT", "3600")]
    public void A_Loki_variable_beyond_the_options_range_is_refused_under_the_variables_name(string variable, string value)
    {
        var env = new Dictionary<string, string> { [variable] = value };
        var options = new FapiLogOptions();

        var ex = Assert.Throws<FapiLogConfigurationException>(() => options.ApplyEnvironment(name => env.GetValueOrDefault(name)).Validate());
        Assert.Equal(variable, ex.Setting);
    }

    [Theory]
    [InlineData("FAPILOG_LOKI_TIMEOUT", "600")]
    [InlineData("FAPILOG_LOKI_MIN_BACKOFF", "3600")]
    [InlineData("FAPILOG_LOKI_MAX_BACKOFF", "3600")]
    public void A_Loki_variable_at_the_top_of_its_range_is_accepted(string variable, string value)
    {
        // The backoffs are checked against each other too: give the other one a value that fits.
        var env = new Dictionary<string, string> { ["FAPILOG_LOKI_MIN_BACKOFF"] = "1", ["FAPILOG_LOKI_MAX_BACKOFF"] = "3600" };
        env[variable] = value;
        new FapiLogOptions().ApplyEnvironment(name => env.GetValueOrDefault(name)).Validate();
    }

    private static readonly LogEventDescriptor s_typed = new(
        40, "Typed", Microsoft.Extensions.Logging.LogLevel.Warning, "Typed {F} {C} {Level2} {N}",
        LogArgument.Create<float>("f"), LogArgument.Create<char>("c"), LogArgument.Create<DayOfWeek>("level2"), LogArgument.Create<int?>("n"),
        LogArgument.Create<uint>("u"));

    private static void Typed(float f, char c, DayOfWeek d, int? n, uint u, Exception? ex)
    {
        LogEventWriter w = FapiLogRuntime.Begin(s_typed);
        if (!w.IsActive)
        {
            return;
        }

        w.Write(f);
        w.Write(c);
        w.Write(d);
        w.WriteNullable(n);
        w.Write(u);
        w.SetException(ex);
        w.Commit();
    }

    [Fact]
    public void Limits_a_later_version_may_change_are_read_at_run_time_not_compiled_into_callers()
    {
        // A public const is copied into every assembly that reads it, so raising a limit later would leave callers with
        // the old value until they rebuild; static readonly fields are read from FapiLog itself.
        (Type Type, string Name, object Value)[] limits =
        [
            (typeof(FapiLogOptions), nameof(FapiLogOptions.MaxQueueCapacity), 1 << 24),
            (typeof(LokiOptions), nameof(LokiOptions.MaxLabels), 15),
            (typeof(LokiOptions), nameof(LokiOptions.MaxLabelNameBytes), 1024),
            (typeof(LokiOptions), nameof(LokiOptions.MaxLabelValueBytes), 2048),
            (typeof(JsonFileSink), nameof(JsonFileSink.MinRollBytes), 1024L),
            (typeof(JsonFileSink), nameof(JsonFileSink.MaxRetainedFiles), 1000),
        ];
        foreach ((Type type, string name, object value) in limits)
        {
            System.Reflection.FieldInfo field = type.GetField(name, System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)!;
            Assert.True(field.IsInitOnly && !field.IsLiteral, $"{type.Name}.{name} is a const");
            Assert.Equal(value, field.GetValue(null));
        }
    }

    /// <summary>A custom sink as the README shows one, recording what the LogRecord API gives it and the lifecycle calls.</summary>
    private sealed class RecordingSink : LogSink
    {
        public readonly List<string> Calls = new();
        public readonly List<CapturedLogEvent> Seen = new();

        public override void Write(in LogBatch batch, CancellationToken cancellationToken)
        {
            Calls.Add("Write");
            foreach (ref readonly LogRecord e in batch)
            {
                var fields = new FieldList();
                e.VisitFields(ref fields);
                Seen.Add(new CapturedLogEvent(e.Timestamp, e.Level, e.EventId, e.EventName, e.FormatMessage(),
                    e.MessageTemplate, fields.Fields, e.Exception, e.HasTraceContext ? e.TraceId.ToHexString() : null,
                    e.HasTraceContext ? e.SpanId.ToHexString() : null, string.Empty));
            }
        }

        public override void Flush(CancellationToken cancellationToken) => Calls.Add("Flush");

        protected override void Dispose(bool disposing) => Calls.Add("Dispose");

        private struct FieldList : ILogFieldVisitor
        {
            public FieldList() => Fields = new();

            public List<KeyValuePair<string, object?>> Fields { get; }

            public void Visit(string name, long value) => Fields.Add(new(name, value));
            public void Visit(string name, ulong value) => Fields.Add(new(name, value));
            public void Visit(string name, double value) => Fields.Add(new(name, value));
            public void Visit(string name, decimal value) => Fields.Add(new(name, value));
            public void Visit(string name, bool value) => Fields.Add(new(name, value));
            public void Visit(string name, string value) => Fields.Add(new(name, value));
            public void Visit(string name, DateTime value) => Fields.Add(new(name, value));
            public void Visit(string name, DateTimeOffset value) => Fields.Add(new(name, value));
            public void Visit(string name, TimeSpan value) => Fields.Add(new(name, value));
            public void Visit(string name, Guid value) => Fields.Add(new(name, value));
            public void VisitNull(string name) => Fields.Add(new(name, null));
        }
    }

    [Fact]
    public void A_custom_sink_sees_everything_the_docs_promise_and_is_flushed_then_disposed_once()
    {
        var sink = new RecordingSink();
        var clock = new Support.FakeTime();
        FapiLogging.Configure(new FapiLogOptions { Console = false, TimeProvider = clock }.AddSink(sink));
        var boom = new InvalidOperationException("boom");
        using (var activity = new System.Diagnostics.Activity("op").SetIdFormat(System.Diagnostics.ActivityIdFormat.W3C).Start())
        {
            Typed(0.1f, 'x', DayOfWeek.Friday, null, 7u, boom);
            Assert.True(FapiLogging.Flush(TimeSpan.FromSeconds(30)));
            Assert.Equal(activity.TraceId.ToHexString(), sink.Seen[0].TraceId);
            Assert.Equal(activity.SpanId.ToHexString(), sink.Seen[0].SpanId);
        }

        CapturedLogEvent e = Assert.Single(sink.Seen);
        // Options.TimeProvider stamps the events too (not only the worker's deadlines).
        Assert.Equal(clock.GetUtcNow(), e.Timestamp);
        Assert.Equal(TimeSpan.Zero, e.Timestamp.Offset);
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Warning, e.Level);
        Assert.Equal(40, e.EventId);
        Assert.Equal("Typed", e.EventName);
        Assert.Equal("Typed 0.1 x Friday (null)", e.Message);
        Assert.Same(boom, e.Exception);
        Assert.Equal(0.1, e["F"]);
        Assert.Equal("x", e["C"]);
        Assert.Equal("Friday", e["Level2"]);
        Assert.Null(e["N"]);
        Assert.Equal(7UL, e["u"]);

        // FapiLogging.Flush flushes the sinks; shutdown flushes, then disposes once, and a second shutdown does nothing more.
        Assert.Equal(["Write", "Flush"], sink.Calls);
        Assert.True(FapiLogging.Shutdown());
        Assert.True(FapiLogging.Shutdown());
        Assert.Equal(["Write", "Flush", "Flush", "Dispose"], sink.Calls);
    }

    [Fact]
    public void Flush_with_nothing_queued_still_flushes_the_sinks()
    {
        var sink = new RecordingSink();
        FapiLogging.Configure(new FapiLogOptions { Console = false }.AddSink(sink));

        Assert.True(FapiLogging.Flush(TimeSpan.FromSeconds(30)));
        Assert.Contains("Flush", sink.Calls);
    }

    [Fact]
    public void CapturedLogEvent_Json_is_the_file_line_without_its_timestamp_and_trace_members()
    {
        var sink = new InMemorySink();
        string path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"fapilog-api-{Guid.NewGuid():N}.jsonl");
        try
        {
            FapiLogging.Configure(new FapiLogOptions { Console = false, FilePath = path }.AddSink(sink));
            using (new System.Diagnostics.Activity("op").SetIdFormat(System.Diagnostics.ActivityIdFormat.W3C).Start())
            {
                Typed(1.5f, 'y', DayOfWeek.Monday, 3, 4u, null);
            }

            Assert.True(FapiLogging.Shutdown());
            string fileLine = Assert.Single(System.IO.File.ReadAllLines(path));
            var file = System.Text.Json.Nodes.JsonNode.Parse(fileLine)!.AsObject();
            Assert.True(file.Remove("timestamp"));
            Assert.True(file.Remove("trace_id"));
            Assert.True(file.Remove("span_id"));
            Assert.Equal(file.ToJsonString(), System.Text.Json.Nodes.JsonNode.Parse(sink.Events[0].Json)!.ToJsonString());
        }
        finally
        {
            System.IO.File.Delete(path);
        }
    }

    [Theory]
    [InlineData("ftp://loki.example:3100/?api_key=s3cret")]
    [InlineData("loki.example:3100/push?api_key=s3cret")]
    [InlineData("http//loki.example/?api_key=s3cret")]
    public void A_refused_Loki_url_is_not_echoed_with_its_query(string url)
    {
        // LokiOptions: "secrets are never echoed"; ToString shows a URL without user information or the query.
        var env = new Dictionary<string, string> { ["FAPILOG_LOKI_URL"] = url };
        var ex = Assert.Throws<FapiLogConfigurationException>(() => new FapiLogOptions().ApplyEnvironment(name => env.GetValueOrDefault(name)));
        Assert.Equal("FAPILOG_LOKI_URL", ex.Setting);
        Assert.DoesNotContain("s3cret", ex.Message);
        Assert.DoesNotContain("s3cret", ex.Value ?? string.Empty);
    }

    [Fact]
    public void A_refused_Loki_url_option_is_not_echoed_with_its_query()
    {
        var options = new FapiLogOptions();
        options.Loki.Url = new Uri("ftp://loki.example:3100/?api_key=s3cret");
        var ex = Assert.Throws<FapiLogConfigurationException>(options.Validate);
        Assert.Equal("Loki.Url", ex.Setting);
        Assert.DoesNotContain("s3cret", ex.Message);
    }

    /// <summary>A sink that, like a file or socket sink, cannot write once disposed.</summary>
    private sealed class DisposableSink : LogSink
    {
        private int _inside;
        public int Written;
        public int Disposals;
        public bool Overlapped;

        public override void Write(in LogBatch batch, CancellationToken cancellationToken)
        {
            ObjectDisposedException.ThrowIf(Disposals > 0, this);
            Overlapped |= Interlocked.Increment(ref _inside) > 1;
            Written += batch.Count;
            Interlocked.Decrement(ref _inside);
        }

        protected override void Dispose(bool disposing) => Disposals++;
    }

    [Fact]
    public void Configuring_again_with_the_same_sink_keeps_it_working_and_disposes_it_once_at_the_end()
    {
        var sink = new DisposableSink();
        FapiLogging.Configure(o => { o.Console = false; o.AddSink(sink); });
        Typed(1f, 'a', DayOfWeek.Monday, 1, 1u, null);

        // Reconfigured to change a setting, keeping the sink: the old pipeline must not dispose what the new one uses.
        FapiLogging.Configure(o => { o.Console = false; o.BatchSize = 10; o.AddSink(sink); });
        Typed(2f, 'b', DayOfWeek.Tuesday, 2, 2u, null);
        Assert.True(FapiLogging.Flush(TimeSpan.FromSeconds(30)));

        Assert.Equal(0, sink.Disposals);
        Assert.Equal(2, sink.Written);
        Assert.Equal(0, FapiLogging.Statistics.Failed);

        Assert.True(FapiLogging.Shutdown());
        Assert.Equal(1, sink.Disposals);
        Assert.False(sink.Overlapped);
    }
}
