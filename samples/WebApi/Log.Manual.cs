// ---------------------------------------------------------------------------------------------------------------------
// HAND-WRITTEN STAND-IN FOR THE FapiLog SOURCE GENERATOR.
// The generator (src/Generator, branch `gen`) was not merged when this sample was written, so this file spells out the
// bodies it will emit for the [FapiLog] methods of Log.cs, following FapiLogRuntime's contract: a static readonly
// descriptor per method, then IsEnabled -> Begin -> Write/WriteString/SetException -> Commit.
// Delete this file (and reference the generator from WebApi.csproj) once the generator lands.
// ---------------------------------------------------------------------------------------------------------------------
using System;
using FapiLog;
using Microsoft.Extensions.Logging;

namespace WebApi;

public static partial class Log
{
    private static readonly LogEventDescriptor s_orderPlaced = new(
        0, "OrderPlaced", LogLevel.Information, "Order {OrderId} placed by {Customer} for {Amount}",
        LogArgument.Create<long>("orderId"),
        LogArgument.Create<string>("customer"),
        LogArgument.Create<decimal>("amount"));

    private static readonly LogEventDescriptor s_paymentFailed = new(
        7, "PaymentFailed", LogLevel.Error, "Payment failed for order {OrderId}",
        LogArgument.Create<long>("orderId"));

    private static readonly LogEventDescriptor s_stopping = new(
        0, "Stopping", LogLevel.Information, "WebApi stopping after {Requests} order requests",
        LogArgument.Create<long>("requests"));

    public static partial void OrderPlaced(long orderId, string customer, decimal amount)
    {
        if (!FapiLogRuntime.IsEnabled(LogLevel.Information))
        {
            return;
        }

        LogEventWriter writer = FapiLogRuntime.Begin(s_orderPlaced);
        if (!writer.IsActive)
        {
            return;
        }

        writer.Write(orderId);
        writer.WriteString(customer);
        writer.Write(amount);
        writer.Commit();
    }

    public static partial void PaymentFailed(long orderId, Exception error)
    {
        if (!FapiLogRuntime.IsEnabled(LogLevel.Error))
        {
            return;
        }

        LogEventWriter writer = FapiLogRuntime.Begin(s_paymentFailed);
        if (!writer.IsActive)
        {
            return;
        }

        writer.Write(orderId);
        writer.SetException(error);
        writer.Commit();
    }

    public static partial void Stopping(long requests)
    {
        if (!FapiLogRuntime.IsEnabled(LogLevel.Information))
        {
            return;
        }

        LogEventWriter writer = FapiLogRuntime.Begin(s_stopping);
        if (!writer.IsActive)
        {
            return;
        }

        writer.Write(requests);
        writer.Commit();
    }
}
