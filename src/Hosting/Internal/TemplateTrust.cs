using System;
using System.Reflection;
using Microsoft.Extensions.Logging;

namespace FapiLog.Hosting.Internal;

/// <summary>
/// Which states' <c>{OriginalFormat}</c> the bridge may render itself instead of taking the formatter's text. Any state
/// can expose a template, but only Microsoft's own formatting states are known to render exactly from it, with the
/// invariant culture and <c>(null)</c> for a null value: <c>FormattedLogValues</c> (<c>LogInformation("…", args)</c>) and
/// the <c>LogValues</c> types of <see cref="LoggerMessage.Define(LogLevel, EventId, string)"/> (which <c>[LoggerMessage]</c>
/// methods of up to six parameters call), and only with Microsoft's formatter, not one a decorating logger substituted.
/// Other states print what their own <c>ToString</c> decides: ASP.NET Core's request lines write <c>-</c> for a missing
/// value, and the structs <c>[LoggerMessage]</c> generates for more than six parameters format with the current culture
/// and write nothing for null, so they are not trusted; their message is the formatter's text.
/// </summary>
internal static class TemplateTrust
{
    private const string LoggingNamespace = "Microsoft.Extensions.Logging";

    private static readonly Assembly s_abstractions = typeof(ILogger).Assembly;

    /// <summary>True when <paramref name="formatter"/> renders a <typeparamref name="TState"/> from its template.</summary>
    public static bool FollowsTemplate<TState>(Func<TState, Exception?, string>? formatter)
    {
        if (!State<TState>.IsMicrosoftFormattingState || formatter is null)
        {
            return false;
        }

        if (ReferenceEquals(formatter, State<TState>.KnownFormatter))
        {
            return true;
        }

        // Microsoft's formatters are static delegates declared in the abstractions assembly; remember the one seen.
        if (formatter.Method.DeclaringType?.Assembly != s_abstractions)
        {
            return false;
        }

        State<TState>.KnownFormatter = formatter;
        return true;
    }

    private static bool IsMicrosoftFormattingState(Type type)
    {
        if (type.Assembly != s_abstractions || type.Namespace != LoggingNamespace)
        {
            return false;
        }

        Type? outer = type.DeclaringType;
        if (outer is null)
        {
            return type.Name == "FormattedLogValues";
        }

        return outer.Name == nameof(LoggerMessage) && outer.DeclaringType is null
            && (type.Name == "LogValues" || type.Name.StartsWith("LogValues`", StringComparison.Ordinal));
    }

    private static class State<TState>
    {
        public static readonly bool IsMicrosoftFormattingState = IsMicrosoftFormattingState(typeof(TState));

        /// <summary>The last formatter found to be Microsoft's (a benign race: any writer stores a trusted one).</summary>
        public static Func<TState, Exception?, string>? KnownFormatter;
    }
}
