using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Runtime.InteropServices;

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

    public static Process Start(params string[] args) => StartWith(environment: null, args);

    /// <summary>Starts the host with <paramref name="environment"/> added to this process's environment.</summary>
    public static Process StartWith(IReadOnlyDictionary<string, string>? environment, params string[] args)
        => StartWith(environment, redirectInput: false, args);

    /// <summary>As <see cref="StartWith(IReadOnlyDictionary{string, string}?, string[])"/>; with <paramref name="redirectInput"/>, the test writes the host's stdin.</summary>
    public static Process StartWith(IReadOnlyDictionary<string, string>? environment, bool redirectInput, params string[] args)
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

        return Process.Start(info)!;
    }

    [DllImport("libc", SetLastError = true, EntryPoint = "kill")]
    private static extern int Kill(int pid, int signal);

    public static void SendSigterm(Process process) => SendSignal(process, 15);

    /// <summary>Sends <paramref name="signal"/> (15 SIGTERM, 2 SIGINT) to <paramref name="process"/>.</summary>
    public static void SendSignal(Process process, int signal)
    {
        if (Kill(process.Id, signal) != 0)
        {
            throw new InvalidOperationException($"kill({signal}) failed: errno " + Marshal.GetLastPInvokeError());
        }
    }
}
