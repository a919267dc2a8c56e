using System.Collections.Immutable;
using FapiLog.Generator.Model;
using Microsoft.CodeAnalysis;

namespace FapiLog.Generator;

/// <summary>
/// Writes the bodies of <c>[FapiLog]</c> partial methods: a level check, then the typed arguments copied into the
/// runtime's queue slot; plus one event descriptor per method and, once per assembly, the shutdown-hook module initializer.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed partial class FapiLogGenerator : IIncrementalGenerator
{
    /// <inheritdoc />
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        IncrementalValuesProvider<ParseResult> parsed = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                Parser.AttributeMetadataName,
                static (node, _) => Parser.IsCandidate(node),
                static (ctx, ct) => Parser.Parse(ctx, ct))
            .WithTrackingName(StepNames.Parse);

        IncrementalValuesProvider<EquatableArray<DiagnosticInfo>> methodDiagnostics = parsed
            .Select(static (r, _) => r.Diagnostics)
            .WithTrackingName(StepNames.MethodDiagnostics);
        context.RegisterSourceOutput(methodDiagnostics, static (spc, d) => Emitter.Report(spc, d));

        IncrementalValuesProvider<EquatableArray<DiagnosticInfo>> eventDiagnostics = context.SyntaxProvider
            .CreateSyntaxProvider(
                static (node, _) => Parser.IsEventWithMethodAttributes(node),
                static (ctx, ct) => Parser.ParseEvent(ctx, ct))
            .WithTrackingName(StepNames.EventDiagnostics);
        context.RegisterSourceOutput(eventDiagnostics, static (spc, d) => Emitter.Report(spc, d));

        IncrementalValueProvider<EquatableArray<DiagnosticInfo>> eventIdDiagnostics = parsed
            .SelectMany(static (r, _) => r.EventId is null ? ImmutableArray<EventIdUse>.Empty : ImmutableArray.Create(r.EventId))
            .WithTrackingName(StepNames.EventIds)
            .Collect()
            .WithTrackingName(StepNames.AllEventIds)
            .Select(static (uses, _) => Parser.FindDuplicateEventIds(uses))
            .WithTrackingName(StepNames.EventIdDiagnostics);
        context.RegisterSourceOutput(eventIdDiagnostics, static (spc, d) => Emitter.Report(spc, d));

        IncrementalValuesProvider<LogMethodInType> methods = parsed
            .SelectMany(static (r, _) => r.Method is null ? ImmutableArray<LogMethodInType>.Empty : ImmutableArray.Create(r.Method))
            .WithTrackingName(StepNames.Methods);

        IncrementalValueProvider<ImmutableArray<LogMethodInType>> allMethods = methods
            .Collect()
            .WithTrackingName(StepNames.AllMethods);
        IncrementalValuesProvider<LogType> types = allMethods
            .SelectMany(static (all, _) => Parser.GroupByType(all))
            .WithTrackingName(StepNames.Types);
        IncrementalValueProvider<bool> nullableAnnotations = context.ParseOptionsProvider
            .Select(static (options, _) => Parser.SupportsNullableAnnotations(options))
            .WithTrackingName(StepNames.NullableAnnotations);
        IncrementalValuesProvider<(LogType Type, bool NullableAnnotations)> typesToEmit = types
            .Combine(nullableAnnotations)
            .WithTrackingName(StepNames.TypesWithNullableAnnotations);
        context.RegisterSourceOutput(
            typesToEmit, static (spc, t) => spc.AddSource(t.Type.HintName, Emitter.EmitType(t.Type, t.NullableAnnotations)));

        IncrementalValueProvider<bool> hookOption = context.AnalyzerConfigOptionsProvider
            .Select(static (options, _) => Parser.IsHookEnabled(options.GlobalOptions))
            .WithTrackingName(StepNames.HookOption);
        IncrementalValueProvider<bool> hookSupport = context.CompilationProvider
            .Select(static (compilation, _) => Parser.SupportsModuleInitializer(compilation))
            .WithTrackingName(StepNames.HookSupport);
        IncrementalValueProvider<HookRequest> hook = allMethods
            .Select(static (all, _) => !all.IsEmpty)
            .WithTrackingName(StepNames.HasMethods)
            .Combine(hookOption)
            .WithTrackingName(StepNames.HookWithOption)
            .Combine(hookSupport)
            .WithTrackingName(StepNames.HookWithSupport)
            .Select(static (t, _) => new HookRequest(t.Left.Left, t.Left.Right, t.Right))
            .WithTrackingName(StepNames.Hook);
        context.RegisterSourceOutput(hook, static (spc, request) => Emitter.EmitHook(spc, request));
    }
}
