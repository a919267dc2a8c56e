using System;
using System.Globalization;
using FapiLog;
using Microsoft.Extensions.Logging;

namespace FapiLog.Integration.Tests;

/// <summary>An enum argument: logged by name.</summary>
public enum Tier
{
    Free,
    Gold,
}

/// <summary>A mutable object: what is logged must be its value at the moment of the call.</summary>
public sealed class Basket
{
    /// <summary>The number of items.</summary>
    public int Items { get; set; }

    /// <inheritdoc />
    public override string ToString() => "Basket(" + Items.ToString(CultureInfo.InvariantCulture) + ")";
}

/// <summary>A value whose ToString throws.</summary>
public sealed class Exploding
{
    /// <inheritdoc />
    public override string ToString() => throw new InvalidOperationException("ToString failed");
}

/// <summary>Formats with the culture it is given, to show that other types are captured with the invariant culture.</summary>
/// <param name="amount">The amount.</param>
public readonly struct Money(decimal amount) : IFormattable
{
    /// <inheritdoc />
    public string ToString(string? format, IFormatProvider? formatProvider) => amount.ToString("N2", formatProvider) + " EUR";

    /// <inheritdoc />
    public override string ToString() => ToString(null, CultureInfo.CurrentCulture);
}

/// <summary>Log methods of every supported kind, in a file-scoped namespace.</summary>
public static partial class Log
{
    [FapiLog(LogLevel.Information, "Order {OrderId} placed by {Customer} for {Amount}", EventId = 1)]
    public static partial void OrderPlaced(long orderId, string customer, decimal amount, Exception? error);

    [FapiLog(LogLevel.Error, "Payment failed for order {OrderId}", EventId = 2, EventName = "Payments.Failed")]
    public static partial void PaymentFailed(InvalidOperationException error, long orderId);

    [FapiLog(LogLevel.Debug, "{B} {C} {Sb} {By} {S} {Us} {I} {Ui} {L} {Ul} {Ni} {Nui} {F} {D} {M}", EventId = 3)]
    public static partial void Primitives(bool b, char c, sbyte sb, byte by, short s, ushort us, int i, uint ui,
        long l, ulong ul, nint ni, nuint nui, float f, double d, decimal m);

    [FapiLog(LogLevel.Information, "At {When} / {WhenOffset} after {Elapsed} id {Id} tier {Tier}", EventId = 4)]
    public static partial void Structs(DateTime when, DateTimeOffset whenOffset, TimeSpan elapsed, Guid id, Tier tier);

    [FapiLog(LogLevel.Information, "{MaybeInt}|{MaybeTier}|{MaybeWhen}|{MaybeName}|{MaybeFlag}", EventId = 5)]
    public static partial void Nullables(int? maybeInt, Tier? maybeTier, DateTime? maybeWhen, string? maybeName, bool? maybeFlag);

    [FapiLog(LogLevel.Warning, "{Basket} costs {Price}", EventId = 6)]
    public static partial void Other(Basket basket, Money price, Uri? notInTemplate);

    [FapiLog(LogLevel.Information, "|{Amount,10:F2}|{Id,-6}|{Ratio:P0}|{When:yyyy-MM-dd}|", EventId = 7)]
    public static partial void Formatted(decimal amount, int id, double ratio, DateTime when);

    [FapiLog(LogLevel.Information, "|{Day:yyyy-MM-dd}|{Big,6:X}|{Day:yyyy-MM-dd}|{Plain}|{Bad:Z9}|{Missing:yyyy}|", EventId = 13)]
    public static partial void FormattedText(DateOnly day, Int128 big, DateOnly plain, Int128 bad, DateOnly? missing);

    [FapiLog(LogLevel.Information, "{Numbers} | {Names} | {Bytes} | {Ratios} | {Text}", EventId = 14)]
    public static partial void Sequences(int[] numbers, System.Collections.Generic.List<string?> names, byte[] bytes, double[] ratios, object text);

    [FapiLog(LogLevel.Information, "{{literal}} {Value} }}", EventId = 8)]
    public static partial void Escaped(int value);

    [FapiLog(LogLevel.None, "Never {Value}", EventId = 9)]
    public static partial void Never(int value);

    [FapiLog(LogLevel.Trace, "Twelve {A1} {A2} {A3} {A4} {A5} {A6} {A7} {A8} {A9} {A10} {A11} {A12}", EventId = 10)]
    public static partial void Twelve(int a1, long a2, string a3, double a4, bool a5, decimal a6,
        Guid a7, TimeSpan a8, string a9, object a10, int? a11, char a12);

    [FapiLog(LogLevel.Information, "Value {Value} count {Count}", EventId = 12)]
    public static partial void WithExploding(int count, Exploding value);

    [FapiLog(LogLevel.Information, "Message {message} level {level}", EventId = 11)]
    public static partial void ReservedNames(string message, in int level);
}

/// <summary>A generic containing type.</summary>
/// <typeparam name="TEntity">Logged as its invariant string.</typeparam>
public partial class Repository<TEntity>
    where TEntity : class
{
    /// <summary>An instance log method in a record struct nested in a generic type.</summary>
    /// <param name="Index">The shard index.</param>
    public partial record struct Shard(int Index)
    {
        [FapiLog(LogLevel.Information, "Shard {Index} stored {Entity}")]
        internal partial void Stored(int index, TEntity? entity);
    }
}

/// <summary>A generic containing type whose type parameter is logged with a format.</summary>
/// <typeparam name="T">Logged as its invariant string, formatted as the template says.</typeparam>
public static partial class Measure<T>
{
    [FapiLog(LogLevel.Information, "Took {Value:F2} ms")]
    internal static partial void Took(T value);
}
