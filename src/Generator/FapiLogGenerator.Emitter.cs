using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using FapiLog.Generator.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace FapiLog.Generator;

public sealed partial class FapiLogGenerator
{
    /// <summary>Writes C# from the plain-data models; sees no symbols or syntax.</summary>
    internal static class Emitter
    {
        public const string ModuleInitializerHintName = "FapiLog.ModuleInitializer.g.cs";

        /// <summary>How the names of the generated descriptor fields and factories begin.</summary>
        public const string GeneratedMemberPrefix = "__FapiLog_";

        private const string Runtime = "global::FapiLog.FapiLogRuntime";
        private const string LogLevelType = "global::Microsoft.Extensions.Logging.LogLevel";

        private static readonly string s_generatedCode =
            "[global::System.CodeDom.Compiler.GeneratedCode(\"FapiLog.Gen\", \"" + typeof(FapiLogGenerator).Assembly.GetName().Version + "\")]";

        private static readonly string[] s_levelNames = { "Trace", "Debug", "Information", "Warning", "Error", "Critical", "None" };

        public static void Report(SourceProductionContext context, EquatableArray<DiagnosticInfo> diagnostics)
        {
            foreach (DiagnosticInfo diagnostic in diagnostics)
            {
                context.ReportDiagnostic(diagnostic.ToDiagnostic());
            }
        }

        public static void EmitHook(SourceProductionContext context, HookRequest request)
        {
            if (!request.HasLogMethods || !request.Enabled)
            {
                return;
            }

            if (!request.AttributeAvailable)
            {
                context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.ShutdownHookUnavailable, Location.None));
                return;
            }

            context.AddSource(ModuleInitializerHintName, EmitModuleInitializer());
        }

        public static string EmitModuleInitializer()
        {
            // [ModuleInitializer] needs C# 9, so nullable annotations are always available here.
            var w = new IndentedWriter();
            WriteHeader(w, nullableAnnotations: true);
            w.Line("#pragma warning disable CA2255 // Registering process-exit hooks at load is what a module initializer is for.");
            w.Line("#pragma warning disable CS0436 // A ModuleInitializerAttribute of the project's own (a polyfill) is the one used, and works the same.");
            w.Line();
            w.Open("namespace FapiLog.Generated");
            w.Line("/// <summary>Registers FapiLog's flush-at-exit hooks when this assembly loads (MSBuild: FapiLogShutdownHook=false turns it off).</summary>");
            w.Line(s_generatedCode);
            w.Line("[global::System.ComponentModel.EditorBrowsable(global::System.ComponentModel.EditorBrowsableState.Never)]");
            w.Open("internal static class FapiLogModuleInitializer");
            w.Line("[global::System.Runtime.CompilerServices.ModuleInitializer]");
            w.Line("internal static void Initialize() => global::FapiLog.FapiLogging.RegisterShutdownHooks();");
            w.Close();
            w.Close();
            return w.ToString();
        }

        /// <summary>The partial part of one type with the bodies of its log methods.</summary>
        /// <param name="type">The type and its methods.</param>
        /// <param name="nullableAnnotations">
        /// Whether the consumer's language version has nullable reference types (C# 8): without them the file has no
        /// <c>#nullable</c> directive and no '?' on reference types (the parameter types then have none either).
        /// </param>
        public static string EmitType(LogType type, bool nullableAnnotations)
        {
            var w = new IndentedWriter();
            WriteHeader(w, nullableAnnotations);
            string[] suppressed = type.Methods.SelectMany(m => m.SuppressedWarnings).Distinct().OrderBy(id => id, System.StringComparer.Ordinal).ToArray();
            if (suppressed.Length > 0)
            {
                // Obsolete or experimental parameter types, named again here; the user's declaration already warns.
                w.Line("#pragma warning disable " + string.Join(", ", suppressed));
            }

            w.Line();
            if (type.Namespace.Length > 0)
            {
                w.Open("namespace " + type.Namespace);
            }

            for (int i = 0; i < type.Types.Count; i++)
            {
                // The innermost part holds the methods; it is unsafe when a declaration they come from is.
                bool isUnsafe = type.IsUnsafe && i == type.Types.Count - 1;
                w.Open(TypeHeader(type.Types[i], isUnsafe));
            }

            WriteMethods(w, type.Methods, type.TakenNames, nullableAnnotations);

            for (int i = 0; i < type.Types.Count; i++)
            {
                w.Close();
            }

            if (type.Namespace.Length > 0)
            {
                w.Close();
            }

            return w.ToString();
        }

        // "unsafe" before "ref", and "ref" right before "partial": unsafe ref partial struct.
        private static string TypeHeader(ContainingType t, bool isUnsafe)
            => (isUnsafe ? "unsafe " : string.Empty)
               + (t.Keyword.StartsWith("ref ", System.StringComparison.Ordinal)
                   ? "ref partial " + t.Keyword.Substring(4) + " " + t.Name
                   : "partial " + t.Keyword + " " + t.Name);

        private static void WriteHeader(IndentedWriter w, bool nullableAnnotations)
        {
            w.Line("// <auto-generated/>");
            if (nullableAnnotations)
            {
                w.Line("#nullable enable");
            }
        }

        private static void WriteMethods(IndentedWriter w, EquatableArray<LogMethod> methods, EquatableArray<string> takenNames, bool nullableAnnotations)
        {
            // A descriptor field must not have the name of a log method, of another member of the type or an inherited one,
            // nor of a parameter of its own method (which would hide it in the body); "_1", "_2" are added until the name
            // is free.
            var usedNames = new HashSet<string>(methods.Select(m => m.Name).Concat(takenNames));
            for (int i = 0; i < methods.Count; i++)
            {
                if (i > 0)
                {
                    w.Line();
                }

                LogMethod method = methods[i];
                (string field, string factory) = DescriptorNames(method.Name, usedNames, n => method.Parameters.Any(p => p.Name == n));
                if (method.Level != 6)
                {
                    WriteDescriptor(w, method, field, factory);
                    w.Line();
                }

                WriteMethod(w, method, field, factory, nullableAnnotations);
            }
        }

        /// <summary>
        /// The names of a log method's descriptor field and factory: the first free ones, neither in <paramref name="used"/>
        /// (to which they are added) nor the name of one of the method's parameters. The parser works out a base's names
        /// with it too, in the same order as here.
        /// </summary>
        internal static (string Field, string Factory) DescriptorNames(string methodName, HashSet<string> used, System.Func<string, bool> isParameter)
        {
            string field = UniqueName(GeneratedMemberPrefix + methodName, n => used.Contains(n) || isParameter(n));
            used.Add(field);
            string factory = UniqueName(field + "_Create", n => used.Contains(n) || isParameter(n));
            used.Add(factory);
            return (field, factory);
        }

        private static string UniqueName(string name, System.Func<string, bool> isTaken)
        {
            string candidate = name;
            for (int n = 1; isTaken(candidate); n++)
            {
                candidate = name + "_" + n.ToString(CultureInfo.InvariantCulture);
            }

            return candidate;
        }

        /// <summary>
        /// The descriptor field and the method that makes it. The method body reads the field as <c>field ?? factory()</c>:
        /// the user's static field initializers run before the generated part's, so a log call made from one of them (in
        /// the same type) finds the field still null. Once the type is initialized, the JIT knows the read-only field is
        /// not null and drops the check.
        /// </summary>
        private static void WriteDescriptor(IndentedWriter w, LogMethod method, string field, string factory)
        {
            List<LogParameter> arguments = method.Parameters.Where(p => p.Kind != ParameterKind.Exception).ToList();
            WriteDescriptorAttributes(w, method);
            w.Line("private static readonly global::FapiLog.LogEventDescriptor " + field + " = " + factory + "();");
            w.Line();
            WriteDescriptorAttributes(w, method);
            w.Line("private static global::FapiLog.LogEventDescriptor " + factory + "() => new global::FapiLog.LogEventDescriptor(");
            w.Indent();
            w.Line(method.EventId.ToString(CultureInfo.InvariantCulture) + ", " + Literal(method.EventName) + ", " + Level(method.Level) + ",");
            w.Line(Literal(method.Message) + (arguments.Count == 0 ? ");" : ","));
            for (int i = 0; i < arguments.Count; i++)
            {
                LogParameter p = arguments[i];
                string type = p.Kind is ParameterKind.Value or ParameterKind.NullableValue ? p.ValueType : "string";
                w.Line("global::FapiLog.LogArgument.Create<" + type + ">(" + Literal(p.Name) + ")" + (i == arguments.Count - 1 ? ");" : ","));
            }

            w.Unindent();
        }

        /// <summary>
        /// The attributes of the descriptor field and its factory. An obsolete method may name a type that is obsolete as an
        /// error, which the compiler allows inside it only: its descriptor, outside it, is obsolete too (CS0619 otherwise,
        /// an error no #pragma turns off).
        /// </summary>
        private static void WriteDescriptorAttributes(IndentedWriter w, LogMethod method)
        {
            w.Line(s_generatedCode);
            if (method.IsObsolete)
            {
                w.Line("[global::System.Obsolete]");
            }
        }

        private static void WriteMethod(IndentedWriter w, LogMethod method, string field, string factory, bool nullableAnnotations)
        {
            if (!method.HasGeneratedCode)
            {
                // The parts' attributes are merged, and [GeneratedCode] allows one (CS0579): a declaration a tool wrote has it.
                w.Line(s_generatedCode);
            }

            string modifiers = method.Modifiers.Length > 0 ? method.Modifiers + " " : string.Empty;
            w.Open(modifiers + "partial void " + method.Identifier + "(" + string.Join(", ", method.Parameters.Select(Signature)) + ")");
            if (method.Level == 6)
            {
                w.Line("// LogLevel.None: this event is never logged.");
            }
            else
            {
                WriteBody(w, method, field, factory, nullableAnnotations);
            }

            w.Close();
        }

        private static string Signature(LogParameter p)
            => (p.Modifier.Length > 0 ? p.Modifier + " " : string.Empty) + p.Type + " " + p.Identifier;

        private static void WriteBody(IndentedWriter w, LogMethod method, string field, string factory, bool nullableAnnotations)
        {
            // Generated locals must not shadow a parameter or the descriptor field and its factory: prefix underscores until
            // the name is free. Types are written out, never "var", which a type of that name in scope would take over.
            var taken = new HashSet<string>(method.Parameters.Select(p => p.Name)) { field, factory };
            string writer = FreeName("__w", taken);
            w.Line("if (!" + Runtime + ".IsEnabled(" + Level(method.Level) + ")) return;");

            // ToString of other types runs before the slot is claimed: a claimed slot must be published promptly, and
            // ToString may be slow or throw. It also records the value as it is now.
            var captured = new Dictionary<string, string>();
            foreach (LogParameter p in method.Parameters.Where(p => p.Kind == ParameterKind.Captured))
            {
                string local = FreeName("__" + p.Name, taken);
                captured.Add(p.Name, local);
                w.Line((nullableAnnotations ? "string? " : "string ") + local + " = " + Runtime + ".CaptureString(" + p.Identifier + (p.Format.Length > 0 ? ", " + Literal(p.Format) : string.Empty) + ");");
            }

            w.Line("global::FapiLog.LogEventWriter " + writer + " = " + Runtime + ".Begin(" + field + " ?? " + factory + "());");
            w.Line("if (!" + writer + ".IsActive) return;");
            WriteArguments(w, method, writer, captured);
            w.Line(writer + ".Commit();");
        }

        private static void WriteArguments(IndentedWriter w, LogMethod method, string writer, Dictionary<string, string> captured)
        {
            LogParameter? exception = null;
            foreach (LogParameter p in method.Parameters)
            {
                switch (p.Kind)
                {
                    case ParameterKind.Value:
                        w.Line(writer + ".Write(" + p.Identifier + ");");
                        break;
                    case ParameterKind.NullableValue:
                        w.Line(writer + ".WriteNullable(" + p.Identifier + ");");
                        break;
                    case ParameterKind.String:
                        w.Line(writer + ".WriteString(" + p.Identifier + ");");
                        break;
                    case ParameterKind.Captured:
                        w.Line(writer + ".WriteString(" + captured[p.Name] + ");");
                        break;
                    default:
                        exception = p;
                        break;
                }
            }

            if (exception is not null)
            {
                w.Line(writer + ".SetException(" + exception.Identifier + ");");
            }
        }

        private static string FreeName(string name, HashSet<string> taken)
        {
            // "__" + a parameter named arglist, makeref, reftype or refvalue is a keyword (__arglist, ...).
            while (taken.Contains(name) || SyntaxFacts.GetKeywordKind(name) != SyntaxKind.None)
            {
                name = "_" + name;
            }

            taken.Add(name);
            return name;
        }

        private static string Level(int level) => LogLevelType + "." + s_levelNames[level];

        private static string Literal(string value) => SymbolDisplay.FormatLiteral(value, quote: true);
    }
}
