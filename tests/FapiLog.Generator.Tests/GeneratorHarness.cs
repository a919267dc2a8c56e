using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Diagnostics.CodeAnalysis;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;

namespace FapiLog.Generator.Tests;

/// <summary>Runs the generator over in-memory sources, the way the compiler would, and compiles the result.</summary>
internal static class GeneratorHarness
{
    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest);

    private static readonly Lazy<ImmutableArray<MetadataReference>> s_references = new(LoadReferences);

    /// <summary>The test host's own assemblies: the framework, the FapiLog runtime and Microsoft.Extensions.Logging.Abstractions.</summary>
    public static ImmutableArray<MetadataReference> References => s_references.Value;

    public static CSharpCompilation CreateCompilation(params string[] sources)
        => CreateCompilation(sources.Select((s, i) => CSharpSyntaxTree.ParseText(s, ParseOptions, path: $"/src/File{i}.cs")));

    public static CSharpCompilation CreateCompilation(IEnumerable<SyntaxTree> trees)
        => CSharpCompilation.Create(
            "Consumer",
            trees,
            References,
            // Every warning wave on, as a project for a current target framework has them (CS8981 is in wave 7).
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable, warningLevel: 9999));

    public static GeneratorDriver CreateDriver(bool? shutdownHook = null, bool trackSteps = true, CSharpParseOptions? parseOptions = null)
    {
        var options = new Dictionary<string, string>();
        if (shutdownHook is { } hook)
        {
            options["build_property.FapiLogShutdownHook"] = hook ? "true" : "false";
        }

        return CSharpGeneratorDriver.Create(
            new[] { new FapiLogGenerator().AsSourceGenerator() },
            parseOptions: parseOptions ?? ParseOptions,
            optionsProvider: new TestOptionsProvider(options),
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: trackSteps));
    }

    /// <summary>Runs the generator once; returns what it produced and the compilation that includes it.</summary>
    public static GeneratorRun Run(string source, bool? shutdownHook = null)
    {
        CSharpCompilation compilation = CreateCompilation(source);
        GeneratorDriver driver = CreateDriver(shutdownHook).RunGeneratorsAndUpdateCompilation(compilation, out Compilation output, out _);
        return new GeneratorRun(driver.GetRunResult(), output);
    }

    /// <summary>
    /// Runs the generator once over sources compiled as a consumer with other settings would compile them: an older language
    /// version, nullable annotations off, or unsafe code allowed.
    /// </summary>
    public static GeneratorRun Run(
        IEnumerable<string> sources,
        LanguageVersion languageVersion,
        NullableContextOptions nullable = NullableContextOptions.Enable,
        bool allowUnsafe = false)
    {
        CSharpParseOptions parseOptions = ParseOptions.WithLanguageVersion(languageVersion);
        CSharpCompilation compilation = CreateCompilation(sources.Select((s, i) => CSharpSyntaxTree.ParseText(s, parseOptions, path: $"/src/File{i}.cs")));
        compilation = compilation.WithOptions(compilation.Options.WithNullableContextOptions(nullable).WithAllowUnsafe(allowUnsafe));
        GeneratorDriver driver = CreateDriver(parseOptions: parseOptions).RunGeneratorsAndUpdateCompilation(compilation, out Compilation output, out _);
        return new GeneratorRun(driver.GetRunResult(), output);
    }

    private static ImmutableArray<MetadataReference> LoadReferences()
    {
        string tpa = (string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!;
        return tpa.Split(Path.PathSeparator)
            .Where(p => p.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .ToImmutableArray();
    }

    private sealed class TestOptionsProvider(Dictionary<string, string> global) : AnalyzerConfigOptionsProvider
    {
        public override AnalyzerConfigOptions GlobalOptions { get; } = new TestOptions(global);

        public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => TestOptions.Empty;

        public override AnalyzerConfigOptions GetOptions(AdditionalText textFile) => TestOptions.Empty;
    }

    private sealed class TestOptions(Dictionary<string, string> values) : AnalyzerConfigOptions
    {
        public static readonly TestOptions Empty = new(new Dictionary<string, string>());

        public override bool TryGetValue(string key, [NotNullWhen(true)] out string? value) => values.TryGetValue(key, out value);
    }
}

/// <summary>One generator run: the driver's result and the compilation with the generated sources added.</summary>
internal sealed record GeneratorRun(GeneratorDriverRunResult Result, Compilation Output)
{
    public ImmutableArray<Diagnostic> GeneratorDiagnostics => Result.Diagnostics;

    /// <summary>Errors and warnings of the compilation that includes the generated code.</summary>
    public IReadOnlyList<Diagnostic> CompilationProblems
        => Output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();

    /// <summary>The generated files in a stable order, concatenated with their names, for snapshots.</summary>
    public string GeneratedText
        => string.Join(
            "\n",
            Result.GeneratedTrees
                .OrderBy(t => t.FilePath, StringComparer.Ordinal)
                .Select(t => "//// " + Path.GetFileName(t.FilePath) + "\n" + t.GetText()));
}
