using System;
using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Threading;
using FapiLog.Internal;
using Microsoft.Extensions.Logging;

namespace FapiLog;

/// <summary>
/// The entry points that generated log methods call. A generated method does, in order:
/// <code>
/// if (!FapiLogRuntime.IsEnabled(level)) return;       // one static read and compare
/// var w = FapiLogRuntime.Begin(descriptor);            // claim a slot (overflow strategy applies), stamp time and trace
/// if (!w.IsActive) return;                             // dropped, sampled out, or after shutdown: already counted
/// w.Write(a); w.WriteString(b); w.SetException(e);     // typed values, in the descriptor's order
/// w.Commit();                                          // publish to the worker
/// </code>
/// Not meant to be called by hand: the worker delivers events in the order their slots were claimed, so a slot claimed by
/// <see cref="Begin(LogEventDescriptor)"/> and never committed (an exception between the two, a forgotten
/// <see cref="LogEventWriter.Commit"/>) holds up every later event for good.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class FapiLogRuntime
{
    // Trace until the pipeline is configured, so that the first enabled-looking call reaches Begin and configures it.
    private static int s_minimumLevel = (int)LogLevel.Trace;
    private static LogQueue? s_queue;
    private static bool s_captureTraceContext = true;

    // False until an Activity has been current somewhere in the process (see ActivityWatch): until then there is no
    // trace context to capture, and the call does not pay for looking.
    private static volatile bool s_activitySeen;

    /// <summary>True when events of <paramref name="level"/> are logged. Inlined: one static read and one compare.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsEnabled(LogLevel level) => (int)level >= s_minimumLevel;

    /// <summary>Claims a slot for an event of <paramref name="descriptor"/>; the writer is inactive when the event is not taken.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static LogEventWriter Begin(LogEventDescriptor descriptor)
    {
        LogQueue? queue = s_queue;
        return queue is null ? BeginUnconfigured(descriptor) : Begin(queue, descriptor, s_captureTraceContext);
    }

    /// <summary>Claims a slot in <paramref name="queue"/>: the one code path behind every log call.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static LogEventWriter Begin(LogQueue queue, LogEventDescriptor descriptor, bool captureTraceContext)
        => queue.TryClaimFast(out long position)
            ? Stamp(queue, position, descriptor, captureTraceContext)
            : BeginSlow(queue, descriptor, captureTraceContext, long.MaxValue);

    /// <summary>
    /// Like <see cref="Begin(LogEventDescriptor)"/> on the installed queue (inactive when there is none), but waits for room
    /// at most <paramref name="maxWait"/> whatever <c>BlockTimeout</c> says: for events logged while the process ends.
    /// </summary>
    internal static LogEventWriter BeginWithin(LogEventDescriptor descriptor, TimeSpan maxWait)
    {
        LogQueue? queue = s_queue;
        return queue is null ? default : BeginSlow(queue, descriptor, s_captureTraceContext, LogQueue.DeadlineAfter(maxWait));
    }

    /// <summary>
    /// The claim when the fast path found no room or a closed queue: the overflow strategy, and a pipeline that
    /// <c>Configure</c> replaced meanwhile. A call that was waiting for room in it (or had read its queue just before the
    /// switch) is no loss of the reconfiguration's making: it claims in the pipeline that replaced it, within the deadline
    /// it already had, and is counted once, where it ends. It follows at most
    /// <see cref="LogQueue.MaxReplacementsFollowed"/> replacements, so that pipelines replaced over and over cannot keep it.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static LogEventWriter BeginSlow(LogQueue queue, LogEventDescriptor descriptor, bool captureTraceContext, long deadline)
    {
        // The time of the call: read once a wait for room begins (so a call that waited under Block keeps the time it
        // was made, not the time it found room), otherwise when the slot is claimed.
        long calledAtTicks = 0;
        for (int followed = 0; ; followed++)
        {
            switch (queue.TryClaimSlow(descriptor.Level, out long position, ref deadline, ref calledAtTicks, followReplacement: followed < LogQueue.MaxReplacementsFollowed))
            {
                case ClaimOutcome.Claimed:
                    return Stamp(queue, position, descriptor, captureTraceContext, calledAtTicks);
                case ClaimOutcome.Replaced:
                    queue = queue.Successor!;
                    break;
                default:
                    return default;
            }
        }
    }

    /// <summary>
    /// Stamps a claimed slot with the time (<paramref name="calledAtTicks"/> when the call read it before a wait, the clock
    /// otherwise), the descriptor and the trace context, and hands it to the writer.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static LogEventWriter Stamp(LogQueue queue, long position, LogEventDescriptor descriptor, bool captureTraceContext, long calledAtTicks = 0)
    {
        ref LogRecord record = ref queue.Slot(position);
        record._timestampTicks = calledAtTicks != 0 ? calledAtTicks : queue.UtcNowTicks();
        record._descriptor = descriptor;
        if (captureTraceContext && s_activitySeen)
        {
            CaptureTraceContext(ref record);
        }

        return new LogEventWriter(ref record, queue, position, descriptor);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CaptureTraceContext(ref LogRecord record)
    {
        Activity? activity = Activity.Current;
        if (activity is not null)
        {
            record._traceId = activity.TraceId;
            record._spanId = activity.SpanId;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static LogEventWriter BeginUnconfigured(LogEventDescriptor descriptor)
    {
        FapiLogging.EnsureConfigured();
        return IsEnabled(descriptor.Level) && s_queue is not null ? Begin(descriptor) : default;
    }

    /// <summary>
    /// The invariant-culture string of a value of a type that is not stored by value, taken at the moment of the call
    /// (so later mutation of the object cannot change what is logged): a string as it is, an <see cref="IFormattable"/>
    /// with the invariant culture, a sequence (an array, a list) as its items, <c>1, 2, 3</c>, anything else by
    /// <c>ToString()</c>. Null stays null. A <c>ToString</c> (or an enumeration) that throws
    /// does not make the log call throw: the value is logged as <c>&lt;ToString threw TypeName: message&gt;</c>.
    /// </summary>
    public static string? CaptureString<T>(T value)
    {
        if (value is null)
        {
            return null;
        }

        try
        {
            return value switch
            {
                string text => text,
                IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
                System.Collections.IEnumerable sequence => SequenceText(sequence),
                _ => value.ToString(),
            };
        }
        catch (Exception ex)
        {
            // Logging must never take the application down; the marker keeps the failure visible in the logs.
            return ToStringFailure(ex);
        }
    }

    // A sequence (an array, a list) as [LoggerMessage] and the ILogger bridge render it: its items, "a, b, c".
    private static string SequenceText(System.Collections.IEnumerable sequence)
    {
        var text = new System.Text.StringBuilder();
        bool first = true;
        foreach (object? item in sequence)
        {
            if (!first)
            {
                text.Append(", ");
            }

            first = false;
            text.Append(item switch
            {
                null => MessageRenderer.Null,
                IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
                _ => item.ToString(),
            });
        }

        return text.ToString();
    }

    /// <summary>
    /// Like <see cref="CaptureString{T}(T)"/>, with the format the template gives every placeholder of this value
    /// (<c>{Day:yyyy-MM-dd}</c> on a <see cref="DateOnly"/>): the text kept is what the worker could no longer format, so
    /// the format is applied here. A format the value's type rejects is ignored, as the worker ignores it.
    /// </summary>
    public static string? CaptureString<T>(T value, string format)
    {
        if (value is not IFormattable formattable)
        {
            return CaptureString(value);
        }

        try
        {
            return formattable.ToString(format, CultureInfo.InvariantCulture);
        }
        catch (FormatException)
        {
            return CaptureString(value);
        }
        catch (Exception ex)
        {
            return ToStringFailure(ex);
        }
    }

    /// <summary>The text logged for a value whose <c>ToString</c> threw <paramref name="ex"/> (whose own Message may throw as well).</summary>
    internal static string ToStringFailure(Exception ex) => $"<ToString threw {ex.GetType().Name}: {ExceptionText.Message(ex)}>";

    /// <summary>Called by <see cref="ActivityWatch"/> once an Activity has been current in the process.</summary>
    internal static void MarkActivitySeen() => s_activitySeen = true;

    /// <summary>Points the call sites at a new pipeline (or none).</summary>
    internal static void Install(LogQueue? queue, LogLevel minimumLevel, bool captureTraceContext)
    {
        s_captureTraceContext = captureTraceContext;
        Volatile.Write(ref s_queue, queue);
        Volatile.Write(ref s_minimumLevel, (int)minimumLevel);
    }

    /// <summary>The level calls are filtered at now (Trace while unconfigured, so that the first call configures).</summary>
    internal static LogLevel MinimumLevel => (LogLevel)Volatile.Read(ref s_minimumLevel);

    /// <summary>Changes the filter level of the installed pipeline (<see cref="FapiLogging.SetMinimumLevel"/>).</summary>
    internal static void SetMinimumLevel(LogLevel level) => Volatile.Write(ref s_minimumLevel, (int)level);

    /// <summary>Back to the unconfigured state (tests only).</summary>
    internal static void Reset() => Install(null, LogLevel.Trace, true);
}
