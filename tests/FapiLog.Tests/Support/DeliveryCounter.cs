using System;
using System.Threading;
using Xunit;

namespace FapiLog.Tests.Support;

/// <summary>
/// The events a test's own sink has seen, counted from the worker, and a bounded wait for a number of them (also linked
/// into the hosting tests).
/// </summary>
internal sealed class DeliveryCounter
{
    private readonly object _lock = new();
    private long _events;

    /// <summary>Adds a batch's events (the sink's Write, on the worker).</summary>
    public void Add(int count)
    {
        lock (_lock)
        {
            _events += count;
            Monitor.PulseAll(_lock);
        }
    }

    /// <summary>Waits until <paramref name="count"/> events in all were seen; fails after 30 s without one.</summary>
    public void WaitFor(long count)
    {
        lock (_lock)
        {
            while (_events < count)
            {
                Assert.True(Monitor.Wait(_lock, TimeSpan.FromSeconds(30)), $"the worker delivered {_events} of {count} events");
            }
        }
    }
}
