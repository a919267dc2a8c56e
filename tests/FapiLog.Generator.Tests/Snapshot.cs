using System.IO;
using System.Runtime.CompilerServices;
using ApprovalTests;
using ApprovalTests.Core;
using ApprovalTests.Reporters;
using ApprovalTests.Writers;

namespace FapiLog.Generator.Tests;

/// <summary>
/// ApprovalTests with an explicit namer: the approved file lives in <c>Snapshots/</c> beside the calling test's source file,
/// found through <see cref="CallerFilePathAttribute"/> (which holds the source path at compile time, so it works from
/// <c>bin/</c>). The reporter is quiet: a missing or different approved file fails the test everywhere (CI included) and
/// leaves a <c>.received.cs</c> file to review and rename; nothing is ever approved automatically.
/// </summary>
internal static class Snapshot
{
    public static void Verify(string text, [CallerFilePath] string sourceFile = "", [CallerMemberName] string test = "")
    {
        var namer = new SnapshotNamer(
            Path.Combine(SourceDirectory(sourceFile), "Snapshots"),
            Path.GetFileNameWithoutExtension(sourceFile) + "." + test);
        Approvals.Verify(WriterFactory.CreateTextWriter(text, "cs"), namer, new QuietReporter());
    }

    /// <summary>
    /// The directory of the calling source file. A build with mapped source paths (ContinuousIntegrationBuild, PathMap)
    /// records "/_/..." instead of a real path; then the test project's directory is found from the test assembly's.
    /// </summary>
    private static string SourceDirectory(string sourceFile)
    {
        string? directory = Path.GetDirectoryName(sourceFile);
        if (directory is not null && Directory.Exists(directory))
        {
            return directory;
        }

        for (string? d = System.AppContext.BaseDirectory; d is not null; d = Path.GetDirectoryName(d))
        {
            if (File.Exists(Path.Combine(d, "FapiLog.Generator.Tests.csproj")))
            {
                return d;
            }
        }

        throw new DirectoryNotFoundException($"Cannot find the snapshot directory for '{sourceFile}'.");
    }

    private sealed class SnapshotNamer(string sourcePath, string name) : IApprovalNamer
    {
        public string SourcePath { get; } = sourcePath;

        public string Name { get; } = name;
    }
}
