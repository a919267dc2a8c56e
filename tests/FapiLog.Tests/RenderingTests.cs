using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.Json;
using FapiLog.Internal;
using FapiLog.Sinks;
using FapiLog.Tests.Support;
using Microsoft.Extensions.Logging;
using Xunit;

namespace FapiLog.Tests;

public class RenderingTests
{
    private enum Colour { Red = 1, Green = 2 }

    private static readonly LogEventDescriptor s_everything = new(
        20, "Everything", LogLevel.Information,
        "b={B} c={C} i={I} l={L} u={U} d={D} f={F} m={M} dt={Dt} dto={Dto} ts={Ts} g={G} e={E} s={S} n={N} ni={Ni} ne={Ne}",
        LogArgument.Create<bool>("b"), LogArgument.Create<char>("c"), LogArgument.Create<int>("i"), LogArgument.Create<long>("l"),
        LogArgument.Create<ulong>("u"), LogArgument.Create<double>("d"), LogArgument.Create<float>("f"), LogArgument.Create<decimal>("m"),
        LogArgument.Create<DateTime>("dt"), LogArgument.Create<DateTimeOffset>("dto"), LogArgument.Create<TimeSpan>("ts"),
        LogArgument.Create<Guid>("g"), LogArgument.Create<Colour>("e"), LogArgument.Create<string>("s"), LogArgument.Create<int?>("n"),
        LogArgument.Create<int?>("ni"), LogArgument.Create<Colour?>("ne"));

    private static readonly LogEventDescriptor s_formats = new(
        21, "Formats", LogLevel.Information, "[{Amount:N2}] [{Count,5}] [{Name,-6}] [{When:yyyy-MM-dd}] {{literal}} [{Colour:D}] [{Extra}]",
        LogArgument.Create<decimal>("amount"), LogArgument.Create<int>("count"), LogArgument.Create<string>("name"),
        LogArgument.Create<DateTime>("when"), LogArgument.Create<Colour>("colour"), LogArgument.Create<double>("extra"),
        LogArgument.Create<long>("notInTemplate"));

    private static CapturedLogEvent LogEverything()
    {
        FapiLogOptions options = TestLog.Options();
        InMemorySink sink = TestLog.Memory(options);
        LogPipeline pipeline = TestLog.Start(options);
        LogEventWriter w = FapiLogRuntime.Begin(pipeline.Queue, s_everything, true);
        Assert.True(w.IsActive);
        w.Write(true);
        w.Write('x');
        w.Write(-7);
        w.Write(9_000_000_000L);
        w.Write(ulong.MaxValue);
        w.Write(1.5);
        w.Write(0.25f);
        w.Write(99.50m);
        w.Write(new DateTime(2026, 11, 23, 22, 50, 34, 123, DateTimeKind.Utc));
        w.Write(new DateTimeOffset(2026, 11, 23, 22, 50, 34, TimeSpan.FromHours(2)));
        w.Write(TimeSpan.FromSeconds(1.5));
        w.Write(new Guid("01234567-89ab-cdef-0123-456789abcdef"));
        w.Write(Colour.Green);
        w.WriteString(null);
        w.WriteNullable((int?)null);
        w.WriteNullable((int?)42);
        w.WriteNullable((Colour?)Colour.Red);
        w.SetException(new InvalidOperationException("boom"));
        w.Commit();
        Assert.True(pipeline.Shutdown(TestLog.Safety));
        return Assert.Single(sink.Events);
    }

    [Fact]
    public void Values_render_as_composite_formatting_does_with_the_invariant_culture()
    {
        CultureInfo saved = CultureInfo.CurrentCulture;
        CultureInfo.CurrentCulture = new CultureInfo("de-DE"); // must not leak into the output
        try
        {
            CapturedLogEvent e = LogEverything();
            Assert.Equal(
                "b=True c=x i=-7 l=9000000000 u=18446744073709551615 d=1.5 f=0.25 m=99.50 dt=11/23/2026 22:50:34 " +
                "dto=11/23/2026 22:50:34 +02:00 ts=00:00:01.5000000 g=01234567-89ab-cdef-0123-456789abcdef e=Green s=(null) " +
                "n=(null) ni=42 ne=Red",
                e.Message);
        }
        finally
        {
            CultureInfo.CurrentCulture = saved;
        }
    }

    [Fact]
    public void Fields_keep_their_json_types()
    {
        CapturedLogEvent e = LogEverything();
        using JsonDocument doc = JsonDocument.Parse(e.Json);
        JsonElement root = doc.RootElement;
        Assert.Equal("info", root.GetProperty("level").GetString());
        Assert.Equal("Everything", root.GetProperty("event").GetString());
        Assert.Equal(20, root.GetProperty("event_id").GetInt32());
        Assert.Equal(e.Message, root.GetProperty("message").GetString());
        Assert.Equal(JsonValueKind.True, root.GetProperty("B").ValueKind);
        Assert.Equal("x", root.GetProperty("C").GetString());
        Assert.Equal(-7, root.GetProperty("I").GetInt32());
        Assert.Equal(9_000_000_000L, root.GetProperty("L").GetInt64());
        Assert.Equal(ulong.MaxValue, root.GetProperty("U").GetUInt64());
        Assert.Equal(1.5, root.GetProperty("D").GetDouble());
        Assert.Equal(0.25, root.GetProperty("F").GetDouble());
        Assert.Equal(JsonValueKind.Number, root.GetProperty("M").ValueKind);
        Assert.Equal("99.50", root.GetProperty("M").GetRawText());
        Assert.Equal("2026-11-23T22:50:34.1230000Z", root.GetProperty("Dt").GetString());
        Assert.Equal("2026-11-23T22:50:34.0000000+02:00", root.GetProperty("Dto").GetString());
        Assert.Equal("00:00:01.5000000", root.GetProperty("Ts").GetString());
        Assert.Equal("01234567-89ab-cdef-0123-456789abcdef", root.GetProperty("G").GetString());
        Assert.Equal("Green", root.GetProperty("E").GetString());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("S").ValueKind);
        Assert.Equal(JsonValueKind.Null, root.GetProperty("N").ValueKind);
        Assert.Equal(42, root.GetProperty("Ni").GetInt32());
        Assert.Equal("Red", root.GetProperty("Ne").GetString());
        JsonElement ex = root.GetProperty("exception");
        Assert.Equal("System.InvalidOperationException", ex.GetProperty("type").GetString());
        Assert.Equal("boom", ex.GetProperty("message").GetString());
        Assert.Contains("boom", ex.GetProperty("stack").GetString());
    }

    [Fact]
    public void Format_alignment_escapes_and_fields_outside_the_template()
    {
        FapiLogOptions options = TestLog.Options();
        InMemorySink sink = TestLog.Memory(options);
        LogPipeline pipeline = TestLog.Start(options);
        LogEventWriter w = FapiLogRuntime.Begin(pipeline.Queue, s_formats, true);
        w.Write(1234.5m);
        w.Write(42);
        w.WriteString("bob");
        w.Write(new DateTime(2026, 1, 2));
        w.Write(Colour.Green);
        w.Write(double.NaN);
        w.Write(7L);
        w.Commit();
        Assert.True(pipeline.Shutdown(TestLog.Safety));

        CapturedLogEvent e = Assert.Single(sink.Events);
        Assert.Equal("[1,234.50] [   42] [bob   ] [2026-01-02] {literal} [2] [NaN]", e.Message);
        Assert.Equal(7L, e["notInTemplate"]);
        Assert.Equal(new[] { "Amount", "Count", "Name", "When", "Colour", "Extra", "notInTemplate" }, e.Fields.Select(f => f.Key));
        using JsonDocument doc = JsonDocument.Parse(e.Json);
        Assert.Equal("NaN", doc.RootElement.GetProperty("Extra").GetString());
    }

    private static readonly LogEventDescriptor s_badFormats = new(
        22, "BadFormats", LogLevel.Information, "[{Amount:Z9}] [{Ratio:X}] [{Colour:Q}] [{Count:N0}]",
        LogArgument.Create<decimal>("amount"), LogArgument.Create<double>("ratio"), LogArgument.Create<Colour>("colour"),
        LogArgument.Create<int>("count"));

    [Fact]
    public void A_format_the_type_rejects_is_ignored_instead_of_failing_the_batch()
    {
        // The compiler cannot check these; .NET's composite formatting throws FormatException on each of them.
        FapiLogOptions options = TestLog.Options();
        InMemorySink sink = TestLog.Memory(options);
        LogPipeline pipeline = TestLog.Start(options);
        LogEventWriter w = FapiLogRuntime.Begin(pipeline.Queue, s_badFormats, true);
        w.Write(1.5m);
        w.Write(0.25);
        w.Write(Colour.Green);
        w.Write(12345);
        w.Commit();
        Assert.True(pipeline.Shutdown(TestLog.Safety));

        Assert.Equal("[1.5] [0.25] [Green] [12,345]", Assert.Single(sink.Events).Message);
        Assert.Equal(0, pipeline.GetStatistics().Failed);
    }

    [Fact]
    public void A_placeholder_named_like_a_reserved_member_does_not_overwrite_it()
    {
        var d = new LogEventDescriptor(0, "Reserved", LogLevel.Information, "{Level} {message}", LogArgument.Create<int>("level"), LogArgument.Create<string>("message"));
        Assert.Equal(new[] { "Level", "_message" }, d.FieldNames);
    }

    [Fact]
    public void A_renamed_reserved_field_does_not_take_the_name_of_another_field()
    {
        var d = new LogEventDescriptor(
            0, "Reserved", LogLevel.Information, "{message} {_message} {level}", LogArgument.Create<string>("message"), LogArgument.Create<string>("_message"),
            LogArgument.Create<int>("level"));
        Assert.Equal(new[] { "__message", "_message", "_level" }, d.FieldNames);
    }

    [Fact]
    public void A_descriptor_keeps_its_own_arguments_and_hands_out_read_only_views()
    {
        // The worker reads a descriptor's arguments for every event: changing the caller's array afterwards, or writing
        // through what Arguments and FieldNames return, must not change what it reads.
        LogArgument[] args = [LogArgument.Create<int>("count"), LogArgument.Create<string>("name")];
        var d = new LogEventDescriptor(0, "Kept", LogLevel.Information, "{Count} {Name}", args);
        args[0] = LogArgument.Create<double>("other");

        Assert.Equal("count", d.Arguments[0].Name);
        Assert.False(d.Arguments is LogArgument[]);
        Assert.False(d.FieldNames is string[]);
        Assert.Throws<NotSupportedException>(() => ((IList<LogArgument>)d.Arguments)[0] = args[0]);
        Assert.Throws<NotSupportedException>(() => ((IList<string>)d.FieldNames)[0] = "forged");
        Assert.Equal(new[] { "Count", "Name" }, d.FieldNames);
    }

    [Fact]
    public void A_placeholder_may_be_named_with_every_character_a_CSharp_parameter_name_may_have()
    {
        // The generator names arguments after parameters; 'नाम' and 'ชื่อ' hold combining marks (Mc, Mn), 'a‿b' connector
        // punctuation (Pc), 'Ⅻ' a letter number (Nl).
        var d = new LogEventDescriptor(
            0, "Names", LogLevel.Information, "{नाम} {ชื่อ} {a‿b} {Ⅻ}",
            LogArgument.Create<string>("नाम"), LogArgument.Create<string>("ชื่อ"), LogArgument.Create<int>("a‿b"), LogArgument.Create<int>("Ⅻ"));
        Assert.Equal(new[] { "नाम", "ชื่อ", "a‿b", "Ⅻ" }, d.FieldNames);
    }

    [Theory]
    [InlineData("unclosed {Name", "no closing '}'")]
    [InlineData("stray } brace", "no opening '{'")]
    [InlineData("empty {}", "the name is empty")]
    [InlineData("bad {Name,wide}", "alignment")]
    [InlineData("missing {Other}", "no matching argument")]
    public void A_bad_template_is_rejected_with_the_reason(string template, string reason)
    {
        var ex = Assert.Throws<ArgumentException>(() => new LogEventDescriptor(0, "Bad", LogLevel.Information, template, LogArgument.Create<int>("name")));
        Assert.Contains(reason, ex.Message);
    }

    [Fact]
    public void Large_events_spill_out_of_the_inline_slot_storage_and_read_back_intact()
    {
        LogArgument[] args = Enumerable.Range(0, 12).Select(i => LogArgument.Create<decimal>("a" + i)).ToArray();
        string template = string.Join(" ", Enumerable.Range(0, 12).Select(i => "{A" + i + "}"));
        var d = new LogEventDescriptor(0, "Large", LogLevel.Information, template, args);
        FapiLogOptions options = TestLog.Options();
        InMemorySink sink = TestLog.Memory(options);
        LogPipeline pipeline = TestLog.Start(options);
        for (int round = 0; round < 3; round++)
        {
            LogEventWriter w = FapiLogRuntime.Begin(pipeline.Queue, d, true);
            for (int i = 0; i < 12; i++)
            {
                w.Write(round * 100m + i);
            }

            w.Commit();
        }

        Assert.True(pipeline.Shutdown(TestLog.Safety));
        Assert.Equal("200 201 202 203 204 205 206 207 208 209 210 211", sink.Events[2].Message);
    }

    [Fact]
    public void Writing_more_than_the_descriptor_declares_throws_instead_of_corrupting_memory()
    {
        var d = new LogEventDescriptor(0, "Small", LogLevel.Information, "{A}", LogArgument.Create<int>("a"));
        LogPipeline pipeline = TestLog.Start(TestLog.Options());
        bool threw = false;
        LogEventWriter w = FapiLogRuntime.Begin(pipeline.Queue, d, true);
        w.Write(1);
        try
        {
            w.Write(2L);
        }
        catch (InvalidOperationException)
        {
            threw = true;
        }

        w.Commit();
        Assert.True(threw);
        Assert.True(pipeline.Shutdown(TestLog.Safety));
    }

    private static readonly LogEventDescriptor s_floats = new(
        23, "Floats", LogLevel.Information, "{Reading} {Ratio} {Odd}",
        LogArgument.Create<float>("reading"), LogArgument.Create<float?>("ratio"), LogArgument.Create<float>("odd"));

    [Fact]
    public void A_float_field_keeps_the_value_the_message_shows()
    {
        // Widened to double as is, 0.1f became 0.10000000149011612 in the JSON line while the message said 0.1.
        FapiLogOptions options = TestLog.Options();
        InMemorySink sink = TestLog.Memory(options);
        LogPipeline pipeline = TestLog.Start(options);
        LogEventWriter w = FapiLogRuntime.Begin(pipeline.Queue, s_floats, true);
        w.Write(21.3f);
        w.WriteNullable((float?)0.1f);
        w.Write(float.NegativeInfinity);
        w.Commit();
        Assert.True(pipeline.Shutdown(TestLog.Safety));

        CapturedLogEvent e = Assert.Single(sink.Events);
        Assert.Equal("21.3 0.1 -Infinity", e.Message);
        Assert.Equal(21.3, e["Reading"]);
        Assert.Equal(0.1, e["Ratio"]);
        using JsonDocument doc = JsonDocument.Parse(e.Json);
        Assert.Equal("21.3", doc.RootElement.GetProperty("Reading").GetRawText());
        Assert.Equal("0.1", doc.RootElement.GetProperty("Ratio").GetRawText());
        Assert.Equal("-Infinity", doc.RootElement.GetProperty("Odd").GetString());
    }

    [Flags]
    private enum Access : long { None = 0, Read = 1, Write = 2, ReadWrite = 3, All = 3 }

    private static readonly LogEventDescriptor s_alias = new(
        24, "Alias", LogLevel.Information, "{Granted} {Asked,-10}|", LogArgument.Create<Access>("granted"), LogArgument.Create<Access?>("asked"));

    [Fact]
    public void An_enum_value_with_two_names_renders_with_the_name_dotnet_gives_it()
    {
        // The renderer kept the first name declared for a value; string.Format (and [LoggerMessage]) use the one that
        // Enum.ToString picks, here "All".
        FapiLogOptions options = TestLog.Options();
        InMemorySink sink = TestLog.Memory(options);
        LogPipeline pipeline = TestLog.Start(options);
        LogEventWriter w = FapiLogRuntime.Begin(pipeline.Queue, s_alias, true);
        w.Write(Access.All);
        w.WriteNullable((Access?)Access.ReadWrite);
        w.Commit();
        Assert.True(pipeline.Shutdown(TestLog.Safety));

        CapturedLogEvent e = Assert.Single(sink.Events);
        Assert.Equal(string.Format(CultureInfo.InvariantCulture, "{0} {1,-10}|", Access.All, (Access?)Access.ReadWrite), e.Message);
        Assert.Equal(Access.All.ToString(), e["Granted"]);
        Assert.Equal(Access.ReadWrite.ToString(), e["Asked"]);
    }
}
