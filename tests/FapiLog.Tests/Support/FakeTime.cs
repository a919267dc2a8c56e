using System;
using System.Collections.Generic;
using System.Threading;

namespace FapiLog.Tests.Support;

/// <summary>A manual clock: time moves only when a test calls <see cref="Advance"/>, and due timers fire then.</summary>
internal sealed class FakeTime : TimeProvider
{
    private readonly object _lock = new();
    private readonly List<FakeTimer> _timers = new();
    private long _ticks = DateTimeOffset.UnixEpoch.AddYears(56).UtcTicks;
    private int _timersCreated;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp()
    {
        lock (_lock)
        {
            return _ticks;
        }
    }

    public override DateTimeOffset GetUtcNow() => new(GetTimestamp(), TimeSpan.Zero);

    /// <summary>How many timers have been created so far (the worker creates one each time it sleeps with a deadline).</summary>
    public int TimersCreated => Volatile.Read(ref _timersCreated);

    /// <summary>Waits until the worker has armed at least <paramref name="count"/> timers in total.</summary>
    public bool WaitForTimers(int count, TimeSpan timeout)
    {
        lock (_lock)
        {
            DateTime deadline = DateTime.UtcNow + timeout;
            while (_timersCreated < count)
            {
                TimeSpan left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero)
                {
                    return false;
                }

                Monitor.Wait(_lock, left);
            }

            return true;
        }
    }

    /// <summary>
    /// Run (once, then cleared) when a timer is about to be armed, before the clock is read for its due time: a test moves
    /// the clock there to land between a caller's reading of the clock and the arming of its timer.
    /// </summary>
    public Action? BeforeNextTimer
    {
        get => Volatile.Read(ref _beforeNextTimer);
        set => Volatile.Write(ref _beforeNextTimer, value);
    }

    private Action? _beforeNextTimer;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        Interlocked.Exchange(ref _beforeNextTimer, null)?.Invoke();
        var timer = new FakeTimer(this, callback, state);
        lock (_lock)
        {
            timer.Due = dueTime == Timeout.InfiniteTimeSpan ? long.MaxValue : _ticks + dueTime.Ticks;
            _timers.Add(timer);
            _timersCreated++;
            Monitor.PulseAll(_lock);
        }

        return timer;
    }

    public void Advance(TimeSpan by)
    {
        List<FakeTimer> due = new();
        lock (_lock)
        {
            _ticks += by.Ticks;
            foreach (FakeTimer t in _timers)
            {
                if (t.Due <= _ticks)
                {
                    t.Due = long.MaxValue;
                    due.Add(t);
                }
            }
        }

        foreach (FakeTimer t in due)
        {
            t.Fire();
        }
    }

    private void Remove(FakeTimer timer)
    {
        lock (_lock)
        {
            _timers.Remove(timer);
        }
    }

    private sealed class FakeTimer(FakeTime owner, TimerCallback callback, object? state) : ITimer
    {
        public long Due { get; set; }

        public void Fire() => callback(state);

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            Due = dueTime == Timeout.InfiniteTimeSpan ? long.MaxValue : owner.GetTimestamp() + dueTime.Ticks;
            return true;
        }

        public void Dispose() => owner.Remove(this);

        public System.Threading.Tasks.ValueTask DisposeAsync()
        {
            Dispose();
            return default;
        }
    }
}
