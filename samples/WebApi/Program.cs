using System;
using System.Threading;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using WebApi;

// FapiLog replaces the default providers: ILogger calls (ASP.NET Core's included) and [FapiLog] methods share one
// queue and one set of sinks. Settings come from appsettings.json's "FapiLog" section, then FAPILOG_* variables:
// console output by default, Grafana Loki as well when FAPILOG_LOKI_URL is set.
WebApplicationBuilder builder = WebApplication.CreateBuilder(args);
builder.Logging.ClearProviders();
builder.AddFapiLog();

WebApplication app = builder.Build();
long orders = 0;

app.MapGet("/", () => "FapiLog.Gen WebApi sample: try GET /orders/42?customer=alice&amount=99.50");

app.MapGet("/orders/{id:long}", (long id, string? customer, decimal? amount, ILogger<OrderEndpoints> logger) =>
{
    Interlocked.Increment(ref orders);
    string who = customer ?? "anonymous";
    decimal total = amount ?? 0m;

    // Compile-time method: typed values straight into the queue, no allocation.
    Log.OrderPlaced(id, who, total);

    // Plain ILogger, through the bridge: same queue, the scope's properties become fields.
    using (logger.BeginScope(new[] { new System.Collections.Generic.KeyValuePair<string, object?>("OrderId", id) }))
    {
        logger.LogInformation("Order {OrderId} confirmed for {Customer}", id, who);
    }

    return Results.Ok(new { id, customer = who, amount = total });
});

app.MapGet("/orders/{id:long}/fail", (long id) =>
{
    Interlocked.Increment(ref orders);
    try
    {
        throw new InvalidOperationException($"Card declined for order {id}.");
    }
    catch (InvalidOperationException ex)
    {
        Log.PaymentFailed(id, ex);
    }

    return Results.Problem($"Payment failed for order {id}.", statusCode: StatusCodes.Status502BadGateway);
});

// Logged while the host stops (SIGTERM, Ctrl+C): FapiLog's hosted service delivers it before the process exits.
app.Lifetime.ApplicationStopping.Register(() => Log.Stopping(Interlocked.Read(ref orders)));

app.Run();

/// <summary>The category of the order endpoints' ILogger.</summary>
internal sealed class OrderEndpoints
{
}
