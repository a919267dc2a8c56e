using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Text;
using Xunit;

namespace FapiLog.Generator.Tests;

/// <summary>
/// One test per diagnostic: the id, and the exact span it is reported at, marked in the source with <c>[|</c> and <c>|]</c>.
/// </summary>
public sealed class DiagnosticTests
{
    private const string Usings = "using System;\nusing FapiLog;\nusing Microsoft.Extensions.Logging;\n";

    [Fact]
    public void Valid_code_produces_no_diagnostics()
    {
        GeneratorRun run = GeneratorHarness.Run(Usings + """
            namespace Ok;
            public static partial class Log
            {
                [FapiLog(LogLevel.Information, "Order {OrderId} by {Customer} ({OrderId})", EventId = 1)]
                public static partial void A(long orderId, string customer, Exception? error);

                [FapiLog(message: "Second {X,5:F1}", level: LogLevel.Error, EventId = 2)]
                public static partial void B(double x, in Guid notInTemplate);
            }

            public readonly partial struct Money(decimal amount)
            {
                [FapiLog(LogLevel.Debug, "Money {Amount}")]
                public partial void Logged(decimal amount);
                public decimal Amount => amount;
            }

            public ref partial struct Reader
            {
                [FapiLog(LogLevel.Debug, "Read {Count}")]
                internal partial void Read(int count);
            }

            public partial interface IHasLog
            {
                [FapiLog(LogLevel.Debug, "Static in interface {Value}")]
                static partial void InInterface(int value);
            }

            public abstract partial class Base
            {
                [FapiLog(LogLevel.Debug, "Virtual {Value}")]
                protected virtual partial void Virtual(int value);
            }

            public partial class Derived : Base
            {
                [FapiLog(LogLevel.Debug, "Override {Value}")]
                protected override partial void Virtual(int value);

                [method: System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
                public event EventHandler? Changed;

                public void Raise() => Changed?.Invoke(this, EventArgs.Empty);
            }
            """);
        Assert.Empty(run.GeneratorDiagnostics);
        Assert.Empty(run.CompilationProblems);
    }

    [Fact]
    public void FAPI001_method_not_partial()
        => AssertDiagnostic("FAPI001", """
            public static partial class Log
            {
                [FapiLog(LogLevel.Information, "x")]
                public static void [|M|]() { }
            }
            """);

    [Fact]
    public void FAPI002_method_not_void()
        => AssertDiagnostic("FAPI002", """
            public static partial class Log
            {
                [FapiLog(LogLevel.Information, "x")]
                public static partial int [|M|]();
            }
            """);

    [Fact]
    public void FAPI003_method_has_body()
        => AssertDiagnostic("FAPI003", """
            public static partial class Log
            {
                [FapiLog(LogLevel.Information, "x")]
                public static partial void [|M|]() { }
            }
            """);

    [Fact]
    public void FAPI003_definition_with_a_hand_written_implementation()
        => AssertDiagnostic("FAPI003", """
            public static partial class Log
            {
                [FapiLog(LogLevel.Information, "x")]
                static partial void [|M|]();
                static partial void M() { }
            }
            """);

    [Fact]
    public void FAPI003_extern_method()
        // An extern partial method is an implementation whose body is elsewhere: a generated body would be a second one.
        => AssertDiagnostic("FAPI003", """
            public static partial class Log
            {
                [FapiLog(LogLevel.Information, "x {Value}")]
                public static extern partial void [|M|](int value);
            }
            """);

    [Fact]
    public void FAPI004_generic_method()
        => AssertDiagnostic("FAPI004", """
            public static partial class Log
            {
                [FapiLog(LogLevel.Information, "{Value}")]
                public static partial void [|M|]<T>(T value);
            }
            """);

    [Theory]
    [InlineData("out int [|value|]")]
    [InlineData("ref int [|value|]")]
    [InlineData("params int[] [|value|]")]
    public void FAPI005_out_ref_params_parameter(string parameter)
        => AssertDiagnostic("FAPI005", $$"""
            public static partial class Log
            {
                [FapiLog(LogLevel.Information, "x")]
                public static partial void M({{parameter}});
            }
            """);

    [Fact]
    public void FAPI006_placeholder_without_parameter()
        => AssertDiagnostic("FAPI006", """
            public static partial class Log
            {
                [FapiLog(LogLevel.Information, [|"Order {OrderId} by {Customer}"|])]
                public static partial void M(long orderId);
            }
            """);

    [Theory]
    [InlineData("\"Order {OrderId} by {Customer}\"", "long orderId", "The placeholder '{Customer}' of log method 'M' matches no parameter (names match case-insensitively)")]
    [InlineData("\"Order {@Order}\"", "string order", "The placeholder '{@Order}' of log method 'M' matches no parameter (names match case-insensitively); '@' is Serilog's destructuring, which FapiLog does not do: write '{Order}' to log the value's invariant string")]
    [InlineData("\"Got {@event}\"", "string @event", "The placeholder '{@event}' of log method 'M' matches no parameter (names match case-insensitively); '@' is Serilog's destructuring, which FapiLog does not do: write '{event}' to log the value's invariant string")]
    [InlineData("\"Got {@Other}\"", "string order", "The placeholder '{@Other}' of log method 'M' matches no parameter (names match case-insensitively)")]
    public void FAPI006_says_what_to_write_for_serilog_destructuring(string template, string parameter, string message)
    {
        CSharpCompilationRun run = CSharpCompilationRun.Of(Usings + $$"""
            public static partial class Log
            {
                [FapiLog(LogLevel.Information, {{template}})]
                public static partial void M({{parameter}});
            }
            """);
        Diagnostic diagnostic = Assert.Single(run.Diagnostics);
        Assert.Equal("FAPI006", diagnostic.Id);
        Assert.Equal(message, diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Theory]
    [InlineData("\"Order {OrderId\"")]
    [InlineData("\"Order OrderId}\"")]
    [InlineData("\"Order {}\"")]
    [InlineData("\"Order {OrderId,wide}\"")]
    [InlineData("\"Order {OrderId:}\"")]
    [InlineData("\"Order {Order\\u200BId}\"")] // a zero-width space (a format character, which C# leaves out of names)
    [InlineData("\"Order {Order-Id}\"")]
    public void FAPI007_malformed_template(string template)
        => AssertDiagnostic("FAPI007", $$"""
            public static partial class Log
            {
                [FapiLog(LogLevel.Information, [|{{template}}|])]
                public static partial void M(long orderId);
            }
            """);

    [Fact]
    public void FAPI008_parameters_differ_only_in_case()
        => AssertDiagnostic("FAPI008", """
            public static partial class Log
            {
                [FapiLog(LogLevel.Information, "{Id}")]
                public static partial void M(int id, int [|ID|]);
            }
            """);

    [Fact]
    public void FAPI009_one_parameter_spelled_two_ways()
        => AssertDiagnostic("FAPI009", """
            public static partial class Log
            {
                [FapiLog(LogLevel.Information, [|"{OrderId} then {ORDERID}"|])]
                public static partial void M(long orderId);
            }
            """);

    [Fact]
    public void FAPI010_exception_used_as_placeholder()
        => AssertDiagnostic("FAPI010", """
            public static partial class Log
            {
                [FapiLog(LogLevel.Error, [|"Failed: {Error}"|])]
                public static partial void M(Exception error);
            }
            """);

    [Fact]
    public void FAPI011_duplicate_event_id_in_one_type()
        => AssertDiagnostic("FAPI011", """
            public static partial class Log
            {
                [FapiLog(LogLevel.Information, "a", EventId = 5)]
                public static partial void A();

                [FapiLog(LogLevel.Information, "b", EventId = [|5|])]
                public static partial void B();
            }

            public static partial class Other
            {
                [FapiLog(LogLevel.Information, "same id, other type", EventId = 5)]
                public static partial void C();
            }
            """);

    [Fact]
    public void FAPI011_duplicate_event_id_across_partial_files()
    {
        string first = Usings + """
            public static partial class Log
            {
                [FapiLog(LogLevel.Information, "a", EventId = 9)]
                public static partial void A();
            }
            """;
        (string second, TextSpan span) = Markup.Parse(Usings + """
            public static partial class Log
            {
                [FapiLog(LogLevel.Information, "b", EventId = [|9|])]
                public static partial void B();
            }
            """);
        CSharpCompilationRun run = CSharpCompilationRun.Of(first, second);
        Diagnostic diagnostic = Assert.Single(run.Diagnostics);
        Assert.Equal("FAPI011", diagnostic.Id);
        Assert.Equal("/src/File1.cs", diagnostic.Location.GetLineSpan().Path);
        Assert.Equal(span, diagnostic.Location.SourceSpan);
    }

    [Fact]
    public void FAPI012_level_not_defined()
        => AssertDiagnostic("FAPI012", """
            public static partial class Log
            {
                [FapiLog([|(LogLevel)42|], "x")]
                public static partial void M();
            }
            """);

    [Fact]
    public void FAPI013_containing_type_not_partial()
        => AssertDiagnostic("FAPI013", """
            public class Outer
            {
                public static partial class Log
                {
                    [FapiLog(LogLevel.Information, "x")]
                    public static partial void [|M|]();
                }
            }
            """);

    [Fact]
    public void FAPI014_ref_struct_parameter()
        => AssertDiagnostic("FAPI014", """
            public static partial class Log
            {
                [FapiLog(LogLevel.Information, "{Data}")]
                public static partial void M(ReadOnlySpan<byte> [|data|]);
            }
            """);

    [Fact]
    public void FAPI014_type_parameter_that_allows_ref_structs()
        => AssertDiagnostic("FAPI014", """
            public partial class Holder<T> where T : allows ref struct
            {
                [FapiLog(LogLevel.Information, "{Value}")]
                public static partial void M(T [|value|]);
            }
            """);

    [Fact]
    public void FAPI016_file_local_type()
        => AssertDiagnostic("FAPI016", """
            file static partial class Log
            {
                [FapiLog(LogLevel.Information, "x")]
                public static partial void [|M|]();
            }
            """);

    [Theory]
    [InlineData("\"\"")]
    [InlineData("\"  \"")]
    public void FAPI017_empty_event_name(string name)
        => AssertDiagnostic("FAPI017", $$"""
            public static partial class Log
            {
                [FapiLog(LogLevel.Information, "x", EventName = [|{{name}}|])]
                public static partial void M();
            }
            """);

    [Fact]
    public void FAPI018_local_function()
        => AssertDiagnostic("FAPI018", """
            public static class Work
            {
                public static void Run()
                {
                    [FapiLog(LogLevel.Information, "Step {Value}")]
                    static void [|Step|](int value) { }
                    Step(1);
                }
            }
            """);

    [Theory]
    [InlineData("get")]
    [InlineData("set")]
    public void FAPI018_property_accessor(string accessor)
        => AssertDiagnostic("FAPI018", $$"""
            public static partial class Settings
            {
                private static int s_value;
                public static int Value
                {
                    {{(accessor == "get" ? "[FapiLog(LogLevel.Information, \"read\")] [|get|] => s_value; set => s_value = value;" : "get => s_value; [FapiLog(LogLevel.Information, \"written\")] [|set|] => s_value = value;")}}
                }
            }
            """);

    [Theory]
    [InlineData("public static C [|operator|] +(C a, C b) => a;")]
    [InlineData("public static implicit [|operator|] int(C c) => 1;")]
    [InlineData("~[|C|]() { }")]
    public void FAPI018_operator_conversion_and_finalizer(string member)
        => AssertDiagnostic("FAPI018", $$"""
            public partial class C
            {
                [FapiLog(LogLevel.Information, "x")]
                {{member}}
            }
            """);

    [Fact]
    public void FAPI018_lambda()
        => AssertDiagnostic("FAPI018", """
            public static class Work
            {
                public static Func<int, int> Step = [FapiLog(LogLevel.Information, "Step {Value}")] static (int value) [|=>|] value;
            }
            """);

    /// <summary>The one diagnostic of <paramref name="run"/> is FAPI018's message for <paramref name="name"/>, which "is <paramref name="what"/>".</summary>
    private static void AssertFapi018Message(CSharpCompilationRun run, string name, string what)
    {
        Diagnostic diagnostic = Assert.Single(run.Diagnostics);
        Assert.Equal(
            "[FapiLog] on '" + name + "' has no effect: it is " + what + "; declare a partial method in a partial type instead",
            diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Theory]
    [InlineData("public static C operator +(C a, C b) => a;", "operator +", "an operator")]
    [InlineData("public static explicit operator int(C c) => 1;", "explicit operator int", "a conversion operator")]
    [InlineData("~C() { }", "~C", "a finalizer")]
    [InlineData("public static Func<int, int> F = [FapiLog(LogLevel.Information, \"y\")] static (int value) => value;", "(int value) =>", "a lambda")]
    public void FAPI018_names_the_operator_finalizer_or_lambda(string member, string name, string what)
    {
        CSharpCompilationRun run = CSharpCompilationRun.Of(Usings + $$"""
            public partial class C
            {
                {{(member.Contains("Func", System.StringComparison.Ordinal) ? string.Empty : "[FapiLog(LogLevel.Information, \"x\")]")}}
                {{member}}
            }
            """);
        AssertFapi018Message(run, name, what);
    }

    [Theory]
    [InlineData("public event EventHandler? [|Changed|];")]
    [InlineData("public static event EventHandler? [|Changed|];")]
    [InlineData("public event EventHandler? Opened, [|Changed|];")]
    public void FAPI018_field_like_event(string member)
    {
        // [method:] on a field-like event lands on the add and remove accessors the compiler writes: attributes no declared
        // method carries, so nothing matched and the attribute did nothing without a word. One diagnostic per event named,
        // at its name, whichever accessor it ended on.
        (string source, TextSpan span) = Markup.Parse(Usings + $$"""
            public partial class C
            {
                [method: FapiLog(LogLevel.Information, "x")]
                {{member}}
            }
            """);
        CSharpCompilationRun run = CSharpCompilationRun.Of(source);
        Diagnostic diagnostic = Assert.Single(run.Diagnostics, d => d.Location.SourceSpan == span);
        Assert.Equal("FAPI018", diagnostic.Id);
        Assert.Equal(
            "[FapiLog] on 'Changed' has no effect: it is an event; declare a partial method in a partial type instead",
            diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
        Assert.All(run.Diagnostics, d => Assert.Equal("FAPI018", d.Id));
        Assert.Equal(member.Contains(',', System.StringComparison.Ordinal) ? 2 : 1, run.Diagnostics.Length);
    }

    [Fact]
    public void FAPI018_member_of_an_extension_block()
    {
        // C# 14 extension blocks; the compiler also rejects a partial member there (CS0751), and FAPI013's "make the type
        // partial" would be advice the user cannot follow.
        (string source, TextSpan span) = Markup.Parse(Usings + """
            public static partial class TextLog
            {
                extension(string text)
                {
                    [FapiLog(LogLevel.Information, "Length {Length}")]
                    public partial void [|Logged|](int length);
                }
            }
            """);
        var options = GeneratorHarness.ParseOptions.WithLanguageVersion(LanguageVersion.Preview);
        SyntaxTree tree = CSharpSyntaxTree.ParseText(source, options, path: "/src/File0.cs");
        GeneratorDriverRunResult result = GeneratorHarness.CreateDriver(shutdownHook: false, parseOptions: options)
            .RunGenerators(GeneratorHarness.CreateCompilation(new[] { tree })).GetRunResult();
        Diagnostic diagnostic = Assert.Single(result.Diagnostics);
        Assert.Equal("FAPI018", diagnostic.Id);
        Assert.Equal(span, diagnostic.Location.SourceSpan);
        Assert.Equal(
            "[FapiLog] on 'Logged' has no effect: it is a member of an extension block; declare a partial method in a partial type instead",
            diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Empty(result.GeneratedTrees);
    }

    [Fact]
    public void FAPI018_names_the_member_and_what_it_is()
    {
        CSharpCompilationRun run = CSharpCompilationRun.Of(Usings + """
            public static class Settings
            {
                public static int Value { [FapiLog(LogLevel.Information, "read")] get => 1; }
            }
            """);
        Diagnostic diagnostic = Assert.Single(run.Diagnostics);
        Assert.Equal("[FapiLog] on 'Value' has no effect: it is a get accessor; declare a partial method in a partial type instead", diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Theory]
    [InlineData("public int Value { get; [FapiLog(LogLevel.Information, \"x\")] init { } }", "Value", "an init accessor")]
    [InlineData("public event Action Changed { [FapiLog(LogLevel.Information, \"x\")] add { } remove { } }", "Changed", "an add accessor")]
    [InlineData("public event Action Changed { add { } [FapiLog(LogLevel.Information, \"x\")] remove { } }", "Changed", "a remove accessor")]
    public void FAPI018_says_an_before_a_vowel(string member, string name, string what)
    {
        CSharpCompilationRun run = CSharpCompilationRun.Of(Usings + $$"""
            public class C
            {
                {{member}}
            }
            """);
        AssertFapi018Message(run, name, what);
    }

    [Theory]
    [InlineData("Legacy::Lib.Thing")]
    [InlineData("Legacy::Lib.Thing[]")]
    [InlineData("System.Collections.Generic.List<Legacy::Lib.Thing>")]
    [InlineData("Legacy::Lib.Level?")]
    [InlineData("System.Collections.Generic.List<Legacy::Lib.Thing>.Enumerator")]
    [InlineData("System.Collections.Generic.Dictionary<int, Legacy::Lib.Thing>.KeyCollection")]
    public void FAPI019_type_from_an_extern_aliased_reference(string type)
    {
        // Generated code names types global::..., which cannot reach a reference that only has an alias: without the
        // diagnostic the generated signature did not compile (CS0400, CS0759).
        CSharpCompilation library = CSharpCompilation.Create("Lib",
            [CSharpSyntaxTree.ParseText("namespace Lib { public sealed class Thing { } public enum Level { Low } }", GeneratorHarness.ParseOptions)],
            GeneratorHarness.References, new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
        using var image = new System.IO.MemoryStream();
        Assert.True(library.Emit(image).Success);
        MetadataReference aliased = MetadataReference.CreateFromImage(image.ToArray()).WithAliases(["Legacy"]);
        (string source, TextSpan span) = Markup.Parse("extern alias Legacy;\n" + Usings + $$"""
            public static partial class Log
            {
                [FapiLog(LogLevel.Information, "Got {Thing}")]
                public static partial void Got({{type}} [|thing|]);
            }
            """);

        GeneratorDriverRunResult result = GeneratorHarness.CreateDriver(shutdownHook: false)
            .RunGenerators(GeneratorHarness.CreateCompilation(source).AddReferences(aliased)).GetRunResult();

        Diagnostic diagnostic = Assert.Single(result.Diagnostics);
        Assert.Equal("FAPI019", diagnostic.Id);
        Assert.Equal(span, diagnostic.Location.SourceSpan);
        Assert.Contains("'Legacy'", diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture), System.StringComparison.Ordinal);
        Assert.Empty(result.GeneratedTrees.Where(t => t.FilePath.Contains("Log.FapiLog", System.StringComparison.Ordinal)));
    }

    [Fact]
    public void Nullable_oblivious_declarations_compile_cleanly()
    {
        GeneratorRun run = GeneratorHarness.Run(Usings + """
            #nullable disable
            public static partial class Oblivious
            {
                [FapiLog(LogLevel.Information, "{Name} {Value} {Items}")]
                public static partial void M(string name, object value, int[] items, Exception error);
            }
            """);
        Assert.Empty(run.GeneratorDiagnostics);
        Assert.Empty(run.CompilationProblems);
    }

    [Fact]
    public void FAPI015_no_module_initializer_before_CSharp_9()
    {
        var options = GeneratorHarness.ParseOptions.WithLanguageVersion(Microsoft.CodeAnalysis.CSharp.LanguageVersion.CSharp8);
        var tree = Microsoft.CodeAnalysis.CSharp.CSharpSyntaxTree.ParseText(Usings + """
            public static partial class Log
            {
                [FapiLog(LogLevel.Information, "x")]
                static partial void M();
            }
            """, options, path: "/src/File0.cs");
        var driver = GeneratorHarness.CreateDriver().WithUpdatedParseOptions(options);
        GeneratorDriverRunResult result = driver.RunGenerators(GeneratorHarness.CreateCompilation(new[] { tree })).GetRunResult();
        Diagnostic diagnostic = Assert.Single(result.Diagnostics);
        Assert.Equal("FAPI015", diagnostic.Id);
        Assert.Equal(DiagnosticSeverity.Info, diagnostic.Severity);
        Assert.DoesNotContain(result.GeneratedTrees, t => t.FilePath.EndsWith("ModuleInitializer.g.cs", System.StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(null, true)]
    [InlineData(true, true)]
    [InlineData(false, false)]
    public void Shutdown_hook_follows_the_MSBuild_property(bool? property, bool expected)
    {
        GeneratorRun run = GeneratorHarness.Run(Usings + """
            public static partial class Log
            {
                [FapiLog(LogLevel.Information, "x")]
                public static partial void M();
            }
            """, property);
        Assert.Equal(expected, run.Result.GeneratedTrees.Any(t => t.FilePath.EndsWith("FapiLog.ModuleInitializer.g.cs", System.StringComparison.Ordinal)));
        Assert.Empty(run.CompilationProblems);
    }

    [Fact]
    public void No_log_methods_no_shutdown_hook()
    {
        GeneratorRun run = GeneratorHarness.Run("public static class Plain { }");
        Assert.Empty(run.Result.GeneratedTrees);
    }

    [Fact]
    public void Every_descriptor_has_a_help_link_to_its_readme_anchor()
    {
        foreach (DiagnosticDescriptor d in DiagnosticDescriptors.All)
        {
            Assert.Equal("https://github.com/fapilog/FapiLog.Gen/blob/main/README.md#" + d.Id.ToLowerInvariant(), d.HelpLinkUri);
        }
    }

    private static void AssertDiagnostic(string id, string markedSource)
    {
        (string source, TextSpan span) = Markup.Parse(Usings + markedSource);
        CSharpCompilationRun run = CSharpCompilationRun.Of(source);
        Diagnostic diagnostic = Assert.Single(run.Diagnostics, d => d.Id.StartsWith("FAPI", System.StringComparison.Ordinal));
        Assert.Equal(id, diagnostic.Id);
        Assert.Equal("/src/File0.cs", diagnostic.Location.GetLineSpan().Path);
        Assert.Equal(span, diagnostic.Location.SourceSpan);
        LinePosition start = SourceText.From(source).Lines.GetLinePosition(span.Start);
        Assert.Equal(start, diagnostic.Location.GetLineSpan().StartLinePosition);
        Assert.Contains("https://github.com/fapilog/FapiLog.Gen/blob/main/README.md#" + id.ToLowerInvariant(), diagnostic.Descriptor.HelpLinkUri, System.StringComparison.Ordinal);
    }

    /// <summary>The generator's diagnostics for sources; no generated file may be emitted for an invalid method.</summary>
    private sealed record CSharpCompilationRun(System.Collections.Immutable.ImmutableArray<Diagnostic> Diagnostics)
    {
        public static CSharpCompilationRun Of(params string[] sources)
        {
            GeneratorDriverRunResult result = GeneratorHarness.CreateDriver(shutdownHook: false)
                .RunGenerators(GeneratorHarness.CreateCompilation(sources)).GetRunResult();
            return new CSharpCompilationRun(result.Diagnostics);
        }
    }

    [Fact]
    public void FAPI005_an_arglist_method()
    {
        // "partial void M(int value, __arglist)" is legal C#. The generated part dropped the __arglist, so it matched no
        // declaration (CS0759 in the generated file, CS8795 at the user's) and no FAPI diagnostic said why (found by a
        // review).
        (string source, TextSpan span) = Markup.Parse(Usings + """
            public static partial class Log
            {
                [FapiLog(LogLevel.Information, "Got {Value}")]
                public static partial void [|Got|](int value, __arglist);
            }
            """);
        GeneratorRun run = GeneratorHarness.Run(source);

        Assert.DoesNotContain(run.CompilationProblems, d => d.Location.SourceTree?.FilePath.EndsWith(".g.cs", System.StringComparison.Ordinal) == true);
        Diagnostic error = Assert.Single(run.GeneratorDiagnostics, d => d.Severity == DiagnosticSeverity.Error);
        Assert.Equal("FAPI005", error.Id);
        Assert.Equal(span, error.Location.SourceSpan);
        Assert.Contains("'__arglist'", error.GetMessage(System.Globalization.CultureInfo.InvariantCulture), System.StringComparison.Ordinal);
    }

    private static class Markup
    {
        public static (string Source, TextSpan Span) Parse(string marked)
        {
            int start = marked.IndexOf("[|", System.StringComparison.Ordinal);
            int end = marked.IndexOf("|]", System.StringComparison.Ordinal);
            Assert.True(start >= 0 && end > start, "The source must mark the expected span with [| and |].");
            string source = marked.Remove(end, 2).Remove(start, 2);
            return (source, new TextSpan(start, end - start - 2));
        }
    }
}
