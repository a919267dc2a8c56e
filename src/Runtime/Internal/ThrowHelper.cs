using System;
using System.Diagnostics.CodeAnalysis;

namespace FapiLog.Internal;

/// <summary>Throws from outside the hot methods, so that they stay small enough to inline.</summary>
internal static class ThrowHelper
{
    [DoesNotReturn]
    public static void ThrowLayoutMismatch()
        => throw new InvalidOperationException("The values written for this event do not match its descriptor; regenerate the code with the FapiLog.Gen generator that matches the runtime.");

    [DoesNotReturn]
    public static void ThrowBatchReleased()
        => throw new InvalidOperationException("This LogBatch was read after the LogSink.Write call it was given to returned; its events have been released and their slots are reused. Copy what you need during Write.");

    [DoesNotReturn]
    public static void ThrowConfiguration(string setting, string? value, string expected)
        => throw new FapiLogConfigurationException(setting, value, expected);
}
