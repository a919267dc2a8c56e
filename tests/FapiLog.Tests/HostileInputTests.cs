using System;
using System.Collections;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Threading;
using FapiLog.Internal;
using FapiLog.Loki;
using FapiLog.Sinks;
using FapiLog.Tests.Loki;
using FapiLog.Tests.Support;
using Microsoft.Extensions.Logging;
using Xunit;

namespace FapiLog.Tests;

/// <summary>
/// Hostile and unusual values (user-controlled text in arguments and exception messages, exceptions that misbehave)
/// through the real call path into every sink that renders.
/// </summary>
public sealed class HostileInputTests
{
    private static readonly LogEventDescriptor s_login = new(
        50, "Login", LogLevel.Information, "Login by {User} from {Agent}",
        LogArgument.Create<string>("user"), LogArgument.Create<string>("agent"));

    private static readonly LogEventDescriptor s_failed = new(
        51, "RequestFailed", LogLevel.Error, "Request {Path} failed",
        LogArgument.Create<string>("path"));

    private static readonly Regex s_eventStart = new(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ", RegexOptions.Compiled);

    private static void Login(LogPipeline pipeline, string? user, string? agent)
    {
        LogEventWriter w = FapiLogRuntime.Begin(pipeline.Queue, s_login, true);
        w.WriteString(user);
        w.WriteString(agent);
        w.Commit();
    }

    private static void Failed(LogPipeline pipeline, string? path, Exception error)
    {
        LogEventWriter w = FapiLogRuntime.Begin(pipeline.Queue, s_failed, true);
        w.WriteString(path);
        w.SetException(error);
        w.Commit();
    }

    /// <summary>Every sink that renders, over one pipeline: text console (plain and coloured), JSON console, file, memory.</summary>
    private sealed class AllSinks : IDisposable
    {
        private readonly MemoryStream _text = new();
        private readonly MemoryStream _colour = new();
        private readonly MemoryStream _json = new();
        private readonly string _folder = Path.Combine(Path.GetTempPath(), "fapilog-hostile-" + Guid.NewGuid().ToString("N"));

        public AllSinks()
        {
            FapiLogOptions options = TestLog.Options(o => o.FilePath = Path.Combine(_folder, "app.jsonl"));
            options.AddSink(new ConsoleSink(_text, json: false, colour: false));
            options.AddSink(new ConsoleSink(_colour, json: false, colour: true));
            options.AddSink(new ConsoleSink(_json, json: true, colour: false));
            Memory = TestLog.Memory(options);
            Pipeline = TestLog.Start(options);
        }

        public LogPipeline Pipeline { get; }

        public InMemorySink Memory { get; }

        public string Text => Encoding.UTF8.GetString(_text.ToArray());

        public string Coloured => Encoding.UTF8.GetString(_colour.ToArray());

        public string[] JsonLines => Encoding.UTF8.GetString(_json.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        public string[] FileLines => File.ReadAllLines(Path.Combine(_folder, "app.jsonl"));

        public void Shutdown()
        {
            Assert.True(Pipeline.Shutdown(TestLog.Safety));
            Assert.Equal(0, Pipeline.GetStatistics().Failed);
        }

        /// <summary>Every JSON rendering, parsed.</summary>
        public List<JsonElement> AllJson()
        {
            var all = new List<JsonElement>();
            foreach (string line in JsonLines.Concat(FileLines).Concat(Memory.Events.Select(e => e.Json)))
            {
                all.Add(JsonDocument.Parse(line).RootElement.Clone());
            }

            return all;
        }

        public void Dispose()
        {
            Pipeline.Shutdown(TestLog.Safety);
            if (Directory.Exists(_folder))
            {
                Directory.Delete(_folder, recursive: true);
            }
        }
    }

    public static TheoryData<string> LineBreaks => new() { "\n", "\r", "\r\n", "\u0085", "\u2028", "\u2029", "\v", "\f" };

    [Theory]
    [MemberData(nameof(LineBreaks))]
    public void A_line_break_in_a_value_cannot_forge_a_console_line(string lineBreak)
    {
        using var sinks = new AllSinks();
        string forged = "2026-11-24T08:00:00.000Z info     Login: Login by admin from trusted";
        Login(sinks.Pipeline, "mallory" + lineBreak + forged, "curl");
        Failed(sinks.Pipeline, "/login", new FormatException("'x" + lineBreak + forged + "' is not a number"));
        sinks.Shutdown();

        foreach (string output in new[] { sinks.Text, sinks.Coloured })
        {
            string[] lines = output.Split(new[] { "\r\n", "\n", "\r", "\u0085", "\u2028", "\u2029", "\v", "\f" }, StringSplitOptions.None);
            Assert.Equal(2, lines.Count(l => s_eventStart.IsMatch(Regex.Replace(l, "\u001b\\[[0-9;]*m", string.Empty))));
            Assert.Contains("Login by mallory\n    " + forged + " from curl\n", output, StringComparison.Ordinal);
        }

        foreach (JsonElement e in sinks.AllJson())
        {
            if (e.TryGetProperty("User", out JsonElement user))
            {
                Assert.Equal("mallory" + lineBreak + forged, user.GetString());
            }
            else
            {
                Assert.Equal("'x" + lineBreak + forged + "' is not a number", e.GetProperty("exception").GetProperty("message").GetString());
            }
        }
    }
    [Fact]
    public void Control_characters_in_values_and_exceptions_reach_a_terminal_only_as_visible_text()
    {
        using var sinks = new AllSinks();
        // Clear the screen, set the window title, hide text, an 8-bit CSI, a bell, a backspace, NUL and DEL.
        string hostile = "a\u001b[2J\u001b]0;pwned\u0007\u001b[8mhidden\u009b31m\b\u0000\u007fz";
        Login(sinks.Pipeline, hostile, "tab\tkept");
        Failed(sinks.Pipeline, "/p", new InvalidOperationException("bad " + hostile));
        sinks.Shutdown();

        foreach (string output in new[] { sinks.Text, sinks.Coloured })
        {
            // Only the sink's own colour codes may remain.
            string bare = Regex.Replace(output, "\u001b\\[(?:0|90|32|33|1;31)m", string.Empty);
            Assert.DoesNotContain(bare, c => (c < ' ' && c != '\n' && c != '\t') || (c >= '\u007f' && c <= '\u009f'));
            Assert.Contains("tab\tkept", bare);
            Assert.Contains("a\\u001B[2J\\u001B]0;pwned\\u0007\\u001B[8mhidden\\u009B31m\\u0008\\u0000\\u007Fz", bare);
        }

        foreach (JsonElement e in sinks.AllJson())
        {
            if (e.TryGetProperty("User", out JsonElement user))
            {
                Assert.Equal(hostile, user.GetString());
            }
            else
            {
                Assert.Equal("bad " + hostile, e.GetProperty("exception").GetProperty("message").GetString());
            }
        }
    }

    /// <summary>The bidirectional embedding, override and isolate controls (U+202A..U+202E, U+2066..U+2069): "Trojan Source".</summary>
    private const string BidiControls = "\u202A\u202B\u202C\u202D\u202E\u2066\u2067\u2068\u2069";

    /// <summary>A value with the nine controls beside ordinary non-ASCII text, which must stay as it is.</summary>
    private const string BidiValue = "admin" + BidiControls + " caf\u00e9 \u65e5\u672c";

    /// <summary><see cref="BidiValue"/> as it must appear: each control as its escape, the rest unchanged.</summary>
    private const string BidiEscaped = "admin\\u202A\\u202B\\u202C\\u202D\\u202E\\u2066\\u2067\\u2068\\u2069 caf\u00e9 \u65e5\u672c";

    /// <summary>Logs <see cref="BidiValue"/> as an argument and in an exception's message through every sink, then shuts down.</summary>
    private static AllSinks LogBidiValues()
    {
        var sinks = new AllSinks();
        Login(sinks.Pipeline, BidiValue, "curl");
        Failed(sinks.Pipeline, "/p", new InvalidOperationException("bad " + BidiValue));
        sinks.Shutdown();
        return sinks;
    }

    [Fact]
    public void Bidirectional_controls_reach_a_terminal_only_as_visible_text()
    {
        // An override in a value would reorder the rest of the line as displayed: "admin\u202Etxt.exe" shows as "adminexe.txt".
        using AllSinks sinks = LogBidiValues();
        foreach (string output in new[] { sinks.Text, sinks.Coloured })
        {
            Assert.DoesNotContain(output, c => BidiControls.Contains(c, StringComparison.Ordinal));
            Assert.Contains("Login by " + BidiEscaped + " from curl\n", output, StringComparison.Ordinal);
            Assert.Contains("bad " + BidiEscaped, output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Bidirectional_controls_are_escaped_in_JSON_lines_and_ordinary_non_ASCII_is_not()
    {
        // A JSON line is read in terminals and viewers too; the escape decodes to the same string, so nothing is lost.
        using AllSinks sinks = LogBidiValues();
        string[] raw = sinks.JsonLines.Concat(sinks.FileLines).Concat(sinks.Memory.Events.Select(e => e.Json)).ToArray();
        Assert.Equal(6, raw.Length);
        foreach (string line in raw)
        {
            Assert.DoesNotContain(line, c => BidiControls.Contains(c, StringComparison.Ordinal));
            Assert.Contains(BidiEscaped, line, StringComparison.OrdinalIgnoreCase);
        }

        foreach (JsonElement e in sinks.AllJson())
        {
            if (e.TryGetProperty("User", out JsonElement user))
            {
                Assert.Equal(BidiValue, user.GetString());
            }
            else
            {
                Assert.Equal("bad " + BidiValue, e.GetProperty("exception").GetProperty("message").GetString());
            }
        }
    }

    [Fact]
    public void The_JSON_encoder_differs_from_the_relaxed_one_only_in_the_bidirectional_controls()
    {
        // Every BMP character, plus a pair, a lone surrogate and quotes, HTML and non-ASCII text that must stay as they are.
        var all = new StringBuilder("\"quoted\" <b>&amp;</b> a+b caf\u00e9 \u65e5\u672c \U0001F600 \uD800x ");
        for (int c = 0; c <= 0xFFFF; c++)
        {
            if (!char.IsSurrogate((char)c))
            {
                all.Append((char)c);
            }
        }

        string text = all.ToString();
        string expected = Expected(utf8: false);
        Assert.StartsWith("\"\\\"quoted\\\" <b>&amp;</b> a+b caf\u00e9 \u65e5\u672c ", expected, StringComparison.Ordinal);
        Assert.Equal(expected, Write(JsonFormatting.Encoder, text, utf8: false));
        Assert.Equal(text.Replace("\uD800x", "\uFFFDx", StringComparison.Ordinal), JsonDocument.Parse(expected).RootElement.GetString());
        // UTF-8 input, as JsonEncodedText (names) encodes too; the lone surrogate arrives as the bytes of U+FFFD there.
        string expectedUtf8 = Expected(utf8: true);
        Assert.Equal(expectedUtf8, Write(JsonFormatting.Encoder, text, utf8: true));
        Assert.Equal(expectedUtf8, "\"" + JsonEncodedText.Encode(JsonFormatting.WellFormed(text), JsonFormatting.Encoder).ToString() + "\"");

        string Expected(bool utf8)
        {
            string relaxed = Write(JavaScriptEncoder.UnsafeRelaxedJsonEscaping, text, utf8);
            foreach (char c in BidiControls)
            {
                relaxed = relaxed.Replace(c.ToString(), "\\u" + ((int)c).ToString("X4", System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
            }

            return relaxed;
        }

        static string Write(JavaScriptEncoder encoder, string value, bool utf8)
        {
            var output = new MemoryStream();
            using (var writer = new Utf8JsonWriter(output, new JsonWriterOptions { Encoder = encoder }))
            {
                if (utf8)
                {
                    writer.WriteStringValue(Encoding.UTF8.GetBytes(value));
                }
                else
                {
                    writer.WriteStringValue(value);
                }
            }

            return Encoding.UTF8.GetString(output.ToArray());
        }
    }

    [Fact]
    public void A_chain_of_ten_thousand_inner_exceptions_is_cut_at_a_documented_depth()
    {
        // Exception.ToString of such a chain costs the square of its depth (seconds per sink, per event, on the worker).
        Exception error = new InvalidOperationException("leaf");
        for (int i = 0; i < 10_000; i++)
        {
            error = new InvalidOperationException("level " + i.ToString(System.Globalization.CultureInfo.InvariantCulture), error);
        }

        using var sinks = new AllSinks();
        Failed(sinks.Pipeline, "/deep", error);
        sinks.Shutdown();

        string marker = "\n ---> <inner exceptions deeper than " + ExceptionText.MaxDepth + " not shown>";
        foreach (JsonElement e in sinks.AllJson())
        {
            JsonElement exception = e.GetProperty("exception");
            Assert.Equal("level 9999", exception.GetProperty("message").GetString());
            string stack = exception.GetProperty("stack").GetString()!;
            Assert.StartsWith("System.InvalidOperationException: level 9999\n ---> System.InvalidOperationException: level 9998\n", stack);
            Assert.EndsWith("System.InvalidOperationException: level 9900" + marker, stack);
        }

        Assert.EndsWith("level 9900" + marker.Replace("\n", "\n    ") + "\n", sinks.Text);
    }

    /// <summary>A chain of <paramref name="count"/> exceptions: "level {count - 1}" outermost, "level 0" innermost.</summary>
    private static Exception Chain(int count)
    {
        Exception error = new InvalidOperationException("level 0");
        for (int i = 1; i < count; i++)
        {
            error = new InvalidOperationException("level " + i.ToString(System.Globalization.CultureInfo.InvariantCulture), error);
        }

        return error;
    }

    [Fact]
    public void A_chain_of_exactly_MaxDepth_exceptions_is_written_as_its_ToString()
    {
        Exception error = Chain(ExceptionText.MaxDepth);
        using var sinks = new AllSinks();
        Failed(sinks.Pipeline, "/max", error);
        sinks.Shutdown();

        Assert.Equal(error.ToString(), ExceptionText.Full(error));
        foreach (JsonElement e in sinks.AllJson())
        {
            Assert.Equal(error.ToString(), e.GetProperty("exception").GetProperty("stack").GetString());
        }
    }

    [Fact]
    public void A_chain_of_MaxDepth_plus_one_exceptions_shows_MaxDepth_of_them_and_the_marker()
    {
        // The bound the marker names is the bound the check applies: one exception more is already the bounded form.
        Exception error = Chain(ExceptionText.MaxDepth + 1);
        using var sinks = new AllSinks();
        Failed(sinks.Pipeline, "/max-plus-one", error);
        sinks.Shutdown();

        string marker = "\n ---> <inner exceptions deeper than " + ExceptionText.MaxDepth + " not shown>";
        string full = ExceptionText.Full(error);
        Assert.Equal(ExceptionText.MaxDepth, Regex.Matches(full, "System.InvalidOperationException: level ").Count);
        Assert.EndsWith("System.InvalidOperationException: level 1" + marker, full);
        foreach (JsonElement e in sinks.AllJson())
        {
            Assert.Equal(full, e.GetProperty("exception").GetProperty("stack").GetString());
        }
    }

    [Fact]
    public void An_aggregate_whose_second_inner_exception_nests_too_deep_says_that_part_is_not_shown()
    {
        // The bounded form follows the first inner exception only: what it leaves out must still be marked as left out.
        Exception deep = new InvalidOperationException("leaf");
        for (int i = 0; i < ExceptionText.MaxDepth + 10; i++)
        {
            deep = new InvalidOperationException("level " + i.ToString(System.Globalization.CultureInfo.InvariantCulture), deep);
        }

        var error = new AggregateException(new ArgumentException("first"), deep);
        using var sinks = new AllSinks();
        Failed(sinks.Pipeline, "/aggregate", error);
        sinks.Shutdown();

        foreach (JsonElement e in sinks.AllJson())
        {
            string stack = e.GetProperty("exception").GetProperty("stack").GetString()!;
            Assert.Contains("System.ArgumentException: first", stack, StringComparison.Ordinal);
            Assert.Matches(@"\n ---> <[^<>\n]*not shown>$", stack);
        }
    }

    [Fact]
    public void An_exception_with_a_short_chain_is_written_as_its_ToString()
    {
        Exception error;
        try
        {
            throw new InvalidOperationException("outer", new AggregateException(new ArgumentException("a"), new FormatException("b")));
        }
        catch (InvalidOperationException thrown)
        {
            error = thrown;
        }

        using var sinks = new AllSinks();
        Failed(sinks.Pipeline, "/short", error);
        sinks.Shutdown();

        foreach (JsonElement e in sinks.AllJson())
        {
            Assert.Equal(error.ToString(), e.GetProperty("exception").GetProperty("stack").GetString());
        }
    }
    /// <summary>A hand-written exception whose ToString appends a property that was never set, as such overrides do.</summary>
    private sealed class DetailedException(string message, Exception inner) : Exception(message, inner)
    {
        public string? Details { get; init; }

        public override string ToString() => base.ToString() + "\nDetails: " + Details!.Trim();
    }

    /// <summary>An exception whose stack trace cannot be read (a proxy for a remote one, say).</summary>
    private sealed class RemoteException(string message) : Exception(message)
    {
        public override string? StackTrace => throw new NotSupportedException("the remote stack is gone");
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static Exception Thrown(Exception error)
    {
        try
        {
            throw error;
        }
        catch (Exception caught)
        {
            return caught;
        }
    }

    [Fact]
    public void An_exception_whose_ToString_throws_keeps_its_message_stack_and_inner_exceptions()
    {
        // The two ways it happens: an override of the outer one throws, or the inner one's StackTrace does (its ToString is
        // part of the outer one's). The marker alone, which is all that was written, left out what the reader needs.
        Exception overridden = Thrown(new DetailedException("order 42 not saved", Thrown(new IOException("disk gone"))));
        Exception wrapping = Thrown(new InvalidOperationException("order 43 not saved", new RemoteException("remote refused")));
        string overriddenStack = overridden.StackTrace!;
        string innerStack = overridden.InnerException!.StackTrace!;
        string wrappingStack = wrapping.StackTrace!;
        using var sinks = new AllSinks();
        Failed(sinks.Pipeline, "/a", overridden);
        Failed(sinks.Pipeline, "/b", wrapping);
        sinks.Shutdown();

        string[] expected =
        [
            typeof(DetailedException).FullName + ": order 42 not saved\n" + overriddenStack
                + "\n ---> System.IO.IOException: disk gone\n" + innerStack
                + "\n<ToString threw System.NullReferenceException>",
            "System.InvalidOperationException: order 43 not saved\n" + wrappingStack
                + "\n ---> " + typeof(RemoteException).FullName + ": remote refused\n<StackTrace threw System.NotSupportedException>"
                + "\n<ToString threw System.NotSupportedException>",
        ];
        List<JsonElement> all = sinks.AllJson();
        Assert.Equal(6, all.Count);
        foreach (JsonElement e in all)
        {
            JsonElement exception = e.GetProperty("exception");
            int which = exception.GetProperty("message").GetString() == "order 42 not saved" ? 0 : 1;
            Assert.Equal(expected[which], exception.GetProperty("stack").GetString());
        }

        foreach (string stack in expected)
        {
            Assert.Contains("failed\n    " + stack.Replace("\n", "\n    ", StringComparison.Ordinal) + "\n", sinks.Text, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(LokiFormat.Protobuf)]
    [InlineData(LokiFormat.Json)]
    public void Loki_lines_of_hostile_values_and_exceptions_parse(LokiFormat format)
    {
        using var receiver = new LokiReceiver();
        var options = new LokiOptions { Url = receiver.Url, Format = format, MinBackoff = TimeSpan.FromMilliseconds(10), MaxBackoff = TimeSpan.FromMilliseconds(50) };
        using var sink = new LokiSink(options);
        string hostile = "a\uD800b\uDC00c\u0000d\uFFFE\u2028\u0085\u001b[2J\r\n\"\\";
        // Long enough to be cut, made of characters that escape to six bytes each, with a lone surrogate at every cut.
        string huge = string.Concat(Enumerable.Repeat("\u0001\uD800", 100_000));
        Exception deep = new InvalidOperationException("leaf " + hostile);
        for (int i = 0; i < 1000; i++)
        {
            deep = new InvalidOperationException(hostile, deep);
        }

        var records = new LogRecord[4];
        long t = LokiTestEvents.BaseTicks;
        LokiTestEvents.Order(ref records[0], t, 1, hostile, 1m);
        LokiTestEvents.Order(ref records[1], t + 1, 2, huge, 2m);
        LokiTestEvents.Payment(ref records[2], t + 2, 3, deep);
        LokiTestEvents.Payment(ref records[3], t + 3, 4, new UnreadableException());
        sink.Push(LokiTestEvents.Batch(records), CancellationToken.None);

        DecodedEntry[] entries = receiver.WaitForRequests(1).SelectMany(r => r.AllEntries()).OrderBy(e => e.Nanoseconds).ToArray();
        Assert.Equal(4, entries.Length);
        JsonElement[] lines = entries.Select(e => e.Json).ToArray();
        Assert.Equal("a\uFFFDb\uFFFDc\u0000d\uFFFE\u2028\u0085\u001b[2J\r\n\"\\", lines[0].GetProperty("Customer").GetString());
        Assert.Contains("[truncated by FapiLog", lines[1].GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.EndsWith("<inner exceptions deeper than " + ExceptionText.MaxDepth + " not shown>", lines[2].GetProperty("exception").GetProperty("stack").GetString());
        Assert.Equal("<Message threw System.InvalidOperationException>", lines[3].GetProperty("exception").GetProperty("message").GetString());
        Assert.Equal(0, sink.Statistics.EntriesFailed);
    }
    [Fact]
    public void The_line_of_an_event_that_cannot_be_rendered_keeps_its_timestamp_in_the_JSON_lines_console()
    {
        // The JSON-lines console and file write "timestamp" first on every line; a rendering failure is a line like any other.
        string huge = new('x', 170_000_000);
        var json = new MemoryStream();
        FapiLogOptions options = TestLog.Options();
        options.AddSink(new ConsoleSink(json, json: true, colour: false));
        LogPipeline pipeline = TestLog.Start(options);
        Login(pipeline, "before", "a");
        Login(pipeline, huge, "b");
        huge = string.Empty;
        Assert.True(pipeline.Shutdown(TestLog.Safety));

        string[] lines = Encoding.UTF8.GetString(json.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        JsonElement failed = JsonDocument.Parse(lines[1]).RootElement;
        Assert.Equal("<rendering failed: System.ArgumentException>", failed.GetProperty("message").GetString());
        Assert.Equal("timestamp", failed.EnumerateObject().First().Name);
        DateTimeOffset before = JsonDocument.Parse(lines[0]).RootElement.GetProperty("timestamp").GetDateTimeOffset();
        Assert.True(failed.GetProperty("timestamp").GetDateTimeOffset() >= before);
    }

    [Fact]
    public void A_string_too_long_for_a_JSON_value_costs_only_its_own_event_in_the_JSON_lines_sinks()
    {
        // System.Text.Json refuses a string value of more than 166,666,666 characters.
        string huge = new('x', 170_000_000);
        var json = new MemoryStream();
        string folder = Path.Combine(Path.GetTempPath(), "fapilog-huge-" + Guid.NewGuid().ToString("N"));
        FapiLogOptions options = TestLog.Options(o => o.FilePath = Path.Combine(folder, "app.jsonl"));
        options.AddSink(new ConsoleSink(json, json: true, colour: false));
        InMemorySink memory = TestLog.Memory(options);
        LogPipeline pipeline = TestLog.Start(options);
        Login(pipeline, "before", "a");
        Login(pipeline, huge, "b");
        Login(pipeline, "after", "c");
        huge = string.Empty;
        Assert.True(pipeline.Shutdown(TestLog.Safety));

        Assert.Equal(0, pipeline.GetStatistics().Failed);
        string[] consoleLines = Encoding.UTF8.GetString(json.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        string[] fileLines = File.ReadAllLines(Path.Combine(folder, "app.jsonl"));
        Directory.Delete(folder, recursive: true);
        string[] memoryLines = memory.Events.Select(e => e.Json).ToArray();
        memory.Clear();
        foreach (string[] lines in new[] { consoleLines, fileLines, memoryLines })
        {
            Assert.Equal(3, lines.Length);
            JsonElement[] events = lines.Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToArray();
            Assert.Equal("before", events[0].GetProperty("User").GetString());
            Assert.Equal("<rendering failed: System.ArgumentException>", events[1].GetProperty("message").GetString());
            Assert.Equal("Login", events[1].GetProperty("event").GetString());
            Assert.Equal("after", events[2].GetProperty("User").GetString());
        }
    }
}
