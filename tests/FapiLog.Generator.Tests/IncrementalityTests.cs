using System;
using System.Collections;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Reflection;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;

namespace FapiLog.Generator.Tests;

/// <summary>
/// The generator must stay cheap in the IDE: an edit that does not touch a log method re-runs no emit step, every named
/// stage reports its outputs as Cached or Unchanged, and no compiler object is kept alive by the cached models.
/// </summary>
public sealed class IncrementalityTests
{
    private static readonly string[] s_ourSteps = typeof(FapiLogGenerator.StepNames)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (string)f.GetValue(null)!)
        .ToArray();

    private const string LogSource = """
        using System;
        using FapiLog;
        using Microsoft.Extensions.Logging;

        namespace Shop;

        public enum Tier { Free, Gold }

        public static partial class Log
        {
            [FapiLog(LogLevel.Information, "Order {OrderId} placed by {Customer} for {Amount}", EventId = 1)]
            public static partial void OrderPlaced(long orderId, string customer, decimal amount, Exception? error);

            [FapiLog(LogLevel.Warning, "Customer {Customer} is {Tier}", EventId = 2)]
            public static partial void Tiered(Uri customer, Tier? tier);
        }

        public partial class Worker<T>
        {
            [FapiLog(LogLevel.Debug, "Item {Item}")]
            private partial void Processed(T item);

            // Another attribute on an event's accessors: the event stage looks at it and finds nothing to report.
            [method: System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
            public event EventHandler? Changed;
        }
        """;

    private const string UnrelatedSource = """
        namespace Shop;

        // A comment that the edit changes.
        public static class Unrelated
        {
            public static int Twice(int x) => x * 2;
        }
        """;

    [Fact]
    public void Every_pipeline_stage_is_named()
    {
        GeneratorRunResult result = RunTwice(LogSource, c => c).Second;
        foreach (string step in s_ourSteps)
        {
            Assert.True(result.TrackedSteps.ContainsKey(step), $"Step '{step}' was not tracked.");
        }
    }

    [Theory]
    [InlineData("add an unrelated file")]
    [InlineData("change a comment in another file")]
    [InlineData("change a method body in another file")]
    public void Unrelated_edit_leaves_every_stage_cached_or_unchanged(string edit)
    {
        GeneratorRunResult second = RunTwice(LogSource, c => Edit(c, edit)).Second;

        foreach (string step in s_ourSteps)
        {
            foreach (IncrementalGeneratorRunStep run in second.TrackedSteps[step])
            {
                foreach ((object _, IncrementalStepRunReason reason) in run.Outputs)
                {
                    Assert.True(
                        reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged,
                        $"Step '{step}' output was {reason} after '{edit}'.");
                }
            }
        }

        AssertNoSourceOutputRan(second);
    }

    [Fact]
    public void Moving_the_log_methods_re_emits_nothing()
    {
        // Positions shift and nothing else. The parse result changes (diagnostic locations must stay exact), but the
        // method models hold no locations, so they compare equal and no file is re-emitted.
        GeneratorRunResult second = RunTwice(LogSource, c => Edit(c, "move the log methods down a line")).Second;

        foreach (string step in new[] { FapiLogGenerator.StepNames.Methods, FapiLogGenerator.StepNames.AllMethods, FapiLogGenerator.StepNames.Types })
        {
            Assert.All(
                second.TrackedSteps[step].SelectMany(s => s.Outputs),
                o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{step}: {o.Reason}"));
        }

        AssertNoSourceOutputRan(second);
    }

    [Fact]
    public void Models_hold_no_compiler_objects()
    {
        // Include invalid methods too, so that diagnostics (and their locations) are in the models.
        string source = LogSource + """

            public static partial class Broken
            {
                [FapiLog(LogLevel.Information, "{Missing}", EventId = 3)]
                public static partial void Bad(int present);

                [FapiLog(LogLevel.Information, "dup", EventId = 3)]
                public static partial void Dup();

                [method: FapiLog(LogLevel.Information, "event")]
                public static event EventHandler? Changed;
            }
            """;
        GeneratorRunResult first = RunTwice(source, c => c).First;
        int walked = 0;
        foreach (string step in s_ourSteps)
        {
            foreach (IncrementalGeneratorRunStep run in first.TrackedSteps[step])
            {
                foreach ((object value, IncrementalStepRunReason _) in run.Outputs)
                {
                    AssertNoCompilerObjects(value, step);
                    walked++;
                }
            }
        }

        Assert.True(walked > 5, "The walk must have visited the models.");
        Assert.Contains(first.Diagnostics, d => d.Id == "FAPI006");
        Assert.Contains(first.Diagnostics, d => d.Id == "FAPI011");
        Assert.Contains(first.Diagnostics, d => d.Id == "FAPI018");
    }

    [Fact]
    public void Walker_detects_a_compiler_object()
    {
        // The walker itself must be able to fail: a model that smuggles a Location in is caught.
        Location location = Location.Create("x.cs", default, default);
        Assert.ThrowsAny<Exception>(() => AssertNoCompilerObjects(new { Inner = new object[] { 1, location } }, "test"));
    }

    [Fact]
    public void Thousand_methods_unrelated_edit_reruns_no_emit_step()
    {
        string source = ThousandMethods();
        (GeneratorDriver driver, CSharpCompilation compilation) = Start(source);

        CSharpCompilation edited = Edit(compilation, "change a comment in another file");
        GeneratorRunResult second = driver.RunGenerators(edited).GetRunResult().Results[0];

        Assert.Equal(100, second.GeneratedSources.Length - 1); // 100 types + the module initializer
        AssertNoSourceOutputRan(second);
    }

    [Fact]
    public void Thousand_methods_editing_one_method_reruns_only_its_type()
    {
        // The positive control for the test above: a real edit re-emits exactly one file.
        string source = ThousandMethods();
        (GeneratorDriver driver, CSharpCompilation compilation) = Start(source);
        SyntaxTree logs = compilation.SyntaxTrees.First();
        string edited = logs.ToString().Replace("\"Type 42 method 7 {Value}\"", "\"Type 42 method 7 changed {Value}\"", StringComparison.Ordinal);
        Assert.NotEqual(logs.ToString(), edited);
        CSharpCompilation next = compilation.ReplaceSyntaxTree(logs, CSharpSyntaxTree.ParseText(edited, GeneratorHarness.ParseOptions, logs.FilePath));

        GeneratorRunResult second = driver.RunGenerators(next).GetRunResult().Results[0];
        List<IncrementalStepRunReason> ran = second.TrackedOutputSteps["SourceOutput"]
            .SelectMany(s => s.Outputs)
            .Select(o => o.Reason)
            .Where(r => r != IncrementalStepRunReason.Cached)
            .ToList();
        Assert.Equal(new[] { IncrementalStepRunReason.Modified }, ran);
    }

    [Fact]
    public void Thousand_methods_adding_a_log_type_in_a_new_file_emits_only_that_file()
    {
        // The positive control for a new type: the other types' outputs are compared with what they were and stay cached.
        // (An insertion in the middle of the compilation order would shift them: the fan-out after Collect is compared by
        // position, which is how Roslyn compares any SelectMany output.)
        (GeneratorDriver driver, CSharpCompilation compilation) = Start(ThousandMethods());
        CSharpCompilation next = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText(
            "using FapiLog;\nusing Microsoft.Extensions.Logging;\nnamespace Big;\npublic static partial class Added\n{\n"
            + "    [FapiLog(LogLevel.Information, \"new {Value}\")]\n    public static partial void M(int value);\n}\n",
            GeneratorHarness.ParseOptions,
            "/src/Added.cs"));

        GeneratorRunResult second = driver.RunGenerators(next).GetRunResult().Results[0];
        Assert.Equal(101, second.GeneratedSources.Length - 1);
        List<IncrementalStepRunReason> ran = second.TrackedOutputSteps["SourceOutput"]
            .SelectMany(s => s.Outputs)
            .Select(o => o.Reason)
            .Where(r => r != IncrementalStepRunReason.Cached)
            .ToList();
        // New: the new type's file and the new method's (empty) diagnostics; nothing that was there before ran again.
        Assert.Equal(new[] { IncrementalStepRunReason.New, IncrementalStepRunReason.New }, ran);
    }

    private static (GeneratorRunResult First, GeneratorRunResult Second) RunTwice(string source, Func<CSharpCompilation, CSharpCompilation> edit)
    {
        (GeneratorDriver driver, CSharpCompilation compilation) = Start(source);
        GeneratorRunResult first = driver.GetRunResult().Results[0];
        GeneratorRunResult second = driver.RunGenerators(edit(compilation)).GetRunResult().Results[0];
        return (first, second);
    }

    private static (GeneratorDriver Driver, CSharpCompilation Compilation) Start(string source)
    {
        CSharpCompilation compilation = GeneratorHarness.CreateCompilation(source, UnrelatedSource);
        GeneratorDriver driver = GeneratorHarness.CreateDriver().RunGenerators(compilation);
        return (driver, compilation);
    }

    private static CSharpCompilation Edit(CSharpCompilation compilation, string edit)
    {
        SyntaxTree unrelated = compilation.SyntaxTrees.Single(t => t.ToString().Contains("class Unrelated", StringComparison.Ordinal));
        string text = unrelated.ToString();
        SyntaxTree logs = compilation.SyntaxTrees.First();
        return edit switch
        {
            // Positions shift, nothing else: the models hold no locations, so nothing is re-emitted.
            "move the log methods down a line" => Replace(compilation, logs, "// A new first line.\n" + logs.ToString()),
            "add an unrelated file" => compilation.AddSyntaxTrees(
                CSharpSyntaxTree.ParseText("namespace Shop; public static class Added { }", GeneratorHarness.ParseOptions, "/src/Added.cs")),
            "change a comment in another file" => Replace(compilation, unrelated, text.Replace("A comment", "An edited comment", StringComparison.Ordinal)),
            "change a method body in another file" => Replace(compilation, unrelated, text.Replace("x * 2", "x + x", StringComparison.Ordinal)),
            _ => throw new ArgumentOutOfRangeException(nameof(edit)),
        };
    }

    private static CSharpCompilation Replace(CSharpCompilation compilation, SyntaxTree tree, string text)
    {
        Assert.NotEqual(tree.ToString(), text);
        return compilation.ReplaceSyntaxTree(tree, CSharpSyntaxTree.ParseText(text, GeneratorHarness.ParseOptions, tree.FilePath));
    }

    private static void AssertNoSourceOutputRan(GeneratorRunResult result)
    {
        foreach (IncrementalGeneratorRunStep step in result.TrackedOutputSteps["SourceOutput"])
        {
            foreach ((object _, IncrementalStepRunReason reason) in step.Outputs)
            {
                Assert.Equal(IncrementalStepRunReason.Cached, reason);
            }
        }
    }

    private static string ThousandMethods()
    {
        var builder = new StringBuilder("using FapiLog;\nusing Microsoft.Extensions.Logging;\nnamespace Big;\n");
        for (int t = 0; t < 100; t++)
        {
            builder.Append("public static partial class Log").Append(t).Append("\n{\n");
            for (int m = 0; m < 10; m++)
            {
                builder.Append("    [FapiLog(LogLevel.Information, \"Type ").Append(t).Append(" method ").Append(m)
                    .Append(" {Value}\", EventId = ").Append(m + 1).Append(")]\n")
                    .Append("    public static partial void M").Append(m).Append("(int value, string other);\n");
            }

            builder.Append("}\n");
        }

        return builder.ToString();
    }

    private static readonly Type[] s_forbidden =
    {
        typeof(ISymbol), typeof(SyntaxNode), typeof(SyntaxTree), typeof(Compilation), typeof(SemanticModel), typeof(Location),
    };

    private static void AssertNoCompilerObjects(object? root, string step)
    {
        var visited = new HashSet<object>(ReferenceEqualityComparer.Instance);
        var pending = new Stack<(object Value, string Path)>();
        if (root is not null)
        {
            pending.Push((root, step));
        }

        while (pending.Count > 0)
        {
            (object value, string path) = pending.Pop();
            Type type = value.GetType();
            if (type.IsPrimitive || type.IsEnum || value is string || value is decimal || !visited.Add(value))
            {
                continue;
            }

            Type? bad = s_forbidden.FirstOrDefault(f => f.IsInstanceOfType(value));
            Assert.True(bad is null, $"{path} holds a {bad?.Name} ({type.FullName}).");

            if (value is IEnumerable sequence && value is not string)
            {
                int i = 0;
                foreach (object? item in sequence)
                {
                    if (item is not null)
                    {
                        pending.Push((item, $"{path}[{i++}]"));
                    }
                }
            }

            for (Type? t = type; t is not null && t != typeof(object); t = t.BaseType)
            {
                foreach (FieldInfo field in t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
                {
                    if (field.GetValue(value) is { } child)
                    {
                        pending.Push((child, path + "." + field.Name));
                    }
                }
            }
        }
    }
}
