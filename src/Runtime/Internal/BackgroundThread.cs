using System;
using System.Threading;

namespace FapiLog.Internal;

/// <summary>Starts FapiLog's own long-lived threads.</summary>
internal static class BackgroundThread
{
    /// <summary>
    /// Starts <paramref name="run"/> on a background thread named <paramref name="name"/>, without the caller's execution
    /// context: such a thread outlives the call that starts it (often a log call inside a request), and would otherwise
    /// keep that call's <c>Activity</c> current and its async locals alive for good. Returns null when no thread can be
    /// started (out of memory): the caller goes on without it rather than throwing into a log call.
    /// </summary>
    public static Thread? TryStart(ThreadStart run, string name)
    {
        try
        {
            var thread = new Thread(run) { IsBackground = true, Name = name };
            thread.UnsafeStart();
            return thread;
        }
        catch (Exception ex) when (ex is OutOfMemoryException or ThreadStartException)
        {
            return null;
        }
    }
}
