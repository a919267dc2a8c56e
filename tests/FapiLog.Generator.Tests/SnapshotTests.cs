using Xunit;

namespace FapiLog.Generator.Tests;

/// <summary>
/// The generated code, reviewed as code: each case is compared with its approved file in Snapshots/, and the generated code
/// must compile without errors or warnings.
/// </summary>
public sealed class SnapshotTests
{
    [Fact]
    public void Static_class()
    {
        Verify("""
            using System;
            using FapiLog;
            using Microsoft.Extensions.Logging;

            namespace Shop.Logging;

            public static partial class Log
            {
                [FapiLog(LogLevel.Information, "Order {OrderId} placed by {Customer} for {Amount}")]
                public static partial void OrderPlaced(long orderId, string customer, decimal amount, Exception? error);

                [FapiLog(LogLevel.Warning, "Stock low for {Sku}", EventId = 12, EventName = "Inventory.Low")]
                internal static partial void StockLow(string sku, int remaining);
            }
            """);
    }

    [Fact]
    public void Instance_method_in_nested_generic_type()
    {
        Verify("""
            using FapiLog;
            using Microsoft.Extensions.Logging;

            public partial class Cache<TValue>
            {
                internal partial record struct Shard<TKey>(int Index)
                    where TKey : notnull
                {
                    [FapiLog(LogLevel.Debug, "Shard {Index} evicted {Key} holding {Value} after {Hits} hits")]
                    private partial void Evicted(int index, TKey key, TValue? value, in long hits);
                }

                protected partial class Stats
                {
                    [FapiLog(LogLevel.Trace, "Stats reset")]
                    public partial void Reset();
                }
            }
            """);
    }

    [Fact]
    public void Every_parameter_type()
    {
        Verify("""
            using System;
            using System.Collections.Generic;
            using FapiLog;
            using Microsoft.Extensions.Logging;

            namespace Types;

            public enum Color { Red, Green }

            public sealed record Customer(string Name);

            public struct Point { public int X; public override string ToString() => X.ToString(); }

            public static partial class Log
            {
                [FapiLog(LogLevel.Information, "{B} {C} {Sb} {By} {S} {Us} {I} {Ui} {L} {Ul} {Ni} {Nui} {F} {D} {M}")]
                public static partial void Primitives(bool b, char c, sbyte sb, byte by, short s, ushort us, int i, uint ui,
                    long l, ulong ul, nint ni, nuint nui, float f, double d, decimal m);

                [FapiLog(LogLevel.Information, "{When} {WhenOffset} {Elapsed} {Id} {Color} {Name}")]
                public static partial void Structs(DateTime when, DateTimeOffset whenOffset, TimeSpan elapsed, Guid id, Color color, string name);

                [FapiLog(LogLevel.Information, "{MaybeInt} {MaybeGuid} {MaybeColor} {MaybeWhen} {MaybeName}")]
                public static partial void Nullables(int? maybeInt, Guid? maybeGuid, Color? maybeColor, DateTime? maybeWhen, string? maybeName);

                [FapiLog(LogLevel.Information, "{Customer} {Point} {Tags} {Uri} {Pair}")]
                public static partial void Others(Customer customer, Point point, int[] tags, Uri? uri, (int Left, string Right) pair,
                    List<string>? notInTemplate, object? anything);
            }
            """);
    }

    [Fact]
    public void Exception()
    {
        Verify("""
            using System;
            using FapiLog;
            using Microsoft.Extensions.Logging;

            namespace Errors;

            public sealed class PaymentException(string message) : Exception(message);

            public static partial class Log
            {
                [FapiLog(LogLevel.Error, "Payment failed for order {OrderId}", EventId = 7)]
                public static partial void PaymentFailed(PaymentException failure, long orderId);

                [FapiLog(LogLevel.Critical, "Two exceptions, the second logged as text: {Inner}")]
                public static partial void Twice(Exception outer, InvalidOperationException inner);

                [FapiLog(LogLevel.Error, "Only an exception")]
                public static partial void OnlyException(Exception? ex);
            }
            """);
    }

    [Fact]
    public void Format_and_alignment()
    {
        Verify("""
            using System;
            using FapiLog;
            using Microsoft.Extensions.Logging;

            public static partial class Log
            {
                [FapiLog(LogLevel.Information, "|{Amount,10:F2}|{When:yyyy-MM-dd}|{Id,-6}|{Ratio:P1}|")]
                public static partial void Formatted(decimal amount, DateTime when, int id, double ratio);
            }
            """);
    }

    [Fact]
    public void Escapes()
    {
        Verify("""
            using FapiLog;
            using Microsoft.Extensions.Logging;

            public static partial class Log
            {
                [FapiLog(LogLevel.Information, "{{literal}} {Value} }} \"quoted\" \\ back\tslash\n")]
                public static partial void Escaped(int value);

                [FapiLog(LogLevel.Information, "Name with \"quotes\"", EventName = "Event \"quoted\"")]
                public static partial void Quoted();
            }
            """);
    }

    [Fact]
    public void No_arguments()
    {
        Verify("""
            using FapiLog;
            using Microsoft.Extensions.Logging;

            public partial class Service
            {
                [FapiLog(LogLevel.Information, "Started")]
                public partial void Started();
            }
            """);
    }

    [Fact]
    public void Twelve_arguments()
    {
        Verify("""
            using FapiLog;
            using Microsoft.Extensions.Logging;

            public static partial class Log
            {
                [FapiLog(LogLevel.Information, "{A1} {A2} {A3} {A4} {A5} {A6} {A7} {A8} {A9} {A10} {A11} {A12}")]
                public static partial void Twelve(int a1, long a2, string a3, double a4, bool a5, decimal a6,
                    System.Guid a7, System.TimeSpan a8, string a9, object a10, int? a11, char a12);
            }
            """);
    }

    [Fact]
    public void Names_that_need_care()
    {
        // Keyword parameters, parameters named like generated locals, overloads, extension methods and LogLevel.None.
        Verify("""
            using FapiLog;
            using Microsoft.Extensions.Logging;

            namespace Care
            {
                public static partial class Log
                {
                    [FapiLog(LogLevel.Information, "{Event} in {Class}")]
                    public static partial void Keywords(string @event, int @class);

                    [FapiLog(LogLevel.Information, "{__w} {__Item} {Item}")]
                    public static partial void Locals(int __w, string __Item, object Item);

                    [FapiLog(LogLevel.Information, "One {A}")]
                    public static partial void Overload(int a);

                    [FapiLog(LogLevel.Information, "Two {A} {B}")]
                    public static partial void Overload(int a, int b);

                    [FapiLog(LogLevel.Information, "Extension on {Service}")]
                    public static partial void Touched(this System.IServiceProvider service);

                    [FapiLog(LogLevel.None, "Never {Value}")]
                    public static partial void Never(int value);
                }
            }
            """);
    }

    [Fact]
    public void Module_initializer()
    {
        GeneratorRun run = GeneratorHarness.Run(
            """
            using FapiLog;
            using Microsoft.Extensions.Logging;

            public static partial class Log
            {
                [FapiLog(LogLevel.Information, "Hello")]
                public static partial void Hello();
            }

            internal static class UserInitializer
            {
                [System.Runtime.CompilerServices.ModuleInitializer]
                internal static void Init() { }
            }
            """);
        Assert.Empty(run.GeneratorDiagnostics);
        Assert.Empty(run.CompilationProblems);
        Snapshot.Verify(run.GeneratedText);
    }

    private static void Verify(string source, [System.Runtime.CompilerServices.CallerMemberName] string test = "")
    {
        GeneratorRun run = GeneratorHarness.Run(source, shutdownHook: false);
        Assert.Empty(run.GeneratorDiagnostics);
        Assert.Empty(run.CompilationProblems);
        Snapshot.Verify(run.GeneratedText, test: test);
    }
}
