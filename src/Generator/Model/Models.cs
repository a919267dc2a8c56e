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
/// <param name="Modifier">"in", "this", "this in" or empty.</param>
/// <param name="Kind">How the value is stored.</param>
internal sealed record LogParameter(string Name, string Identifier, string Type, string ValueType, string Modifier, ParameterKind Kind);

/// <summary>A type that contains a log method, outermost first.</summary>
/// <param name="Keyword">"class", "struct", "record", "record struct", "interface", with "ref" for ref structs.</param>
/// <param name="Name">The name with its type parameter list, e.g. <c>Cache&lt;TKey&gt;</c>.</param>
internal sealed record ContainingType(string Keyword, string Name);

/// <summary>Everything the emitter needs to write one method body and its descriptor; plain data only.</summary>
internal sealed record LogMethod(
    string Name,
    string Modifiers,
    int EventId,
    string EventName,
    int Level,
    string Message,
    EquatableArray<LogParameter> Parameters);

/// <summary>A partial type with its log methods: one generated file.</summary>
/// <param name="Namespace">The namespace, or empty for the global namespace.</param>
/// <param name="Types">The containing types, outermost first.</param>
/// <param name="Methods">The log methods in declaration order.</param>
internal sealed record LogType(string Namespace, EquatableArray<ContainingType> Types, EquatableArray<LogMethod> Methods)
{
    /// <summary>A file name unique per type.</summary>
    public string HintName
    {
        get
        {
            var builder = new System.Text.StringBuilder();
            if (Namespace.Length > 0)
            {
                builder.Append(Namespace).Append('.');
            }

            for (int i = 0; i < Types.Count; i++)
            {
                if (i > 0)
                {
                    builder.Append('+');
                }

                builder.Append(Types[i].Name.Replace('<', '{').Replace('>', '}').Replace(", ", ","));
            }

            // The suffix keeps type files apart from the module initializer's file whatever the types are called.
            return builder + ".FapiLog.g.cs";
        }
    }
}

/// <summary>One method's model, keyed by the type it belongs to, before the methods are grouped per type.</summary>
internal sealed record LogMethodInType(string Namespace, EquatableArray<ContainingType> Types, LogMethod Method);

/// <summary>The explicit EventId of a method, for the duplicate check across the methods of one type.</summary>
internal sealed record EventIdUse(string TypeKey, int EventId, string MethodName, LocationInfo Location);

/// <summary>What the parser makes of one [FapiLog] method: a model when it is valid, and its diagnostics.</summary>
internal sealed record ParseResult(LogMethodInType? Method, EquatableArray<DiagnosticInfo> Diagnostics, EventIdUse? EventId);

/// <summary>What the module-initializer output needs: whether to emit it and whether the consumer can compile it.</summary>
internal sealed record HookRequest(bool HasLogMethods, bool Enabled, bool AttributeAvailable);
