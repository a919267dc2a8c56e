using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
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

        // Every other method the attribute compiles on too (AttributeTargets.Method): local functions, accessors, operators,
        // conversions, finalizers and lambdas. The generator cannot give them a body, so they get FAPI018 instead of being
        // ignored without a word.
        public static bool IsCandidate(SyntaxNode node)
            => node is MethodDeclarationSyntax or LocalFunctionStatementSyntax or AccessorDeclarationSyntax or OperatorDeclarationSyntax
                or ConversionOperatorDeclarationSyntax or DestructorDeclarationSyntax or LambdaExpressionSyntax;

        // [method: FapiLog(...)] on a field-like event compiles too: it lands on the add and remove accessors the compiler writes.
        // ForAttributeWithMetadataName never reports it (it matches the attributes of the declared symbol, here the event), so
        // a syntax provider finds these. It sees every node of an edited file: one type test each, and a look at the attribute
        // targets only for a field-like event that has attributes.
        public static bool IsEventWithMethodAttributes(SyntaxNode node)
        {
            if (node is not EventFieldDeclarationSyntax { AttributeLists.Count: > 0 } declaration)
            {
                return false;
            }

            foreach (AttributeListSyntax list in declaration.AttributeLists)
            {
                if (list.Target is { } target && target.Identifier.IsKind(SyntaxKind.MethodKeyword))
                {
                    return true;
                }
            }

            return false;
        }

        /// <summary>FAPI018 at the name of each event of the declaration whose accessors carry [FapiLog]; empty for any other attribute.</summary>
        public static EquatableArray<DiagnosticInfo> ParseEvent(GeneratorSyntaxContext context, CancellationToken cancellationToken)
        {
            var declaration = (EventFieldDeclarationSyntax)context.Node;
            List<DiagnosticInfo>? diagnostics = null;
            foreach (VariableDeclaratorSyntax variable in declaration.Declaration.Variables)
            {
                // The attributes of a [method:] list go to both accessors alike, so the add accessor tells.
                if (context.SemanticModel.GetDeclaredSymbol(variable, cancellationToken) is IEventSymbol { AddMethod: { } add }
                    && add.GetAttributes().Any(IsFapiLogAttribute))
                {
                    (diagnostics ??= new List<DiagnosticInfo>()).Add(DiagnosticInfo.Create(
                        DiagnosticDescriptors.NotATypeMethod, variable.Identifier.GetLocation(), variable.Identifier.ValueText, "an event"));
                }
            }

            return diagnostics is null ? EquatableArray<DiagnosticInfo>.Empty : diagnostics.ToEquatableArray();
        }

        private static bool IsFapiLogAttribute(AttributeData attribute)
            => attribute.AttributeClass is
            {
                Name: "FapiLogAttribute", Arity: 0, ContainingType: null,
                ContainingNamespace: { Name: "FapiLog", ContainingNamespace.IsGlobalNamespace: true },
            };

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

        /// <summary>Whether generated code may use <c>#nullable</c> and '?' on reference types: C# 8 and later.</summary>
        public static bool SupportsNullableAnnotations(ParseOptions options)
            => options is not CSharpParseOptions cs || cs.LanguageVersion >= LanguageVersion.CSharp8;

        public static ParseResult Parse(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
        {
            var method = (IMethodSymbol)context.TargetSymbol;
            if (context.TargetNode is not MethodDeclarationSyntax syntax || IsInExtensionBlock(syntax))
            {
                return NotATypeMethod(context.TargetNode, method);
            }

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
            if (eventName is not null && string.IsNullOrWhiteSpace(eventName))
            {
                // An empty name would ship as "event": "" in every line; the default (the method name) is what was meant.
                diagnostics.Add(DiagnosticInfo.Create(
                    DiagnosticDescriptors.EmptyEventName, NamedArgument(attributeSyntax, "EventName")?.GetLocation() ?? syntax.Identifier.GetLocation(), method.Name));
            }

            List<LogParameter> parameters = ReadParameters(method, context.SemanticModel.Compilation, diagnostics);
            CheckParameterNames(method, diagnostics);
            Location templateLocation = Argument(attributeSyntax, 1, "message")?.GetLocation() ?? syntax.Identifier.GetLocation();
            CheckTemplate(message, method.Name, parameters, templateLocation, diagnostics);
            if (diagnostics.Count == 0)
            {
                parameters = WithCaptureFormats(message!, parameters);
            }

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
                    ContainingTypes(method.ContainingType),
                    IsInUnsafeType(syntax),
                    new LogMethod(
                        method.Name,
                        Identifier(method.Name),
                        Modifiers(syntax),
                        eventId,
                        eventName ?? method.Name,
                        level,
                        message!,
                        parameters.ToEquatableArray(),
                        UseWarnings(method),
                        method.GetAttributes().Any(IsObsoleteAttribute),
                        method.GetAttributes().Any(IsGeneratedCodeAttribute)),
                    TakenNames(method.ContainingType));
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
            // Keyed by namespace and type chain, which come from the type symbol: all partial declarations of a type share
            // one group. Insertion order keeps the output deterministic (compilation order).
            var groups = new Dictionary<(string, EquatableArray<ContainingType>), (List<LogMethod> Methods, bool IsUnsafe, EquatableArray<string> TakenNames)>();
            var order = new List<(string Namespace, EquatableArray<ContainingType> Types)>();
            foreach (LogMethodInType m in methods)
            {
                var key = (m.Namespace, m.Types);
                if (!groups.TryGetValue(key, out var group))
                {
                    group = (new List<LogMethod>(), false, m.TakenNames);
                    order.Add(key);
                }

                group.Methods.Add(m.Method);
                groups[key] = (group.Methods, group.IsUnsafe || m.IsUnsafe, group.TakenNames);
            }

            string[] hintNames = HintNames(order);
            for (int i = 0; i < order.Count; i++)
            {
                (List<LogMethod> list, bool isUnsafe, EquatableArray<string> takenNames) = groups[order[i]];
                yield return new LogType(hintNames[i], order[i].Namespace, order[i].Types, isUnsafe, list.ToEquatableArray(), takenNames);
            }
        }

        /// <summary>
        /// The names the generated descriptor fields and factories must not take: the type's own name and its type
        /// parameters' (CS0542, CS0102), its members and nested types, and the members and nested types of its base types
        /// that it can see (a field of the same name would be a second definition, or hide the inherited one with a
        /// warning, CS0108), whose names begin as the generated ones do. Private ones are seen from a type nested in its
        /// base (the closed hierarchy of records nested in their base), and so are the base's own generated members, which
        /// this compilation does not have yet. Almost always none, so the model stays as it was when the type's other
        /// members change.
        /// </summary>
        private static EquatableArray<string> TakenNames(INamedTypeSymbol type) => TakenNames(type, new Dictionary<INamedTypeSymbol, EquatableArray<string>>(SymbolEqualityComparer.Default));

        /// <summary>
        /// <see cref="TakenNames(INamedTypeSymbol)"/>, with the names of the bases worked out so far: a chain of types each
        /// nested in the one it derives from asks for each base's names once, not once per type below it.
        /// </summary>
        private static EquatableArray<string> TakenNames(INamedTypeSymbol type, Dictionary<INamedTypeSymbol, EquatableArray<string>> known)
        {
            if (known.TryGetValue(type, out EquatableArray<string> done))
            {
                return done;
            }

            var names = new SortedSet<string>(StringComparer.Ordinal);
            AddGenerated(names, type.Name);
            foreach (ITypeParameterSymbol typeParameter in type.TypeParameters)
            {
                AddGenerated(names, typeParameter.Name);
            }

            // MemberNames leaves nested types out, and a nested type's name clashes with a field's as a member's does.
            foreach (string name in type.MemberNames)
            {
                AddGenerated(names, name);
            }

            foreach (INamedTypeSymbol nested in type.GetTypeMembers())
            {
                AddGenerated(names, nested.Name);
            }

            // A primary constructor's parameters are in scope in every member body and are no members: a generated field
            // of the same name would hide one there.
            foreach (SyntaxReference reference in type.DeclaringSyntaxReferences)
            {
                if (reference.GetSyntax() is TypeDeclarationSyntax { ParameterList: { } primary })
                {
                    foreach (ParameterSyntax parameter in primary.Parameters)
                    {
                        AddGenerated(names, parameter.Identifier.ValueText);
                    }
                }
            }

            for (INamedTypeSymbol? baseType = type.BaseType; baseType is not null; baseType = baseType.BaseType)
            {
                bool nestedInBase = IsNestedIn(type, baseType.OriginalDefinition);
                foreach (string name in baseType.MemberNames)
                {
                    if (IsGenerated(name) && (nestedInBase || baseType.GetMembers(name).Any(m => m.DeclaredAccessibility != Accessibility.Private)))
                    {
                        names.Add(name);
                    }
                }

                foreach (INamedTypeSymbol nested in baseType.GetTypeMembers())
                {
                    if (IsGenerated(nested.Name) && (nestedInBase || nested.DeclaredAccessibility != Accessibility.Private))
                    {
                        names.Add(nested.Name);
                    }
                }

                if (nestedInBase)
                {
                    // The base's generated members, named as the emitter will name them (see Emitter.WriteMethods): in
                    // declaration order, each the first free name among the base's log methods, its taken names and the
                    // names given before it (__FapiLog_Step, then __FapiLog_Step_1 for an overload).
                    IMethodSymbol[] logMethods = baseType.OriginalDefinition.GetMembers().OfType<IMethodSymbol>()
                        .Where(m => m.GetAttributes().Any(IsFapiLogAttribute)).ToArray();
                    if (logMethods.Length > 0)
                    {
                        var used = new HashSet<string>(logMethods.Select(m => m.Name).Concat(TakenNames(baseType.OriginalDefinition, known)), StringComparer.Ordinal);
                        foreach (IMethodSymbol method in logMethods)
                        {
                            (string field, string factory) = Emitter.DescriptorNames(method.Name, used, n => method.Parameters.Any(p => p.Name == n));
                            names.Add(field);
                            names.Add(factory);
                        }
                    }
                }
            }

            EquatableArray<string> taken = names.ToEquatableArray();
            known[type] = taken;
            return taken;
        }

        private static bool IsNestedIn(INamedTypeSymbol type, INamedTypeSymbol outer)
        {
            for (INamedTypeSymbol? containing = type.ContainingType; containing is not null; containing = containing.ContainingType)
            {
                if (SymbolEqualityComparer.Default.Equals(containing.OriginalDefinition, outer))
                {
                    return true;
                }
            }

            return false;
        }

        private static bool IsGeneratedCodeAttribute(AttributeData attribute)
            => attribute.AttributeClass is
            {
                Name: "GeneratedCodeAttribute", ContainingType: null,
                ContainingNamespace:
                {
                    Name: "Compiler",
                    ContainingNamespace: { Name: "CodeDom", ContainingNamespace: { Name: "System", ContainingNamespace.IsGlobalNamespace: true } },
                },
            };

        private static bool IsObsoleteAttribute(AttributeData attribute)
            => attribute.AttributeClass is
            {
                Name: "ObsoleteAttribute", ContainingType: null,
                ContainingNamespace: { Name: "System", ContainingNamespace.IsGlobalNamespace: true },
            };

        private static bool IsGenerated(string name) => name.StartsWith(Emitter.GeneratedMemberPrefix, StringComparison.Ordinal);

        private static void AddGenerated(SortedSet<string> names, string name)
        {
            if (IsGenerated(name))
            {
                names.Add(name);
            }
        }

        /// <summary>
        /// One file name per type, unique ignoring case as the compiler requires: of the types whose names differ only in
        /// case, the first in ordinal order keeps its name and the others are numbered, whatever the order of the sources.
        /// </summary>
        private static string[] HintNames(List<(string Namespace, EquatableArray<ContainingType> Types)> types)
        {
            var names = new string[types.Count];
            var clashes = new Dictionary<string, List<int>>(StringComparer.OrdinalIgnoreCase);
            for (int i = 0; i < types.Count; i++)
            {
                names[i] = LogType.FileName(types[i].Namespace, types[i].Types);
                if (!clashes.TryGetValue(names[i], out List<int>? same))
                {
                    same = new List<int>();
                    clashes.Add(names[i], same);
                }

                same.Add(i);
            }

            foreach (List<int> same in clashes.Values.Where(s => s.Count > 1))
            {
                int duplicate = 1;
                foreach (int i in same.OrderBy(i => names[i], StringComparer.Ordinal).ToList())
                {
                    names[i] = LogType.FileName(types[i].Namespace, types[i].Types, duplicate++);
                }
            }

            return names;
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

        /// <summary>
        /// FAPI018 for [FapiLog] on a method other than one declared in a type: at a local function's or finalizer's name, an
        /// accessor's keyword, an operator's or a conversion's <c>operator</c> keyword, a lambda's <c>=&gt;</c>.
        /// </summary>
        private static ParseResult NotATypeMethod(SyntaxNode node, IMethodSymbol method)
        {
            (Location at, string what, string name) = node switch
            {
                LocalFunctionStatementSyntax local => (local.Identifier.GetLocation(), "a local function", local.Identifier.ValueText),
                AccessorDeclarationSyntax accessor => (
                    accessor.Keyword.GetLocation(),
                    // The accessor keywords init and add take "an"; get, set and remove take "a".
                    (accessor.Keyword.ValueText is "init" or "add" ? "an " : "a ") + accessor.Keyword.ValueText + " accessor",
                    method.AssociatedSymbol?.Name ?? method.Name),
                OperatorDeclarationSyntax op => (op.OperatorKeyword.GetLocation(), "an operator", "operator " + op.OperatorToken.ValueText),
                ConversionOperatorDeclarationSyntax conversion => (
                    conversion.OperatorKeyword.GetLocation(),
                    "a conversion operator",
                    conversion.ImplicitOrExplicitKeyword.ValueText + " operator " + conversion.Type),
                DestructorDeclarationSyntax finalizer => (finalizer.Identifier.GetLocation(), "a finalizer", "~" + finalizer.Identifier.ValueText),
                ParenthesizedLambdaExpressionSyntax lambda => (lambda.ArrowToken.GetLocation(), "a lambda", lambda.ParameterList + " =>"),
                SimpleLambdaExpressionSyntax lambda => (lambda.ArrowToken.GetLocation(), "a lambda", lambda.Parameter + " =>"),
                MethodDeclarationSyntax member => (member.Identifier.GetLocation(), "a member of an extension block", member.Identifier.ValueText),
                _ => (node.GetLocation(), "a member the generator does not write", method.Name),
            };
            var diagnostic = DiagnosticInfo.Create(DiagnosticDescriptors.NotATypeMethod, at, name, what);
            return new ParseResult(null, new EquatableArray<DiagnosticInfo>(new[] { diagnostic }), null);
        }

        /// <summary>
        /// Whether the method is declared in a C# 14 <c>extension(...)</c> block. Such a block is a type declaration to the
        /// syntax tree, without a name, and cannot be partial: FAPI013's advice would not apply, and the generated part could
        /// not name it. (The Roslyn this generator builds against has no syntax kind for it; the keyword tells.)
        /// </summary>
        private static bool IsInExtensionBlock(MethodDeclarationSyntax method)
            => method.Parent is TypeDeclarationSyntax { Keyword.ValueText: "extension" };

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

            // A method that is not partial always has a body; FAPI001 already says what to fix. An extern partial method is
            // an implementation whose body is elsewhere, so a generated body would be a second one.
            if (isPartial && (syntax.Body is not null || syntax.ExpressionBody is not null || method.PartialImplementationPart is not null
                              || syntax.Modifiers.Any(SyntaxKind.ExternKeyword)))
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MethodHasBody, at, method.Name));
            }

            if (method.IsGenericMethod)
            {
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MethodIsGeneric, at, method.Name));
            }

            if (method.IsVararg)
            {
                // "M(int value, __arglist)": the list is no parameter of the symbol, so the generated part, written from the
                // parameters, would match no declaration (CS0759) without this.
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidParameterModifier, at, "__arglist", method.Name, "__arglist"));
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

        /// <summary>The extern alias of the reference that <paramref name="type"/> (or a type in it) comes from, when that reference is not in the global alias.</summary>
        private static string? ExternAlias(ITypeSymbol type, Compilation compilation)
        {
            switch (type)
            {
                case IArrayTypeSymbol array:
                    return ExternAlias(array.ElementType, compilation);
                case INamedTypeSymbol named:
                    if (named.ContainingAssembly is { } assembly && compilation.GetMetadataReference(assembly) is { } reference
                        && !reference.Properties.Aliases.IsDefaultOrEmpty && !reference.Properties.Aliases.Contains("global"))
                    {
                        return reference.Properties.Aliases[0];
                    }

                    foreach (ITypeSymbol argument in named.TypeArguments)
                    {
                        if (ExternAlias(argument, compilation) is { } inner)
                        {
                            return inner;
                        }
                    }

                    // A type nested in a constructed generic type carries type arguments there too:
                    // List<Legacy::Lib.Thing>.Enumerator.
                    return named.ContainingType is { } outer ? ExternAlias(outer, compilation) : null;
                default:
                    return null;
            }
        }

        private static List<LogParameter> ReadParameters(IMethodSymbol method, Compilation compilation, List<DiagnosticInfo> diagnostics)
        {
            bool nativeIntegers = compilation is not CSharpCompilation cs || cs.LanguageVersion >= LanguageVersion.CSharp9;
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
                else if (p.Type is IPointerTypeSymbol or IFunctionPointerTypeSymbol || p.Type.IsRefLikeType || AllowsRefLikeType(p.Type))
                {
                    diagnostics.Add(DiagnosticInfo.Create(
                        DiagnosticDescriptors.UnsupportedParameterType, at, p.Name, method.Name, p.Type.ToDisplayString()));
                }
                else if (ExternAlias(p.Type, compilation) is { } alias)
                {
                    // Generated code names types as global::..., which does not reach a reference that has only an alias.
                    diagnostics.Add(DiagnosticInfo.Create(
                        DiagnosticDescriptors.ExternAliasType, at, p.Name, method.Name, p.Type.ToDisplayString(), alias));
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
                    Display(p.Type, s_typeFormat, nativeIntegers),
                    kind is ParameterKind.Value or ParameterKind.NullableValue ? Display(p.Type.WithNullableAnnotation(NullableAnnotation.None), SymbolDisplayFormat.FullyQualifiedFormat, nativeIntegers) : string.Empty,
                    ParameterModifier(method, p),
                    kind));
            }

            return parameters;
        }

        /// <summary>
        /// <paramref name="type"/> as C# of the consumer's language version. Where the runtime has numeric IntPtr (.NET 7 on),
        /// Roslyn writes System.IntPtr and UIntPtr as <c>nint</c> and <c>nuint</c> whatever the version, and before C# 9
        /// those keywords do not compile (CS8370, CS8400): there they are written as the types' full names.
        /// </summary>
        private static string Display(ITypeSymbol type, SymbolDisplayFormat format, bool nativeIntegers)
        {
            if (nativeIntegers)
            {
                return type.ToDisplayString(format);
            }

            var text = new System.Text.StringBuilder();
            foreach (SymbolDisplayPart part in type.ToDisplayParts(format))
            {
                string piece = part.ToString();
                text.Append(part.Kind != SymbolDisplayPartKind.Keyword ? piece
                    : piece == "nint" ? "global::System.IntPtr"
                    : piece == "nuint" ? "global::System.UIntPtr"
                    : piece);
            }

            return text.ToString();
        }

        // ITypeParameterSymbol.AllowsRefLikeType (C# 13 'allows ref struct') is newer than the Roslyn this generator builds
        // against; the compiler that runs it may have it. Such a T may be a ref struct, which cannot be captured.
        private static readonly System.Reflection.PropertyInfo? s_allowsRefLikeType =
            typeof(ITypeParameterSymbol).GetProperty("AllowsRefLikeType", typeof(bool));

        private static bool AllowsRefLikeType(ITypeSymbol type)
            => type is ITypeParameterSymbol && s_allowsRefLikeType?.GetValue(type) is true;

        /// <summary>
        /// The ids of the warnings that naming the parameter types gives: [Obsolete] (CS0612, CS0618 or its own DiagnosticId)
        /// and [Experimental] types. The generated signature and descriptor name those types again; the user has been told at
        /// the declaration, where they may have suppressed it, so the generated file suppresses them.
        /// </summary>
        private static EquatableArray<string> UseWarnings(IMethodSymbol method)
        {
            var ids = new SortedSet<string>(StringComparer.Ordinal);
            foreach (IParameterSymbol p in method.Parameters)
            {
                AddUseWarnings(p.Type, ids);
            }

            return ids.ToEquatableArray();
        }

        private static void AddUseWarnings(ITypeSymbol type, SortedSet<string> ids)
        {
            switch (type)
            {
                case IArrayTypeSymbol array:
                    AddUseWarnings(array.ElementType, ids);
                    break;
                case IPointerTypeSymbol pointer:
                    AddUseWarnings(pointer.PointedAtType, ids);
                    break;
                case INamedTypeSymbol named:
                    for (INamedTypeSymbol? t = named; t is not null; t = t.ContainingType)
                    {
                        AddAttributeWarnings(t.GetAttributes(), ids);
                        foreach (ITypeSymbol argument in t.TypeArguments)
                        {
                            AddUseWarnings(argument, ids);
                        }
                    }

                    if (named.ContainingModule is { } module)
                    {
                        AddAttributeWarnings(module.GetAttributes(), ids);
                    }

                    if (named.ContainingAssembly is { } assembly)
                    {
                        AddAttributeWarnings(assembly.GetAttributes(), ids);
                    }

                    break;
            }
        }

        private static void AddAttributeWarnings(ImmutableArray<AttributeData> attributes, SortedSet<string> ids)
        {
            foreach (AttributeData a in attributes)
            {
                string? name = a.AttributeClass?.ToDisplayString();
                string? id = null;
                if (name == "System.ObsoleteAttribute")
                {
                    foreach (KeyValuePair<string, TypedConstant> named in a.NamedArguments)
                    {
                        if (named.Key == "DiagnosticId" && named.Value.Value is string custom)
                        {
                            id = custom;
                        }
                    }

                    if (id is null)
                    {
                        ids.Add("CS0612");
                        ids.Add("CS0618");
                    }
                }
                else if (name == "System.Diagnostics.CodeAnalysis.ExperimentalAttribute"
                         && a.ConstructorArguments.Length > 0 && a.ConstructorArguments[0].Value is string experimental)
                {
                    id = experimental;
                }

                // Only ids a '#pragma warning' can name.
                if (id is { Length: > 0 } && id.All(c => char.IsLetterOrDigit(c) || c == '_'))
                {
                    ids.Add(id);
                }
            }
        }

        /// <summary>"this", "scoped" and "in", in the order C# wants them; the implementation must repeat all three.</summary>
        private static string ParameterModifier(IMethodSymbol method, IParameterSymbol parameter)
        {
            var modifiers = new List<string>(3);
            if (method.IsExtensionMethod && parameter.Ordinal == 0)
            {
                modifiers.Add("this");
            }

            if (parameter.ScopedKind != ScopedKind.None)
            {
                modifiers.Add("scoped");
            }

            if (parameter.RefKind == RefKind.In)
            {
                modifiers.Add("in");
            }

            return string.Join(" ", modifiers);
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

        /// <summary>
        /// A captured parameter is kept as text, which the worker can no longer format: when every placeholder of it gives
        /// the same format, that format is applied at capture. (Placeholders that disagree keep the plain text.)
        /// </summary>
        private static List<LogParameter> WithCaptureFormats(string message, List<LogParameter> parameters)
        {
            if (!MessageTemplate.TryParse(message, out List<TemplateSegment> segments, out _, out _))
            {
                return parameters;
            }

            var result = new List<LogParameter>(parameters.Count);
            foreach (LogParameter p in parameters)
            {
                if (p.Kind != ParameterKind.Captured)
                {
                    result.Add(p);
                    continue;
                }

                string?[] formats = segments
                    .Where(s => s.IsPlaceholder && string.Equals(s.Name, p.Name, StringComparison.OrdinalIgnoreCase))
                    .Select(s => s.Format)
                    .Distinct()
                    .ToArray();
                result.Add(formats.Length == 1 && formats[0] is { } format ? p with { Format = format } : p);
            }

            return result;
        }

        private static void CheckPlaceholder(
            string name, string methodName, List<LogParameter> parameters, Dictionary<string, string> spellings, Location at, List<DiagnosticInfo> diagnostics)
        {
            LogParameter? match = parameters.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase));
            if (match is null)
            {
                // Serilog's {@Order} is the most common way to get here, and "matches no parameter" alone does not tell a
                // Serilog user that the '@' is what is wrong (C# parameter names never hold one, not even @event's).
                string hint = name.Length > 1 && name[0] == '@'
                    && parameters.Any(p => string.Equals(p.Name, name.Substring(1), StringComparison.OrdinalIgnoreCase))
                    ? "; '@' is Serilog's destructuring, which FapiLog does not do: write '{" + name.Substring(1) + "}' to log the value's invariant string"
                    : string.Empty;
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.PlaceholderWithoutParameter, at, name, methodName, hint));
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

        private static bool IsException(ITypeSymbol type, INamedTypeSymbol exceptionType, int depth = 0)
        {
            if (type is ITypeParameterSymbol tp)
            {
                // Through its class constraint, or through another type parameter it is constrained to
                // (where TError : TBase where TBase : Exception). C# refuses circular constraints; the depth bounds it anyway.
                return depth < 32 && tp.ConstraintTypes.Any(t =>
                    (t.TypeKind == TypeKind.Class || t is ITypeParameterSymbol) && IsException(t, exceptionType, depth + 1));
            }

            for (ITypeSymbol? current = type; current is not null; current = current.BaseType)
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

        /// <summary>
        /// A type or type parameter name as the generated part declares it again: like <see cref="Identifier"/>, and with '@'
        /// when the name is all lower-case ASCII letters, which the compiler warns about in a declaration (CS8981) unless
        /// it is written verbatim. The user has already been told at their own declaration (and may have suppressed it there).
        /// </summary>
        private static string TypeIdentifier(string name)
            => name.Length > 0 && name.All(c => c >= 'a' && c <= 'z') ? "@" + name : Identifier(name);

        /// <summary>The namespace as C# writes it, with '@' before keywords (<c>@class.Inner</c>).</summary>
        private static string Namespace(INamedTypeSymbol type)
            => type.ContainingNamespace is { IsGlobalNamespace: false } ns
                ? string.Join(".", NamespaceParts(ns).Select(Identifier))
                : string.Empty;

        private static IEnumerable<string> NamespaceParts(INamespaceSymbol ns)
        {
            var parts = new List<string>();
            for (INamespaceSymbol? n = ns; n is { IsGlobalNamespace: false }; n = n.ContainingNamespace)
            {
                parts.Add(n.Name);
            }

            parts.Reverse();
            return parts;
        }

        /// <summary>
        /// The type chain, outermost first, from the symbol rather than from the declaration that holds the method: partial
        /// declarations may differ (<c>ref</c> on one of them only), and one generated part must serve them all.
        /// </summary>
        private static EquatableArray<ContainingType> ContainingTypes(INamedTypeSymbol innermost)
        {
            var types = new List<ContainingType>();
            for (INamedTypeSymbol? type = innermost; type is not null; type = type.ContainingType)
            {
                string typeParameters = type.TypeParameters.Length == 0
                    ? string.Empty
                    : "<" + string.Join(", ", type.TypeParameters.Select(p => Variance(p) + TypeIdentifier(p.Name))) + ">";
                string fileTypeParameters = type.TypeParameters.Length == 0
                    ? string.Empty
                    : "{" + string.Join(",", type.TypeParameters.Select(p => p.Name)) + "}";
                types.Add(new ContainingType(Keyword(type), TypeIdentifier(type.Name) + typeParameters, type.Name + fileTypeParameters));
            }

            types.Reverse();
            return types.ToEquatableArray();
        }

        private static string Keyword(INamedTypeSymbol type) => type.TypeKind switch
        {
            TypeKind.Interface => "interface",
            TypeKind.Struct when type.IsRecord => "record struct",
            TypeKind.Struct when type.IsRefLikeType => "ref struct",
            TypeKind.Struct => "struct",
            _ when type.IsRecord => "record",
            _ => "class",
        };

        // Partial declarations of a variant interface must all repeat the variance (CS1067).
        private static string Variance(ITypeParameterSymbol parameter) => parameter.Variance switch
        {
            VarianceKind.In => "in ",
            VarianceKind.Out => "out ",
            _ => string.Empty,
        };

        /// <summary>
        /// Whether a type declaration around the method is marked <c>unsafe</c>. The unsafe context is lexical: the
        /// generated part must be unsafe too when the signature needs it (<c>int*[]</c>), and being so costs nothing when
        /// it does not. An <c>unsafe</c> on the method itself is copied with its other modifiers.
        /// </summary>
        private static bool IsInUnsafeType(MethodDeclarationSyntax method)
            => method.Ancestors().OfType<TypeDeclarationSyntax>().Any(t => t.Modifiers.Any(SyntaxKind.UnsafeKeyword));

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
