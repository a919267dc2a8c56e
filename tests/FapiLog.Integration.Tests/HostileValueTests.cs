using System;
using System.Collections;
using System.Globalization;
using System.Linq;
using System.Text.Json;
using FapiLog.Sinks;
using Microsoft.Extensions.Logging;
using Xunit;

namespace FapiLog.Integration.Tests;

/// <summary>Log methods that take values of types that misbehave.</summary>
public static partial class HostileLog
{
    [FapiLog(LogLevel.Information, "Got {Value}", EventId = 1)]
    public static partial void Got(object? value);

    [FapiLog(LogLevel.Error, "Request {Path} failed", EventId = 2)]
    public static partial void Failed(string path, Exception error);
}

/// <summary>An exception whose Message throws.</summary>
public sealed class MessageThrowsException : Exception
{
    /// <inheritdoc />
    public override string Message => throw new InvalidOperationException("no message either");
}

/// <summary>A value whose ToString throws an exception whose own Message throws.</summary>
public sealed class ThrowsUnreadable
{
    /// <inheritdoc />
    public override string ToString() => throw new MessageThrowsException();
}

/// <summary>A value whose ToString returns null, which the nullable annotations say it must not.</summary>
public sealed class NullText
{
    /// <inheritdoc />
    public override string ToString() => null!;
}

/// <summary>An IFormattable whose ToString(format, provider) returns null.</summary>
public sealed class NullFormattable : IFormattable
{
    /// <inheritdoc />
    public string ToString(string? format, IFormatProvider? formatProvider) => null!;
}

/// <summary>An exception whose stack trace getter throws.</summary>
public sealed class StackTraceThrowsException() : Exception("stack trace unavailable")
{
    /// <inheritdoc />
    public override string? StackTrace => throw new NotSupportedException("no stack");
}

/// <summary>An exception whose Message and ToString return null.</summary>
public sealed class NullTextException : Exception
{
    /// <inheritdoc />
    public override string Message => null!;

    /// <inheritdoc />
    public override string ToString() => null!;
}

/// <summary>Hostile values through generated methods into the in-memory sink: the call never throws, every line parses.</summary>
[Collection(PipelineCollection.Name)]
public sealed class HostileValueTests
{
    private readonly InMemorySink _sink;

    /// <summary>Drains what earlier tests logged and empties the sink.</summary>
    public HostileValueTests(PipelineFixture fixture)
    {
        _sink = fixture.Sink;
        Assert.True(FapiLogging.Flush(TimeSpan.FromSeconds(30)));
        _sink.Clear();
    }

    private CapturedLogEvent Single()
    {
        Assert.True(FapiLogging.Flush(TimeSpan.FromSeconds(30)));
        CapturedLogEvent e = Assert.Single(_sink.Events);
        using JsonDocument json = JsonDocument.Parse(e.Json);
        return e;
    }

    [Fact]
    public void A_ToString_that_throws_an_exception_whose_message_throws_does_not_make_the_call_throw()
    {
        HostileLog.Got(new ThrowsUnreadable());

        CapturedLogEvent e = Single();
        Assert.Equal("<ToString threw MessageThrowsException: <Message threw System.InvalidOperationException>>", e["Value"]);
    }

    [Fact]
    public void A_ToString_that_returns_null_is_logged_as_null()
    {
        HostileLog.Got(new NullText());
        HostileLog.Got(new NullFormattable());

        Assert.True(FapiLogging.Flush(TimeSpan.FromSeconds(30)));
        Assert.Equal(2, _sink.Events.Count);
        foreach (CapturedLogEvent e in _sink.Events)
        {
            Assert.Equal("Got (null)", e.Message);
            Assert.Null(e["Value"]);
            using JsonDocument json = JsonDocument.Parse(e.Json);
            Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("Value").ValueKind);
        }
    }

    [Fact]
    public void Invalid_UTF16_NUL_and_noncharacters_in_a_string_make_valid_JSON()
    {
        string hostile = "a\uD800b\uDC00c\u0000d\uFFFEe\uFFFF\u2028\u2029\u0085\"\\\u001b[31m";
        HostileLog.Got(hostile);

        CapturedLogEvent e = Single();
        Assert.Equal("Got " + hostile, e.Message);
        using JsonDocument json = JsonDocument.Parse(e.Json);
        Assert.Equal("a\uFFFDb\uFFFDc\u0000d\uFFFEe\uFFFF\u2028\u2029\u0085\"\\\u001b[31m", json.RootElement.GetProperty("Value").GetString());
    }

    [Fact]
    public void An_exception_whose_stack_trace_getter_throws_is_logged_with_a_marker()
    {
        HostileLog.Failed("/x", new StackTraceThrowsException());

        CapturedLogEvent e = Single();
        using JsonDocument json = JsonDocument.Parse(e.Json);
        JsonElement exception = json.RootElement.GetProperty("exception");
        Assert.Equal("stack trace unavailable", exception.GetProperty("message").GetString());
        Assert.Equal(
            typeof(StackTraceThrowsException).FullName + ": stack trace unavailable\n<StackTrace threw System.NotSupportedException>\n<ToString threw System.NotSupportedException>",
            exception.GetProperty("stack").GetString());
    }

    [Fact]
    public void An_aggregate_of_thousands_and_a_huge_Data_dictionary_are_logged()
    {
        var inner = Enumerable.Range(0, 5000).Select(i => new InvalidOperationException("inner " + i.ToString(CultureInfo.InvariantCulture))).ToArray();
        HostileLog.Failed("/agg", new AggregateException("many", inner));
        var withData = new InvalidOperationException("data");
        for (int i = 0; i < 10_000; i++)
        {
            withData.Data[i] = new string('x', 10);
        }

        HostileLog.Failed("/data", withData);

        Assert.True(FapiLogging.Flush(TimeSpan.FromSeconds(30)));
        Assert.Equal(2, _sink.Events.Count);
        using JsonDocument aggregate = JsonDocument.Parse(_sink.Events[0].Json);
        Assert.Contains("inner 4999", aggregate.RootElement.GetProperty("exception").GetProperty("stack").GetString(), StringComparison.Ordinal);
        using JsonDocument data = JsonDocument.Parse(_sink.Events[1].Json);
        Assert.Equal("data", data.RootElement.GetProperty("exception").GetProperty("message").GetString());
    }
    [Fact]
    public void An_exception_whose_message_and_text_are_null_is_logged()
    {
        HostileLog.Failed("/null", new NullTextException());

        CapturedLogEvent e = Single();
        using JsonDocument json = JsonDocument.Parse(e.Json);
        JsonElement exception = json.RootElement.GetProperty("exception");
        Assert.Equal(typeof(NullTextException).FullName, exception.GetProperty("type").GetString());
    }
}
