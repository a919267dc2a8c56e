using System;
using System.Runtime.CompilerServices;

namespace FapiLog.Loki;

/// <summary>
/// The few protobuf wire primitives the push request needs: varints, tags and length-delimited fields. Sizes are
/// computed before writing, so every length prefix is known up front and nothing is back-patched or copied.
/// </summary>
internal static class Protobuf
{
    public const int WireVarint = 0;
    public const int WireLengthDelimited = 2;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte Tag(int field, int wireType) => (byte)((field << 3) | wireType);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int VarintSize(ulong value)
    {
        // 7 payload bits per byte: 1 byte up to 127, 10 bytes for the full 64 bits.
        int bits = 64 - System.Numerics.BitOperations.LeadingZeroCount(value | 1);
        return (bits + 6) / 7;
    }

    /// <summary>Size of a length-delimited field (one-byte tag, length prefix, payload).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int LengthDelimitedSize(int payload) => 1 + VarintSize((ulong)payload) + payload;

    /// <summary>Size of a varint field (one-byte tag) or 0 when the value is the default and is left out.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int VarintFieldSize(ulong value) => value == 0 ? 0 : 1 + VarintSize(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteVarint(Span<byte> destination, ref int position, ulong value)
    {
        while (value >= 0x80)
        {
            destination[position++] = (byte)(value | 0x80);
            value >>= 7;
        }

        destination[position++] = (byte)value;
    }

    public static void WriteVarintField(Span<byte> destination, ref int position, int field, ulong value)
    {
        if (value == 0)
        {
            return;
        }

        destination[position++] = Tag(field, WireVarint);
        WriteVarint(destination, ref position, value);
    }

    /// <summary>Writes the tag and the length prefix of a length-delimited field; the caller writes the payload.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteLengthPrefix(Span<byte> destination, ref int position, int field, int length)
    {
        destination[position++] = Tag(field, WireLengthDelimited);
        WriteVarint(destination, ref position, (ulong)length);
    }

    public static void WriteBytesField(Span<byte> destination, ref int position, int field, ReadOnlySpan<byte> payload)
    {
        WriteLengthPrefix(destination, ref position, field, payload.Length);
        payload.CopyTo(destination.Slice(position));
        position += payload.Length;
    }
}
