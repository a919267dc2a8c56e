using System;
using System.Collections.Concurrent;
using System.Threading;
using FapiLog.Internal;
using FapiLog.Tests.Support;
using Xunit;

namespace FapiLog.Tests;

/// <summary>
/// The timer the drop warning uses with the real clock, whose callbacks must run while the thread pool is starved (the
/// child-process test in <see cref="ProcessTests"/> starves a pool for real).
/// </summary>
[Collection(Loki.ConsoleCollection.Name)] // one test captures stderr
public sealed class OwnThreadTimerTests
{
    [Fact]
    public void A_timer_fires_once_on_a_thread_that_is_not_the_pools()
    {
        using var fired = new SemaphoreSlim(0);
        var threads = new ConcurrentQueue<Thread>();
        using var timer = new OwnThreadTimer(_ =>
        {
            threads.Enqueue(Thread.CurrentThread);
            fired.Release();
        }, null, TimeSpan.Zero);

        Assert.True(fired.Wait(TestLog.Safety));
        Thread thread = Assert.Single(threads);
        Assert.False(thread.IsThreadPoolThread);
        Assert.True(thread.IsBackground);
        Assert.Equal("FapiLog timer", thread.Name);

        // One-shot: it fires again only when armed again.
        Assert.True(timer.Change(TimeSpan.Zero, Timeout.InfiniteTimeSpan));
        Assert.True(fired.Wait(TestLog.Safety));
        Assert.Equal(2, threads.Count);
    }

    [Fact]
    public void A_disarmed_or_disposed_timer_does_not_fire_and_the_others_do()
    {
        // The one thread that fires every timer is held in a callback while the timers are armed, all due at once, and two
        // of them disarmed; then it fires the due ones in the order they were armed, "last" last.
        var fired = new ConcurrentQueue<string>();
        using var holding = new ManualResetEventSlim(false);
        using var hold = new ManualResetEventSlim(false);
        using var last = new ManualResetEventSlim(false);
        using var holder = new OwnThreadTimer(_ =>
        {
            holding.Set();
            hold.Wait();
        }, null, TimeSpan.Zero);
        Assert.True(holding.Wait(TestLog.Safety));

        var disarmed = new OwnThreadTimer(_ => fired.Enqueue("disarmed"), null, TimeSpan.Zero);
        var disposed = new OwnThreadTimer(_ => fired.Enqueue("disposed"), null, TimeSpan.Zero);
        using var kept = new OwnThreadTimer(_ => fired.Enqueue("kept"), null, TimeSpan.Zero);
        using var later = new OwnThreadTimer(_ => last.Set(), null, TimeSpan.Zero);
        Assert.True(disarmed.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan));
        disposed.Dispose();
        Assert.False(disposed.Change(TimeSpan.Zero, Timeout.InfiniteTimeSpan));
        hold.Set();

        Assert.True(last.Wait(TestLog.Safety));
        Assert.Equal(["kept"], fired);
        disarmed.Dispose();
    }

    [Fact]
    public void Disarm_waits_for_a_callback_under_way_and_Dispose_does_not()
    {
        // The Loki request deadline disarms before it lets the request's source go: a cancel still running then would
        // cancel a source that is disposed, or already the next request's.
        using var entered = new ManualResetEventSlim(false);
        using var release = new ManualResetEventSlim(false);
        var order = new ConcurrentQueue<string>();
        var timer = new OwnThreadTimer(_ =>
        {
            entered.Set();
            release.Wait();
            order.Enqueue("callback ended");
        }, null, TimeSpan.Zero);
        Assert.True(entered.Wait(TestLog.Safety));

        timer.Dispose(); // returns while the callback runs
        var disarm = System.Threading.Tasks.Task.Run(() =>
        {
            timer.Disarm();
            order.Enqueue("disarm returned");
        });
        Assert.True(SpinWait.SpinUntil(() => OwnThreadTimer.DisarmWaitersForTesting == 1, TestLog.Safety));
        Assert.False(disarm.IsCompleted);
        release.Set();

        Assert.True(disarm.Wait(TestLog.Safety));
        Assert.Equal(["callback ended", "disarm returned"], order);
    }

    [Fact]
    public void Rearming_moves_the_due_time()
    {
        // Armed for an hour, then moved to now: it fires now.
        using var fired = new ManualResetEventSlim(false);
        using var timer = new OwnThreadTimer(_ => fired.Set(), null, TimeSpan.FromHours(1));
        Assert.True(timer.Change(TimeSpan.Zero, Timeout.InfiniteTimeSpan));
        Assert.True(fired.Wait(TestLog.Safety));
    }

    [Fact]
    public void A_callback_that_throws_is_reported_and_the_thread_goes_on()
    {
        using var stderr = new StderrCapture();
        using var after = new ManualResetEventSlim(false);
        using (new OwnThreadTimer(_ => throw new InvalidOperationException("callback broke"), null, TimeSpan.Zero))
        using (new OwnThreadTimer(_ => after.Set(), null, TimeSpan.FromMilliseconds(100)))
        {
            Assert.True(after.Wait(TestLog.Safety));
        }

        Assert.Contains(stderr.Lines(), l => l.StartsWith("FapiLog: a timer's callback failed: System.InvalidOperationException: callback broke", StringComparison.Ordinal));
    }

    [Fact]
    public void Only_one_shot_timers_and_due_times_of_zero_or_more_are_accepted()
    {
        using var timer = new OwnThreadTimer(_ => { }, null, Timeout.InfiniteTimeSpan);
        NotSupportedException periodic = Assert.Throws<NotSupportedException>(() => timer.Change(TimeSpan.Zero, TimeSpan.FromSeconds(1)));
        Assert.Contains("00:00:01", periodic.Message, StringComparison.Ordinal);
        ArgumentOutOfRangeException negative = Assert.Throws<ArgumentOutOfRangeException>(() => timer.Change(TimeSpan.FromMilliseconds(-5), Timeout.InfiniteTimeSpan));
        Assert.Equal("dueTime", negative.ParamName);
    }
}
