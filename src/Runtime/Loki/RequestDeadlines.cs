using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;

namespace FapiLog.Loki;

/// <summary>
/// Cancels request tokens at their deadlines from one dedicated thread. <see cref="CancellationTokenSource.CancelAfter(TimeSpan)"/>
/// fires from a timer that runs on the thread pool, so while the pool is starved a request that waits for HttpClient's
/// connection setup (which needs the pool) would never time out, and the worker — with every other sink — would wait with
/// it. This thread keeps the timeout a timeout.
/// </summary>
internal static class RequestDeadlines
{
    private static readonly object s_lock = new();
    private static readonly List<Entry> s_pending = new();
    private static Thread? s_thread;

    /// <summary>
    /// Cancels <paramref name="source"/> after <paramref name="timeout"/> unless the returned registration is disposed first.
    /// <paramref name="entry"/> is the caller's own, reused from request to request (one at a time) so that a request
    /// allocates no deadline object; it must not be armed again before the previous registration is disposed.
    /// </summary>
    public static Registration CancelAfter(Entry entry, CancellationTokenSource source, TimeSpan timeout)
    {
        long ticks = (long)Math.Min(timeout.TotalSeconds * Stopwatch.Frequency, long.MaxValue / 2);
        lock (s_lock)
        {
            if (s_thread is null)
            {
                s_thread = new Thread(Run) { IsBackground = true, Name = "FapiLog Loki timeouts" };
                s_thread.Start();
            }

            entry.Deadline = Stopwatch.GetTimestamp() + ticks;
            entry.Source = source;
            s_pending.Add(entry);
            Monitor.Pulse(s_lock);
        }

        return new Registration(entry);
    }

    private static void Run()
    {
        lock (s_lock)
        {
            while (true)
            {
                long now = Stopwatch.GetTimestamp();
                long next = long.MaxValue;
                for (int i = s_pending.Count - 1; i >= 0; i--)
                {
                    Entry e = s_pending[i];
                    if (e.Deadline <= now)
                    {
                        s_pending.RemoveAt(i);
                        // Under the lock, so that it never runs after the registration was disposed (and the source with it).
                        // The callbacks are HttpClient's own (abort the request); they do not come back here, and one that
                        // throws must not end this thread, which every later timeout needs.
                        try
                        {
                            e.Source?.Cancel();
                        }
                        catch (AggregateException)
                        {
                        }
                    }
                    else
                    {
                        next = Math.Min(next, e.Deadline);
                    }
                }

                if (next == long.MaxValue)
                {
                    Monitor.Wait(s_lock);
                }
                else
                {
                    long waitMs = (long)Math.Ceiling((next - now) * 1000.0 / Stopwatch.Frequency);
                    Monitor.Wait(s_lock, (int)Math.Clamp(waitMs, 1, int.MaxValue));
                }
            }
        }
    }

    /// <summary>
    /// One deadline, armed by <see cref="CancelAfter"/> and disarmed by disposing its registration; compared by reference,
    /// so that equal deadlines of one source stay apart. Its fields change under the lock only.
    /// </summary>
    internal sealed class Entry
    {
        public long Deadline;

        public CancellationTokenSource? Source;
    }

    /// <summary>Removes the deadline; after <see cref="Dispose"/> the source is never cancelled by it.</summary>
    public readonly struct Registration : IDisposable
    {
        private readonly Entry? _entry;

        internal Registration(Entry entry) => _entry = entry;

        public void Dispose()
        {
            if (_entry is null)
            {
                return;
            }

            lock (s_lock)
            {
                s_pending.Remove(_entry);
                // Not kept alive by an entry waiting for its next request.
                _entry.Source = null;
            }
        }
    }
}
