using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using FapiLog.Generator.Model;
using FapiLog.Internal;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;

namespace FapiLog.Generator;

public sealed partial class FapiLogGenerator
{
    /// <summary>Turns a [FapiLog] method into plain-data models and diagnostics; the only place that sees symbols and syntax.</summary>
    internal static class Parser
    {
        public const string AttributeMetadataName = "FapiLog.FapiLogAttribute";
        private const int MaxLogLevel = 6; // LogLevel.None

        private static readonly SymbolDisplayFormat s_typeFormat = SymbolDisplayFormat.FullyQualifiedFormat
            .AddMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.IncludeNullableReferenceTypeModifier);

        public static bool IsCandidate(SyntaxNode node) => node is MethodDeclarationSyntax;

        public static bool IsHookEnabled(AnalyzerConfigOptions options)
            => !options.TryGetValue("build_property.FapiLogShutdownHook", out string? value)
               || !string.Equals(value.Trim(), "false", StringComparison.OrdinalIgnoreCase);

        public static bool SupportsModuleInitializer(Compilation compilation)
        {
            if (compilation is CSharpCompilation cs && cs.LanguageVersion < LanguageVersion.CSharp9)
            {
                return false;
            }

            INamedTypeSymbol? attribute = compilation.GetTypeByMetadataName("System.Runtime.CompilerServices.ModuleInitializerAttribute");
            return attribute is not null && compilation.IsSymbolAccessibleWithin(attribute, compilation.Assembly);
        }

        public static ParseResult Parse(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
        {
            var method = (IMethodSymbol)context.TargetSymbol;
            var syntax = (MethodDeclarationSyntax)context.TargetNode;
            var diagnostics = new List<DiagnosticInfo>();
            AttributeData attribute = context.Attributes[0];
            if (!TryReadAttribute(attribute, out int level, out string? message, out int eventId, out string? eventName))
            {
                // The attribute itself does not compile; the compiler reports that.
                return new ParseResult(null, EquatableArray<DiagnosticInfo>.Empty, null);
            }

            var attributeSyntax = attribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken) as AttributeSyntax;
            CheckMethod(method, syntax, diagnostics);
            CheckLevel(level, method.Name, attributeSyntax, syntax, diagnostics);
            List<LogParameter> parameters = ReadParameters(method, context.SemanticModel.Compilation, diagnostics);
            CheckParameterNames(method, diagnostics);
            Location templateLocation = Argument(attributeSyntax, 1, "message")?.GetLocation() ?? syntax.Identifier.GetLocation();
            CheckTemplate(message, method.Name, parameters, templateLocation, diagnostics);

            EventIdUse? eventIdUse = eventId == 0
                ? null
                : new EventIdUse(
                    method.ContainingType.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat),
                    eventId,
                    method.Name,
                    LocationInfo.From(NamedArgument(attributeSyntax, "EventId")?.GetLocation() ?? syntax.Identifier.GetLocation())!);

            LogMethodInType? model = diagnostics.Count > 0
                ? null
                : new LogMethodInType(
                    Namespace(method.ContainingType),
                    ContainingTypes(syntax),
                    new LogMethod(method.Name, Modifiers(syntax), eventId, eventName ?? method.Name, level, message!, parameters.ToEquatableArray()));
            return new ParseResult(model, diagnostics.ToEquatableArray(), eventIdUse);
        }

        public static EquatableArray<DiagnosticInfo> FindDuplicateEventIds(ImmutableArray<EventIdUse> uses)
        {
            var first = new Dictionary<(string, int), EventIdUse>();
            var diagnostics = new List<DiagnosticInfo>();
            foreach (EventIdUse use in uses)
            {
                if (first.TryGetValue((use.TypeKey, use.EventId), out EventIdUse? earlier))
                {
                    diagnostics.Add(new DiagnosticInfo(
                        DiagnosticDescriptors.DuplicateEventId.Id,
                        use.Location,
                        new EquatableArray<string>(new[] { use.EventId.ToString(System.Globalization.CultureInfo.InvariantCulture), use.MethodName, earlier.MethodName })));
                }
                else
                {
                    first.Add((use.TypeKey, use.EventId), use);
                }
            }

            return diagnostics.ToEquatableArray();
        }

        public static IEnumerable<LogType> GroupByType(ImmutableArray<LogMethodInType> methods)
        {
            // Keyed by namespace and type chain; insertion order keeps the output deterministic (compilation order).
            var groups = new Dictionary<(string, EquatableArray<ContainingType>), List<LogMethod>>();
            var order = new List<(string, EquatableArray<ContainingType>)>();
            foreach (LogMethodInType m in methods)
            {
                var key = (m.Namespace, m.Types);
                if (!groups.TryGetValue(key, out List<LogMethod>? list))
                {
                    list = new List<LogMethod>();
                    groups.Add(key, list);
                    order.Add(key);
                }

                list.Add(m.Method);
            }

            foreach ((string ns, EquatableArray<ContainingType> types) in order)
            {
                yield return new LogType(ns, types, groups[(ns, types)].ToEquatableArray());
            }
        }

        private static bool TryReadAttribute(AttributeData attribute, out int level, out string? message, out int eventId, out string? eventName)
        {
            level = 0;
            message = null;
            eventId = 0;
            eventName = null;
            ImmutableArray<TypedConstant> args = attribute.ConstructorArguments;
            if (args.Length != 2 || args[0].Kind == TypedConstantKind.Error || args[1].Kind == TypedConstantKind.Error || args[0].Value is not int l)
            {
                return false;
            }

            level = l;
            message = args[1].Value as string;
            foreach (KeyValuePair<string, TypedConstant> named in attribute.NamedArguments)
            {
                if (named.Key == "EventId" && named.Value.Value is int id)
                {
                    eventId = id;
                }
                else if (named.Key == "EventName" && named.Value.Value is string name)
                {
                    eventName = name;
                }
            }

            return true;
        }

        private static void CheckMethod(IMethodSymbol method, MethodDeclarationSyntax syntax, List<DiagnosticInfo> diagnostics)
        {
            Location at = syntax.Identifier.GetLocation();
            bool isPartial = syntax.Modifiers.Any(SyntaxKind.PartialKeyword);
            if (!isPartial)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MethodNotPartial, at, method.Name));
            }

            if (!method.ReturnsVoid)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MethodNotVoid, at, method.Name));
            }

            // A method that is not partial always has a body; FAPI001 already says what to fix.
            if (isPartial && (syntax.Body is not null || syntax.ExpressionBody is not null || method.PartialImplementationPart is not null))
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MethodHasBody, at, method.Name));
            }

            if (method.IsGenericMethod)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MethodIsGeneric, at, method.Name));
            }

            for (SyntaxNode? parent = syntax.Parent; parent is TypeDeclarationSyntax type; parent = parent.Parent)
            {
                if (!type.Modifiers.Any(SyntaxKind.PartialKeyword))
                {
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ContainingTypeNotPartial, at, type.Identifier.ValueText, method.Name));
                }

                if (type.Modifiers.Any(SyntaxKind.FileKeyword))
                {
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.FileLocalType, at, method.Name, type.Identifier.ValueText));
                }
            }
        }

        private static void CheckLevel(int level, string methodName, AttributeSyntax? attribute, MethodDeclarationSyntax method, List<DiagnosticInfo> diagnostics)
        {
            if (level < 0 || level > MaxLogLevel)
            {
                Location at = Argument(attribute, 0, "level")?.GetLocation() ?? method.Identifier.GetLocation();
                diagnostics.Add(DiagnosticInfo.Create(
                    DiagnosticDescriptors.UndefinedLevel, at, level.ToString(System.Globalization.CultureInfo.InvariantCulture), methodName));
            }
        }

        private static List<LogParameter> ReadParameters(IMethodSymbol method, Compilation compilation, List<DiagnosticInfo> diagnostics)
        {
            INamedTypeSymbol? exceptionType = compilation.GetTypeByMetadataName("System.Exception");
            var parameters = new List<LogParameter>(method.Parameters.Length);
            bool haveException = false;
            foreach (IParameterSymbol p in method.Parameters)
            {
                Location? at = p.Locations.FirstOrDefault();
                string? badModifier = p.IsParams ? "params" : p.RefKind switch
                {
                    RefKind.Out => "out",
                    RefKind.Ref => "ref",
                    RefKind.In or RefKind.None => null,
                    _ => "ref readonly",
                };
                if (badModifier is not null)
                {
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidParameterModifier, at, p.Name, method.Name, badModifier));
                }
                else if (p.Type is IPointerTypeSymbol or IFunctionPointerTypeSymbol || p.Type.IsRefLikeType)
                {
                    diagnostics.Add(DiagnosticInfo.Create(
                        DiagnosticDescriptors.UnsupportedParameterType, at, p.Name, method.Name, p.Type.ToDisplayString()));
                }

                // An invalid parameter stays in the list (the model is dropped anyway), so that the template check
                // does not add a misleading "no matching parameter" for it.

                ParameterKind kind = Classify(p.Type);
                if (!haveException && exceptionType is not null && IsException(p.Type, exceptionType))
                {
                    kind = ParameterKind.Exception;
                    haveException = true;
                }

                parameters.Add(new LogParameter(
                    p.Name,
                    Identifier(p.Name),
                    p.Type.ToDisplayString(s_typeFormat),
                    kind is ParameterKind.Value or ParameterKind.NullableValue ? p.Type.WithNullableAnnotation(NullableAnnotation.None).ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat) : string.Empty,
                    ParameterModifier(method, p),
                    kind));
            }

            return parameters;
        }

        private static string ParameterModifier(IMethodSymbol method, IParameterSymbol parameter)
        {
            string extension = method.IsExtensionMethod && parameter.Ordinal == 0 ? "this" : string.Empty;
            string refKind = parameter.RefKind == RefKind.In ? "in" : string.Empty;
            return extension.Length > 0 && refKind.Length > 0 ? extension + " " + refKind : extension + refKind;
        }

        private static void CheckParameterNames(IMethodSymbol method, List<DiagnosticInfo> diagnostics)
        {
            ImmutableArray<IParameterSymbol> ps = method.Parameters;
            for (int j = 1; j < ps.Length; j++)
            {
                for (int i = 0; i < j; i++)
                {
                    if (string.Equals(ps[i].Name, ps[j].Name, StringComparison.OrdinalIgnoreCase))
                    {
                        diagnostics.Add(DiagnosticInfo.Create(
                            DiagnosticDescriptors.ParametersCollide, ps[j].Locations.FirstOrDefault(), ps[i].Name, ps[j].Name, method.Name));
                        break;
                    }
                }
            }
        }

        private static void CheckTemplate(string? message, string methodName, List<LogParameter> parameters, Location at, List<DiagnosticInfo> diagnostics)
        {
            if (message is null)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MalformedTemplate, at, methodName, "it is null"));
                return;
            }

            if (!MessageTemplate.TryParse(message, out List<TemplateSegment> segments, out string? error, out _))
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MalformedTemplate, at, methodName, error!));
                return;
            }

            var spellings = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (TemplateSegment segment in segments)
            {
                if (segment.IsPlaceholder)
                {
                    CheckPlaceholder(segment.Name!, methodName, parameters, spellings, at, diagnostics);
                }
            }
        }

        private static void CheckPlaceholder(
            string name, string methodName, List<LogParameter> parameters, Dictionary<string, string> spellings, Location at, List<DiagnosticInfo> diagnostics)
        {
            LogParameter? match = parameters.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase));
            if (match is null)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.PlaceholderWithoutParameter, at, name, methodName));
                return;
            }

            if (match.Kind == ParameterKind.Exception)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ExceptionInTemplate, at, name, methodName));
                return;
            }

            if (!spellings.TryGetValue(match.Name, out string? first))
            {
                spellings.Add(match.Name, name);
            }
            else if (!string.Equals(first, name, StringComparison.Ordinal))
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.PlaceholdersCollide, at, first, name, methodName, match.Name));
            }
        }

        private static ParameterKind Classify(ITypeSymbol type)
        {
            if (type.SpecialType == SpecialType.System_String)
            {
                return ParameterKind.String;
            }

            if (type is INamedTypeSymbol { OriginalDefinition.SpecialType: SpecialType.System_Nullable_T } nullable)
            {
                return IsStoredByValue(nullable.TypeArguments[0]) ? ParameterKind.NullableValue : ParameterKind.Captured;
            }

            return IsStoredByValue(type) ? ParameterKind.Value : ParameterKind.Captured;
        }

        private static bool IsStoredByValue(ITypeSymbol type)
        {
            if (type.TypeKind == TypeKind.Enum)
            {
                return true;
            }

            switch (type.SpecialType)
            {
                case SpecialType.System_Boolean:
                case SpecialType.System_Char:
                case SpecialType.System_SByte:
                case SpecialType.System_Byte:
                case SpecialType.System_Int16:
                case SpecialType.System_UInt16:
                case SpecialType.System_Int32:
                case SpecialType.System_UInt32:
                case SpecialType.System_Int64:
                case SpecialType.System_UInt64:
                case SpecialType.System_IntPtr:
                case SpecialType.System_UIntPtr:
                case SpecialType.System_Single:
                case SpecialType.System_Double:
                case SpecialType.System_Decimal:
                case SpecialType.System_DateTime:
                    return true;
            }

            return type is INamedTypeSymbol { ContainingNamespace: { Name: "System", ContainingNamespace.IsGlobalNamespace: true }, Arity: 0 } named
                && named.ContainingType is null
                && named.Name is "DateTimeOffset" or "TimeSpan" or "Guid";
        }

        private static bool IsException(ITypeSymbol type, INamedTypeSymbol exceptionType)
        {
            ITypeSymbol? current = type is ITypeParameterSymbol tp ? tp.ConstraintTypes.FirstOrDefault(t => t.TypeKind == TypeKind.Class) : type;
            for (; current is not null; current = current.BaseType)
            {
                if (SymbolEqualityComparer.Default.Equals(current, exceptionType))
                {
                    return true;
                }
            }

            return false;
        }

        private static string Identifier(string name)
            => SyntaxFacts.GetKeywordKind(name) != SyntaxKind.None ? "@" + name : name;

        private static string Namespace(INamedTypeSymbol type)
            => type.ContainingNamespace is { IsGlobalNamespace: false } ns ? ns.ToDisplayString() : string.Empty;

        private static EquatableArray<ContainingType> ContainingTypes(MethodDeclarationSyntax method)
        {
            var types = new List<ContainingType>();
            for (SyntaxNode? parent = method.Parent; parent is TypeDeclarationSyntax type; parent = parent.Parent)
            {
                types.Add(new ContainingType(Keyword(type), type.Identifier.ValueText + TypeParameters(type)));
            }

            types.Reverse();
            return types.ToEquatableArray();
        }

        private static string Keyword(TypeDeclarationSyntax type)
        {
            string keyword = type switch
            {
                RecordDeclarationSyntax r when r.ClassOrStructKeyword.IsKind(SyntaxKind.StructKeyword) => "record struct",
                RecordDeclarationSyntax => "record",
                _ => type.Keyword.ValueText,
            };
            return type.Modifiers.Any(SyntaxKind.RefKeyword) ? "ref " + keyword : keyword;
        }

        private static string TypeParameters(TypeDeclarationSyntax type)
            => type.TypeParameterList is null
                ? string.Empty
                : "<" + string.Join(", ", type.TypeParameterList.Parameters.Select(p => p.Identifier.ValueText)) + ">";

        private static string Modifiers(MethodDeclarationSyntax method)
        {
            // Partial parts must agree on accessibility and on static/virtual/override/sealed/new/extern/readonly/unsafe.
            IEnumerable<string> kept = method.Modifiers
                .Where(m => !m.IsKind(SyntaxKind.PartialKeyword) && !m.IsKind(SyntaxKind.AsyncKeyword))
                .Select(m => m.ValueText);
            return string.Join(" ", kept);
        }

        private static ExpressionSyntax? Argument(AttributeSyntax? attribute, int position, string name)
        {
            if (attribute?.ArgumentList is null)
            {
                return null;
            }

            SeparatedSyntaxList<AttributeArgumentSyntax> args = attribute.ArgumentList.Arguments;
            AttributeArgumentSyntax? byName = args.FirstOrDefault(a => a.NameColon?.Name.Identifier.ValueText == name);
            if (byName is not null)
            {
                return byName.Expression;
            }

            return position < args.Count && args[position].NameColon is null && args[position].NameEquals is null ? args[position].Expression : null;
        }

        private static ExpressionSyntax? NamedArgument(AttributeSyntax? attribute, string name)
            => attribute?.ArgumentList?.Arguments.FirstOrDefault(a => a.NameEquals?.Name.Identifier.ValueText == name)?.Expression;
    }
}
