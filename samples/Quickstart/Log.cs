using System;
using FapiLog;
using Microsoft.Extensions.Logging;

namespace Quickstart;

/// <summary>The application's log events. The FapiLog.Gen generator writes the method bodies.</summary>
internal static partial class Log
{
    [FapiLog(LogLevel.Information, "Shop {Shop} opened with {Tills} tills")]
    public static partial void ShopOpened(string shop, int tills);

    [FapiLog(LogLevel.Information, "Order {OrderId} placed by {Customer} for {Amount:N2} EUR", EventId = 1)]
    public static partial void OrderPlaced(long orderId, string customer, decimal amount);

    [FapiLog(LogLevel.Warning, "Order {OrderId} took {Elapsed} to confirm", EventId = 2)]
    public static partial void SlowConfirmation(long orderId, TimeSpan elapsed);

    [FapiLog(LogLevel.Error, "Payment failed for order {OrderId}", EventId = 7)]
    public static partial void PaymentFailed(long orderId, Exception error);

    [FapiLog(LogLevel.Debug, "Cache lookup for {Key}: {Hit}")]
    public static partial void CacheLookup(string key, bool hit);
}
