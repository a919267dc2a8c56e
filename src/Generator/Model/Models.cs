namespace FapiLog.Generator.Model;

/// <summary>How a parameter's value reaches the queue slot.</summary>
internal enum ParameterKind
{
    /// <summary>Copied as raw bytes: <c>LogArgument.Create&lt;T&gt;</c> with the parameter's type and <c>Write</c>.</summary>
    Value,

    /// <summary>A <see cref="System.Nullable{T}"/> of a <see cref="Value"/> type: <c>WriteNullable</c>.</summary>
    NullableValue,

    /// <summary>A <see cref="string"/>: stored by reference with <c>WriteString</c>.</summary>
    String,

    /// <summary>Any other type: its invariant string is captured before the slot is claimed.</summary>
    Captured,

    /// <summary>The event's exception: <c>SetException</c>, not an argument.</summary>
    Exception,
}

/// <summary>One parameter of a log method, as the emitter needs it.</summary>
/// <param name="Name">The parameter name as declared, without a leading '@'.</param>
/// <param name="Identifier">The name as it must be written in C# (with '@' for keywords).</param>
/// <param name="Type">The type, fully qualified with <c>global::</c> and nullable annotations, as the signature needs it.</param>
/// <param name="ValueType">For <see cref="ParameterKind.Value"/> and <see cref="ParameterKind.NullableValue"/>: the type given to <c>LogArgument.Create</c>.</param>
/// <param name="Modifier">"this", "scoped" and "in" as the declaration has them, in that order, or empty.</param>
/// <param name="Kind">How the value is stored.</param>
/// <param name="Format">
/// For <see cref="ParameterKind.Captured"/>: the format every placeholder of the parameter gives (<c>{Day:yyyy-MM-dd}</c>),
/// applied when the text is captured since the worker cannot format text; empty when there is none or they differ.
/// </param>
internal sealed record LogParameter(string Name, string Identifier, string Type, string ValueType, string Modifier, ParameterKind Kind, string Format = "");

/// <summary>A type that contains a log method, outermost first; read from the type symbol, so every partial declaration of a type gives the same value.</summary>
/// <param name="Keyword">"class", "struct", "ref struct", "record", "record struct" or "interface".</param>
/// <param name="Name">The name as it must be written in C#, with its type parameter list and variance, e.g. <c>Cache&lt;TKey&gt;</c>, <c>@event</c>, <c>ISink&lt;in T&gt;</c>.</param>
/// <param name="FileName">The name for the hint name: no '@', no variance, braces for angle brackets, e.g. <c>Cache{TKey}</c>.</param>
internal sealed record ContainingType(string Keyword, string Name, string FileName);

/// <summary>Everything the emitter needs to write one method body and its descriptor; plain data only.</summary>
/// <param name="Name">The method name as declared, without a leading '@'.</param>
/// <param name="Identifier">The name as it must be written in C# (with '@' for keywords).</param>
/// <param name="Modifiers">The declaration's modifiers except <c>partial</c> and <c>async</c>, space-separated.</param>
/// <param name="EventId">The EventId, 0 when the attribute gives none.</param>
/// <param name="EventName">The EventName, the method name when the attribute gives none.</param>
/// <param name="Level">The <c>LogLevel</c> as a number; 6 (None) writes no descriptor and an empty body.</param>
/// <param name="Message">The message template.</param>
/// <param name="Parameters">The parameters in declaration order.</param>
/// <param name="SuppressedWarnings">Ids of warnings that naming the parameter types gives (obsolete or experimental types), sorted.</param>
/// <param name="IsObsolete">Whether the method is <c>[Obsolete]</c>: its descriptor field and factory are marked so too.</param>
/// <param name="HasGeneratedCode">
/// Whether the declaration has <c>[GeneratedCode]</c> of its own (a tool wrote it): the attribute, which does not allow
/// several, is then not written on the method again.
/// </param>
internal sealed record LogMethod(
    string Name,
    string Identifier,
    string Modifiers,
    int EventId,
    string EventName,
    int Level,
    string Message,
    EquatableArray<LogParameter> Parameters,
    EquatableArray<string> SuppressedWarnings,
    bool IsObsolete,
    bool HasGeneratedCode);

/// <summary>A partial type with its log methods: one generated file.</summary>
/// <param name="HintName">The file name, unique in the compilation ignoring case (see <see cref="FileName"/>).</param>
/// <param name="Namespace">The namespace as written in C# (with '@' for keywords), or empty for the global namespace.</param>
/// <param name="Types">The containing types, outermost first.</param>
/// <param name="IsUnsafe">Whether a log method is declared inside a type declaration marked <c>unsafe</c>: the generated part is then unsafe too, since the signatures may need it.</param>
/// <param name="Methods">The log methods in declaration order.</param>
/// <param name="TakenNames">Names that begin like the generated members' names (<c>__FapiLog_</c>) among the type's own name, its type parameters, its members and nested types, its base types' members and nested types that it can see, and the generated members of base types it is nested in, sorted; the generated members avoid them.</param>
internal sealed record LogType(
    string HintName, string Namespace, EquatableArray<ContainingType> Types, bool IsUnsafe, EquatableArray<LogMethod> Methods, EquatableArray<string> TakenNames)
{
    /// <summary>
    /// The file name for a type, before names that differ only in case are told apart: the namespace without '@' and the
    /// type chain, e.g. <c>Shop.Cache{TKey}+Shard.FapiLog.g.cs</c>; <paramref name="duplicate"/> (2, 3, ...) numbers a type
    /// whose name another type already has ignoring case (the compiler compares hint names that way). The ".FapiLog"
    /// before any number keeps type files apart from each other and from the module initializer's file whatever the types
    /// are called.
    /// </summary>
    public static string FileName(string ns, EquatableArray<ContainingType> types, int duplicate = 1)
    {
        var builder = new System.Text.StringBuilder();
        if (ns.Length > 0)
        {
            builder.Append(ns.Replace("@", string.Empty)).Append('.');
        }

        for (int i = 0; i < types.Count; i++)
        {
            if (i > 0)
            {
                builder.Append('+');
            }

            builder.Append(types[i].FileName);
        }

        builder.Append(".FapiLog");
        if (duplicate > 1)
        {
            builder.Append('.').Append(duplicate.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        return builder.Append(".g.cs").ToString();
    }
}

/// <summary>One method's model, keyed by the type it belongs to, before the methods are grouped per type.</summary>
/// <param name="Namespace">The namespace as written in C#, or empty for the global namespace.</param>
/// <param name="Types">The containing types, outermost first.</param>
/// <param name="IsUnsafe">Whether the method is declared inside a type declaration marked <c>unsafe</c>.</param>
/// <param name="Method">The method.</param>
/// <param name="TakenNames">See <see cref="LogType.TakenNames"/>; from the type symbol, so the same for every method of the type.</param>
internal sealed record LogMethodInType(string Namespace, EquatableArray<ContainingType> Types, bool IsUnsafe, LogMethod Method, EquatableArray<string> TakenNames);

/// <summary>The explicit EventId of a method, for the duplicate check across the methods of one type.</summary>
internal sealed record EventIdUse(string TypeKey, int EventId, string MethodName, LocationInfo Location);

/// <summary>What the parser makes of one [FapiLog] method: a model when it is valid, and its diagnostics.</summary>
internal sealed record ParseResult(LogMethodInType? Method, EquatableArray<DiagnosticInfo> Diagnostics, EventIdUse? EventId);

/// <summary>What the module-initializer output needs: whether to emit it and whether the consumer can compile it.</summary>
internal sealed record HookRequest(bool HasLogMethods, bool Enabled, bool AttributeAvailable);
