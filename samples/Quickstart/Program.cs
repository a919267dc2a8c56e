using System;
using FapiLog;
using Quickstart;

// No configuration at all: the first log call sets the pipeline up from the FAPILOG_* environment variables
// (console output; Loki as well when FAPILOG_LOKI_URL is set). Call FapiLogging.Configure(...) first to set it in code.
Log.ShopOpened("Main Street", 3);

var random = new Random(42);
for (long orderId = 1000; orderId < 1010; orderId++)
{
    string customer = orderId % 3 == 0 ? "alice" : orderId % 3 == 1 ? "bob" : "carol";
    Log.OrderPlaced(orderId, customer, Math.Round((decimal)(random.NextDouble() * 200), 2));
    Log.CacheLookup("customer:" + customer, orderId % 2 == 0); // Debug: below the default level, costs one compare
}

Log.SlowConfirmation(1004, TimeSpan.FromSeconds(1.5));

try
{
    throw new InvalidOperationException("card declined");
}
catch (InvalidOperationException ex)
{
    Log.PaymentFailed(1007, ex);
}

// Nothing else to do: the generated [ModuleInitializer] hooked process exit, which flushes the queue.
// The statistics show that every event was accounted for.
FapiLogging.Flush(TimeSpan.FromSeconds(5));
Console.Error.WriteLine($"quickstart: {FapiLogging.Statistics}");
