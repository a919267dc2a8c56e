using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using FapiLog.Internal;
using FapiLog.Sinks;
using FapiLog.Tests.Support;
using Microsoft.Extensions.Logging;
using Xunit;

namespace FapiLog.Tests;

public class SinkTests
{
    private static readonly System.Threading.AsyncLocal<string?> s_requestState = new();

    [Fact]
    public void The_worker_does_not_run_in_the_execution_context_of_the_call_that_started_it()
    {
        // The first log call starts the pipeline, often within a request: the worker ran in that call's execution context
        // for as long as the process lived, with the request's Activity current and its async locals (an HttpContext
        // through IHttpContextAccessor) kept alive. A sink that logs, or sends over HttpClient, carried that trace on.
        var seen = new ContextSink();
        FapiLogOptions options = TestLog.Options(o => { });
        options.AddSink(seen);
        LogPipeline pipeline;
        using (new System.Diagnostics.Activity("request").Start())
        {
            s_requestState.Value = "request";
            pipeline = TestLog.Start(options);
            s_requestState.Value = null;
        }

        Assert.True(TestLog.Emit(pipeline, 1, 0));
        Assert.True(pipeline.Shutdown(TestLog.Safety));
        Assert.Equal([(null, null)], seen.Seen);
    }

    /// <summary>Records, for each batch, the Activity and the async local current on the thread that writes it.</summary>
    private sealed class ContextSink : LogSink
    {
        public System.Collections.Concurrent.ConcurrentQueue<(string? Activity, string? State)> Seen { get; } = new();

        public override void Write(in LogBatch batch, System.Threading.CancellationToken cancellationToken)
            => Seen.Enqueue((System.Diagnostics.Activity.Current?.OperationName, s_requestState.Value));
    }

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
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z warning  OrderPlaced: Order 42 placed by alice\n$", text);
    }

    [Fact]
    public void Console_text_separates_every_level_from_the_event_name()
    {
        // "critical" fills the eight-wide level column; it once ran into the name ("criticalFatal").
        var output = new MemoryStream();
        FapiLogOptions options = TestLog.Options();
        options.AddSink(new ConsoleSink(output, json: false, colour: false));
        LogPipeline pipeline = TestLog.Start(options);
        Assert.True(TestLog.Emit(pipeline, TestLog.Critical, 7));
        Assert.True(TestLog.Emit(pipeline, TestLog.Failure, 8));
        Assert.True(pipeline.Shutdown(TestLog.Safety));

        string[] lines = Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(new[] { "critical Fatal: Fatal 7", "error    Failure: Failure 8" }, lines.Select(l => l.Substring(l.IndexOf('Z') + 2)));
    }

    private static readonly LogEventDescriptor s_failed = new(
        41, "Failed", LogLevel.Error, "Order {OrderId} failed", LogArgument.Create<long>("orderId"));

    [Fact]
    public void An_exception_whose_text_throws_is_logged_with_a_marker_in_text_and_json()
    {
        var text = new MemoryStream();
        var json = new MemoryStream();
        FapiLogOptions options = TestLog.Options();
        options.AddSink(new ConsoleSink(text, json: false, colour: false));
        options.AddSink(new ConsoleSink(json, json: true, colour: false));
        LogPipeline pipeline = TestLog.Start(options);
        LogEventWriter w = FapiLogRuntime.Begin(pipeline.Queue, s_failed, true);
        w.Write(7L);
        w.SetException(new UnreadableException());
        w.Commit();
        Assert.True(pipeline.Shutdown(TestLog.Safety));

        Assert.Equal(0, pipeline.GetStatistics().Failed);
        // Its text is then made from its members, each failure marked: the message throws too, and it was never thrown, so
        // there is no stack.
        string full = typeof(UnreadableException).FullName + ": <Message threw System.InvalidOperationException>\n<ToString threw System.NotSupportedException>";
        Assert.Contains("Failed: Order 7 failed\n    " + full.Replace("\n", "\n    ", StringComparison.Ordinal) + "\n",
            Encoding.UTF8.GetString(text.ToArray()));
        using JsonDocument doc = JsonDocument.Parse(Encoding.UTF8.GetString(json.ToArray()));
        JsonElement exception = doc.RootElement.GetProperty("exception");
        Assert.Equal("<Message threw System.InvalidOperationException>", exception.GetProperty("message").GetString());
        Assert.Equal(full, exception.GetProperty("stack").GetString());
    }

    [Theory]
    [InlineData(LogLevel.None, "none")]
    [InlineData((LogLevel)42, "unknown")]
    [InlineData((LogLevel)(-1), "unknown")]
    public void A_level_outside_Trace_to_Critical_has_the_same_name_in_the_text_and_the_json_lines(LogLevel level, string name)
    {
        // Generated methods and the ILogger bridge never log such a level; a descriptor made by hand can.
        var descriptor = new LogEventDescriptor(43, "Odd", level, "Odd {N}", LogArgument.Create<long>("n"));
        var text = new MemoryStream();
        var json = new MemoryStream();
        FapiLogOptions options = TestLog.Options();
        options.AddSink(new ConsoleSink(text, json: false, colour: false));
        options.AddSink(new ConsoleSink(json, json: true, colour: false));
        LogPipeline pipeline = TestLog.Start(options);
        Assert.True(TestLog.Emit(pipeline, descriptor, 1));
        Assert.True(pipeline.Shutdown(TestLog.Safety));

        // The text and the Loki label said "unknown" for a level past None, the JSON lines "none".
        Assert.Contains(" " + name.PadRight(8) + " Odd: Odd 1\n", Encoding.UTF8.GetString(text.ToArray()));
        using JsonDocument doc = JsonDocument.Parse(Encoding.UTF8.GetString(json.ToArray()));
        Assert.Equal(name, doc.RootElement.GetProperty("level").GetString());
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
    public void A_descriptor_path_to_a_socket_is_written_through_the_descriptor()
    {
        // FAPILOG_FILE=/dev/stdout under systemd (StandardOutput=journal) or a supervisor that reads a socket: Linux opens
        // no socket through /proc/self/fd (ENXIO), so the sink failed to open and the configuration was refused. This
        // uses another descriptor of the test process, as /dev/stdout names descriptor 1.
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        string socketPath = Path.Combine(Path.GetTempPath(), "fapilog-" + Guid.NewGuid().ToString("N") + ".sock");
        using var listener = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        listener.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(socketPath));
        listener.Listen(1);
        using var client = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        client.Connect(new System.Net.Sockets.UnixDomainSocketEndPoint(socketPath));
        using System.Net.Sockets.Socket server = listener.Accept();
        File.Delete(socketPath);

        FapiLogOptions options = TestLog.Options(o => o.FilePath = "/proc/self/fd/" + client.Handle.ToInt64());
        LogPipeline pipeline = TestLog.Start(options);
        Order(pipeline, 7, "alice");
        Assert.True(pipeline.Shutdown(TestLog.Safety));

        // The sink did not close the descriptor it does not own: the socket still takes writes.
        Assert.Equal(1, client.Send("x"u8));
        var received = new StringBuilder();
        byte[] buffer = new byte[4096];
        while (!received.ToString().Contains('x', StringComparison.Ordinal))
        {
            int n = server.Receive(buffer);
            Assert.True(n > 0, "the socket was closed");
            received.Append(Encoding.UTF8.GetString(buffer, 0, n));
        }

        string line = received.ToString().Split('\n')[0];
        using JsonDocument d = JsonDocument.Parse(line);
        Assert.Equal(7, d.RootElement.GetProperty("OrderId").GetInt64());
        Assert.Equal("x", received.ToString()[(line.Length + 1)..]);
    }

    [Theory]
    [InlineData("/dev/stdout", 1)]
    [InlineData("/dev/stderr", 2)]
    [InlineData("/dev/fd/7", 7)]
    [InlineData("/proc/self/fd/12", 12)]
    [InlineData("/dev/fd/-1", null)]
    [InlineData("/dev/fd/1x", null)]
    [InlineData("/proc/1/fd/1", null)]
    [InlineData("/var/log/app.jsonl", null)]
    public void Paths_that_name_a_descriptor_are_recognised(string path, int? descriptor)
        => Assert.Equal(OperatingSystem.IsWindows() ? null : descriptor, JsonFileSink.DescriptorOf(path));

    [Fact]
    public void A_sink_whose_stream_was_closed_under_it_flushes_and_disposes_without_throwing()
    {
        // A roll that shifted the files but could not open the new one leaves the old stream closed until the next batch
        // opens the file again; a flush meanwhile threw ObjectDisposedException, reported as a failure of a sink that had
        // lost nothing, and Dispose threw before it let its buffers go.
        string file = TempLogFile();
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        var stream = new FileStream(file, FileMode.Create, FileAccess.Write);
        var sink = new ConsoleSink(stream, json: true, colour: false);
        stream.Dispose();

        sink.Flush(CancellationToken.None);
        sink.Dispose();
        Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
    }

    /// <summary>
    /// Logs events 1 to <paramref name="events"/> into <paramref name="file"/> rolled at 1 KiB, one batch each (a flush
    /// after every event), and shuts the pipeline down.
    /// </summary>
    private static FapiLogStatistics LogThroughRollingFile(string file, int retainedFiles, int events)
    {
        FapiLogOptions options = TestLog.Options(o => { o.FilePath = file; o.FileMaxBytes = 1024; o.FileRetainedFiles = retainedFiles; });
        LogPipeline pipeline = TestLog.Start(options);
        for (int id = 1; id <= events; id++)
        {
            Order(pipeline, id, "customer-" + id);
            Assert.True(pipeline.Flush(TestLog.Safety));
        }

        Assert.True(pipeline.Shutdown(TestLog.Safety));
        return pipeline.GetStatistics();
    }

    private static long[] OrderIds(string file) => File.ReadAllLines(file)
        .Select(line =>
        {
            using JsonDocument d = JsonDocument.Parse(line);
            return d.RootElement.GetProperty("OrderId").GetInt64();
        })
        .ToArray();

    private static string TempLogFile() => Path.Combine(Path.GetTempPath(), "fapilog-" + Guid.NewGuid().ToString("N"), "app.jsonl");

    [Fact]
    public void The_file_rolls_before_a_batch_would_pass_the_limit_and_keeps_the_newest_files()
    {
        string file = TempLogFile();
        LogThroughRollingFile(file, retainedFiles: 3, events: 60);

        string folder = Path.GetDirectoryName(file)!;
        Assert.Equal(new[] { "app.jsonl", "app.jsonl.1", "app.jsonl.2", "app.jsonl.3" }, Directory.GetFiles(folder).Select(Path.GetFileName).Order());
        foreach (string f in Directory.GetFiles(folder))
        {
            Assert.InRange(new FileInfo(f).Length, 1, 1024);
        }

        // Oldest to newest, the four files hold the last events in order, without a gap or a repeat, ending with 60;
        // the events before them went with the files rolled past the third.
        long[] kept = new[] { ".3", ".2", ".1", "" }.SelectMany(suffix => OrderIds(file + suffix)).ToArray();
        Assert.Equal(Enumerable.Range((int)kept[0], kept.Length).Select(i => (long)i), kept);
        Assert.Equal(60, kept[^1]);
        Assert.True(kept[0] > 1, "60 events of about 150 bytes fill more than four files of 1 KiB");
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public void With_no_rolled_files_kept_the_file_starts_over()
    {
        string file = TempLogFile();
        LogThroughRollingFile(file, retainedFiles: 0, events: 20);

        Assert.Equal(new[] { file }, Directory.GetFiles(Path.GetDirectoryName(file)!));
        long[] ids = OrderIds(file);
        Assert.Equal(Enumerable.Range(21 - ids.Length, ids.Length).Select(i => (long)i), ids);
        Assert.True(ids.Length < 20);
        Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
    }

    [Fact]
    public void A_file_that_cannot_be_rolled_keeps_every_event()
    {
        string file = TempLogFile();
        // A folder where the oldest rolled file would go: deleting it as a file fails, so every roll fails.
        Directory.CreateDirectory(file + ".1");
        FapiLogStatistics stats = LogThroughRollingFile(file, retainedFiles: 1, events: 20);

        Assert.Equal(Enumerable.Range(1, 20).Select(i => (long)i), OrderIds(file));
        Assert.Equal(0, stats.Failed);
        Assert.Equal(20, stats.Delivered);
        Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
    }

    [Fact]
    public void A_roll_that_keeps_failing_does_not_delete_the_rolled_files()
    {
        // Only the last step of the roll fails (the live file cannot become .1: a folder is in the way, as when another
        // process holds the file on Windows). Every batch tries the roll again; before, each try moved the rolled files up
        // and deleted the oldest, so after a few batches none was left although no roll ever happened.
        string file = TempLogFile();
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        File.WriteAllText(file + ".2", "rolled-2\n");
        File.WriteAllText(file + ".3", "rolled-3\n");
        File.WriteAllText(file + ".4", "rolled-4\n");
        Directory.CreateDirectory(file + ".1");
        FapiLogStatistics stats = LogThroughRollingFile(file, retainedFiles: 4, events: 20);

        Assert.Equal("rolled-2\n", File.ReadAllText(file + ".2"));
        Assert.Equal("rolled-3\n", File.ReadAllText(file + ".3"));
        Assert.Equal("rolled-4\n", File.ReadAllText(file + ".4"));
        Assert.Equal(Enumerable.Range(1, 20).Select(i => (long)i), OrderIds(file));
        Assert.Equal(20, stats.Delivered);
        Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
    }

    [Fact]
    public void A_rolled_file_is_missing_only_the_files_below_the_gap_move_up()
    {
        string file = TempLogFile();
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        File.WriteAllText(file, new string('x', 1000) + "\n");
        File.WriteAllText(file + ".1", "rolled-1\n");
        File.WriteAllText(file + ".3", "rolled-3\n");
        LogThroughRollingFile(file, retainedFiles: 3, events: 1);

        // The live file became .1, the old .1 moved into the free .2, and .3 was neither moved nor deleted.
        Assert.StartsWith("xxx", File.ReadAllText(file + ".1"));
        Assert.Equal("rolled-1\n", File.ReadAllText(file + ".2"));
        Assert.Equal("rolled-3\n", File.ReadAllText(file + ".3"));
        Assert.Equal(new long[] { 1 }, OrderIds(file));
        Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(0)]
    public void Rolled_files_beyond_a_lowered_limit_are_deleted_and_nothing_else(int retainedFiles)
    {
        // Yesterday's run kept ten rolled files, today's keeps fewer: the shift only looked at the numbers it keeps, so
        // .4 to .10 (all ten with 0) stayed forever.
        string file = TempLogFile();
        string folder = Directory.CreateDirectory(Path.GetDirectoryName(file)!).FullName;
        File.WriteAllText(file, new string('x', 1000) + "\n");
        for (int n = 1; n <= 10; n++)
        {
            File.WriteAllText(file + "." + n, "rolled-" + n + "\n");
        }

        // Not this sink's rolled files: compressed, dated, zero-padded, another log's, or a folder.
        string[] others = ["app.jsonl.5.gz", "app.jsonl.20240101", "app.jsonl.07", "app.jsonl.old", "other.jsonl.8", "app.jsonl.1001"];
        foreach (string other in others)
        {
            File.WriteAllText(Path.Combine(folder, other), "not ours\n");
        }

        Directory.CreateDirectory(file + ".11");
        LogThroughRollingFile(file, retainedFiles, events: 1);

        string[] expected = others.Append("app.jsonl").Concat(Enumerable.Range(1, retainedFiles).Select(n => "app.jsonl." + n)).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(expected, Directory.GetFiles(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.True(Directory.Exists(file + ".11"));
        Assert.Equal(new long[] { 1 }, OrderIds(file));
        if (retainedFiles > 0)
        {
            Assert.StartsWith("xxx", File.ReadAllText(file + ".1"));
            Assert.Equal("rolled-1\n", File.ReadAllText(file + ".2"));
            Assert.Equal("rolled-2\n", File.ReadAllText(file + ".3"));
        }

        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public void A_symbolic_link_such_as_dev_stdout_is_written_through_and_never_rolled()
    {
        // /dev/stdout is a link to /proc/self/fd/1; with stdout redirected to a file it can seek, and rolling renamed the
        // link itself and put a plain file in its place, so the output no longer reached stdout.
        string folder = Path.GetDirectoryName(TempLogFile())!;
        Directory.CreateDirectory(folder);
        string target = Path.Combine(folder, "redirected-stdout.log");
        File.WriteAllText(target, "");
        string link = Path.Combine(folder, "stdout");
        File.CreateSymbolicLink(link, target);

        LogThroughRollingFile(link, retainedFiles: 5, events: 20);

        Assert.Equal(target, new FileInfo(link).LinkTarget);
        Assert.Equal(Enumerable.Range(1, 20).Select(i => (long)i), OrderIds(target));
        Assert.Equal(new[] { "redirected-stdout.log", "stdout" }, Directory.GetFileSystemEntries(folder).Select(Path.GetFileName).Order());
        Directory.Delete(folder, recursive: true);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_write_that_fails_part_way_does_not_spoil_the_next_line(bool seekable)
    {
        // A full disk: the write takes part of the batch, then fails. The batch counts as failed; the next batch's first
        // event must still be a line of its own. A seekable stream is cut back; any other starts the next batch on a new line.
        var output = new PartialWriteStream(seekable) { FailWrite = 2 };
        FapiLogOptions options = TestLog.Options();
        options.AddSink(new ConsoleSink(output, json: true, colour: false));
        LogPipeline pipeline = TestLog.Start(options);
        for (int id = 1; id <= 3; id++)
        {
            Order(pipeline, id, "customer-" + id);
            Assert.True(pipeline.Flush(TestLog.Safety));
        }

        Assert.True(pipeline.Shutdown(TestLog.Safety));
        string[] lines = Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        long? Id(string line)
        {
            try
            {
                using JsonDocument d = JsonDocument.Parse(line);
                return d.RootElement.GetProperty("OrderId").GetInt64();
            }
            catch (JsonException)
            {
                return null;
            }
        }

        // Cut back: only whole lines are left. Not seekable: the partial line stays, alone on its line.
        Assert.Equal(seekable ? new long?[] { 1, 3 } : new long?[] { 1, null, 3 }, lines.Select(Id));
        FapiLogStatistics stats = pipeline.GetStatistics();
        Assert.Equal(2, stats.Delivered);
        Assert.Equal(1, stats.Failed);
    }

    /// <summary>A memory stream whose write number <see cref="FailWrite"/> takes half the bytes, then fails as a full disk does.</summary>
    private sealed class PartialWriteStream(bool seekable) : MemoryStream
    {
        private int _writes;

        public int FailWrite { get; init; }

        public override bool CanSeek => seekable && base.CanSeek;

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (++_writes == FailWrite)
            {
                base.Write(buffer.Slice(0, buffer.Length / 2));
                throw new IOException("No space left on device");
            }

            base.Write(buffer);
        }
    }

    [Fact]
    public void An_existing_file_counts_toward_the_limit()
    {
        string file = TempLogFile();
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        File.WriteAllText(file, new string('x', 1000) + "\n");
        LogThroughRollingFile(file, retainedFiles: 1, events: 1);

        Assert.StartsWith("xxx", File.ReadAllText(file + ".1"));
        Assert.Equal(new long[] { 1 }, OrderIds(file));
        Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
    }

    private static LogBatch OneEvent(string payload)
    {
        var records = new LogRecord[1];
        RetentionTests.Write(ref records[0], payload);
        return new LogBatch(records, 0, 1, -1);
    }

    [Theory]
    [InlineData("the same path")]
    [InlineData("a linked folder")]
    [InlineData("a link to the file")]
    public void Two_file_sinks_on_one_file_take_turns_and_keep_each_others_lines(string reachedThrough)
    {
        // Configure again with the same FilePath (a configuration reload): the replaced pipeline's sink drains into the file
        // while the new one's writes. Each found the file's end, then wrote there: one that found it before the other wrote
        // wrote over the other's batch. Also when the two paths differ only by a symbolic link (/var/log linked to
        // /data/log, macOS's /tmp, a current.jsonl that links to the file).
        string file = TempLogFile();
        string folder = Path.GetDirectoryName(file)!;
        Directory.CreateDirectory(folder);
        File.WriteAllBytes(file, []);
        string other = file;
        if (reachedThrough == "a linked folder")
        {
            other = Path.Combine(folder + "-link", "app.jsonl");
            Directory.CreateSymbolicLink(folder + "-link", folder);
        }
        else if (reachedThrough == "a link to the file")
        {
            other = Path.Combine(folder, "current.jsonl");
            File.CreateSymbolicLink(other, file);
        }

        var first = new JsonFileSink(file);
        var second = new JsonFileSink(other);
        using var firstFoundTheEnd = new ManualResetEventSlim();
        using var goOn = new ManualResetEventSlim();
        first.AfterSeekForTesting = () =>
        {
            firstFoundTheEnd.Set();
            goOn.Wait(TestLog.Safety);
        };

        var firstWriter = new Thread(() => first.Write(OneEvent("first"), CancellationToken.None));
        firstWriter.Start();
        Assert.True(firstFoundTheEnd.Wait(TestLog.Safety));
        var secondWriter = new Thread(() => second.Write(OneEvent("second"), CancellationToken.None));
        secondWriter.Start();
        // Until the second has written or waits for the first: only a wait of its own sets WaitSleepJoin (rendering and file
        // I/O do not).
        while (secondWriter.IsAlive && (secondWriter.ThreadState & ThreadState.WaitSleepJoin) == 0)
        {
            Thread.Yield();
        }

        goOn.Set();
        Assert.True(firstWriter.Join(TestLog.Safety));
        Assert.True(secondWriter.Join(TestLog.Safety));
        first.Dispose();
        second.Dispose();

        // A line written over shows as what is left of it.
        string[] payloads = File.ReadAllLines(file).Select(line =>
        {
            try
            {
                using JsonDocument d = JsonDocument.Parse(line);
                return d.RootElement.GetProperty("Payload").GetString()!;
            }
            catch (JsonException)
            {
                return "unparsable: " + line;
            }
        }).ToArray();
        Assert.Equal(new[] { "first", "second" }, payloads);
        if (Directory.Exists(folder + "-link"))
        {
            Directory.Delete(folder + "-link");
        }

        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public void The_lock_of_a_path_goes_with_its_last_sink()
    {
        string file = TempLogFile();
        var first = new JsonFileSink(file);
        var second = new JsonFileSink(file);
        Assert.True(JsonFileSink.HasSharedLock(file));
        first.Dispose();
        first.Dispose();
        Assert.True(JsonFileSink.HasSharedLock(file));
        second.Dispose();
        Assert.False(JsonFileSink.HasSharedLock(file));
        Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
    }

    [Fact]
    public void The_file_sink_rejects_limits_it_cannot_keep()
    {
        string file = TempLogFile();
        var tooSmall = Assert.Throws<ArgumentOutOfRangeException>(() => new JsonFileSink(file, maxBytes: 10, retainedFiles: 1));
        Assert.Equal("maxBytes", tooSmall.ParamName);
        var tooMany = Assert.Throws<ArgumentOutOfRangeException>(() => new JsonFileSink(file, maxBytes: 0, retainedFiles: -1));
        Assert.Equal("retainedFiles", tooMany.ParamName);
        Assert.False(Directory.Exists(Path.GetDirectoryName(file)), "a rejected sink opens nothing");
    }

    /// <summary>Keeps the batch it was given, which a sink must not: it reads it during Write and the test reads it later.</summary>
    private sealed class BatchKeepingSink : LogSink
    {
        public LogBatch Kept;
        public string? ReadDuringWrite;

        public override void Write(in LogBatch batch, CancellationToken cancellationToken)
        {
            Kept = batch;
            ReadDuringWrite = batch[0].FormatMessage();
        }
    }

    [Fact]
    public void A_batch_kept_past_Write_throws_when_read_instead_of_reading_released_slots()
    {
        // The slots are cleared once the sinks have returned and then reused by later events: a kept batch read a null
        // descriptor (a NullReferenceException somewhere inside the sink) or, later, other events' values without a word.
        FapiLogOptions options = TestLog.Options();
        var sink = new BatchKeepingSink();
        options.AddSink(sink);
        LogPipeline pipeline = TestLog.Start(options);
        Order(pipeline, 1, "alice");
        Assert.True(pipeline.Flush(TestLog.Safety));
        Order(pipeline, 2, "bob");

        Assert.Equal("Order 1 placed by alice", sink.ReadDuringWrite);
        LogBatch kept = sink.Kept;
        Assert.Equal(1, kept.Count);
        InvalidOperationException thrown = Assert.Throws<InvalidOperationException>(() => kept[0].Level);
        Assert.Contains("LogSink.Write", thrown.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() =>
        {
            foreach (ref readonly LogRecord record in kept)
            {
                _ = record.Level;
            }
        });
        Assert.True(pipeline.Shutdown(TestLog.Safety));
        Assert.Equal(0, pipeline.GetStatistics().Failed);
        Assert.Equal("Order 2 placed by bob", sink.ReadDuringWrite);
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

    /// <summary>
    /// Runs <paramref name="wait"/> on a thread of its own and returns once that thread waits (or the call has returned), so
    /// that the events a test logs next arrive during the wait. Started as a task and left to run, the wait began after
    /// the events had arrived as often as not, and then returned without waiting at all: a wait that gave up at once
    /// (the bug these tests are about) passed too.
    /// </summary>
    private static Task<T> StartWaiting<T>(Func<T> wait)
    {
        var result = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                result.SetResult(wait());
            }
            catch (Exception ex)
            {
                result.SetException(ex);
            }
        })
        { IsBackground = true };
        thread.Start();
        Assert.True(SpinWait.SpinUntil(() => result.Task.IsCompleted || (thread.ThreadState & ThreadState.WaitSleepJoin) != 0, TestLog.Safety));
        return result.Task;
    }

    [Fact]
    public void The_in_memory_sink_can_wait_for_events_without_a_time_limit()
    {
        FapiLogOptions options = TestLog.Options();
        InMemorySink sink = TestLog.Memory(options);
        LogPipeline pipeline = TestLog.Start(options);
        Task<bool> waiting = StartWaiting(() => sink.WaitForCount(2, Timeout.InfiniteTimeSpan));
        Assert.False(waiting.IsCompleted, "the wait returned before any event arrived");

        Order(pipeline, 1, "x");
        Order(pipeline, 2, "y");
        Assert.True(pipeline.Flush(TestLog.Safety));

        // Once returned false at once: the infinite timeout (-1 ms) was taken as a deadline already passed.
        Assert.True(waiting.Wait(TestLog.Safety));
        Assert.True(waiting.Result);
        Assert.Equal(2, sink.Count);
        Assert.Throws<ArgumentOutOfRangeException>(() => sink.WaitForCount(3, TimeSpan.FromSeconds(-2)));
        Assert.True(pipeline.Shutdown(TestLog.Safety));
    }

    [Fact]
    public void Two_writers_appending_to_one_file_keep_each_others_lines()
    {
        // Two processes (or two pipelines) with the same FAPILOG_FILE: each must append at the file's end as it is
        // now, not at the end it saw when it opened the file, or it overwrites what the other wrote meanwhile.
        string file = TempLogFile();
        LogPipeline first = TestLog.Start(TestLog.Options(o => o.FilePath = file));
        LogPipeline second = TestLog.Start(TestLog.Options(o => o.FilePath = file));
        Order(first, 1, "first");
        Assert.True(first.Flush(TestLog.Safety));
        Order(second, 2, "second");
        Assert.True(second.Flush(TestLog.Safety));
        Order(first, 3, "first");
        Assert.True(first.Flush(TestLog.Safety));
        Assert.True(first.Shutdown(TestLog.Safety));
        Assert.True(second.Shutdown(TestLog.Safety));

        Assert.Equal(new long[] { 1, 2, 3 }, OrderIds(file));
        Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
    }

    [Fact]
    public void A_file_truncated_by_another_process_is_appended_to_from_its_new_end()
    {
        // logrotate's copytruncate empties the file under the writer; writing on at the old offset leaves a hole of NULs.
        string file = TempLogFile();
        LogPipeline pipeline = TestLog.Start(TestLog.Options(o => o.FilePath = file));
        Order(pipeline, 1, "before");
        Assert.True(pipeline.Flush(TestLog.Safety));
        using (new FileStream(file, FileMode.Truncate, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete))
        {
        }

        Order(pipeline, 2, "after");
        Assert.True(pipeline.Shutdown(TestLog.Safety));

        Assert.DoesNotContain((byte)0, File.ReadAllBytes(file));
        Assert.Equal(new long[] { 2 }, OrderIds(file));
        Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
    }

    [Theory]
    [InlineData(true)]  // logrotate's default (create): rename, then a new empty file at the path
    [InlineData(false)] // renamed away, nothing put in its place
    public void A_file_renamed_away_is_followed_by_a_new_file_at_the_path(bool create)
    {
        if (OperatingSystem.IsWindows())
        {
            return; // the check is off there (see JsonFileSink); the project's machines and CI are Linux.
        }

        // The sink went on writing to the renamed file until the next roll (never, without FileMaxBytes), so the path
        // logrotate created stayed empty and a shipper tailing it saw nothing.
        string file = TempLogFile();
        LogPipeline pipeline = TestLog.Start(TestLog.Options(o => o.FilePath = file));
        Order(pipeline, 1, "before");
        Assert.True(pipeline.Flush(TestLog.Safety));
        File.Move(file, file + ".1");
        if (create)
        {
            File.WriteAllText(file, "");
        }

        Order(pipeline, 2, "after");
        Assert.True(pipeline.Flush(TestLog.Safety));
        Order(pipeline, 3, "after");
        Assert.True(pipeline.Shutdown(TestLog.Safety));

        Assert.Equal(new long[] { 1 }, OrderIds(file + ".1"));
        Assert.Equal(new long[] { 2, 3 }, OrderIds(file));
        Assert.Equal(0, pipeline.GetStatistics().Failed);
        Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
    }

    [Fact]
    public void A_file_deleted_under_the_sink_is_created_again()
    {
        if (OperatingSystem.IsWindows())
        {
            return; // the check is off there (see JsonFileSink); the project's machines and CI are Linux.
        }

        // rm of the live file (or of its whole folder): the sink wrote on into the unlinked file, and every event after
        // it was lost without a count.
        string file = TempLogFile();
        LogPipeline pipeline = TestLog.Start(TestLog.Options(o => o.FilePath = file));
        Order(pipeline, 1, "before");
        Assert.True(pipeline.Flush(TestLog.Safety));
        File.Delete(file);
        Order(pipeline, 2, "after file");
        Assert.True(pipeline.Flush(TestLog.Safety));
        Assert.Equal(new long[] { 2 }, OrderIds(file));

        Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
        Order(pipeline, 3, "after folder");
        Assert.True(pipeline.Shutdown(TestLog.Safety));

        Assert.Equal(new long[] { 3 }, OrderIds(file));
        Assert.Equal(0, pipeline.GetStatistics().Failed);
        Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
    }

    [Fact]
    public void A_path_that_cannot_be_opened_again_fails_the_batch_and_is_tried_again()
    {
        if (OperatingSystem.IsWindows())
        {
            return; // the check is off there (see JsonFileSink); the project's machines and CI are Linux.
        }

        // The folder deleted and a plain file put in its place: the batch is counted as failed, not written into the
        // deleted file as if delivered, and the next batch opens the path once it can.
        string file = TempLogFile();
        string folder = Path.GetDirectoryName(file)!;
        LogPipeline pipeline = TestLog.Start(TestLog.Options(o => o.FilePath = file));
        Order(pipeline, 1, "before");
        Assert.True(pipeline.Flush(TestLog.Safety));
        Directory.Delete(folder, recursive: true);
        File.WriteAllText(folder, "in the way");
        Order(pipeline, 2, "lost");
        Assert.True(pipeline.Flush(TestLog.Safety));
        Assert.Equal(1, pipeline.GetStatistics().Failed);

        File.Delete(folder);
        Order(pipeline, 3, "after");
        Assert.True(pipeline.Shutdown(TestLog.Safety));

        Assert.Equal(new long[] { 3 }, OrderIds(file));
        FapiLogStatistics stats = pipeline.GetStatistics();
        Assert.Equal(1, stats.Failed);
        Assert.Equal(2, stats.Delivered);
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public void A_rolling_file_renamed_away_is_followed_and_rolls_on_at_the_path()
    {
        if (OperatingSystem.IsWindows())
        {
            return; // the check is off there (see JsonFileSink); the project's machines and CI are Linux.
        }

        // With FileMaxBytes, the size that triggers a roll is the new file's: the renamed one, already near the limit,
        // must neither be rolled again (it is gone from the path) nor make the new file roll at its first batch.
        string file = TempLogFile();
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        File.WriteAllText(file, new string('x', 900) + "\n");
        LogPipeline pipeline = TestLog.Start(TestLog.Options(o => { o.FilePath = file; o.FileMaxBytes = 1024; o.FileRetainedFiles = 3; }));
        File.Move(file, file + ".moved");
        Order(pipeline, 1, "after");
        Assert.True(pipeline.Shutdown(TestLog.Safety));

        Assert.Equal(new[] { "app.jsonl", "app.jsonl.moved" }, Directory.GetFiles(Path.GetDirectoryName(file)!).Select(Path.GetFileName).Order());
        Assert.Equal(new long[] { 1 }, OrderIds(file));
        Assert.Equal(new string('x', 900) + "\n", File.ReadAllText(file + ".moved"));
        Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
    }

    [Fact]
    public void A_pipe_as_the_file_is_written_to()
    {
        // FAPILOG_FILE=/dev/stdout in a container is a pipe: it cannot seek, so the sink must not need to.
        using var reader = new System.IO.Pipes.AnonymousPipeServerStream(System.IO.Pipes.PipeDirection.In);
        string pipe = "/proc/self/fd/" + reader.ClientSafePipeHandle.DangerousGetHandle();
        LogPipeline pipeline = TestLog.Start(TestLog.Options(o => { o.FilePath = pipe; o.FileMaxBytes = 1024; }));
        for (int id = 1; id <= 10; id++)
        {
            Order(pipeline, id, "piped");
            Assert.True(pipeline.Flush(TestLog.Safety));
        }

        Assert.True(pipeline.Shutdown(TestLog.Safety));
        reader.DisposeLocalCopyOfClientHandle();

        // Ten batches of about 150 bytes pass the 1 KiB limit: a pipe is not rolled, it goes on being written.
        Assert.Equal(10, pipeline.GetStatistics().Delivered);
        var lines = new StreamReader(reader);
        for (int id = 1; id <= 10; id++)
        {
            using JsonDocument d = JsonDocument.Parse(lines.ReadLine()!);
            Assert.Equal(id, d.RootElement.GetProperty("OrderId").GetInt64());
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true, EntryPoint = "open")]
    private static extern int SystemOpen([System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string path, int flags, int mode);

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true, EntryPoint = "write")]
    private static extern nint SystemWrite(int descriptor, byte[] buffer, nint count);

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true, EntryPoint = "close")]
    private static extern int SystemClose(int descriptor);

    [Fact]
    public void A_descriptor_path_to_a_redirected_file_keeps_the_lines_the_application_writes_to_that_descriptor()
    {
        // FAPILOG_FILE=/dev/stdout with `app > out.log` (or systemd's StandardOutput=file:): descriptor 1 is the file,
        // opened without O_APPEND, and the application's Console.WriteLine (and, with 2>&1, FapiLog's own stderr lines)
        // write through it at that descriptor's offset. The sink opened the path again, a second open file with an offset
        // of its own, and wrote each batch at the end: the application's next line went out at its own offset, over the
        // events written since.
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        string file = TempLogFile();
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        int fd = SystemOpen(file, 0x1 | 0x40 | 0x200, 420); // O_WRONLY | O_CREAT | O_TRUNC, 0644: what the shell's `>` opens
        Assert.True(fd >= 0, "open failed");
        try
        {
            void Application(string line)
            {
                byte[] bytes = Encoding.UTF8.GetBytes(line + "\n");
                Assert.Equal(bytes.Length, (int)SystemWrite(fd, bytes, bytes.Length));
            }

            LogPipeline pipeline = TestLog.Start(TestLog.Options(o => o.FilePath = "/proc/self/fd/" + fd));
            Application("application line 1");
            Order(pipeline, 1, "alice");
            Assert.True(pipeline.Flush(TestLog.Safety));
            Application("application line 2");
            Order(pipeline, 2, "bob");
            Assert.True(pipeline.Shutdown(TestLog.Safety));
            Application("application line 3");

            string[] lines = File.ReadAllLines(file);
            Assert.Equal(new[] { "application line 1", "application line 2", "application line 3" }, lines.Where(l => !l.StartsWith('{')));
            Assert.Equal(new long[] { 1, 2 }, lines.Where(l => l.StartsWith('{')).Select(l =>
            {
                using JsonDocument d = JsonDocument.Parse(l);
                return d.RootElement.GetProperty("OrderId").GetInt64();
            }));
        }
        finally
        {
            SystemClose(fd);
            Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
        }
    }

    [Fact]
    public void The_in_memory_sink_waits_with_timeouts_longer_than_a_monitor_takes()
    {
        // Monitor.Wait takes at most int.MaxValue ms (about 24.8 days); longer timeouts once threw instead of waiting.
        FapiLogOptions options = TestLog.Options();
        InMemorySink sink = TestLog.Memory(options);
        LogPipeline pipeline = TestLog.Start(options);
        Task<bool> month = StartWaiting(() => sink.WaitForCount(1, TimeSpan.FromDays(30)));
        Task<bool> forever = StartWaiting(() => sink.WaitForCount(1, TimeSpan.MaxValue));
        Assert.False(month.IsCompleted, "the 30-day wait returned before any event arrived");
        Assert.False(forever.IsCompleted, "the TimeSpan.MaxValue wait returned before any event arrived");

        Order(pipeline, 1, "x");
        Assert.True(pipeline.Flush(TestLog.Safety));

        Assert.True(month.Wait(TestLog.Safety));
        Assert.True(month.Result);
        Assert.True(forever.Wait(TestLog.Safety));
        Assert.True(forever.Result);
        Assert.True(pipeline.Shutdown(TestLog.Safety));
    }

    [Fact]
    public void The_in_memory_sink_waits_for_an_event_that_matches_among_others()
    {
        // A count cannot foresee the events other code logs meanwhile (a host's own, a request's): a test needs to wait
        // for the one event it cares about, without sleeping.
        FapiLogOptions options = TestLog.Options();
        InMemorySink sink = TestLog.Memory(options);
        LogPipeline pipeline = TestLog.Start(options);
        var asked = new System.Collections.Concurrent.ConcurrentQueue<long>();
        Task<CapturedLogEvent?> waiting = StartWaiting(
            () => sink.WaitFor(e => { asked.Enqueue((long)e["OrderId"]!); return e["Customer"] as string == "bob"; }, Timeout.InfiniteTimeSpan));
        Assert.False(waiting.IsCompleted, "the wait returned before any event arrived");

        Order(pipeline, 1, "alice");
        Order(pipeline, 2, "bob");
        Order(pipeline, 3, "bob");
        Assert.True(pipeline.Flush(TestLog.Safety));

        Assert.True(waiting.Wait(TestLog.Safety));
        Assert.Equal(2L, waiting.Result!["OrderId"]);
        Assert.Equal(new[] { 1L, 2L }, asked.ToArray()); // each event looked at once, in order, up to the match

        // One that arrived before the call counts; none that matches is null once the timeout has passed.
        Assert.Equal(3L, sink.WaitFor(e => (long)e["OrderId"]! == 3, TimeSpan.Zero)!["OrderId"]);
        Assert.Null(sink.WaitFor(e => e["Customer"] as string == "carol", TimeSpan.Zero));

        // After Clear only what arrives later counts, also for a wait under way that has looked at events before it.
        sink.Clear();
        Assert.Null(sink.WaitFor(e => (long)e["OrderId"]! == 3, TimeSpan.Zero));
        using var lookedAt = new SemaphoreSlim(0);
        Task<CapturedLogEvent?> afterClear = Task.Factory.StartNew(
            () => sink.WaitFor(e => { lookedAt.Release(); return e["Customer"] as string == "carol"; }, TimeSpan.FromDays(30)),
            TaskCreationOptions.LongRunning);
        Order(pipeline, 4, "dave");
        Assert.True(pipeline.Flush(TestLog.Safety));
        Assert.True(lookedAt.Wait(TestLog.Safety));
        sink.Clear();
        Order(pipeline, 5, "carol");
        Assert.True(pipeline.Flush(TestLog.Safety));
        Assert.True(afterClear.Wait(TestLog.Safety));
        Assert.Equal(5L, afterClear.Result!["OrderId"]);

        Assert.Throws<ArgumentOutOfRangeException>(() => sink.WaitFor(_ => true, TimeSpan.FromSeconds(-2)));
        Assert.True(pipeline.Shutdown(TestLog.Safety));
    }

    [Fact]
    public void A_field_the_captured_event_does_not_have_is_named_with_the_fields_it_has()
    {
        FapiLogOptions options = TestLog.Options();
        InMemorySink sink = TestLog.Memory(options);
        LogPipeline pipeline = TestLog.Start(options);
        Order(pipeline, 1, "alice");
        Assert.True(pipeline.Shutdown(TestLog.Safety));

        CapturedLogEvent e = Assert.Single(sink.Events);
        KeyNotFoundException missing = Assert.Throws<KeyNotFoundException>(() => e["orderId"]);
        Assert.Equal("Event 'OrderPlaced' has no field 'orderId'; its fields are OrderId, Customer.", missing.Message);
    }

    [Theory]
    [InlineData(false, null, null, null, true)]
    [InlineData(false, "", null, null, true)] // the NO_COLOR convention: present and not empty turns colour off
    [InlineData(false, "1", null, null, false)]
    [InlineData(false, "0", null, null, false)]
    [InlineData(true, null, null, null, false)]
    [InlineData(false, null, "xterm-256color", null, true)]
    [InlineData(false, null, "dumb", null, false)] // a terminal that shows escape sequences as text
    [InlineData(true, null, null, "1", true)] // FORCE_COLOR: a CI log or docker logs that render colour from a pipe
    [InlineData(false, null, "dumb", "true", true)]
    [InlineData(true, null, null, "", false)]
    [InlineData(true, null, null, "0", false)] // what Node's tools read as "no colour" forces nothing
    [InlineData(true, null, null, "false", false)]
    [InlineData(true, "1", null, "1", false)] // NO_COLOR wins
    [InlineData(false, "1", null, "1", false)]
    public void Console_colour_follows_the_terminal_and_the_NO_COLOR_TERM_and_FORCE_COLOR_conventions(
        bool redirected, string? noColor, string? term, string? forceColor, bool colour)
    {
        Assert.Equal(colour, ConsoleSink.UseColour(json: false, redirected, noColor, term, forceColor));
        Assert.False(ConsoleSink.UseColour(json: true, redirected, noColor, term, forceColor));
    }
}

/// <summary>Tests that change the process's working directory; they never run beside other tests.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class WorkingDirectoryCollection
{
    public const string Name = "working directory";
}

[Collection(WorkingDirectoryCollection.Name)]
public class FileSinkWorkingDirectoryTests
{
    private static readonly LogEventDescriptor s_event = new(
        42, "Numbered", LogLevel.Information, "Event {Number} with some padding to fill the file sooner", LogArgument.Create<long>("number"));

    [Fact]
    public void A_relative_file_path_keeps_its_folder_when_the_working_directory_changes()
    {
        // The path was resolved again at every roll: after a change of working directory, the sink rolled and wrote
        // in the new one, splitting the log across two folders.
        string root = Path.Combine(Path.GetTempPath(), "fapilog-" + Guid.NewGuid().ToString("N"));
        string opened = Directory.CreateDirectory(Path.Combine(root, "opened")).FullName;
        string later = Directory.CreateDirectory(Path.Combine(root, "later")).FullName;
        string saved = Environment.CurrentDirectory;
        try
        {
            Environment.CurrentDirectory = opened;
            LogPipeline pipeline = TestLog.Start(TestLog.Options(o => { o.FilePath = "app.jsonl"; o.FileMaxBytes = 1024; o.FileRetainedFiles = 10; }));
            Environment.CurrentDirectory = later;
            for (int n = 1; n <= 20; n++)
            {
                Assert.True(TestLog.Emit(pipeline, s_event, n));
                Assert.True(pipeline.Flush(TestLog.Safety));
            }

            Assert.True(pipeline.Shutdown(TestLog.Safety));
            Assert.Equal(0, pipeline.GetStatistics().Failed);
        }
        finally
        {
            Environment.CurrentDirectory = saved;
        }

        Assert.Empty(Directory.GetFiles(later));
        string[] files = Directory.GetFiles(opened);
        Assert.Contains(Path.Combine(opened, "app.jsonl.1"), files);
        long[] numbers = files.SelectMany(File.ReadAllLines).Select(line =>
        {
            using JsonDocument d = JsonDocument.Parse(line);
            return d.RootElement.GetProperty("Number").GetInt64();
        }).Order().ToArray();
        Assert.Equal(Enumerable.Range(1, 20).Select(i => (long)i), numbers);
        Directory.Delete(root, recursive: true);
    }
}
