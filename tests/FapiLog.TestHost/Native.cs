using System;
using System.Runtime.InteropServices;

namespace FapiLog.TestHost;

/// <summary>The libc call the stderr modes make (Linux: fcntl is variadic, and its flag values are Linux's).</summary>
internal static class Native
{
    private const int GetFlags = 3;       // F_GETFL
    private const int SetFlags = 4;       // F_SETFL
    private const int NonBlocking = 0x800; // O_NONBLOCK

    [DllImport("libc", SetLastError = true, EntryPoint = "fcntl")]
    private static extern int Fcntl(int fd, int command, int argument);

    /// <summary>Makes descriptor <paramref name="fd"/> non-blocking: a write to a full pipe then fails with EAGAIN.</summary>
    public static void MakeNonBlocking(int fd)
    {
        int flags = Fcntl(fd, GetFlags, 0);
        if (flags == -1 || Fcntl(fd, SetFlags, flags | NonBlocking) == -1)
        {
            throw new InvalidOperationException("fcntl failed: errno " + Marshal.GetLastPInvokeError());
        }
    }
}
