using System;
using System.Collections.Concurrent;
using FapiLog.Hosting.Internal;
using Microsoft.Extensions.Logging;

namespace FapiLog.Hosting;

/// <summary>
/// An <see cref="ILoggerProvider"/> that writes <see cref="ILogger"/> calls into the FapiLog pipeline, next to the events
/// of <c>[FapiLog]</c> methods: same queue, same overflow strategy, same sinks.
/// </summary>
/// <remarks>
/// <para>Each event carries the message (rendered by FapiLog's worker from the <c>{OriginalFormat}</c> template when the
/// state has one, as <c>[LoggerMessage]</c> and <c>LogInformation("...")</c> states do; otherwise the formatter's text,
/// taken at the call), the state's properties as typed fields (numbers, booleans, dates, GUIDs and enums keep their type;
/// any other value is stored as its invariant string, taken at the call), the logger category as the field
/// <c>category</c>, the <see cref="EventId"/> (its name, or the category when it has none, is the event name), the
/// exception, and the properties of the active scopes as fields.</para>
/// <para>Field names: the call's own properties come first, then <c>category</c>, then the scopes' properties, innermost
/// scope first; a name already taken is skipped, so the call's own property wins over a scope's and an inner scope's over an
/// outer one's. A property called <c>category</c> is renamed <c>_category</c>. The text of scopes that are not lists of
/// key/value pairs (a plain string, say) and of scopes made from a template (<c>BeginScope("Order {OrderId}", 42)</c>) is
/// joined with <c> =&gt; </c>, outer first, into the field <c>scope</c>.</para>
/// <para>Level filtering: <see cref="FapiLogOptions.MinimumLevel"/> applies, and so do the usual <c>Logging:LogLevel</c>
/// filters of the logging builder (the provider alias is <c>FapiLog</c>, so <c>Logging:FapiLog:LogLevel</c> works too).</para>
/// <para>Cost: <see cref="ILogger"/>'s state boxes its values and the logging infrastructure allocates per call, so this
/// path is not allocation-free like a <c>[FapiLog]</c> method; the bridge adds little on top of that. Event descriptors
/// are cached per category, event id, level, template and field types (up to 4096 shapes; calls of further shapes still work
/// but build a descriptor each time).</para>
/// </remarks>
[ProviderAlias("FapiLog")]
public sealed class FapiLogLoggerProvider : ILoggerProvider, ISupportExternalScope
{
    private readonly ConcurrentDictionary<string, FapiLogLogger> _loggers = new(StringComparer.Ordinal);
    private readonly FapiLogPipelineHost? _host;
    private IExternalScopeProvider? _scopeProvider;

    /// <summary>
    /// Creates a provider that writes to the global pipeline as <see cref="FapiLogging.Configure(Action{FapiLogOptions})"/> set it
    /// up (or as it configures itself from the environment on first use). <c>AddFapiLog</c> registers a provider that also
    /// starts the pipeline from the host's configuration; use this constructor when you manage the pipeline yourself.
    /// It registers FapiLog's exit hooks (<see cref="FapiLogging.RegisterShutdownHooks"/>), as <c>AddFapiLog</c> does: an
    /// application that logs through <c>ILogger</c> only has no <c>[FapiLog]</c> method, so no generated module
    /// initializer registers them, and what was still queued when <c>Main</c> returned was lost without a word.
    /// </summary>
    public FapiLogLoggerProvider() => FapiLogging.RegisterShutdownHooks();

    internal FapiLogLoggerProvider(FapiLogPipelineHost host) => _host = host;

    internal FapiLogPipelineHost? Host => _host;

    internal IExternalScopeProvider ScopeProvider => _scopeProvider ??= new LoggerExternalScopeProvider();

    internal DescriptorCache Descriptors { get; } = new();

    /// <inheritdoc />
    public ILogger CreateLogger(string categoryName)
    {
        ArgumentNullException.ThrowIfNull(categoryName);
        return _loggers.GetOrAdd(categoryName, static (name, provider) => new FapiLogLogger(name, provider), this);
    }

    /// <inheritdoc />
    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopeProvider = scopeProvider;

    /// <summary>
    /// Does not shut the pipeline down: the host's FapiLog service does that after the other services have stopped, and
    /// the process-exit hook does it otherwise; events logged through this provider are already in the queue.
    /// </summary>
    public void Dispose()
    {
    }
}
