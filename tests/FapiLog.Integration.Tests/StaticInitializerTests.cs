using System;
using System.Linq;
using FapiLog.Sinks;
using Microsoft.Extensions.Logging;
using Xunit;

namespace FapiLog.Integration.Tests;

/// <summary>
/// A type that logs from its own static field initializer. The user's initializers run before those of the generated part,
/// so the call runs while the generated descriptor field is still null.
/// </summary>
public static partial class CacheWithStartupLog
{
    private static readonly int s_count = Load();

    /// <summary>The entries loaded, read to run the type initializer.</summary>
    public static int Count => s_count;

    private static int Load()
    {
        Loaded(3);
        return 3;
    }

    [FapiLog(LogLevel.Information, "Loaded {Count} entries", EventId = 40)]
    private static partial void Loaded(int count);

    /// <summary>The same event after the type is initialized.</summary>
    public static void LoadedAgain(int count) => Loaded(count);
}

[Collection(PipelineCollection.Name)]
public sealed class StaticInitializerTests
{
    private readonly InMemorySink _sink;

    /// <summary>Drains what earlier tests logged and empties the sink.</summary>
    public StaticInitializerTests(PipelineFixture fixture)
    {
        _sink = fixture.Sink;
        Assert.True(FapiLogging.Flush(TimeSpan.FromSeconds(30)));
        _sink.Clear();
    }

    [Fact]
    public void A_log_call_from_a_static_field_initializer_of_its_own_type_is_logged_and_does_not_break_the_type()
    {
        // Before the fix this threw TypeInitializationException (a NullReferenceException inside), and the type stayed unusable.
        Assert.Equal(3, CacheWithStartupLog.Count);
        CacheWithStartupLog.LoadedAgain(4);

        Assert.True(FapiLogging.Flush(TimeSpan.FromSeconds(30)));
        CapturedLogEvent[] events = _sink.Events.Where(e => e.EventId == 40).ToArray();
        Assert.Equal(["Loaded 3 entries", "Loaded 4 entries"], events.Select(e => e.Message));
        Assert.All(events, e => Assert.Equal("Loaded", e.EventName));
    }
}
