using System;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using FapiLog.Internal;
using FapiLog.Sinks;
using FapiLog.Tests.Support;
using Microsoft.Extensions.Logging;
using Xunit;

namespace FapiLog.Tests;

public class SinkTests
{
    private static readonly LogEventDescriptor s_order = new(
        40, "OrderPlaced", LogLevel.Warning, "Order {OrderId} placed by {Customer}",
        LogArgument.Create<long>("orderId"), LogArgument.Create<string>("customer"));

    private static void Order(LogPipeline pipeline, long id, string customer)
    {
        LogEventWriter w = FapiLogRuntime.Begin(pipeline.Queue, s_order, true);
        w.Write(id);
        w.WriteString(customer);
        w.Commit();
    }

    [Fact]
    public void Console_text_is_one_readable_line_per_event()
    {
        var output = new MemoryStream();
        FapiLogOptions options = TestLog.Options();
        options.AddSink(new ConsoleSink(output, json: false, colour: false));
        LogPipeline pipeline = TestLog.Start(options);
        Order(pipeline, 42, "alice");
        Assert.True(pipeline.Shutdown(TestLog.Safety));

        string text = Encoding.UTF8.GetString(output.ToArray());
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z warning OrderPlaced: Order 42 placed by alice\n$", text);
    }

    [Fact]
    public void Console_colours_the_level_on_a_terminal()
    {
        var output = new MemoryStream();
        FapiLogOptions options = TestLog.Options();
        options.AddSink(new ConsoleSink(output, json: false, colour: true));
        LogPipeline pipeline = TestLog.Start(options);
        Order(pipeline, 1, "bob");
        Assert.True(pipeline.Shutdown(TestLog.Safety));

        Assert.Contains("\u001b[33mwarning \u001b[0m", Encoding.UTF8.GetString(output.ToArray()));
    }

    [Fact]
    public void Console_json_and_the_file_sink_write_one_json_object_per_line()
    {
        string file = Path.Combine(Path.GetTempPath(), "fapilog-" + Guid.NewGuid().ToString("N"), "app.jsonl");
        var output = new MemoryStream();
        FapiLogOptions options = TestLog.Options(o => o.FilePath = file);
        options.AddSink(new ConsoleSink(output, json: true, colour: false));
        LogPipeline pipeline = TestLog.Start(options);
        using (new System.Diagnostics.Activity("request").SetIdFormat(System.Diagnostics.ActivityIdFormat.W3C).Start())
        {
            Order(pipeline, 7, "carol \"the\" ünïcode");
        }

        Order(pipeline, 8, "dave");
        Assert.True(pipeline.Shutdown(TestLog.Safety));

        string[] fileLines = File.ReadAllLines(file);
        string[] consoleLines = Encoding.UTF8.GetString(output.ToArray()).TrimEnd('\n').Split('\n');
        Assert.Equal(2, fileLines.Length);
        Assert.Equal(fileLines, consoleLines);
        using JsonDocument first = JsonDocument.Parse(fileLines[0]);
        JsonElement e = first.RootElement;
        Assert.Equal(new[] { "timestamp", "level", "message", "event", "event_id", "OrderId", "Customer", "trace_id", "span_id" },
            e.EnumerateObject().Select(p => p.Name));
        Assert.Equal("warning", e.GetProperty("level").GetString());
        Assert.Equal(7, e.GetProperty("OrderId").GetInt64());
        Assert.Equal("carol \"the\" ünïcode", e.GetProperty("Customer").GetString());
        Assert.Equal(32, e.GetProperty("trace_id").GetString()!.Length);
        Assert.True(DateTimeOffset.TryParse(e.GetProperty("timestamp").GetString(), out _));
        using JsonDocument second = JsonDocument.Parse(fileLines[1]);
        Assert.False(second.RootElement.TryGetProperty("trace_id", out _));
        Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
    }

    [Fact]
    public void The_in_memory_sink_captures_trace_context()
    {
        FapiLogOptions options = TestLog.Options();
        InMemorySink sink = TestLog.Memory(options);
        LogPipeline pipeline = TestLog.Start(options);
        using var activity = new System.Diagnostics.Activity("op").SetIdFormat(System.Diagnostics.ActivityIdFormat.W3C).Start();
        Order(pipeline, 1, "x");
        Assert.True(pipeline.Shutdown(TestLog.Safety));

        CapturedLogEvent e = Assert.Single(sink.Events);
        Assert.Equal(activity.TraceId.ToHexString(), e.TraceId);
        Assert.Equal(activity.SpanId.ToHexString(), e.SpanId);
    }
}
