using System;
using Microsoft.Extensions.Logging;
using ZLogger;

namespace FapiLog.Comparison;

// The same two events, declared the way each library's users write them. Serilog and NLog have no generator: their
// calls pass the template and the arguments (generic overloads, no params array) at the call site.

/// <summary>FapiLog: generated, allocation-free methods into the global pipeline.</summary>
public static partial class FapiEvents
{
    public const string Order = "Order {OrderId} placed by {Customer} for {Amount}";
    public const string Failure = "Payment failed for order {OrderId}";

    [FapiLog(LogLevel.Information, Order, EventId = 1)]
    public static partial void OrderPlaced(long orderId, string customer, double amount);

    [FapiLog(LogLevel.Debug, Order, EventId = 2)]
    public static partial void OrderPlacedDebug(long orderId, string customer, double amount);

    [FapiLog(LogLevel.Error, Failure, EventId = 3)]
    public static partial void PaymentFailed(long orderId, Exception error);
}

/// <summary>Microsoft's <c>[LoggerMessage]</c> generator (Microsoft.Extensions.Logging.Abstractions).</summary>
public static partial class MelEvents
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = FapiEvents.Order)]
    public static partial void OrderPlaced(ILogger logger, long orderId, string customer, double amount);

    [LoggerMessage(EventId = 2, Level = LogLevel.Debug, Message = FapiEvents.Order)]
    public static partial void OrderPlacedDebug(ILogger logger, long orderId, string customer, double amount);

    [LoggerMessage(EventId = 3, Level = LogLevel.Error, Message = FapiEvents.Failure)]
    public static partial void PaymentFailed(ILogger logger, long orderId, Exception error);
}

/// <summary>ZLogger's <c>[ZLoggerMessage]</c> generator (UTF-8, typed values kept in a pooled entry).</summary>
public static partial class ZEvents
{
    [ZLoggerMessage(EventId = 1, Level = LogLevel.Information, Message = FapiEvents.Order)]
    public static partial void OrderPlaced(this ILogger logger, long orderId, string customer, double amount);

    [ZLoggerMessage(EventId = 2, Level = LogLevel.Debug, Message = FapiEvents.Order)]
    public static partial void OrderPlacedDebug(this ILogger logger, long orderId, string customer, double amount);

    [ZLoggerMessage(EventId = 3, Level = LogLevel.Error, Message = FapiEvents.Failure)]
    public static partial void PaymentFailed(this ILogger logger, long orderId, Exception error);
}
