using System.Diagnostics;
using System.Threading;

namespace FapiLog.Internal;

/// <summary>
/// Lets the log call skip <see cref="Activity.Current"/> while no activity has been current in the process. That read
/// walks the thread's execution context; on a call whose caches went cold during a pause it cost about 110 ns of the
/// first call's 450 ns in the load test, for nothing in an application that does not trace. The first change of
/// <see cref="Activity.Current"/> on any thread, heard through <see cref="Activity.CurrentChanged"/>, turns the read on
/// for the rest of the process's life, and the handler then unsubscribes, so tracing applications pay nothing after it.
/// </summary>
/// <remarks>
/// An activity made current before the watch started raised no event: the starting thread's own is checked at start,
/// and the watch starts early: in <see cref="FapiLogging.RegisterShutdownHooks"/> (which the generated module initializer
/// calls) and whenever a pipeline is built (<c>FapiLogging.Configure</c>, or the first call).
/// What stays unseen is an activity already current on another thread before then, until any activity anywhere changes.
/// </remarks>
internal static class ActivityWatch
{
    private static readonly object s_lock = new();
    private static bool s_started;

    /// <summary>Starts watching (idempotent); returns once the watch is in place.</summary>
    public static void EnsureStarted()
    {
        if (Volatile.Read(ref s_started))
        {
            return;
        }

        lock (s_lock)
        {
            if (s_started)
            {
                return;
            }

            Activity.CurrentChanged += OnCurrentChanged;
            if (Activity.Current is not null)
            {
                Seen();
            }

            Volatile.Write(ref s_started, true);
        }
    }

    private static void OnCurrentChanged(object? sender, ActivityChangedEventArgs e) => Seen();

    private static void Seen()
    {
        FapiLogRuntime.MarkActivitySeen();
        Activity.CurrentChanged -= OnCurrentChanged;
    }
}
