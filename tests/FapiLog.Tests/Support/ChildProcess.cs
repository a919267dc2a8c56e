using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Runtime.InteropServices;
using System.Threading.Tasks;
using Xunit;

namespace FapiLog.Tests.Support;

/// <summary>Starts FapiLog.TestHost (built beside this test project) as a real process.</summary>
internal static class ChildProcess
{
    public static string HostPath
    {
        get
        {
            // bin/<Configuration>/<tfm>/ of this project mirrors the host's.
            string here = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar);
            string tfm = Path.GetFileName(here);
            string configuration = Path.GetFileName(Path.GetDirectoryName(here)!);
            string tests = Path.GetFullPath(Path.Combine(here, "..", "..", "..", ".."));
            string path = Path.Combine(tests, "FapiLog.TestHost", "bin", configuration, tfm, "FapiLog.TestHost.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException("Build tests/FapiLog.TestHost first.", path);
        }
    }

    public static RunningChild Start(params string[] args) => StartWith(environment: null, args);

    /// <summary>Starts the host with <paramref name="environment"/> added to this process's environment.</summary>
    public static RunningChild StartWith(IReadOnlyDictionary<string, string>? environment, params string[] args)
        => StartWith(environment, redirectInput: false, args);

    /// <summary>As <see cref="StartWith(IReadOnlyDictionary{string, string}?, string[])"/>; with <paramref name="redirectInput"/>, the test writes the host's stdin.</summary>
    public static RunningChild StartWith(IReadOnlyDictionary<string, string>? environment, bool redirectInput, params string[] args)
        => Start(environment, redirectInput, readStandardError: true, args);

    /// <summary>
    /// Starts the host with its stdin redirected and its stderr a pipe that is not read until
    /// <see cref="RunningChild.StartReadingStandardError"/> (a parent that redirects stderr and never reads it).
    /// </summary>
    public static RunningChild StartWithUnreadStandardError(params string[] args)
        => Start(environment: null, redirectInput: true, readStandardError: false, args);

    private static RunningChild Start(IReadOnlyDictionary<string, string>? environment, bool redirectInput, bool readStandardError, string[] args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = redirectInput,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(HostPath);
        foreach (string arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment.Remove("FAPILOG_LOKI_URL");
        foreach ((string name, string value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        return new RunningChild(Process.Start(info)!, readStandardError);
    }

    [DllImport("libc", SetLastError = true, EntryPoint = "kill")]
    private static extern int Kill(int pid, int signal);

    public static void SendSigterm(RunningChild child) => SendSignal(child, 15);

    /// <summary>Sends <paramref name="signal"/> (15 SIGTERM, 2 SIGINT) to <paramref name="child"/>.</summary>
    public static void SendSignal(RunningChild child, int signal)
    {
        if (Kill(child.Id, signal) != 0)
        {
            throw new InvalidOperationException($"kill({signal}) failed: errno " + Marshal.GetLastPInvokeError());
        }
    }
}

/// <summary>
/// A started child process whose every wait is bounded: a child that hangs (the regression a test is there to catch, say)
/// fails the test instead of hanging the run, and is killed, then or when disposed. Both pipes are read from the start,
/// so a child never blocks on a full pipe that the test reads only later.
/// </summary>
internal sealed class RunningChild : IDisposable
{
    /// <summary>How long a child is given to write a line or to exit: far more than any of them needs, even on a loaded machine.</summary>
    public static readonly TimeSpan Bound = TimeSpan.FromMinutes(1);

    private readonly Process _process;
    private readonly BlockingCollection<string> _lines = new();
    private readonly Task _output;
    private Task<string>? _error;

    public RunningChild(Process process, bool readStandardError = true)
    {
        _process = process;
        if (readStandardError)
        {
            StartReadingStandardError();
        }

        _output = Task.Run(async () =>
        {
            try
            {
                while (await process.StandardOutput.ReadLineAsync().ConfigureAwait(false) is { } line)
                {
                    _lines.Add(line);
                }
            }
            catch (Exception ex) when (ex is ObjectDisposedException or IOException && _stdoutClosed)
            {
                // The test closed its end of the pipe (CloseStandardOutput).
            }
            finally
            {
                _lines.CompleteAdding();
            }
        });
    }

    private volatile bool _stdoutClosed;

    public int Id => _process.Id;

    /// <summary>Closes this end of the child's stdout pipe (the reader of <c>app | head -1</c> going away); lines not yet read are lost.</summary>
    public void CloseStandardOutput()
    {
        _stdoutClosed = true;
        _process.StandardOutput.Close();
    }

    /// <summary>Writes <paramref name="line"/> to the child's stdin and closes it (the child was started with its input redirected).</summary>
    public void WriteInputAndClose(string line)
    {
        _process.StandardInput.WriteLine(line);
        _process.StandardInput.Close();
    }

    /// <summary>The exit code; only after <see cref="WaitForExit"/>.</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>The child's next line on stdout; null once stdout has ended. Fails (and kills the child) if none comes in time.</summary>
    public string? ReadLine()
    {
        if (_lines.TryTake(out string? line, Bound))
        {
            return line;
        }

        if (_lines.IsCompleted)
        {
            return null;
        }

        Kill();
        Assert.Fail($"the child process wrote no line on stdout within {Bound.TotalSeconds} s; stderr: {StandardError}");
        return null;
    }

    /// <summary>Waits for the child to exit; fails (and kills it) if it has not within <see cref="Bound"/>.</summary>
    public void WaitForExit()
    {
        if (!_process.WaitForExit(Bound))
        {
            Kill();
            Assert.Fail($"the child process did not exit within {Bound.TotalSeconds} s; stderr: {StandardError}");
        }

        // The parameterless overload also waits for the end of the redirected output.
        _process.WaitForExit();
    }

    /// <summary>What the child wrote to stdout that <see cref="ReadLine"/> has not taken, one "\n" after each line; after <see cref="WaitForExit"/>.</summary>
    public string StandardOutput
    {
        get
        {
            Assert.True(_output.Wait(Bound), "the child's stdout did not end");
            var rest = new System.Text.StringBuilder();
            while (_lines.TryTake(out string? line))
            {
                rest.Append(line).Append('\n');
            }

            return rest.ToString();
        }
    }

    /// <summary>Everything the child wrote to stderr; after <see cref="WaitForExit"/> (or <see cref="Kill"/>).</summary>
    public string StandardError
    {
        get
        {
            Task<string> error = StartReadingStandardError();
            return _errorRead + (error.Wait(Bound) ? error.Result : "(stderr did not end)");
        }
    }

    // Lines ReadStandardErrorUntil took, one "\n" after each: the start of StandardError.
    private readonly System.Text.StringBuilder _errorRead = new();

    /// <summary>
    /// Reads stderr, which nobody has read yet (see <see cref="ChildProcess.StartWithUnreadStandardError"/>), line by line
    /// until one that <paramref name="last"/> accepts; those lines are the start of <see cref="StandardError"/>. Fails
    /// (and kills the child) if no such line comes in time.
    /// </summary>
    public void ReadStandardErrorUntil(Func<string, bool> last)
    {
        Assert.True(_error is null, "stderr is already being read to its end");
        while (true)
        {
            Task<string?> next = _process.StandardError.ReadLineAsync();
            if (!next.Wait(Bound))
            {
                Kill();
                Assert.Fail($"the child process wrote no line on stderr within {Bound.TotalSeconds} s");
            }

            if (next.Result is not { } line)
            {
                Assert.Fail("stderr ended before the line looked for: " + _errorRead);
                return;
            }

            _errorRead.Append(line).Append('\n');
            if (last(line))
            {
                return;
            }
        }
    }

    /// <summary>Starts reading stderr to its end, if that has not begun (see <see cref="ChildProcess.StartWithUnreadStandardError"/>).</summary>
    public Task<string> StartReadingStandardError() => _error ??= _process.StandardError.ReadToEndAsync();

    /// <summary>Kills the child and whatever it started, and waits (bounded) for it to be gone.</summary>
    public void Kill()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // It exited meanwhile.
        }

        _process.WaitForExit(Bound);
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            Kill();
        }

        // The line collection is left to the collector: the pump may still be adding the last lines of a killed child.
        _process.Dispose();
    }
}
