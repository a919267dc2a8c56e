using System;
using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace FapiLog;

/// <summary>
/// Marks a <c>static</c> or instance <c>partial void</c> method whose body the FapiLog.Gen source generator writes:
/// a level check, then the typed arguments copied into the bounded logging queue without boxing or allocation.
/// </summary>
/// <example>
/// <code>
/// public static partial class Log
/// {
///     [FapiLog(LogLevel.Information, "Order {OrderId} placed by {Customer} for {Amount}")]
///     public static partial void OrderPlaced(long orderId, string customer, decimal amount);
/// }
/// </code>
/// </example>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false, Inherited = false)]
[Conditional("FAPILOG_KEEP_ATTRIBUTES")]
public sealed class FapiLogAttribute : Attribute
{
    /// <summary>Creates the attribute.</summary>
    /// <param name="level">The level of every event this method logs.</param>
    /// <param name="message">
    /// The message template: <c>{Name}</c> placeholders matched to parameters case-insensitively,
    /// <c>{Name:format}</c> and <c>{Name,alignment}</c> as in .NET composite formatting, <c>{{</c> and <c>}}</c> as escapes.
    /// </param>
    public FapiLogAttribute(LogLevel level, string message)
    {
        Level = level;
        Message = message;
    }

    /// <summary>The level of the event.</summary>
    public LogLevel Level { get; }

    /// <summary>The message template.</summary>
    public string Message { get; }

    /// <summary>The numeric event id (<c>event_id</c>); 0, the default, means none. A non-zero id must be unique within the type (FAPI011).</summary>
    public int EventId { get; set; }

    /// <summary>The event name; defaults to the method name. An empty or white-space name is an error (FAPI017).</summary>
    public string? EventName { get; set; }
}
