using System;
using System.Threading;
using FapiLog.Internal;

namespace FapiLog.Loki;

/// <summary>
/// Cancels a sink's request in flight at its deadline, from FapiLog's own timer thread (<see cref="OwnThreadTimer"/>).
/// <see cref="CancellationTokenSource.CancelAfter(TimeSpan)"/> fires from a timer that runs on the thread pool, so while the
/// pool is starved a request that waits for HttpClient's connection setup (which needs the pool) would never time out,
/// and the worker — with every other sink — would wait with it. One per sink, reused from request to request (one at a
/// time), so that a push allocates no deadline.
/// </summary>
internal sealed class RequestDeadline
{
    private readonly OwnThreadTimer _timer;

    // The source of the request the timer is armed for; read by the timer's callback, which Registration.Dispose waits out.
    private CancellationTokenSource? _source;

    public RequestDeadline()
        => _timer = new OwnThreadTimer(static state => ((RequestDeadline)state!).Expire(), this, Timeout.InfiniteTimeSpan);

    /// <summary>
    /// Cancels <paramref name="source"/> after <paramref name="timeout"/> unless the returned registration is disposed first.
    /// Not armed again before the previous registration is disposed.
    /// </summary>
    public Registration CancelAfter(CancellationTokenSource source, TimeSpan timeout)
    {
        // Written before the arming: the timer thread takes the lock the arming releases before it calls Expire.
        _source = source;
        _timer.Change(timeout, Timeout.InfiniteTimeSpan);
        return new Registration(this);
    }

    /// <summary>Brings the armed deadline forward to <paramref name="timeout"/> from now (never later than it was: the caller passes at most what is left).</summary>
    public void Shorten(TimeSpan timeout) => _timer.Change(timeout < TimeSpan.Zero ? TimeSpan.Zero : timeout, Timeout.InfiniteTimeSpan);

    private void Expire()
    {
        // The callbacks are HttpClient's own (abort the request); one that throws has done what it could, and the timer
        // thread would only report it.
        try
        {
            _source?.Cancel();
        }
        catch (AggregateException)
        {
        }
    }

    /// <summary>Removes the deadline; once <see cref="Dispose"/> returns, the source is never cancelled by it.</summary>
    public readonly struct Registration : IDisposable
    {
        private readonly RequestDeadline? _deadline;

        internal Registration(RequestDeadline deadline) => _deadline = deadline;

        public void Dispose()
        {
            if (_deadline is null)
            {
                return;
            }

            // Waits for a cancel under way, so that the source may be disposed or reused once this returns.
            _deadline._timer.Disarm();
            // Not kept alive by a sink waiting for its next request.
            _deadline._source = null;
        }
    }
}
