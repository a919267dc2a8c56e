using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;

namespace FapiLog.Hosting.Internal;

/// <summary>
/// The fields of one <see cref="ILogger"/> call, in the order they become descriptor arguments: the state's properties,
/// <c>category</c>, then the scopes' properties. One instance per thread is reused, so collecting allocates only what
/// reading the state costs (a state struct is boxed to be read as a list, and may box its values as they are read). Also
/// the probe key of <see cref="DescriptorCache"/>: its shape (names and kinds) is compared against cached shapes without
/// building a key object.
/// </summary>
internal sealed class FieldCollector
{
    public const string CategoryField = "category";
    public const string ScopeField = "scope";
    private const string RenamedCategory = "_category";

    [ThreadStatic]
    private static FieldCollector? t_cached;

    /// <summary>
    /// Most fields (and scopes) a collector keeps room for between calls: far more than a call usually carries, and still
    /// only about 10 KB per thread.
    /// </summary>
    internal const int MaxRetainedFields = 256;

    private const int InitialFields = 16;

    private readonly List<object?> _scopes = new();
    private Field[] _fields = new Field[InitialFields];
    private int _count;
    private int _stateCount;
    private bool _stateIncomplete;
    private bool _inUse;

    public int Count => _count;

    /// <summary>How many of the fields came from the call's own state (they come first).</summary>
    public int StateCount => _stateCount;

    /// <summary>True when reading the state threw part way; the fields read before that are kept.</summary>
    public bool StateIncomplete => _stateIncomplete;

    public ref readonly Field this[int index] => ref _fields[index];

    /// <summary>This thread's collector, or a new one when it is busy (a value's ToString that logs, for instance).</summary>
    public static FieldCollector Rent()
    {
        FieldCollector? collector = t_cached;
        if (collector is null || collector._inUse)
        {
            collector = new FieldCollector();
            t_cached ??= collector;
        }

        collector._inUse = true;
        return collector;
    }

    public static void Return(FieldCollector collector)
    {
        collector.Clear();
        collector._inUse = false;
    }

    private void Clear()
    {
        if (_fields.Length > MaxRetainedFields)
        {
            // One call with thousands of properties would otherwise leave every thread that made such a call holding room
            // for them for the rest of its life.
            _fields = new Field[InitialFields];
        }
        else
        {
            Array.Clear(_fields, 0, _count);
        }

        _count = 0;
        _stateCount = 0;
        _stateIncomplete = false;
        _scopes.Clear();
        if (_scopes.Capacity > MaxRetainedFields)
        {
            _scopes.Capacity = 0;
        }
    }

    /// <summary>The fields' room kept by the collector (for tests).</summary>
    internal int FieldCapacity => _fields.Length;

    /// <summary>The scopes' room kept by the collector (for tests).</summary>
    internal int ScopeCapacity => _scopes.Capacity;

    /// <summary>Adds the state's properties; returns the <c>{OriginalFormat}</c> template when there is one.</summary>
    public string? AddState<TState>(TState state)
    {
        string? template = null;
        if (state is IEnumerable<KeyValuePair<string, object?>> pairs)
        {
            _stateIncomplete = !AddPairs(pairs, ref template);
        }

        _stateCount = _count;
        return template;
    }

    public void AddCategory(string category) => Add(CategoryField, category);

    /// <summary>
    /// Adds the properties of the active scopes, the innermost scope first, skipping names already taken, then the field
    /// <c>scope</c>: the text of the scopes that are not lists of pairs and of those made from a template
    /// (<c>BeginScope("Order {OrderId}", 42)</c> is <c>Order 42</c> besides the field <c>OrderId</c>), as the console
    /// logger and Serilog show them, outer first.
    /// </summary>
    public void AddScopes(IExternalScopeProvider scopes)
    {
        scopes.ForEachScope(static (scope, self) => self._scopes.Add(scope), this);
        if (_scopes.Count == 0)
        {
            return;
        }

        for (int s = _scopes.Count - 1; s >= 0; s--)
        {
            object? scope = _scopes[s];
            string? template = null;
            if (scope is IEnumerable<KeyValuePair<string, object?>> pairs)
            {
                AddPairs(pairs, ref template);
            }

            // Texts are kept in the list in place of their scopes (null for none), to be joined outer first below. A scope
            // made from a template renders itself (Microsoft's formatter), not as the sequence of its pairs.
            _scopes[s] = template is not null ? Rendered(scope!)
                : scope is not null && scope is not IEnumerable<KeyValuePair<string, object?>> ? Capture(scope) ?? string.Empty
                : null;
        }

        StringBuilder? text = null;
        foreach (object? scopeText in _scopes)
        {
            if (scopeText is string t)
            {
                text = text is null ? new StringBuilder(t) : text.Append(" => ").Append(t);
            }
        }

        if (text is not null)
        {
            AddProperty(ScopeField, text.ToString());
        }
    }

    private static string Rendered(object scope)
    {
        try
        {
            return scope.ToString() ?? string.Empty;
        }
        catch (Exception ex)
        {
            return FapiLogRuntime.ToStringFailure(ex);
        }
    }

    /// <summary>
    /// Adds the properties of a state or a scope (its <c>{OriginalFormat}</c> goes to <paramref name="template"/>); returns
    /// false when reading them threw. What was read before stays: a list's item that throws ends the reading, except that the
    /// last item is still tried, where Microsoft's states keep their template (<c>LogInformation("{A} {B}", 1)</c> throws
    /// for <c>B</c>), and a sequence that throws part way keeps the pairs it gave. A call is not made to throw by a
    /// hostile state, as it is not by a value's ToString, and a list whose Count lies costs at most two exceptions.
    /// </summary>
    private bool AddPairs(IEnumerable<KeyValuePair<string, object?>> pairs, ref string? template)
    {
        if (pairs is IReadOnlyList<KeyValuePair<string, object?>> list)
        {
            int count;
            try
            {
                count = list.Count;
            }
            catch (Exception)
            {
                return false;
            }

            for (int i = 0; i < count; i++)
            {
                KeyValuePair<string, object?> pair;
                try
                {
                    pair = list[i];
                }
                catch (Exception)
                {
                    if (i < count - 1 && TryRead(list, count - 1, out KeyValuePair<string, object?> last))
                    {
                        AddPair(last, ref template);
                    }

                    return false;
                }

                AddPair(pair, ref template);
            }

            return true;
        }

        try
        {
            if (pairs is Dictionary<string, object?> dictionary)
            {
                // The most common scope (BeginScope(new Dictionary<string, object?> { ... })), read on every call inside it:
                // through its own enumerator, a struct, where the interface's is boxed (56 bytes a call).
                foreach (KeyValuePair<string, object?> pair in dictionary)
                {
                    AddPair(pair, ref template);
                }

                return true;
            }

            foreach (KeyValuePair<string, object?> pair in pairs)
            {
                AddPair(pair, ref template);
            }
        }
        catch (Exception)
        {
            return false;
        }

        return true;
    }

    private static bool TryRead(IReadOnlyList<KeyValuePair<string, object?>> list, int index, out KeyValuePair<string, object?> pair)
    {
        try
        {
            pair = list[index];
            return true;
        }
        catch (Exception)
        {
            pair = default;
            return false;
        }
    }

    private void AddPair(KeyValuePair<string, object?> pair, ref string? template)
    {
        if (pair.Key == StateKeys.OriginalFormat)
        {
            template = pair.Value as string;
            return;
        }

        AddProperty(pair.Key, pair.Value);
    }

    private void AddProperty(string? name, object? value)
    {
        if (string.IsNullOrEmpty(name))
        {
            return;
        }

        if (name == CategoryField)
        {
            name = RenamedCategory;
        }

        for (int i = 0; i < _count; i++)
        {
            if (string.Equals(_fields[i].Name, name, StringComparison.Ordinal))
            {
                return;
            }
        }

        Add(name, value);
    }

    private void Add(string name, object? value)
    {
        if (_count == _fields.Length)
        {
            Array.Resize(ref _fields, _fields.Length * 2);
        }

        ref Field field = ref _fields[_count++];
        field.Name = name;
        Classify(value, ref field);
    }

    /// <summary>Writes the values in field order; the descriptor's arguments follow the same order.</summary>
    public void WriteValues(ref LogEventWriter writer)
    {
        for (int i = 0; i < _count; i++)
        {
            ref Field f = ref _fields[i];
            object? v = f.Value;
            switch (f.Storage)
            {
                case ArgumentKind.Boolean: writer.Write((bool)v!); break;
                case ArgumentKind.Char: writer.Write((char)v!); break;
                case ArgumentKind.SByte: writer.Write((sbyte)v!); break;
                case ArgumentKind.Byte: writer.Write((byte)v!); break;
                case ArgumentKind.Int16: writer.Write((short)v!); break;
                case ArgumentKind.UInt16: writer.Write((ushort)v!); break;
                case ArgumentKind.Int32: writer.Write((int)v!); break;
                case ArgumentKind.UInt32: writer.Write((uint)v!); break;
                case ArgumentKind.Int64: writer.Write((long)v!); break;
                case ArgumentKind.UInt64: writer.Write((ulong)v!); break;
                case ArgumentKind.IntPtr: writer.Write((nint)v!); break;
                case ArgumentKind.UIntPtr: writer.Write((nuint)v!); break;
                case ArgumentKind.Single: writer.Write((float)v!); break;
                case ArgumentKind.Double: writer.Write((double)v!); break;
                case ArgumentKind.Decimal: writer.Write((decimal)v!); break;
                case ArgumentKind.DateTime: writer.Write((DateTime)v!); break;
                case ArgumentKind.DateTimeOffset: writer.Write((DateTimeOffset)v!); break;
                case ArgumentKind.TimeSpan: writer.Write((TimeSpan)v!); break;
                case ArgumentKind.Guid: writer.Write((Guid)v!); break;
                default: writer.WriteString((string?)v); break;
            }
        }
    }

    /// <summary>
    /// Sorts a value into a kind the queue stores by value; anything else becomes its invariant string now, so that a later
    /// change to the object cannot change what is logged. A boxed enum unboxes as its underlying integer, which is how the
    /// queue stores enums.
    /// </summary>
    private static void Classify(object? value, ref Field field)
    {
        field.EnumType = null;
        field.IsFormattableText = false;
        switch (value)
        {
            case null: field.Kind = field.Storage = ArgumentKind.String; field.Value = null; return;
            case string: field.Kind = field.Storage = ArgumentKind.String; field.Value = value; return;
            case int: Set(ref field, ArgumentKind.Int32, value); return;
            case long: Set(ref field, ArgumentKind.Int64, value); return;
            case bool: Set(ref field, ArgumentKind.Boolean, value); return;
            case double: Set(ref field, ArgumentKind.Double, value); return;
            case decimal: Set(ref field, ArgumentKind.Decimal, value); return;
            case DateTime: Set(ref field, ArgumentKind.DateTime, value); return;
            case DateTimeOffset: Set(ref field, ArgumentKind.DateTimeOffset, value); return;
            case TimeSpan: Set(ref field, ArgumentKind.TimeSpan, value); return;
            case Guid: Set(ref field, ArgumentKind.Guid, value); return;
            case float: Set(ref field, ArgumentKind.Single, value); return;
            case short: Set(ref field, ArgumentKind.Int16, value); return;
            case ushort: Set(ref field, ArgumentKind.UInt16, value); return;
            case uint: Set(ref field, ArgumentKind.UInt32, value); return;
            case ulong: Set(ref field, ArgumentKind.UInt64, value); return;
            case byte: Set(ref field, ArgumentKind.Byte, value); return;
            case sbyte: Set(ref field, ArgumentKind.SByte, value); return;
            case char: Set(ref field, ArgumentKind.Char, value); return;
            case nint: Set(ref field, ArgumentKind.IntPtr, value); return;
            case nuint: Set(ref field, ArgumentKind.UIntPtr, value); return;
            case Enum:
            {
                Type enumType = value.GetType();
                ArgumentKind? storage = Type.GetTypeCode(Enum.GetUnderlyingType(enumType)) switch
                {
                    TypeCode.SByte => ArgumentKind.SByte,
                    TypeCode.Byte => ArgumentKind.Byte,
                    TypeCode.Int16 => ArgumentKind.Int16,
                    TypeCode.UInt16 => ArgumentKind.UInt16,
                    TypeCode.Int32 => ArgumentKind.Int32,
                    TypeCode.UInt32 => ArgumentKind.UInt32,
                    TypeCode.Int64 => ArgumentKind.Int64,
                    TypeCode.UInt64 => ArgumentKind.UInt64,
                    _ => null,
                };
                if (storage is { } s)
                {
                    field.Kind = ArgumentKind.Enum;
                    field.Storage = s;
                    field.EnumType = enumType;
                    field.Value = value;
                    return;
                }

                break;
            }
        }

        field.Kind = field.Storage = ArgumentKind.String;
        field.IsFormattableText = value is IFormattable;
        field.Value = Capture(value);
    }

    private static void Set(ref Field field, ArgumentKind kind, object value)
    {
        field.Kind = field.Storage = kind;
        field.Value = value;
    }

    /// <summary>
    /// The invariant-culture text of a value, as Microsoft's formatter renders it (sequences as "a, b, c"). A ToString (or
    /// an enumeration) that throws does not make the log call throw, as for <c>[FapiLog]</c> methods: the value is logged
    /// as <c>&lt;ToString threw TypeName: message&gt;</c>.
    /// </summary>
    internal static string? Capture(object? value)
    {
        try
        {
            return CaptureText(value);
        }
        catch (Exception ex)
        {
            return FapiLogRuntime.ToStringFailure(ex);
        }
    }

    private static string? CaptureText(object? value)
    {
        switch (value)
        {
            case null: return null;
            case string s: return s;
            case IFormattable formattable: return formattable.ToString(null, CultureInfo.InvariantCulture);
            case IEnumerable sequence:
            {
                var text = new StringBuilder();
                bool first = true;
                foreach (object? item in sequence)
                {
                    if (!first)
                    {
                        text.Append(", ");
                    }

                    first = false;
                    text.Append(item is null ? "(null)" : item is IFormattable f ? f.ToString(null, CultureInfo.InvariantCulture) : item.ToString());
                }

                return text.ToString();
            }

            default: return value.ToString();
        }
    }

    /// <summary>One field: its name, what it is, how it is stored, and the (boxed or captured) value.</summary>
    internal struct Field
    {
        public string Name;
        public ArgumentKind Kind;
        public ArgumentKind Storage;
        public Type? EnumType;

        /// <summary>
        /// True when the value is an <see cref="IFormattable"/> kept as its text (a <see cref="DateOnly"/>, say): a format in
        /// the template cannot be applied to that text, only to the value, so such an event takes the formatter's text.
        /// </summary>
        public bool IsFormattableText;
        public object? Value;
    }
}
