using System;
using System.Runtime.InteropServices;

namespace FapiLog.TestHost;

/// <summary>The few libc calls the stderr modes make (Linux: fcntl is variadic, and its flag values are Linux's).</summary>
internal static class Native
{
    private const int GetFlags = 3;       // F_GETFL
    private const int SetFlags = 4;       // F_SETFL
    private const int NonBlocking = 0x800; // O_NONBLOCK

    [DllImport("libc", SetLastError = true, EntryPoint = "fcntl")]
    private static extern int Fcntl(int fd, int command, int argument);

    [DllImport("libc", SetLastError = true, EntryPoint = "pipe")]
    private static extern int Pipe([Out] int[] fds);

    [DllImport("libc", SetLastError = true, EntryPoint = "dup2")]
    private static extern int Dup2(int fd, int target);

    [DllImport("libc", SetLastError = true, EntryPoint = "close")]
    private static extern int Close(int fd);

    /// <summary>Makes descriptor <paramref name="fd"/> non-blocking: a write to a full pipe then fails with EAGAIN.</summary>
    public static void MakeNonBlocking(int fd)
    {
        int flags = Fcntl(fd, GetFlags, 0);
        if (flags == -1 || Fcntl(fd, SetFlags, flags | NonBlocking) == -1)
        {
            throw new InvalidOperationException("fcntl failed: errno " + Marshal.GetLastPInvokeError());
        }
    }

    /// <summary>
    /// Puts a new pipe on descriptor 2 and returns its read end, for this process to read its own stderr. Call it before
    /// anything touches Console.Error, whose stream is a copy of descriptor 2 made when it is first used.
    /// </summary>
    public static int StandardErrorToOwnPipe()
    {
        int[] fds = new int[2];
        if (Pipe(fds) == -1 || Dup2(fds[1], 2) == -1 || Close(fds[1]) == -1)
        {
            throw new InvalidOperationException("pipe or dup2 failed: errno " + Marshal.GetLastPInvokeError());
        }

        return fds[0];
    }

    [DllImport("libc", SetLastError = true, EntryPoint = "open")]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, int mode);

    /// <summary>
    /// Puts a new pipe on descriptor 1 whose read end stays open and is never read (a reader that stopped reading). Call it
    /// before anything touches Console.
    /// </summary>
    public static void StandardOutputToUnreadPipe()
    {
        int[] fds = new int[2];
        if (Pipe(fds) == -1 || Dup2(fds[1], 1) == -1 || Close(fds[1]) == -1)
        {
            throw new InvalidOperationException("pipe or dup2 failed: errno " + Marshal.GetLastPInvokeError());
        }
    }

    /// <summary>Puts <paramref name="path"/> (created or emptied) on descriptor 2, as `2&gt;path` does. Call it before anything touches Console.Error.</summary>
    public static void StandardErrorToFile(string path)
    {
        int fd = Open(path, 0x1 | 0x40 | 0x200, 420); // O_WRONLY | O_CREAT | O_TRUNC, 0644
        if (fd == -1 || Dup2(fd, 2) == -1 || Close(fd) == -1)
        {
            throw new InvalidOperationException("open or dup2 failed: errno " + Marshal.GetLastPInvokeError());
        }
    }
}
