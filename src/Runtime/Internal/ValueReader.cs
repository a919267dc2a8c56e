using System;
using System.Buffers;
using System.Globalization;
using System.Runtime.CompilerServices;

namespace FapiLog.Internal;

/// <summary>Reads typed argument values back out of a record, for field visitors and the message renderer.</summary>
internal static class ValueReader
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryRead<T>(ReadOnlySpan<byte> values, int offset, bool nullable, out T value)
        where T : unmanaged
    {
        ref byte start = ref Unsafe.AsRef(in values[offset]);
        if (nullable)
        {
            T? boxed = Unsafe.ReadUnaligned<T?>(ref start);
            value = boxed.GetValueOrDefault();
            return boxed.HasValue;
        }

        value = Unsafe.ReadUnaligned<T>(ref start);
        return true;
    }

    /// <summary>Reads an integer of any storage width as a sign- or zero-extended 64-bit value (for enums).</summary>
    private static bool TryReadRawInteger(ReadOnlySpan<byte> values, int offset, bool nullable, ArgumentKind storage, out long raw)
    {
        raw = 0;
        switch (storage)
        {
            case ArgumentKind.SByte: { bool ok = TryRead(values, offset, nullable, out sbyte v); raw = v; return ok; }
            case ArgumentKind.Byte: { bool ok = TryRead(values, offset, nullable, out byte v); raw = v; return ok; }
            case ArgumentKind.Int16: { bool ok = TryRead(values, offset, nullable, out short v); raw = v; return ok; }
            case ArgumentKind.UInt16: { bool ok = TryRead(values, offset, nullable, out ushort v); raw = v; return ok; }
            case ArgumentKind.Int32: { bool ok = TryRead(values, offset, nullable, out int v); raw = v; return ok; }
            case ArgumentKind.UInt32: { bool ok = TryRead(values, offset, nullable, out uint v); raw = v; return ok; }
            case ArgumentKind.Int64: { bool ok = TryRead(values, offset, nullable, out long v); raw = v; return ok; }
            case ArgumentKind.UInt64: { bool ok = TryRead(values, offset, nullable, out ulong v); raw = unchecked((long)v); return ok; }
            default: throw new InvalidOperationException($"An enum cannot be stored as {storage}.");
        }
    }

    /// <summary>Hands argument <paramref name="index"/> of <paramref name="record"/> to <paramref name="visitor"/>.</summary>
    public static void Visit<TVisitor>(in LogRecord record, LogEventDescriptor d, int index, ref TVisitor visitor)
        where TVisitor : ILogFieldVisitor
    {
        LogArgument a = d.ArgumentArray[index];
        string name = d.FieldNameArray[index];
        int offset = d.Offsets[index];
        if (a.IsReference)
        {
            if (record.GetReference(offset) is string s)
            {
                visitor.Visit(name, s);
            }
            else
            {
                visitor.VisitNull(name);
            }

            return;
        }

        ReadOnlySpan<byte> values = record.ValueSpan;
        bool nullable = a.IsNullable;
        bool has;
        switch (a.Kind)
        {
            case ArgumentKind.Boolean: { has = TryRead(values, offset, nullable, out bool v); if (has) visitor.Visit(name, v); break; }
            case ArgumentKind.Char: { has = TryRead(values, offset, nullable, out char v); if (has) visitor.Visit(name, CharStrings.Get(v)); break; }
            case ArgumentKind.SByte: { has = TryRead(values, offset, nullable, out sbyte v); if (has) visitor.Visit(name, (long)v); break; }
            case ArgumentKind.Byte: { has = TryRead(values, offset, nullable, out byte v); if (has) visitor.Visit(name, (ulong)v); break; }
            case ArgumentKind.Int16: { has = TryRead(values, offset, nullable, out short v); if (has) visitor.Visit(name, (long)v); break; }
            case ArgumentKind.UInt16: { has = TryRead(values, offset, nullable, out ushort v); if (has) visitor.Visit(name, (ulong)v); break; }
            case ArgumentKind.Int32: { has = TryRead(values, offset, nullable, out int v); if (has) visitor.Visit(name, (long)v); break; }
            case ArgumentKind.UInt32: { has = TryRead(values, offset, nullable, out uint v); if (has) visitor.Visit(name, (ulong)v); break; }
            case ArgumentKind.Int64: { has = TryRead(values, offset, nullable, out long v); if (has) visitor.Visit(name, v); break; }
            case ArgumentKind.UInt64: { has = TryRead(values, offset, nullable, out ulong v); if (has) visitor.Visit(name, v); break; }
            case ArgumentKind.IntPtr: { has = TryRead(values, offset, nullable, out nint v); if (has) visitor.Visit(name, (long)v); break; }
            case ArgumentKind.UIntPtr: { has = TryRead(values, offset, nullable, out nuint v); if (has) visitor.Visit(name, (ulong)v); break; }
            case ArgumentKind.Single: { has = TryRead(values, offset, nullable, out float v); if (has) visitor.Visit(name, Widen(v)); break; }
            case ArgumentKind.Double: { has = TryRead(values, offset, nullable, out double v); if (has) visitor.Visit(name, v); break; }
            case ArgumentKind.Decimal: { has = TryRead(values, offset, nullable, out decimal v); if (has) visitor.Visit(name, v); break; }
            case ArgumentKind.DateTime: { has = TryRead(values, offset, nullable, out DateTime v); if (has) visitor.Visit(name, v); break; }
            case ArgumentKind.DateTimeOffset: { has = TryRead(values, offset, nullable, out DateTimeOffset v); if (has) visitor.Visit(name, v); break; }
            case ArgumentKind.TimeSpan: { has = TryRead(values, offset, nullable, out TimeSpan v); if (has) visitor.Visit(name, v); break; }
            case ArgumentKind.Guid: { has = TryRead(values, offset, nullable, out Guid v); if (has) visitor.Visit(name, v); break; }
            case ArgumentKind.Enum: { has = TryReadRawInteger(values, offset, nullable, a.StorageKind, out long v); if (has) visitor.Visit(name, a.GetEnumName(v)); break; }
            default: throw new InvalidOperationException($"Unknown argument kind {a.Kind}.");
        }

        if (!has)
        {
            visitor.VisitNull(name);
        }
    }

    /// <summary>Appends argument <paramref name="index"/> as composite formatting would, with the invariant culture.</summary>
    public static void Format(in LogRecord record, LogEventDescriptor d, int index, string? format, IBufferWriter<char> w)
    {
        LogArgument a = d.ArgumentArray[index];
        int offset = d.Offsets[index];
        if (a.IsReference)
        {
            Append(w, record.GetReference(offset) as string ?? MessageRenderer.Null);
            return;
        }

        ReadOnlySpan<byte> values = record.ValueSpan;
        bool nullable = a.IsNullable;
        bool has;
        switch (a.Kind)
        {
            case ArgumentKind.Boolean: { has = TryRead(values, offset, nullable, out bool v); if (has) Append(w, v ? bool.TrueString : bool.FalseString); break; }
            case ArgumentKind.Char: { has = TryRead(values, offset, nullable, out char v); if (has) Append(w, new ReadOnlySpan<char>(in v)); break; }
            case ArgumentKind.SByte: { has = TryRead(values, offset, nullable, out sbyte v); if (has) AppendFormatted(w, v, format); break; }
            case ArgumentKind.Byte: { has = TryRead(values, offset, nullable, out byte v); if (has) AppendFormatted(w, v, format); break; }
            case ArgumentKind.Int16: { has = TryRead(values, offset, nullable, out short v); if (has) AppendFormatted(w, v, format); break; }
            case ArgumentKind.UInt16: { has = TryRead(values, offset, nullable, out ushort v); if (has) AppendFormatted(w, v, format); break; }
            case ArgumentKind.Int32: { has = TryRead(values, offset, nullable, out int v); if (has) AppendFormatted(w, v, format); break; }
            case ArgumentKind.UInt32: { has = TryRead(values, offset, nullable, out uint v); if (has) AppendFormatted(w, v, format); break; }
            case ArgumentKind.Int64: { has = TryRead(values, offset, nullable, out long v); if (has) AppendFormatted(w, v, format); break; }
            case ArgumentKind.UInt64: { has = TryRead(values, offset, nullable, out ulong v); if (has) AppendFormatted(w, v, format); break; }
            case ArgumentKind.IntPtr: { has = TryRead(values, offset, nullable, out nint v); if (has) AppendFormatted(w, v, format); break; }
            case ArgumentKind.UIntPtr: { has = TryRead(values, offset, nullable, out nuint v); if (has) AppendFormatted(w, v, format); break; }
            case ArgumentKind.Single: { has = TryRead(values, offset, nullable, out float v); if (has) AppendFormatted(w, v, format); break; }
            case ArgumentKind.Double: { has = TryRead(values, offset, nullable, out double v); if (has) AppendFormatted(w, v, format); break; }
            case ArgumentKind.Decimal: { has = TryRead(values, offset, nullable, out decimal v); if (has) AppendFormatted(w, v, format); break; }
            case ArgumentKind.DateTime: { has = TryRead(values, offset, nullable, out DateTime v); if (has) AppendFormatted(w, v, format); break; }
            case ArgumentKind.DateTimeOffset: { has = TryRead(values, offset, nullable, out DateTimeOffset v); if (has) AppendFormatted(w, v, format); break; }
            case ArgumentKind.TimeSpan: { has = TryRead(values, offset, nullable, out TimeSpan v); if (has) AppendFormatted(w, v, format); break; }
            case ArgumentKind.Guid: { has = TryRead(values, offset, nullable, out Guid v); if (has) AppendFormatted(w, v, format); break; }
            case ArgumentKind.Enum:
                {
                    has = TryReadRawInteger(values, offset, nullable, a.StorageKind, out long v);
                    if (has)
                    {
                        if (format is null || format is "G" or "g")
                        {
                            Append(w, a.GetEnumName(v));
                        }
                        else
                        {
                            Append(w, FormatEnum(a, v, format));
                        }
                    }

                    break;
                }

            default: throw new InvalidOperationException($"Unknown argument kind {a.Kind}.");
        }

        if (!has)
        {
            Append(w, MessageRenderer.Null);
        }
    }

    /// <summary>
    /// The double that prints as <paramref name="value"/> does: 0.1f widened as is would be 0.10000000149011612, which is
    /// not what the message shows nor what the caller wrote.
    /// </summary>
    internal static double Widen(float value)
    {
        Span<char> text = stackalloc char[32];
        return float.IsFinite(value) && value.TryFormat(text, out int written, default, CultureInfo.InvariantCulture)
            ? double.Parse(text.Slice(0, written), NumberStyles.Float, CultureInfo.InvariantCulture)
            : value;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Append(IBufferWriter<char> w, ReadOnlySpan<char> text)
    {
        if (text.IsEmpty)
        {
            return;
        }

        Span<char> span = w.GetSpan(text.Length);
        text.CopyTo(span);
        w.Advance(text.Length);
    }

    /// <summary>
    /// Appends <paramref name="value"/> with <paramref name="format"/>. A format the type rejects (say <c>{Amount:Z9}</c> on
    /// a decimal: the compiler cannot check it) is ignored rather than thrown on the worker, where it would cost the whole
    /// batch: the value is written as with no format.
    /// </summary>
    internal static void AppendFormatted<T>(IBufferWriter<char> w, T value, string? format)
        where T : ISpanFormattable
    {
        int hint = 32;
        while (true)
        {
            Span<char> span = w.GetSpan(hint);
            bool done;
            int written;
            try
            {
                done = value.TryFormat(span, out written, format, CultureInfo.InvariantCulture);
            }
            catch (FormatException) when (format is not null)
            {
                format = null;
                continue;
            }

            if (done)
            {
                w.Advance(written);
                return;
            }

            hint = span.Length * 2;
        }
    }

    /// <summary>An enum value with a numeric or flags format (rare enough that the boxing is acceptable); its name when the format is rejected.</summary>
    private static string FormatEnum(LogArgument a, long value, string format)
    {
        try
        {
            return ((IFormattable)Enum.ToObject(a.EnumType!, value)).ToString(format, CultureInfo.InvariantCulture);
        }
        catch (FormatException)
        {
            return a.GetEnumName(value);
        }
    }
}

/// <summary>One-character strings, cached for ASCII so that char fields do not allocate.</summary>
internal static class CharStrings
{
    private static readonly string[] s_ascii = CreateAscii();

    private static string[] CreateAscii()
    {
        var table = new string[128];
        for (int i = 0; i < table.Length; i++)
        {
            table[i] = ((char)i).ToString();
        }

        return table;
    }

    public static string Get(char c) => c < 128 ? s_ascii[c] : c.ToString();
}
