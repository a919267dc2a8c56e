using System.Collections.Generic;
using Microsoft.CodeAnalysis;

namespace FapiLog.Generator;

/// <summary>Every diagnostic the generator reports. Ids are stable; the help link points at the README section of each.</summary>
internal static class DiagnosticDescriptors
{
    private const string Category = "FapiLog.Generator";
    private const string HelpBase = "https://github.com/fapilog/FapiLog.Gen/blob/main/README.md#";

    public static readonly DiagnosticDescriptor MethodNotPartial = Error(
        "FAPI001", "A [FapiLog] method must be partial",
        "Log method '{0}' must be declared 'partial' so that the generator can write its body");

    public static readonly DiagnosticDescriptor MethodNotVoid = Error(
        "FAPI002", "A [FapiLog] method must return void",
        "Log method '{0}' must return 'void'");

    public static readonly DiagnosticDescriptor MethodHasBody = Error(
        "FAPI003", "A [FapiLog] method must not have a body",
        "Log method '{0}' must not have a body: the generator writes it");

    public static readonly DiagnosticDescriptor MethodIsGeneric = Error(
        "FAPI004", "A [FapiLog] method cannot be generic",
        "Log method '{0}' cannot have type parameters");

    public static readonly DiagnosticDescriptor InvalidParameterModifier = Error(
        "FAPI005", "A [FapiLog] parameter cannot be out, ref, params or __arglist",
        "Parameter '{0}' of log method '{1}' cannot be '{2}'; pass it by value or 'in'");

    public static readonly DiagnosticDescriptor PlaceholderWithoutParameter = Error(
        "FAPI006", "A placeholder has no matching parameter",
        "The placeholder '{{{0}}}' of log method '{1}' matches no parameter (names match case-insensitively){2}");

    public static readonly DiagnosticDescriptor MalformedTemplate = Error(
        "FAPI007", "The message template is malformed",
        "The message template of log method '{0}' is malformed: {1}");

    public static readonly DiagnosticDescriptor ParametersCollide = Error(
        "FAPI008", "Two parameters differ only in case",
        "Parameters '{0}' and '{1}' of log method '{2}' differ only in case; placeholders match parameters case-insensitively, so rename one");

    public static readonly DiagnosticDescriptor PlaceholdersCollide = Error(
        "FAPI009", "One parameter is named by two different placeholders",
        "The placeholders '{{{0}}}' and '{{{1}}}' of log method '{2}' both name parameter '{3}' but are spelled differently, so the field name would be ambiguous; spell them the same");

    public static readonly DiagnosticDescriptor ExceptionInTemplate = Error(
        "FAPI010", "The exception parameter is used as a placeholder",
        "The placeholder '{{{0}}}' of log method '{1}' names the exception parameter, which is logged as the event's exception; remove it from the template");

    public static readonly DiagnosticDescriptor DuplicateEventId = Error(
        "FAPI011", "Two log methods of one type share an EventId",
        "EventId {0} of log method '{1}' is already used by log method '{2}' of the same type");

    public static readonly DiagnosticDescriptor UndefinedLevel = Error(
        "FAPI012", "The level is not a defined LogLevel",
        "The level {0} of log method '{1}' is not a defined LogLevel (Trace, Debug, Information, Warning, Error, Critical, None)");

    public static readonly DiagnosticDescriptor ContainingTypeNotPartial = Error(
        "FAPI013", "The type containing a [FapiLog] method must be partial",
        "Type '{0}', which contains log method '{1}', must be declared 'partial'");

    public static readonly DiagnosticDescriptor UnsupportedParameterType = Error(
        "FAPI014", "The parameter type cannot be logged",
        "Parameter '{0}' of log method '{1}' has type '{2}', which cannot be logged (pointers and ref structs such as Span<T> cannot be captured); pass a string or a supported type");

    public static readonly DiagnosticDescriptor FileLocalType = Error(
        "FAPI016", "A [FapiLog] method cannot be in a file-local type",
        "Log method '{0}' is in file-local type '{1}'; the generator's part of the type would be in another file, so declare the type without 'file' (for example 'internal')");

    public static readonly DiagnosticDescriptor EmptyEventName = Error(
        "FAPI017", "The EventName is empty",
        "The EventName of log method '{0}' is empty or white space; leave EventName out to use the method name, or give a name");

    public static readonly DiagnosticDescriptor NotATypeMethod = Error(
        "FAPI018", "[FapiLog] applies to methods declared in a type",
        "[FapiLog] on '{0}' has no effect: it is {1}; declare a partial method in a partial type instead");

    public static readonly DiagnosticDescriptor ExternAliasType = Error(
        "FAPI019", "The parameter type comes from an extern-aliased reference",
        "Parameter '{0}' of log method '{1}' has type '{2}' from the reference aliased '{3}' (extern alias), which generated code cannot name; pass a string or a type from a reference without an alias");

    public static readonly DiagnosticDescriptor ShutdownHookUnavailable = new(
        "FAPI015", "The shutdown hook was not generated",
        "The flush-at-exit hook was not generated because this project cannot use [ModuleInitializer] (it needs C# 9 and .NET 5 or later); call FapiLogging.RegisterShutdownHooks() at startup, or set FapiLogShutdownHook to false",
        Category, DiagnosticSeverity.Info, isEnabledByDefault: true, helpLinkUri: HelpBase + "fapi015");

    private static readonly Dictionary<string, DiagnosticDescriptor> s_byId = new()
    {
        [MethodNotPartial.Id] = MethodNotPartial,
        [MethodNotVoid.Id] = MethodNotVoid,
        [MethodHasBody.Id] = MethodHasBody,
        [MethodIsGeneric.Id] = MethodIsGeneric,
        [InvalidParameterModifier.Id] = InvalidParameterModifier,
        [PlaceholderWithoutParameter.Id] = PlaceholderWithoutParameter,
        [MalformedTemplate.Id] = MalformedTemplate,
        [ParametersCollide.Id] = ParametersCollide,
        [PlaceholdersCollide.Id] = PlaceholdersCollide,
        [ExceptionInTemplate.Id] = ExceptionInTemplate,
        [DuplicateEventId.Id] = DuplicateEventId,
        [UndefinedLevel.Id] = UndefinedLevel,
        [ContainingTypeNotPartial.Id] = ContainingTypeNotPartial,
        [UnsupportedParameterType.Id] = UnsupportedParameterType,
        [FileLocalType.Id] = FileLocalType,
        [ShutdownHookUnavailable.Id] = ShutdownHookUnavailable,
        [EmptyEventName.Id] = EmptyEventName,
        [NotATypeMethod.Id] = NotATypeMethod,
        [ExternAliasType.Id] = ExternAliasType,
    };

    /// <summary>All descriptors, in id order.</summary>
    public static IEnumerable<DiagnosticDescriptor> All => s_byId.Values;

    public static DiagnosticDescriptor Find(string id) => s_byId[id];

    private static DiagnosticDescriptor Error(string id, string title, string message)
        => new(id, title, message, Category, DiagnosticSeverity.Error, isEnabledByDefault: true,
            helpLinkUri: HelpBase + id.ToLowerInvariant());
}
