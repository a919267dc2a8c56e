using System;
using System.IO;
using System.Threading;

namespace FapiLog.Internal;

/// <summary>
/// Takes FapiLog's own lines for stderr and writes them, in the order given, on a thread of its own. A stderr that is a pipe
/// nobody reads (a parent that redirects it and reads only stdout) takes 64 KiB and then blocks every write for good: written
/// by the worker or a Loki sender, the next line would have stopped the pipeline. A line is waited for while stderr takes
/// lines, so that what a caller wrote is out when it returns (the shutdown report before <c>Shutdown</c> returns); once
/// stderr has taken no line for the stall period, callers no longer wait until it has caught up. At most
/// <c>capacity</c> lines wait; those beyond are counted, and the count is written where they were left out once stderr takes
/// lines again.
/// </summary>
internal sealed class StderrHandOff
{
    private readonly object _lock = new();
    private readonly TextWriter?[] _targets;
    private readonly string?[] _lines;
    private readonly long[] _leftOutBefore;
    private readonly long _stallTicks;
    private readonly TimeProvider _time;
    private readonly bool _systemClock;
    private Thread? _thread;

    // Lines taken (_tail) and finished (_head): slots _head.._tail-1 wait, the one at _head may be being written.
    private long _head;
    private long _tail;

    // Writes finished, lines and counts alike: what a waiter watches to tell a slow stderr from one that takes nothing.
    private long _done;

    // The writer is inside a write (a line or a count), begun at _writeBegan (a timestamp of the clock): only then can
    // stderr be said to take nothing. Before the writer has taken a line it is waiting to be scheduled (a loaded machine, a
    // thread still starting), which says nothing about stderr: a caller that counted that time gave up on a stderr that
    // took every line, and its line (the shutdown report at exit) came out after it, or never.
    private bool _writing;
    private long _writeBegan;

    // Lines left out since the last one taken, and where they were to go.
    private long _leftOut;
    private TextWriter? _leftOutTarget;
    private bool _writingCount;

    // A wait timed out: callers do not wait again until the writer has caught up, Drain not until it has taken a line
    // (_done has moved on from _stalledAt).
    private bool _stalled;
    private long _stalledAt;

    // Callers inside a wait (tests).
    private int _waiters;

    /// <param name="capacity">The most lines that wait to be written.</param>
    /// <param name="stallWait">How long a caller waits for stderr to take a line before it stops waiting.</param>
    /// <param name="time">The clock the waits are measured by; <see cref="TimeProvider.System"/> when null (a test's clock otherwise).</param>
    public StderrHandOff(int capacity, TimeSpan stallWait, TimeProvider? time = null)
    {
        _targets = new TextWriter?[capacity];
        _lines = new string?[capacity];
        _leftOutBefore = new long[capacity];
        _time = time ?? TimeProvider.System;
        _systemClock = ReferenceEquals(_time, TimeProvider.System);
        _stallTicks = Ticks(stallWait);
    }

    /// <summary>The line that takes the place of <paramref name="count"/> lines left out.</summary>
    internal static string LeftOut(long count)
        => $"FapiLog: {count} line(s) for stderr were left out here: it took none for a while (is anything reading it?)";

    /// <summary>
    /// Hands <paramref name="line"/> over for <paramref name="target"/>, then waits until it is written while stderr takes
    /// lines (each line taken gives the wait another stall period); at once when stderr is known to be stalled.
    /// </summary>
    public void Write(TextWriter target, string line)
    {
        lock (_lock)
        {
            if (_tail - _head == _lines.Length)
            {
                _leftOut++;
                _leftOutTarget = target;
                return;
            }

            if (_thread is not null || TryStart())
            {
                HandOver(target, line);
                return;
            }
        }

        // No thread to be had (out of memory): as before there was one, the caller writes.
        WriteNow(target, line);
    }

    /// <summary>Queues the line (with the lock held) and waits for it unless stderr is stalled.</summary>
    private void HandOver(TextWriter target, string line)
    {
        long mine = _tail++;
        int slot = (int)(mine % _lines.Length);
        _targets[slot] = target;
        _lines[slot] = line;
        _leftOutBefore[slot] = _leftOut;
        _leftOut = 0;
        _leftOutTarget = null;
        Monitor.PulseAll(_lock);
        if (!_stalled && !WaitWhileTaking(mine + 1, withCount: false, deadline: long.MaxValue, out _))
        {
            MarkStalled();
        }
    }

    /// <summary>
    /// Waits until every line handed over before the call (and the count of any left out) is written, giving up once stderr
    /// has taken nothing for the stall period, and in any case once <paramref name="budget"/> has passed: what the process
    /// says on its way out gets to a stderr that is read, within the bound its caller (a shutdown, an exit hook) promises.
    /// At once when stderr is known to be stalled and has taken no line since.
    /// </summary>
    /// <param name="budget">The longest wait: what is left of the caller's own; <see cref="Timeout.InfiniteTimeSpan"/> for none.</param>
    /// <returns>True when everything was written.</returns>
    public bool Drain(TimeSpan budget)
    {
        lock (_lock)
        {
            // At exit Shutdown drains and then the exit hook does: each waited a whole stall period for a stderr already
            // known to take nothing. One that has taken a line since may be read again, slowly, and is waited for.
            if (_stalled && _done == _stalledAt)
            {
                return false;
            }

            long now = _time.GetTimestamp();
            long ticks = budget == Timeout.InfiniteTimeSpan ? long.MaxValue : Ticks(budget < TimeSpan.Zero ? TimeSpan.Zero : budget);
            if (WaitWhileTaking(_tail, withCount: true, deadline: ticks > long.MaxValue - now ? long.MaxValue : now + ticks, out bool stalled))
            {
                return true;
            }

            // The end of the budget says nothing about stderr; a stall period without a line taken does.
            if (stalled)
            {
                MarkStalled();
            }

            return false;
        }
    }

    /// <summary>True when no line waits and none is being written (tests).</summary>
    internal bool IsIdle
    {
        get
        {
            lock (_lock)
            {
                return _head == _tail && _leftOut == 0 && !_writingCount;
            }
        }
    }

    /// <summary>Remembers, with the lock held, that stderr took nothing for a stall period, and how far it had got.</summary>
    private void MarkStalled()
    {
        _stalled = true;
        _stalledAt = _done;
    }

    /// <summary>How many callers wait for stderr, each on the clock (tests: a test clock is moved once they do).</summary>
    internal int Waiters
    {
        get
        {
            lock (_lock)
            {
                return _waiters;
            }
        }
    }

    /// <summary>
    /// Waits, with the lock held, until <paramref name="head"/> lines are written (and, <paramref name="withCount"/>, the
    /// count of those left out), for as long as stderr takes a line at least once a stall period, and not past
    /// <paramref name="deadline"/> (a timestamp of the clock): a reader that takes a line just within each period would
    /// otherwise hold the caller for every line that waits. <paramref name="stalled"/> tells a wait that ended on a stall
    /// period without a line taken from one that reached the deadline. The stall period runs only while the writer is
    /// inside a write.
    /// </summary>
    private bool WaitWhileTaking(long head, bool withCount, long deadline, out bool stalled)
    {
        stalled = false;
        long progress = _done;
        long since = _time.GetTimestamp();
        _waiters++;
        try
        {
            while (_head < head || (withCount && (_leftOut != 0 || _writingCount)))
            {
                long now = _time.GetTimestamp();
                long from = _writing ? Math.Max(since, _writeBegan) : now;
                long until = deadline - from > _stallTicks ? from + _stallTicks : deadline;
                if (now >= until)
                {
                    stalled = now - from >= _stallTicks;
                    return false;
                }

                WaitFor(now, until);
                if (_done != progress)
                {
                    progress = _done;
                    since = _time.GetTimestamp();
                }
            }

            return true;
        }
        finally
        {
            _waiters--;
        }
    }

    /// <summary>
    /// Waits, with the lock held, for a pulse or until the clock reads <paramref name="until"/> (it read
    /// <paramref name="now"/> last). With the real clock this is a kernel wait that needs no thread-pool timer (the pool may
    /// be starved at exit); with a test clock the timer comes from that clock, so that a test that moves it wakes the waiter.
    /// </summary>
    private void WaitFor(long now, long until)
    {
        if (_systemClock)
        {
            // Rounded up: a wait rounded down to 0 ms would spin through the last part of the period.
            Monitor.Wait(_lock, (int)Math.Min(int.MaxValue, Math.Ceiling((until - now) * 1000.0 / _time.TimestampFrequency)));
            return;
        }

        while (now < until)
        {
            using ITimer timer = _time.CreateTimer(
                static state =>
                {
                    lock (state!)
                    {
                        Monitor.PulseAll(state);
                    }
                },
                _lock,
                TimeSpan.FromSeconds((double)(until - now) / _time.TimestampFrequency),
                Timeout.InfiniteTimeSpan);
            long armed = _time.GetTimestamp();
            if (armed == now)
            {
                Monitor.Wait(_lock);
                return;
            }

            // The clock moved between the reading and the arming (a test moving it on another thread): the timer counts
            // from the later time, past until, and a clock already moved to until would never fire it. Armed again from
            // the new reading; a test clock moves only when a test moves it, so this ends (a running clock other than
            // TimeProvider.System would spin here, and is never given).
            now = armed;
        }
    }

    /// <summary><paramref name="span"/> in ticks of the clock, at most <see cref="long.MaxValue"/>.</summary>
    private long Ticks(TimeSpan span)
    {
        double ticks = span.TotalSeconds * _time.TimestampFrequency;
        return ticks >= long.MaxValue ? long.MaxValue : (long)ticks;
    }

    private bool TryStart()
    {
        _thread = BackgroundThread.TryStart(Run, "FapiLog stderr");
        return _thread is not null;
    }

    /// <summary>Run by the writer thread before it looks for the next line (tests: a thread that has yet to be scheduled).</summary>
    internal Action? _beforeTakeForTesting;

    private void Run()
    {
        while (true)
        {
            _beforeTakeForTesting?.Invoke();
            TextWriter target;
            string? line = null;
            long leftOut;
            lock (_lock)
            {
                while (_head == _tail && _leftOut == 0)
                {
                    Monitor.Wait(_lock);
                }

                if (_head == _tail)
                {
                    // Left out after the last line taken: the count is said once stderr has taken what waited before it.
                    target = _leftOutTarget!;
                    leftOut = _leftOut;
                    _leftOut = 0;
                    _leftOutTarget = null;
                    _writingCount = true;
                }
                else
                {
                    int slot = (int)(_head % _lines.Length);
                    target = _targets[slot]!;
                    line = _lines[slot];
                    leftOut = _leftOutBefore[slot];
                }

                _writing = true;
                _writeBegan = _time.GetTimestamp();
            }

            // Outside the lock: this is the write that may block, and callers must still find out that it does.
            if (leftOut > 0)
            {
                WriteNow(target, LeftOut(leftOut));
            }

            if (line is not null)
            {
                WriteNow(target, line);
            }

            lock (_lock)
            {
                _writing = false;
                if (line is null)
                {
                    _writingCount = false;
                }
                else
                {
                    int slot = (int)(_head % _lines.Length);
                    _targets[slot] = null;
                    _lines[slot] = null;
                    _head++;
                }

                _done++;
                if (_head == _tail && _leftOut == 0)
                {
                    _stalled = false;
                }

                Monitor.PulseAll(_lock);
            }
        }
    }

    private static void WriteNow(TextWriter target, string line)
    {
        try
        {
            target.WriteLine(line);
            target.Flush();
        }
        catch (Exception)
        {
            // stderr closed or broken: nothing sensible is left to report to.
        }
    }
}
