using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;

namespace FapiLog.Generator.Tests;

/// <summary>
/// Legal but unusual declarations: the generator must not throw or warn, and the code it adds must compile without
/// errors or warnings.
/// </summary>
public sealed class EdgeCaseTests
{
    private const string Usings = "using System;\nusing FapiLog;\nusing Microsoft.Extensions.Logging;\n";

    [Theory]
    [InlineData("type names that differ only in case", """
        namespace App;
        public static partial class Log
        {
            [FapiLog(LogLevel.Information, "x {Value}")]
            public static partial void M(int value);
        }

        public static partial class LOG
        {
            [FapiLog(LogLevel.Information, "x {Value}")]
            public static partial void M(int value);
        }
        """)]
    [InlineData("namespaces that differ only in case", """
        namespace App
        {
            public static partial class Log
            {
                [FapiLog(LogLevel.Information, "x {Value}")]
                public static partial void M(int value);
            }
        }

        namespace app
        {
            public static partial class Log
            {
                [FapiLog(LogLevel.Information, "x {Value}")]
                public static partial void M(int value);
            }
        }
        """)]
    [InlineData("ref on one declaration of a struct only", """
        namespace App;
        public ref partial struct R
        {
            [FapiLog(LogLevel.Information, "a {Value}")]
            public partial void A(int value);
        }

        public partial struct R
        {
            [FapiLog(LogLevel.Information, "b {Value}")]
            public partial void B(int value);
        }
        """)]
    [InlineData("keyword in the namespace", """
        namespace @class.Inner;
        public static partial class Log
        {
            [FapiLog(LogLevel.Information, "x {Value}")]
            public static partial void M(int value);
        }
        """)]
    [InlineData("keyword as the method name", """
        namespace App;
        public static partial class Log
        {
            [FapiLog(LogLevel.Information, "x {Value}")]
            public static partial void @event(int value);
        }
        """)]
    [InlineData("keyword as the type name", """
        namespace App;
        public static partial class @event
        {
            [FapiLog(LogLevel.Information, "x {Value}")]
            public static partial void M(int value);
        }
        """)]
    [InlineData("keyword as a type parameter", """
        namespace App;
        public partial class Log<@class>
        {
            [FapiLog(LogLevel.Information, "x {Value}")]
            public partial void M(@class value);
        }
        """)]
    [InlineData("variant interface", """
        namespace App;
        public partial interface ILog<in TIn, out TOut>
        {
            [FapiLog(LogLevel.Information, "x {Value}")]
            static partial void M(int value);
        }
        """)]
    [InlineData("scoped in parameter", """
        namespace App;
        public static partial class Log
        {
            [FapiLog(LogLevel.Information, "x {Value}")]
            public static partial void M(scoped in int value);

            [FapiLog(LogLevel.Information, "x {Value}")]
            public static partial void N(this scoped in Guid value);
        }
        """)]
    [InlineData("parameter named like the descriptor field", """
        namespace App;
        public static partial class Log
        {
            [FapiLog(LogLevel.Information, "x {__FapiLog_M}")]
            public static partial void M(int __FapiLog_M);
        }
        """)]
    [InlineData("captured parameter named like the descriptor field", """
        namespace App;
        public static partial class Log
        {
            [FapiLog(LogLevel.Information, "x {FapiLog_M} {__FapiLog_M_1}")]
            public static partial void M(object FapiLog_M, object __FapiLog_M_1);
        }
        """)]
    [InlineData("members of the type and of its base named like the descriptor field and factory", """
        namespace App;
        public class Base
        {
            protected static int __FapiLog_N;
        }

        public partial class Log : Base
        {
            private static readonly string __FapiLog_M = "mine";
            private static int __FapiLog_M_Create() => __FapiLog_M.Length;
            public static int Mine => __FapiLog_M_Create();

            [FapiLog(LogLevel.Information, "x {Value}")]
            public static partial void M(int value);

            [FapiLog(LogLevel.Information, "x {Value}")]
            public static partial void N(int value);
        }
        """)]
    [InlineData("a nested type named like the descriptor field", """
        namespace App;
        public partial class Log
        {
            public class __FapiLog_M { }

            [FapiLog(LogLevel.Information, "x {Value}")]
            public static partial void M(int value);
        }
        """)]
    [InlineData("a nested type of the base named like the descriptor field", """
        namespace App;
        public class Base
        {
            public class __FapiLog_M { }
        }

        public partial class Log : Base
        {
            [FapiLog(LogLevel.Information, "x {Value}")]
            public static partial void M(int value);
        }
        """)]
    [InlineData("a type parameter named like the descriptor field", """
        namespace App;
        public partial class Log<__FapiLog_M>
        {
            [FapiLog(LogLevel.Information, "x {Value}")]
            public static partial void M(int value);
        }
        """)]
    [InlineData("the type named like the descriptor field", """
        namespace App;
        public partial class __FapiLog_M
        {
            [FapiLog(LogLevel.Information, "x {Value}")]
            public static partial void M(int value);
        }
        """)]
    [InlineData("a type named var in scope", """
        namespace App;
        #pragma warning disable CS8981 // the user's own name; only the generated code is under test
        public sealed class var { }
        #pragma warning restore CS8981

        public static partial class Log
        {
            [FapiLog(LogLevel.Information, "x {Value}")]
            public static partial void M(int value);
        }
        """)]
    [InlineData("two overloads of one name", """
        namespace App;
        public static partial class Log
        {
            [FapiLog(LogLevel.Information, "x {Value}")]
            public static partial void M(int value);

            [FapiLog(LogLevel.Information, "x {Value}")]
            public static partial void M(string value);
        }
        """)]
    [InlineData("new, readonly, virtual and sealed override", """
        namespace App;
        public class Base { public static void M(int value) { } }
        public partial class Derived : Base
        {
            [FapiLog(LogLevel.Information, "x {Value}")]
            public new static partial void M(int value);

            [FapiLog(LogLevel.Information, "x {Value}")]
            public virtual partial void V(int value);
        }

        public partial class MoreDerived : Derived
        {
            [FapiLog(LogLevel.Information, "x {Value}")]
            public sealed override partial void V(int value);
        }

        public partial struct S
        {
            public int F;

            [FapiLog(LogLevel.Information, "x {Value}")]
            public readonly partial void M(int value);
        }

        public readonly partial record struct RS(int X)
        {
            [FapiLog(LogLevel.Information, "x {Value}")]
            public partial void M(int value);
        }

        public partial record R(int Value)
        {
            [FapiLog(LogLevel.Information, "x {Value}")]
            public partial void M(int value);
        }
        """)]
    [InlineData("interface with static abstract members", """
        namespace App;
        public partial interface IShape<TSelf> where TSelf : IShape<TSelf>
        {
            static abstract TSelf Create();

            [FapiLog(LogLevel.Information, "x {Value}")]
            static partial void M(TSelf value);

            [FapiLog(LogLevel.Information, "x {Value}")]
            partial void N(int value);
        }
        """)]
    [InlineData("type nested in a generic type with constraints", """
        namespace App;
        public partial class Outer<T> where T : class, IDisposable, new()
        {
            internal partial struct Inner<U> where U : unmanaged, IComparable<U>
            {
                public enum Kind { A }

                [FapiLog(LogLevel.Information, "x {A} {B} {C} {D} {E}")]
                public partial void M(T a, U b, T? c, U? d, Kind? e);
            }
        }
        """)]
    [InlineData("type parameter that allows ref structs, not logged", """
        namespace App;
        public partial class Holder<T> where T : allows ref struct
        {
            [FapiLog(LogLevel.Information, "x {Value}")]
            public static partial void M(int value);
        }
        """)]
    [InlineData("default values, nullable annotations and in structs", """
        namespace App;
        public struct Big { public long A, B, C, D, E, F, G, H; }
        public static partial class Log
        {
            [FapiLog(LogLevel.Information, "x {V} {S} {N} {O} {G} {B}")]
            public static partial void M(int v = 5, string? s = null, DayOfWeek? n = DayOfWeek.Monday, object? o = null, in Guid g = default, in Big b = default);
        }
        """)]
    [InlineData("parameter names with combining marks, connector punctuation and letter numbers", """
        namespace App;
        public static partial class Log
        {
            // Devanagari and Thai vowel signs are combining marks (Mc, Mn); '‿' is connector punctuation; 'Ⅻ' a letter number.
            [FapiLog(LogLevel.Information, "x {नाम} {ชื่อ} {a‿b} {Ⅻ}")]
            public static partial void M(string नाम, string ชื่อ, int a‿b, int Ⅻ);
        }
        """)]
    [InlineData("a record nested in its base, with a log method of the base's name (the base's generated members are visible to it)", """
        namespace App;
        public abstract partial record Shape
        {
            [FapiLog(LogLevel.Information, "Drawn {Id}")]
            public static partial void Drawn(int id);

            public sealed partial record Circle(double Radius) : Shape
            {
                [FapiLog(LogLevel.Information, "Circle drawn {Radius}")]
                public static partial void Drawn(double radius);
            }
        }
        """)]
    [InlineData("captured parameters whose generated locals would be keywords (__arglist, __makeref, __reftype, __refvalue)", """
        namespace App;
        public static partial class Log
        {
            [FapiLog(LogLevel.Information, "Got {Arglist} {Makeref} {Reftype} {Refvalue}")]
            public static partial void Got(object arglist, object makeref, object reftype, object refvalue);
        }
        """)]
    [InlineData("an obsolete method with an enum that is obsolete as an error", """
        namespace App;
        [Obsolete("use Kind2", error: true)] public enum Kind { A }
        public static partial class Log
        {
            [Obsolete("goes with Kind")]
            [FapiLog(LogLevel.Information, "Kind {Kind}")]
            public static partial void Old(Kind kind);
        }
        """)]
    [InlineData("a ModuleInitializerAttribute polyfill of the project's own", """
        namespace System.Runtime.CompilerServices
        {
            [AttributeUsage(AttributeTargets.Method, Inherited = false)]
            internal sealed class ModuleInitializerAttribute : Attribute { }
        }

        namespace App
        {
            public static partial class Log
            {
                [FapiLog(LogLevel.Information, "Started")]
                public static partial void Started();
            }
        }
        """)]
    [InlineData("a record nested in its base, whose base has a log method named like an overload's descriptor (declared first)", """
        namespace App;
        public abstract partial record Shape
        {
            [FapiLog(LogLevel.Information, "Other {Value}")]
            protected static partial void Step_1(int value);

            [FapiLog(LogLevel.Information, "Step {Value}")]
            protected static partial void Step(int value);

            [FapiLog(LogLevel.Information, "Step {Value}")]
            protected static partial void Step(string value);

            public sealed partial record Circle : Shape
            {
                [FapiLog(LogLevel.Information, "Circle step {Value}")]
                public static partial void Step_2(int value);
            }
        }
        """)]
    [InlineData("a record nested in its base, whose base has a log method named like an overload's descriptor (declared last)", """
        namespace App;
        public abstract partial record Shape
        {
            [FapiLog(LogLevel.Information, "Step {Value}")]
            protected static partial void Step(int value);

            [FapiLog(LogLevel.Information, "Step {Value}")]
            protected static partial void Step(string value);

            [FapiLog(LogLevel.Information, "Other {Value}")]
            protected static partial void Step_1(int value);

            public sealed partial record Circle : Shape
            {
                [FapiLog(LogLevel.Information, "Circle step {Value}")]
                public static partial void Step_1(string value);
            }
        }
        """)]
    [InlineData("a record nested in its base, whose log method has two overloads, with a log method named like the second overload's descriptor", """
        namespace App;
        public abstract partial record Shape
        {
            [FapiLog(LogLevel.Information, "Step {Value}")]
            protected static partial void Step(int value);

            [FapiLog(LogLevel.Information, "Step {Value}")]
            protected static partial void Step(string value);

            public sealed partial record Circle : Shape
            {
                [FapiLog(LogLevel.Information, "Circle step {Value}")]
                public static partial void Step_1(int value);
            }
        }
        """)]
    [InlineData("a declaration that a tool generated, with [GeneratedCode] of its own", """
        namespace App;
        public static partial class Log
        {
            [System.CodeDom.Compiler.GeneratedCode("MyT4Template", "1.0")]
            [FapiLog(LogLevel.Information, "x {Value}")]
            public static partial void M(int value);
        }
        """)]
    [InlineData("a primary-constructor parameter named like the descriptor field", """
        namespace App;
        public partial class Service(int __FapiLog_Started)
        {
            public int Captured => __FapiLog_Started;

            [FapiLog(LogLevel.Information, "Started")]
            public partial void Started();
        }
        """)]
    public void Generated_code_compiles(string description, string source)
    {
        Assert.NotEmpty(description);
        AssertClean(GeneratorHarness.Run(new[] { Usings + source }, LanguageVersion.Latest));
    }

    [Theory]
    [InlineData("unsafe type", """
        namespace App;
        public static unsafe partial class Log
        {
            [FapiLog(LogLevel.Information, "x {Value}")]
            public static partial void M(int*[] value);
        }
        """)]
    [InlineData("unsafe outer type", """
        namespace App;
        public unsafe partial class Outer
        {
            public static partial class Log
            {
                [FapiLog(LogLevel.Information, "x {Value}")]
                public static partial void M(int*[] value);
            }
        }
        """)]
    [InlineData("unsafe ref struct", """
        namespace App;
        public unsafe ref partial struct R
        {
            [FapiLog(LogLevel.Information, "x {Value}")]
            public partial void M(int*[] value);
        }
        """)]
    public void Generated_code_compiles_in_an_unsafe_context(string description, string source)
    {
        Assert.NotEmpty(description);
        AssertClean(GeneratorHarness.Run(new[] { Usings + source }, LanguageVersion.Latest, allowUnsafe: true));
    }

    [Theory]
    [InlineData(LanguageVersion.CSharp7_3)]
    [InlineData(LanguageVersion.CSharp8)]
    public void Generated_code_compiles_before_CSharp_9(LanguageVersion version)
    {
        // IntPtr and UIntPtr are nint and nuint to Roslyn where the runtime has numeric IntPtr (.NET 7 on), whatever the
        // language version, and those keywords need C# 9 (CS8370, CS8400): the generated code names the types instead.
        GeneratorRun run = GeneratorHarness.Run(
            new[]
            {
                Usings + """
                namespace App
                {
                    public static partial class Log
                    {
                        [FapiLog(LogLevel.Information, "x {Value} {Name} {Item} {Count} {Handle} {Other} {Handles}")]
                        static partial void M(int value, string name, object item, int? count, IntPtr handle, UIntPtr? other, System.Collections.Generic.List<IntPtr> handles);
                    }
                }
                """,
            },
            version,
            version >= LanguageVersion.CSharp8 ? NullableContextOptions.Enable : NullableContextOptions.Disable);
        AssertClean(run);
    }

    [Theory]
    [InlineData("a parameter of an obsolete type", """
        namespace App;
        [Obsolete("use NewThing")] public sealed class OldThing { }
        public static partial class Log
        {
        #pragma warning disable CS0618 // still logged while callers migrate
            [FapiLog(LogLevel.Information, "x {Value}")]
            public static partial void M(OldThing value);
        #pragma warning restore CS0618
        }
        """)]
    [InlineData("a parameter of an obsolete enum without a message", """
        namespace App;
        [Obsolete] public enum OldKind { A }
        public static partial class Log
        {
        #pragma warning disable CS0612
            [FapiLog(LogLevel.Information, "x {Value}")]
            public static partial void M(OldKind value, OldKind? maybe);
        #pragma warning restore CS0612
        }
        """)]
    [InlineData("a parameter of a type obsolete with its own diagnostic id", """
        namespace App;
        [Obsolete("use NewThing", DiagnosticId = "SHOP001")] public sealed class OldThing { }
        public static partial class Log
        {
        #pragma warning disable SHOP001
            [FapiLog(LogLevel.Information, "x {Value}")]
            public static partial void M(System.Collections.Generic.List<OldThing[]> value);
        #pragma warning restore SHOP001
        }
        """)]
    [InlineData("a parameter of an experimental type", """
        namespace App;
        [System.Diagnostics.CodeAnalysis.Experimental("SHOP002")] public readonly struct Preview { }
        public static partial class Log
        {
        #pragma warning disable SHOP002
            [FapiLog(LogLevel.Information, "x {Value}")]
            public static partial void M(Preview value);
        #pragma warning restore SHOP002
        }
        """)]
    [InlineData("a type name in lower case", """
        namespace App;
        #pragma warning disable CS8981 // the name is the product's
        public static partial class shoplog
        {
            [FapiLog(LogLevel.Information, "x {Value}")]
            public static partial void M(int value);
        }
        #pragma warning restore CS8981
        """)]
    [InlineData("a type name in lower case beside the same name in other case", """
        namespace App;
        public static partial class Log
        {
            [FapiLog(LogLevel.Information, "x {Value}")]
            public static partial void M(int value);
        }
        #pragma warning disable CS8981
        public static partial class log
        {
            [FapiLog(LogLevel.Information, "x {Value}")]
            public static partial void M(int value);
        }
        #pragma warning restore CS8981
        """)]
    [InlineData("a type parameter name in lower case", """
        namespace App;
        #pragma warning disable CS8981
        public partial class Box<t>
        {
            [FapiLog(LogLevel.Information, "x {Value}")]
            public static partial void M(t value);
        }
        #pragma warning restore CS8981
        """)]
    public void Warnings_suppressed_at_the_declaration_do_not_come_back_from_the_generated_code(string description, string source)
    {
        Assert.NotEmpty(description);
        AssertClean(GeneratorHarness.Run(new[] { Usings + source }, LanguageVersion.Latest));
    }

    [Fact]
    public void A_type_parameter_constrained_to_Exception_through_another_type_parameter_is_the_events_exception()
    {
        // README, Parameters: "a type assignable to Exception (the first such parameter)" is the event's exception, not a
        // field. TError is assignable to Exception (TError : TBase, TBase : Exception), so it must go to SetException.
        GeneratorRun run = GeneratorHarness.Run(new[]
        {
            Usings + """
            namespace App;
            public partial class Retry<TBase, TError> where TBase : Exception where TError : TBase
            {
                [FapiLog(LogLevel.Error, "Attempt {Attempt} failed")]
                public static partial void Failed(int attempt, TError error);
            }
            """,
        }, LanguageVersion.Latest);
        AssertClean(run);
        Assert.Contains(".SetException(error);", run.GeneratedText, System.StringComparison.Ordinal);
        Assert.DoesNotContain("CaptureString(error)", run.GeneratedText, System.StringComparison.Ordinal);
    }

    private static void AssertClean(GeneratorRun run)
    {
        Assert.All(run.Result.Results, r => Assert.Null(r.Exception));
        Assert.Empty(run.GeneratorDiagnostics.Where(d => d.Severity >= DiagnosticSeverity.Warning));
        Assert.NotEmpty(run.Result.GeneratedTrees);
        Assert.Empty(run.CompilationProblems);
    }

    [Fact]
    public async System.Threading.Tasks.Task A_chain_of_types_each_nested_in_and_derived_from_the_one_before_is_generated_without_a_hang()
    {
        // L0 { L1 : L0 { L2 : L1 { ... } } }, each with a log method: the names a type must leave free include the generated
        // members of every base it is nested in, worked out with that base's own taken names, and those with its bases'
        // in turn. 40 levels; the bound only guards against a hang (each level costs a constant factor more than the last
        // when nothing is remembered from one base to the next).
        const int depth = 40;
        var source = new System.Text.StringBuilder("namespace App;\npublic partial class L0\n{\n    [FapiLog(LogLevel.Information, \"Step {Value}\")]\n    protected static partial void Step0(int value);\n");
        for (int i = 1; i < depth; i++)
        {
            source.Append("public partial class L").Append(i).Append(" : L").Append(i - 1).Append("\n{\n")
                .Append("    [FapiLog(LogLevel.Information, \"Step {Value}\")]\n    protected static partial void Step").Append(i).Append("(int value);\n");
        }

        source.Append('}', depth);
        var run = System.Threading.Tasks.Task.Factory.StartNew(
            () => GeneratorHarness.Run(new[] { Usings + source }, LanguageVersion.Latest),
            System.Threading.Tasks.TaskCreationOptions.LongRunning);

        // Throws TimeoutException when the generator has not finished.
        AssertClean(await run.WaitAsync(System.TimeSpan.FromMinutes(2)));
    }
}
