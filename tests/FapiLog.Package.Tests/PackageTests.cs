using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Xunit;
using Xunit.Abstractions;

namespace FapiLog.Package.Tests;

/// <summary>
/// Packs FapiLog.Gen into a local folder, then restores, builds (warnings as errors) and runs a consumer whose only
/// link to this repository is a PackageReference, and checks what it logged.
/// </summary>
public sealed class PackageTests : IDisposable
{
    private readonly ITestOutputHelper _output;
    private readonly string _work = Path.Combine(Path.GetTempPath(), "fapilog-package-" + Guid.NewGuid().ToString("N"));
    private string? _version;

    public PackageTests(ITestOutputHelper output)
    {
        _output = output;
        Directory.CreateDirectory(_work);
    }

    public void Dispose()
    {
        TryDelete(_work);
        // The consumer's restore extracted this run's one-off version into the machine's package cache; take it out again,
        // so that test runs do not pile up versions there.
        if (_version is not null)
        {
            string cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } configured
                ? configured
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            foreach (string id in new[] { "fapilog.gen", "fapilog.gen.hosting" })
            {
                TryDelete(Path.Combine(cache, id, _version));
            }
        }
    }

    private static void TryDelete(string directory)
    {
        try
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static string RepositoryRoot
    {
        get
        {
            string? dir = AppContext.BaseDirectory;
            while (dir is not null && !File.Exists(Path.Combine(dir, "FapiLog.Gen.sln")))
            {
                dir = Path.GetDirectoryName(dir);
            }

            return dir ?? throw new InvalidOperationException("FapiLog.Gen.sln not found above " + AppContext.BaseDirectory);
        }
    }

    private static string Configuration => Path.GetFileName(Path.GetDirectoryName(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)))!;

    private string Run(string workingDirectory, params string[] args) => RunProgram("dotnet", "consumer.jsonl", workingDirectory, args);

    private string RunProgram(string program, string logFile, string workingDirectory, params string[] args)
    {
        var info = new ProcessStartInfo(program)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        // The consumer must not see this repository's build settings or a Loki URL from the environment.
        info.Environment.Remove("FAPILOG_LOKI_URL");
        info.Environment["FAPILOG_FILE"] = Path.Combine(_work, logFile);
        info.Environment["FAPILOG_CONSOLE"] = "false";
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        using Process p = Process.Start(info)!;
        var stdout = new StringBuilder();
        // The two handlers run on two threads: unsynchronized, the builder lost lines and could throw on them, which ends
        // the test host.
        p.OutputDataReceived += (_, e) => { lock (stdout) { stdout.AppendLine(e.Data); } };
        p.ErrorDataReceived += (_, e) => { lock (stdout) { stdout.AppendLine(e.Data); } };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        // Only a bound for a hang: a native AOT publish on a loaded 2-core machine takes minutes.
        if (!p.WaitForExit(TimeSpan.FromMinutes(10)))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit(TimeSpan.FromMinutes(1));
            Assert.Fail($"{program} {string.Join(' ', args)} did not finish within 10 minutes:\n{Collected(stdout)}");
        }

        p.WaitForExit();
        string text = Collected(stdout);
        _output.WriteLine(program + " " + string.Join(' ', args) + " -> " + p.ExitCode);
        _output.WriteLine(text);
        Assert.True(p.ExitCode == 0, $"{program} {string.Join(' ', args)} failed ({p.ExitCode}):\n{text}");
        return text;
    }

    private static string Collected(StringBuilder output)
    {
        lock (output)
        {
            return output.ToString();
        }
    }

    [Fact]
    public void The_packed_packages_give_a_consumer_the_runtime_the_generator_and_the_host_integration()
    {
        string feed = Path.Combine(_work, "feed");
        // A version no earlier run used, so that the machine's package cache cannot serve a stale copy.
        string version = _version = "0.1.0-pkgtest." + DateTime.UtcNow.ToString("yyyyMMddHHmmss") + "." + Environment.ProcessId;
        foreach (string project in new[] { Path.Combine("src", "Runtime", "FapiLog.csproj"), Path.Combine("src", "Hosting", "FapiLog.Hosting.csproj") })
        {
            Run(RepositoryRoot, "pack", project, "-c", Configuration, "--no-build", "-o", feed, "-p:Version=" + version);
        }

        string hostingPackage = Path.Combine(feed, $"FapiLog.Gen.Hosting.{version}.nupkg");
        Assert.True(File.Exists(hostingPackage));
        using (var zip = System.IO.Compression.ZipFile.OpenRead(hostingPackage))
        {
            // The hosting package calls the runtime's internals: it must take exactly the runtime it was packed with, or a
            // consumer gets a MissingMethodException at start.
            using var nuspec = new StreamReader(zip.GetEntry("FapiLog.Gen.Hosting.nuspec")!.Open());
            Assert.Contains($"<dependency id=\"FapiLog.Gen\" version=\"[{version}]\"", nuspec.ReadToEnd());
        }

        string nupkg = Path.Combine(feed, $"FapiLog.Gen.{version}.nupkg");
        Assert.True(File.Exists(nupkg));
        using (var zip = System.IO.Compression.ZipFile.OpenRead(nupkg))
        {
            string[] entries = zip.Entries.Select(e => e.FullName).ToArray();
            Assert.Contains("lib/net8.0/FapiLog.dll", entries);
            Assert.Contains("analyzers/dotnet/cs/FapiLog.Generator.dll", entries);
            Assert.Contains("buildTransitive/FapiLog.Gen.props", entries);
            Assert.Contains("README.md", entries);
            Assert.Contains("LICENSE", entries);
            // An SPDX expression, which license scanners and nuget.org read; a license file they cannot.
            using var nuspec = new StreamReader(zip.GetEntry("FapiLog.Gen.nuspec")!.Open());
            Assert.Contains("<license type=\"expression\">MIT</license>", nuspec.ReadToEnd());
        }

        string consumer = Path.Combine(_work, "consumer");
        Directory.CreateDirectory(consumer);
        string templates = Path.Combine(AppContext.BaseDirectory, "Consumer");
        File.WriteAllText(Path.Combine(consumer, "Consumer.csproj"),
            File.ReadAllText(Path.Combine(templates, "Consumer.csproj.template")).Replace("@VERSION@", version));
        File.Copy(Path.Combine(templates, "Program.cs.template"), Path.Combine(consumer, "Program.cs"));
        File.WriteAllText(Path.Combine(consumer, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{feed}" />
                <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
              </packageSources>
            </configuration>
            """);
        // Stop MSBuild from walking up into a Directory.Build.props of whatever folder holds the temp directory.
        File.WriteAllText(Path.Combine(consumer, "Directory.Build.props"), "<Project />");
        File.WriteAllText(Path.Combine(consumer, "Directory.Build.targets"), "<Project />");
        File.WriteAllText(Path.Combine(consumer, "Directory.Packages.props"), "<Project />");

        string generated = Path.Combine(_work, "generated");
        Run(consumer, "build", "-c", "Release", "-p:EmitCompilerGeneratedFiles=true", "-p:CompilerGeneratedFilesOutputPath=" + generated);
        Assert.Single(Directory.GetFiles(generated, "FapiLog.ModuleInitializer.g.cs", SearchOption.AllDirectories));
        Run(consumer, "run", "-c", "Release", "--no-build");

        JsonElement[] events = ReadEvents("consumer.jsonl");
        JsonElement order = events.Single(e => e.GetProperty("event").GetString() == "OrderPlaced");
        Assert.Equal("Order 42 placed by alice for 99.50", order.GetProperty("message").GetString());
        Assert.Equal("99.50", order.GetProperty("Amount").GetRawText());
        JsonElement failure = events.Single(e => e.GetProperty("event").GetString() == "PaymentFailed");
        Assert.Equal("error", failure.GetProperty("level").GetString());
        Assert.Equal(7, failure.GetProperty("event_id").GetInt32());
        JsonElement bridged = events.Single(e => e.GetProperty("message").GetString() == "Bridged 3 items via Ups");
        Assert.Equal(3, bridged.GetProperty("Count").GetInt32());
        Assert.Equal("Ups", bridged.GetProperty("Carrier").GetString());
        Assert.Equal("Shop", bridged.GetProperty("category").GetString());
        Assert.Equal("card declined", failure.GetProperty("exception").GetProperty("message").GetString());

        // Native AOT: both packages claim IsAotCompatible. Published with the consumer's warnings as errors, so a trimming
        // or AOT warning from them fails here; the native program must log what the JIT-compiled one logged.
        string native = Path.Combine(_work, "native");
        Run(consumer, "publish", "-c", "Release", "-r", RuntimeInformation.RuntimeIdentifier, "-p:PublishAot=true", "-o", native);
        RunProgram(Path.Combine(native, "Consumer"), "native.jsonl", consumer);
        Assert.Equal(events.Select(Comparable), ReadEvents("native.jsonl").Select(Comparable));

        // FapiLogShutdownHook=false reaches the generator through the package's buildTransitive props: the log methods are
        // generated, the module initializer is not.
        string withoutHook = Path.Combine(_work, "generated-without-hook");
        Run(consumer, "build", "-c", "Release", "-p:FapiLogShutdownHook=false", "-p:EmitCompilerGeneratedFiles=true", "-p:CompilerGeneratedFilesOutputPath=" + withoutHook);
        string[] files = Directory.GetFiles(withoutHook, "*.g.cs", SearchOption.AllDirectories);
        Assert.NotEmpty(files);
        Assert.DoesNotContain(files, f => Path.GetFileName(f) == "FapiLog.ModuleInitializer.g.cs");
    }

    private JsonElement[] ReadEvents(string file) => File.ReadAllLines(Path.Combine(_work, file))
        .Select(l => JsonDocument.Parse(l).RootElement).ToArray();

    /// <summary>An event without what differs from run to run: its time, and of an exception, the stack trace.</summary>
    private static string Comparable(JsonElement e) => string.Join("|", e.EnumerateObject()
        .Where(p => p.Name != "timestamp")
        .Select(p => p.Name + "=" + (p.Name == "exception"
            ? p.Value.GetProperty("type").GetString() + ": " + p.Value.GetProperty("message").GetString()
            : p.Value.GetRawText())));
}
