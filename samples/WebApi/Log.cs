using System;
using FapiLog;
using Microsoft.Extensions.Logging;

namespace WebApi;

/// <summary>The sample's compile-time log methods: the generator writes their bodies.</summary>
public static partial class Log
{
    [FapiLog(LogLevel.Information, "Order {OrderId} placed by {Customer} for {Amount}")]
    public static partial void OrderPlaced(long orderId, string customer, decimal amount);

    [FapiLog(LogLevel.Error, "Payment failed for order {OrderId}", EventId = 7)]
    public static partial void PaymentFailed(long orderId, Exception error);

    [FapiLog(LogLevel.Information, "WebApi stopping after {Requests} order requests")]
    public static partial void Stopping(long requests);
}
