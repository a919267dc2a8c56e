using System;
using System.IO;
using System.IO.Pipes;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using FapiLog.Sinks;
using Microsoft.Win32.SafeHandles;
using Xunit;

namespace FapiLog.Tests;

/// <summary>The console sink's stdout when it is a pipe (the broken-pipe case runs in a child process: ProcessTests).</summary>
public sealed class ConsolePipeOutputTests
{
    [DllImport("libc", SetLastError = true, EntryPoint = "fcntl")]
    private static extern int Fcntl(int fd, int command, int argument);

    private const int GetFlags = 3;
    private const int SetFlags = 4;
    private const int NonBlocking = 0x800; // O_NONBLOCK on Linux

    [Fact]
    public void A_full_non_blocking_pipe_hands_the_rest_to_a_stream_that_waits_without_losing_or_repeating_a_byte()
    {
        // Another process may leave a shared stdout non-blocking: a full pipe then fails a write with EAGAIN, which
        // .NET's console stream waits out and a plain file stream does not.
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        using var server = new AnonymousPipeServerStream(PipeDirection.In, HandleInheritability.None);
        int fd = (int)server.ClientSafePipeHandle.DangerousGetHandle();
        int flags = Fcntl(fd, GetFlags, 0);
        Assert.NotEqual(-1, flags);
        Assert.NotEqual(-1, Fcntl(fd, SetFlags, flags | NonBlocking));
        var waiting = new MemoryStream();
        // Far more than a pipe holds (64 KiB), and not repeating at any piece size, so that a piece written twice shows.
        byte[] data = Enumerable.Range(0, 300_000).Select(i => (byte)((i * 7) + (i / 251))).ToArray();
        using (var pipe = new FileStream(new SafeFileHandle(fd, ownsHandle: false), FileAccess.Write, bufferSize: 0))
        {
            using var output = new ConsoleSink.PipeOutput(pipe, () => waiting);
            output.Write(data, 0, 1000);
            output.Write(data, 1000, data.Length - 1000);
        }

        server.DisposeLocalCopyOfClientHandle();
        var read = new MemoryStream();
        server.CopyTo(read);

        Assert.InRange(read.Length, 1000, data.Length - 1);
        Assert.Equal(data, read.ToArray().Concat(waiting.ToArray()));
    }

    [Fact]
    public void A_full_non_blocking_socket_hands_the_rest_to_a_stream_that_waits_without_losing_or_repeating_a_byte()
    {
        // A stream socket, unlike a pipe, may take part of a piece before it refuses the rest with EAGAIN: FileStream kept
        // writing until it failed and did not say how much the socket had taken, so that part was written again.
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        using var listener = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        listener.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        listener.Listen(1);
        using var client = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        client.SendBufferSize = 4608;
        client.Connect(listener.LocalEndPoint!);
        using System.Net.Sockets.Socket server = listener.Accept();
        server.ReceiveBufferSize = 4608;
        client.Blocking = false;

        var waiting = new MemoryStream();
        byte[] data = Enumerable.Range(0, 2_000_000).Select(i => (byte)((i * 7) + (i / 251))).ToArray();
        using (var socket = new FileStream(new SafeFileHandle(client.Handle, ownsHandle: false), FileAccess.Write, bufferSize: 0))
        {
            using var output = new ConsoleSink.PipeOutput(socket, () => waiting);
            output.Write(data, 0, data.Length);
        }

        client.Blocking = true;
        client.Shutdown(System.Net.Sockets.SocketShutdown.Send);
        var read = new MemoryStream();
        byte[] buffer = new byte[65536];
        int n;
        while ((n = server.Receive(buffer)) > 0)
        {
            read.Write(buffer, 0, n);
        }

        Assert.True(waiting.Length > 0, "the socket never refused a piece: the test did not reach the case");
        Assert.Equal(data.Length, read.Length + waiting.Length);
        Assert.Equal(data, read.ToArray().Concat(waiting.ToArray()));
    }

    [Fact]
    public void A_batch_is_written_under_Console_Out_s_lock_as_the_console_stream_writes_it()
    {
        // .NET's console stream writes under Console.Out's lock, so an application's Console.WriteLine never lands inside
        // a batch the sink writes; the pipe stream must keep that, or a line written meanwhile goes in between its pieces,
        // in the middle of an event's line.
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        using var server = new AnonymousPipeServerStream(PipeDirection.In, HandleInheritability.None);
        byte[] batch = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat(new string('x', 96) + "\n", 10_000)));
        bool? consoleFree = null;
        var read = new MemoryStream();
        Task reader = Task.Factory.StartNew(() =>
        {
            byte[] buffer = new byte[512];
            int n;
            while ((n = server.Read(buffer, 0, buffer.Length)) > 0)
            {
                if (consoleFree is null)
                {
                    // The pipe holds far less than the batch: having read only this much, the writer is still writing it.
                    consoleFree = Monitor.TryEnter(Console.Out);
                    if (consoleFree == true)
                    {
                        Monitor.Exit(Console.Out);
                    }
                }

                read.Write(buffer, 0, n);
            }
        }, TaskCreationOptions.LongRunning);

        var handle = new SafeFileHandle(server.ClientSafePipeHandle.DangerousGetHandle(), ownsHandle: false);
        using (var pipe = new FileStream(handle, FileAccess.Write, bufferSize: 0))
        {
            using var output = new ConsoleSink.PipeOutput(pipe, () => throw new InvalidOperationException("the pipe is blocking"));
            output.Write(batch);
        }

        server.DisposeLocalCopyOfClientHandle();
        Assert.True(reader.Wait(TimeSpan.FromSeconds(30)), "the reader did not reach the end of the pipe");
        Assert.Equal(batch, read.ToArray());
        Assert.False(consoleFree, "Console.Out's lock was free while the batch was being written");
    }
}
