using System;
using System.Buffers;
using System.Globalization;
using System.Text;
using System.Threading;

namespace FapiLog.Comparison;

/// <summary>
/// What every library's sink shares: a count of the events it has rendered, a way to wait until it has seen a given
/// number, and a gate that can stall it (to hold a queue full for the saturation case). Only the library's single
/// consumer thread calls <see cref="Delivered"/>.
/// </summary>
public sealed class SinkProbe
{
    private readonly ManualResetEventSlim _open = new(true);
    private readonly ManualResetEventSlim _reached = new(false);
    private long _seen;
    private long _target = long.MaxValue;

    /// <summary>The first line the sink rendered (to check that every library renders the same text).</summary>
    public string? FirstLine { get; private set; }

    /// <summary>Keeps the first rendered line; a null check per event afterwards.</summary>
    public void Keep(ReadOnlySpan<char> text)
    {
        if (FirstLine is null)
        {
            FirstLine = text.ToString();
        }
    }

    /// <summary>Keeps the first rendered line (UTF-8).</summary>
    public void Keep(ReadOnlySpan<byte> utf8)
    {
        if (FirstLine is null)
        {
            FirstLine = Encoding.UTF8.GetString(utf8);
        }
    }

    /// <summary>Events the sink has rendered so far.</summary>
    public long Seen => Volatile.Read(ref _seen);

    /// <summary>True while the sink is held (see <see cref="Stall"/>).</summary>
    public bool Stalled => !_open.IsSet;

    /// <summary>Holds the sink at its next write: the library's consumer blocks, so its queue fills.</summary>
    public void Stall() => _open.Reset();

    /// <summary>Lets the sink go on.</summary>
    public void Resume() => _open.Set();

    /// <summary>Called by the sink before it renders: blocks while the sink is stalled.</summary>
    public void Enter()
    {
        if (!_open.IsSet)
        {
            _open.Wait();
        }
    }

    /// <summary>Called by the sink after it has rendered <paramref name="count"/> events.</summary>
    public void Delivered(long count)
    {
        long seen = Interlocked.Add(ref _seen, count);
        if (seen >= Volatile.Read(ref _target))
        {
            _reached.Set();
        }
    }

    /// <summary>Waits until the sink has seen <paramref name="target"/> events in all; false on timeout.</summary>
    public bool WaitFor(long target, TimeSpan timeout)
    {
        // The event only says "look again": a Set left over from an earlier, lower target (a consumer that read that
        // target just before it was withdrawn) must not end this wait early, so the count itself decides.
        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        Volatile.Write(ref _target, target);
        Interlocked.MemoryBarrier();
        while (Seen < target)
        {
            long left = deadline - Environment.TickCount64;
            if (left <= 0 || !_reached.Wait(TimeSpan.FromMilliseconds(left)))
            {
                break;
            }

            _reached.Reset();
            Interlocked.MemoryBarrier();
        }

        Volatile.Write(ref _target, long.MaxValue);
        return Seen >= target;
    }
}

/// <summary>Formatting helpers shared by the sinks, so that each renders the same text the same way (invariant culture).</summary>
public static class Render
{
    public static void Value(StringBuilder sb, object? value)
    {
        Span<char> buffer = stackalloc char[64];
        switch (value)
        {
            case null:
                sb.Append("null");
                break;
            case string s:
                sb.Append(s);
                break;
            case ISpanFormattable f when f.TryFormat(buffer, out int n, default, CultureInfo.InvariantCulture):
                sb.Append(buffer[..n]);
                break;
            default:
                sb.Append(Convert.ToString(value, CultureInfo.InvariantCulture));
                break;
        }
    }

    public static void Value<T>(IBufferWriter<char> w, T value)
        where T : ISpanFormattable
    {
        Span<char> span = w.GetSpan(64);
        if (!value.TryFormat(span, out int n, default, CultureInfo.InvariantCulture))
        {
            span = w.GetSpan(512);
            value.TryFormat(span, out n, default, CultureInfo.InvariantCulture);
        }

        w.Advance(n);
    }

    public static void Text(IBufferWriter<char> w, string s) => w.Write(s.AsSpan());

    /// <summary>The exception part every sink writes: type name and message (not the stack trace).</summary>
    public static void Exception(StringBuilder sb, Exception? e)
    {
        if (e is not null)
        {
            sb.Append(" exception=").Append(e.GetType().Name).Append(": ").Append(e.Message);
        }
    }
}
