using System;
using System.Collections.Generic;
using FapiLog.Internal;
using Microsoft.Extensions.Logging;

namespace FapiLog.Hosting.Internal;

/// <summary>One category's <see cref="ILogger"/>: collects the call's fields, finds the cached descriptor, writes the event.</summary>
internal sealed class FapiLogLogger : ILogger
{
    private readonly string _category;
    private readonly FapiLogLoggerProvider _provider;

    public FapiLogLogger(string category, FapiLogLoggerProvider provider)
    {
        _category = category;
        _provider = provider;
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull
        => _provider.ScopeProvider.Push(state);

    public bool IsEnabled(LogLevel logLevel)
    {
        if (!IsLoggable(logLevel))
        {
            return false;
        }

        if (_provider.Host is { IsStarted: false } host)
        {
            switch (host.TryEnsureStarted())
            {
                case StartState.Starting:
                    // Called while the options are built (a callback that logs, or work it waits for): the level is not
                    // known yet, so Log keeps the call and makes it again once the pipeline runs, when the level decides.
                    // (Microsoft's Logging:LogLevel rules are known, and its logger applied them before asking us.)
                    return true;
                case StartState.Failed:
                    return false;
            }
        }

        // The live level of the running pipeline: the configured one, or what FapiLogging.SetMinimumLevel made it since.
        return FapiLogRuntime.IsEnabled(logLevel);
    }

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        // Once started (every call but the first few), one volatile read.
        if (_provider.Host is { IsStarted: false } host && !StartOrDefer(host, logLevel, eventId, state, exception, formatter))
        {
            return;
        }

        if (!IsEnabled(logLevel))
        {
            return;
        }

        FieldCollector fields = FieldCollector.Rent();
        try
        {
            string? written = fields.AddState(state);
            string? template = written;
            if (template is not null && (fields.StateCount == 0 || fields.StateIncomplete || !TemplateTrust.FollowsTemplate(formatter)))
            {
                // The formatter's text: a state whose ToString renders its own way, a call without values, whose text
                // Microsoft prints as written ("{{x}}" stays doubled), or a state that could not be read whole. Without a
                // template, such calls share one shape.
                template = null;
            }

            fields.AddCategory(_category);
            fields.AddScopes(_provider.ScopeProvider);

            BridgeEvent bridgeEvent = _provider.Descriptors.Get(fields, _category, logLevel, eventId, template);
            string? rendered = bridgeEvent.RendersMessage ? Render(state, exception, formatter, written) : null;

            LogEventWriter writer = FapiLogRuntime.Begin(bridgeEvent.Descriptor);
            if (!writer.IsActive)
            {
                return;
            }

            if (bridgeEvent.RendersMessage)
            {
                writer.WriteString(rendered);
            }

            fields.WriteValues(ref writer);
            writer.SetException(exception);
            writer.Commit();
        }
        finally
        {
            FieldCollector.Return(fields);
        }
    }

    /// <summary>
    /// <see cref="FapiLogPipelineHost.StartOrDefer"/> for a call made before the pipeline runs. In a method of its own: a
    /// lambda in Log that captures its parameters would make every call allocate the closure, not only the early ones.
    /// </summary>
    private bool StartOrDefer<TState>(
        FapiLogPipelineHost host, LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        => IsLoggable(logLevel) && host.StartOrDefer(() => Log(logLevel, eventId, state, exception, formatter), logLevel);

    /// <summary>
    /// Trace to Critical. None is never logged (Microsoft's rule), and neither is a number past it such as
    /// <c>(LogLevel)42</c>: the level check compares numbers, so it passed even with <see cref="FapiLogOptions.MinimumLevel"/>
    /// None, which turns everything off, and no level name, label or Loki stream fits it.
    /// </summary>
    private static bool IsLoggable(LogLevel logLevel) => (uint)logLevel < (uint)LogLevel.None;

    private static string Render<TState>(TState state, Exception? exception, Func<TState, Exception?, string>? formatter, string? template)
    {
        try
        {
            if (formatter is not null)
            {
                return formatter(state, exception) ?? string.Empty;
            }

            return state?.ToString() ?? string.Empty;
        }
        catch (Exception ex)
        {
            // Microsoft's formatter throws for a template with more placeholders than values: the event keeps its fields
            // and says what went wrong, after the template that shows which call it was.
            string failure = $"<formatter threw {ex.GetType().Name}: {ExceptionText.Message(ex)}>";
            return template is null ? failure : template + " " + failure;
        }
    }
}

/// <summary>What the bridge needs per event shape: the descriptor, and whether the message is the formatter's text.</summary>
internal sealed class BridgeEvent
{
    public BridgeEvent(LogEventDescriptor descriptor, bool rendersMessage)
    {
        Descriptor = descriptor;
        RendersMessage = rendersMessage;
    }

    public LogEventDescriptor Descriptor { get; }

    /// <summary>
    /// True when the message is the formatter's text: the state had no <c>{OriginalFormat}</c> the bridge can render (see
    /// <see cref="TemplateTrust"/>) or no values. The first argument is then that text, the template is <c>{message}</c>,
    /// and the text is not a field.
    /// </summary>
    public bool RendersMessage { get; }
}

/// <summary>A key/value list as <see cref="ILogger"/> states and scopes carry them.</summary>
internal static class StateKeys
{
    public const string OriginalFormat = "{OriginalFormat}";

    public static bool IsPairs(object? state) => state is IEnumerable<KeyValuePair<string, object?>>;
}
