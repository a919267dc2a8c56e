using System;
using System.Collections.Generic;
using System.ComponentModel;
using System.Runtime.CompilerServices;

namespace FapiLog;

/// <summary>What an argument's value is (<see cref="LogArgument.Kind"/>): a type a queue slot keeps by value, or a string.</summary>
/// <remarks>
/// Values of these types are copied into the slot as raw bytes (strings by reference, which is safe because strings are
/// immutable), so a call allocates nothing and a sink sees the value as it was at the moment of the call.
/// </remarks>
public enum ArgumentKind : byte
{
    /// <summary><see cref="bool"/>.</summary>
    Boolean,
    /// <summary><see cref="char"/>.</summary>
    Char,
    /// <summary><see cref="sbyte"/>.</summary>
    SByte,
    /// <summary><see cref="byte"/>.</summary>
    Byte,
    /// <summary><see cref="short"/>.</summary>
    Int16,
    /// <summary><see cref="ushort"/>.</summary>
    UInt16,
    /// <summary><see cref="int"/>.</summary>
    Int32,
    /// <summary><see cref="uint"/>.</summary>
    UInt32,
    /// <summary><see cref="long"/>.</summary>
    Int64,
    /// <summary><see cref="ulong"/>.</summary>
    UInt64,
    /// <summary><see cref="nint"/>.</summary>
    IntPtr,
    /// <summary><see cref="nuint"/>.</summary>
    UIntPtr,
    /// <summary><see cref="float"/>.</summary>
    Single,
    /// <summary><see cref="double"/>.</summary>
    Double,
    /// <summary><see cref="decimal"/>.</summary>
    Decimal,
    /// <summary><see cref="System.DateTime"/>.</summary>
    DateTime,
    /// <summary><see cref="System.DateTimeOffset"/>.</summary>
    DateTimeOffset,
    /// <summary><see cref="System.TimeSpan"/>.</summary>
    TimeSpan,
    /// <summary><see cref="System.Guid"/>.</summary>
    Guid,
    /// <summary>Any enum; rendered by name.</summary>
    Enum,
    /// <summary><see cref="string"/>, and the invariant string captured at call time for any other type.</summary>
    String,
}

/// <summary>
/// Describes one argument of a generated log method: its name and what its value is (a sink may read both through
/// <see cref="LogEventDescriptor.Arguments"/>; how the value is laid out in a queue slot is internal).
/// Created once per argument by generated code (<see cref="Create{T}(string)"/>); not meant to be used directly.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class LogArgument
{
    private readonly Dictionary<long, string>? _enumNames;

    private LogArgument(string name, ArgumentKind kind, ArgumentKind storageKind, bool isNullable, int size, Type? enumType)
    {
        Name = name;
        Kind = kind;
        StorageKind = storageKind;
        IsNullable = isNullable;
        Size = size;
        EnumType = enumType;
        if (enumType is not null)
        {
            _enumNames = new Dictionary<long, string>();
            Array values = System.Enum.GetValuesAsUnderlyingType(enumType);
            for (int i = 0; i < values.Length; i++)
            {
                object value = values.GetValue(i)!;
                long raw = value is ulong u ? unchecked((long)u) : Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture);
                // A value with several names (an alias such as All = ReadWrite) is written with the one Enum.ToString
                // picks, as string.Format does, not with the first one declared.
                if (!_enumNames.ContainsKey(raw))
                {
                    _enumNames.Add(raw, System.Enum.ToObject(enumType, value).ToString()!);
                }
            }
        }
    }

    /// <summary>The parameter name as declared.</summary>
    public string Name { get; }

    /// <summary>What the value is.</summary>
    public ArgumentKind Kind { get; }

    /// <summary>How the value is stored: equal to <see cref="Kind"/>, except for enums, which are stored as their underlying integer.</summary>
    // The slot layout (this, Size, IsReference) is internal: public, it would fix how a later version may store values.
    internal ArgumentKind StorageKind { get; }

    /// <summary>True when the parameter is a <see cref="Nullable{T}"/> value type.</summary>
    public bool IsNullable { get; }

    /// <summary>Bytes the value takes in the slot's value area; 0 for strings, which are kept by reference.</summary>
    internal int Size { get; }

    /// <summary>The enum type, when <see cref="Kind"/> is <see cref="ArgumentKind.Enum"/>.</summary>
    public Type? EnumType { get; }

    /// <summary>True when the value is kept by reference rather than copied into the value area.</summary>
    internal bool IsReference => StorageKind == ArgumentKind.String;

    /// <summary>
    /// Describes an argument of type <typeparamref name="T"/>: one of the types of <see cref="ArgumentKind"/>, a nullable form
    /// of one, or an enum. Generated code passes <see cref="string"/> for every other type and captures the value's invariant
    /// string at the moment of the call.
    /// </summary>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> is none of those.</exception>
    public static LogArgument Create<T>(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        Type type = typeof(T);
        if (type == typeof(string))
        {
            return new LogArgument(name, ArgumentKind.String, ArgumentKind.String, false, 0, null);
        }

        Type? underlying = Nullable.GetUnderlyingType(type);
        bool nullable = underlying is not null;
        Type valueType = underlying ?? type;
        Type? enumType = null;
        if (valueType.IsEnum)
        {
            enumType = valueType;
            valueType = System.Enum.GetUnderlyingType(valueType);
        }

        ArgumentKind storage = ClassifyValue(valueType)
            ?? throw new NotSupportedException($"FapiLog cannot store an argument of type '{type}' by value (argument '{name}'); pass it as its invariant string.");
        int size = RuntimeHelpers.IsReferenceOrContainsReferences<T>() ? -1 : Unsafe.SizeOf<T>();
        if (size < 0)
        {
            throw new NotSupportedException($"FapiLog cannot store an argument of type '{type}' by value (argument '{name}').");
        }

        return new LogArgument(name, enumType is null ? storage : ArgumentKind.Enum, storage, nullable, size, enumType);
    }

    /// <summary>
    /// Describes a non-nullable argument of the enum type <paramref name="enumType"/>, known only at run time (the ILogger
    /// bridge meets enums in a message's state). The same as <see cref="Create{T}(string)"/> with that type, without
    /// building a generic method at run time, which native AOT cannot do for a type it has not seen.
    /// </summary>
    internal static LogArgument CreateEnum(string name, Type enumType)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(enumType);
        if (!enumType.IsEnum)
        {
            throw new ArgumentException($"'{enumType}' is not an enum type.", nameof(enumType));
        }

        ArgumentKind storage = ClassifyValue(System.Enum.GetUnderlyingType(enumType))
            ?? throw new NotSupportedException($"FapiLog cannot store an argument of type '{enumType}' by value (argument '{name}').");
        int size = storage switch
        {
            ArgumentKind.SByte or ArgumentKind.Byte => 1,
            ArgumentKind.Int16 or ArgumentKind.UInt16 => 2,
            ArgumentKind.Int32 or ArgumentKind.UInt32 => 4,
            ArgumentKind.Int64 or ArgumentKind.UInt64 => 8,
            _ => throw new NotSupportedException($"FapiLog cannot store an argument of type '{enumType}' by value (argument '{name}')."),
        };
        return new LogArgument(name, ArgumentKind.Enum, storage, false, size, enumType);
    }

    private static ArgumentKind? ClassifyValue(Type t)
    {
        if (t == typeof(bool)) return ArgumentKind.Boolean;
        if (t == typeof(char)) return ArgumentKind.Char;
        if (t == typeof(sbyte)) return ArgumentKind.SByte;
        if (t == typeof(byte)) return ArgumentKind.Byte;
        if (t == typeof(short)) return ArgumentKind.Int16;
        if (t == typeof(ushort)) return ArgumentKind.UInt16;
        if (t == typeof(int)) return ArgumentKind.Int32;
        if (t == typeof(uint)) return ArgumentKind.UInt32;
        if (t == typeof(long)) return ArgumentKind.Int64;
        if (t == typeof(ulong)) return ArgumentKind.UInt64;
        if (t == typeof(nint)) return ArgumentKind.IntPtr;
        if (t == typeof(nuint)) return ArgumentKind.UIntPtr;
        if (t == typeof(float)) return ArgumentKind.Single;
        if (t == typeof(double)) return ArgumentKind.Double;
        if (t == typeof(decimal)) return ArgumentKind.Decimal;
        if (t == typeof(DateTime)) return ArgumentKind.DateTime;
        if (t == typeof(DateTimeOffset)) return ArgumentKind.DateTimeOffset;
        if (t == typeof(TimeSpan)) return ArgumentKind.TimeSpan;
        if (t == typeof(Guid)) return ArgumentKind.Guid;
        return null;
    }

    /// <summary>The name of an enum value, without allocating for defined values.</summary>
    internal string GetEnumName(long raw)
    {
        if (_enumNames!.TryGetValue(raw, out string? name))
        {
            return name;
        }

        // Flag combinations and undefined values: rare, so the allocation is acceptable.
        return System.Enum.ToObject(EnumType!, raw).ToString() ?? raw.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <inheritdoc />
    public override string ToString() => $"{Name}: {(EnumType?.Name ?? Kind.ToString())}{(IsNullable ? "?" : string.Empty)}";
}
