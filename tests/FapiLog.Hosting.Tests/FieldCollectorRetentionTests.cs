using System;
using System.Collections.Generic;
using System.Linq;
using FapiLog.Hosting.Internal;
using Microsoft.Extensions.Logging;
using Xunit;

namespace FapiLog.Hosting.Tests;

/// <summary>
/// The bridge's per-thread field collector: one call with thousands of properties or scopes must not leave room for them in
/// the collector of every thread that made such a call, for the rest of the thread's life.
/// </summary>
public sealed class FieldCollectorRetentionTests
{
    [Fact]
    public void A_call_with_thousands_of_properties_and_scopes_leaves_the_threads_collector_at_its_bounded_size()
    {
        var state = Enumerable.Range(0, 5000).Select(i => new KeyValuePair<string, object?>("p" + i, i)).ToList();
        var scopes = new LoggerExternalScopeProvider();
        var opened = new List<IDisposable>();
        for (int i = 0; i < 1000; i++)
        {
            opened.Add(scopes.Push("scope " + i));
        }

        FieldCollector collector = FieldCollector.Rent();
        try
        {
            collector.AddState(state);
            collector.AddCategory("Retention");
            collector.AddScopes(scopes);
            // The state's properties, the category and the joined text of the scopes.
            Assert.Equal(5002, collector.Count);
        }
        finally
        {
            FieldCollector.Return(collector);
            opened.ForEach(s => s.Dispose());
        }

        FieldCollector next = FieldCollector.Rent();
        try
        {
            Assert.Same(collector, next);
            Assert.True(next.FieldCapacity <= FieldCollector.MaxRetainedFields, $"the thread's collector keeps room for {next.FieldCapacity} fields");
            Assert.True(next.ScopeCapacity <= FieldCollector.MaxRetainedFields, $"the thread's collector keeps room for {next.ScopeCapacity} scopes");
        }
        finally
        {
            FieldCollector.Return(next);
        }
    }

    [Fact]
    public void A_call_with_an_ordinary_number_of_properties_keeps_the_collectors_room()
    {
        // Below the bound the collector is reused as it is: a call allocates nothing for its fields once warm.
        var state = Enumerable.Range(0, 40).Select(i => new KeyValuePair<string, object?>("p" + i, i)).ToList();
        FieldCollector collector = FieldCollector.Rent();
        collector.AddState(state);
        int capacity = collector.FieldCapacity;
        FieldCollector.Return(collector);

        FieldCollector next = FieldCollector.Rent();
        Assert.Same(collector, next);
        Assert.Equal(capacity, next.FieldCapacity);
        FieldCollector.Return(next);
    }
}
