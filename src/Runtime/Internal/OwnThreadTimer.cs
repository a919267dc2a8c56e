using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;
using System.Threading.Tasks;

namespace FapiLog.Internal;

/// <summary>
/// A one-shot timer whose callback runs on a thread of FapiLog's own, not on the thread pool: for what must happen while
/// the pool is starved. <see cref="CancellationTokenSource.CancelAfter(TimeSpan)"/> and <see cref="TimeProvider"/>'s timers
/// fire from the pool, and two of FapiLog's timers are needed most when it is starved: the Loki request timeout (a push
/// that waits for HttpClient's connection setup, which needs the pool, would never time out, and the worker with every
/// other sink would wait with it) and the drop warning said while a sink holds the worker (Loki's pushes stall, its send
/// buffer fills and holds the worker, the queue fills behind it: a pool timer said the drops only once the pool had
/// recovered).
/// </summary>
/// <remarks>
/// One thread serves every such timer of the process. The first timer armed starts it (a background thread, so it never
/// keeps the process alive); it then sleeps until the earliest due time, for good while none is armed. Callbacks run one
/// at a time, so they must be short or rare; one that throws is reported on stderr rather than ending the thread. A timer
/// is reused from arming to arming (<see cref="Change"/>), so arming allocates nothing. <see cref="Dispose"/> does not
/// wait for a callback under way (as the pool's timers do not); <see cref="Disarm"/> does.
/// </remarks>
internal sealed class OwnThreadTimer : ITimer
{
    private static readonly object s_lock = new();

    // Armed timers, in the order armed: a handful at most (one per pipeline that has dropped, one per Loki sink).
    private static readonly List<OwnThreadTimer> s_armed = [];
    private static bool s_started;

    // The timer whose callback is under way, if any; under s_lock.
    private static OwnThreadTimer? s_running;

    // Callers inside Disarm's wait for a callback (tests).
    private static int s_disarmWaiters;

    private readonly TimerCallback _callback;
    private readonly object? _state;

    // When it is due (a Stopwatch timestamp) while in s_armed; under s_lock.
    private long _due;
    private bool _disposed;

    /// <summary>Creates the timer, armed to call <paramref name="callback"/> once after <paramref name="dueTime"/>.</summary>
    public OwnThreadTimer(TimerCallback callback, object? state, TimeSpan dueTime)
    {
        _callback = callback;
        _state = state;
        Change(dueTime, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Arms the timer to fire once after <paramref name="dueTime"/>, or disarms it (<see cref="Timeout.InfiniteTimeSpan"/>).</summary>
    /// <returns>False once the timer is disposed, or when its thread could not be started (the timer is then not armed).</returns>
    /// <exception cref="NotSupportedException"><paramref name="period"/> is not <see cref="Timeout.InfiniteTimeSpan"/>: only one-shot timers.</exception>
    public bool Change(TimeSpan dueTime, TimeSpan period)
    {
        if (period != Timeout.InfiniteTimeSpan)
        {
            throw new NotSupportedException($"Only one-shot timers are supported; the period was {period}.");
        }

        if (dueTime < TimeSpan.Zero && dueTime != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(dueTime), dueTime, "The due time must be zero or more, or infinite.");
        }

        lock (s_lock)
        {
            if (_disposed)
            {
                return false;
            }

            s_armed.Remove(this);
            if (dueTime == Timeout.InfiniteTimeSpan)
            {
                return true;
            }

            if (!s_started)
            {
                s_started = BackgroundThread.TryStart(Run, "FapiLog timer") is not null;
                if (!s_started)
                {
                    // No thread (out of memory): not armed, and the next arming tries again. Nothing is thrown into the
                    // caller, often a log call that dropped its event.
                    return false;
                }
            }

            _due = DueAfter(dueTime);
            s_armed.Add(this);

            // All: Disarm's waiters wait on the same lock, and the timer thread must be among those woken.
            Monitor.PulseAll(s_lock);
            return true;
        }
    }

    /// <summary>
    /// Disarms the timer and waits for its callback if it is under way: once this returns, the callback is neither running
    /// nor runs until the timer is armed again, so that what it acts on may be let go. Never call it from the callback or
    /// while holding a lock the callback takes.
    /// </summary>
    public void Disarm()
    {
        lock (s_lock)
        {
            s_armed.Remove(this);
            while (s_running == this)
            {
                s_disarmWaiters++;
                Monitor.Wait(s_lock);
                s_disarmWaiters--;
            }
        }
    }

    /// <summary>How many callers wait in <see cref="Disarm"/> for a callback under way (tests).</summary>
    internal static int DisarmWaitersForTesting
    {
        get
        {
            lock (s_lock)
            {
                return s_disarmWaiters;
            }
        }
    }

    /// <summary>Disarms the timer for good; a callback already under way runs to its end.</summary>
    public void Dispose()
    {
        lock (s_lock)
        {
            _disposed = true;
            s_armed.Remove(this);
        }
    }

    /// <inheritdoc cref="Dispose"/>
    public ValueTask DisposeAsync()
    {
        Dispose();
        return default;
    }

    /// <summary>The Stopwatch timestamp <paramref name="dueTime"/> from now; a due time beyond a century counts as a century.</summary>
    private static long DueAfter(TimeSpan dueTime)
    {
        long ticks = Math.Min(dueTime.Ticks, TimeSpan.FromDays(36_500).Ticks);
        return Stopwatch.GetTimestamp() + (long)(ticks * (Stopwatch.Frequency / (double)TimeSpan.TicksPerSecond));
    }

    private static void Run()
    {
        while (true)
        {
            OwnThreadTimer due = WaitForDue();
            try
            {
                due._callback(due._state);
            }
            catch (Exception ex)
            {
                Stderr.Write("FapiLog: a timer's callback failed: " + ex);
            }
            finally
            {
                lock (s_lock)
                {
                    s_running = null;
                    Monitor.PulseAll(s_lock);
                }
            }
        }
    }

    /// <summary>Sleeps until an armed timer is due, and disarms it and returns it as the one running.</summary>
    private static OwnThreadTimer WaitForDue()
    {
        lock (s_lock)
        {
            while (true)
            {
                long now = Stopwatch.GetTimestamp();
                long earliest = long.MaxValue;
                for (int i = 0; i < s_armed.Count; i++)
                {
                    OwnThreadTimer timer = s_armed[i];
                    if (timer._due <= now)
                    {
                        s_armed.RemoveAt(i);
                        s_running = timer;
                        return timer;
                    }

                    earliest = Math.Min(earliest, timer._due);
                }

                // Rounded up: a wait truncates to whole milliseconds, and one of zero would spin until the due time.
                int milliseconds = earliest == long.MaxValue
                    ? Timeout.Infinite
                    : (int)Math.Min(int.MaxValue - 1, Math.Ceiling((earliest - now) * 1000.0 / Stopwatch.Frequency));
                Monitor.Wait(s_lock, milliseconds);
            }
        }
    }
}
