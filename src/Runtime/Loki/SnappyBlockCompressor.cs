using System;
using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FapiLog.Loki;

/// <summary>
/// Compresses into the Snappy <em>block</em> format (the raw format Loki's push endpoint reads for
/// <c>application/x-protobuf</c>, not the framed stream format). One instance belongs to one sink, which the single
/// worker drives, and keeps its hash table between calls, so compressing allocates nothing.
/// </summary>
/// <remarks>
/// <para>
/// Format (github.com/google/snappy, format_description.txt): the uncompressed length as a little-endian base-128
/// varint, then elements whose tag's low two bits say what follows: <c>00</c> a literal, <c>01</c> a copy of 4 to 11
/// bytes at an offset below 2,048 (one extra byte), <c>10</c> a copy of 1 to 64 bytes at an offset below 65,536 (two
/// extra bytes). The four-byte-offset copy is never needed here because the input is compressed in independent
/// 64 KiB fragments, so every offset fits in two bytes.
/// </para>
/// <para>
/// Search: a hash of the next four bytes indexes the last position that had the same hash; a candidate is used only
/// if its four bytes really match, then the match is extended as far as it goes. After 32 misses in a row the scan
/// starts stepping over more bytes at a time, so incompressible input costs little. Like other Snappy compressors,
/// this one trades ratio for speed; Loki's bodies (repeated JSON keys and label values) compress well with it.
/// </para>
/// </remarks>
internal sealed class SnappyBlockCompressor
{
    private const int FragmentSize = 1 << 16;
    private const int MinTableBits = 8;
    private const int MaxTableBits = 14;

    /// <summary>
    /// The search stops this many bytes before a fragment's end, so every four-byte load in it stays inside the
    /// fragment; what is left goes out as the final literal.
    /// </summary>
    private const int InputMargin = 15;

    private readonly ushort[] _table = new ushort[1 << MaxTableBits];

    /// <summary>The largest output <see cref="Compress"/> can produce for an input of <paramref name="sourceLength"/> bytes.</summary>
    public static int GetMaxCompressedLength(int sourceLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sourceLength);
        // The bound of the reference implementation: a literal tag per 60 bytes at worst, plus the length preamble.
        return checked(32 + sourceLength + (sourceLength / 6));
    }

    /// <summary>Compresses <paramref name="source"/> into <paramref name="destination"/> and returns the bytes written.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <see cref="GetMaxCompressedLength"/>.</exception>
    public int Compress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        int bound = GetMaxCompressedLength(source.Length);
        if (destination.Length < bound)
        {
            throw new ArgumentException(
                $"The destination holds {destination.Length} bytes; compressing {source.Length} bytes needs up to {bound}.",
                nameof(destination));
        }

        int written = WriteVarint((uint)source.Length, destination);
        for (int start = 0; start < source.Length; start += FragmentSize)
        {
            ReadOnlySpan<byte> fragment = source.Slice(start, Math.Min(FragmentSize, source.Length - start));
            written += CompressFragment(fragment, destination.Slice(written));
        }

        return written;
    }

    private int CompressFragment(ReadOnlySpan<byte> input, Span<byte> output)
    {
        int length = input.Length;
        int written = 0;
        int nextEmit = 0;

        if (length > InputMargin)
        {
            int tableBits = MinTableBits;
            while (tableBits < MaxTableBits && (1 << tableBits) < length)
            {
                tableBits++;
            }

            Span<ushort> table = _table.AsSpan(0, 1 << tableBits);
            table.Clear();
            int shift = 32 - tableBits;
            int limit = length - InputMargin;
            ref byte src = ref MemoryMarshal.GetReference(input);

            table[Hash(Load32(ref src, 0), shift)] = 0;
            int i = 1;
            while (i <= limit)
            {
                // Look for a four-byte match, stepping further the longer nothing has matched.
                int candidate;
                int skip = 32;
                while (true)
                {
                    uint current = Load32(ref src, i);
                    int h = Hash(current, shift);
                    candidate = table[h];
                    table[h] = (ushort)i;
                    if (Load32(ref src, candidate) == current)
                    {
                        break;
                    }

                    i += skip >> 5;
                    skip++;
                    if (i > limit)
                    {
                        goto EmitRemainder;
                    }
                }

                written += EmitLiteral(input[nextEmit..i], output[written..]);

                // Emit copies for as long as the position right after a match starts another one.
                while (true)
                {
                    int matchLength = 4 + MatchLength(ref src, candidate + 4, i + 4, length);
                    written += EmitCopy(i - candidate, matchLength, output[written..]);
                    i += matchLength;
                    nextEmit = i;
                    if (i > limit)
                    {
                        goto EmitRemainder;
                    }

                    table[Hash(Load32(ref src, i - 1), shift)] = (ushort)(i - 1);
                    uint current = Load32(ref src, i);
                    int h = Hash(current, shift);
                    candidate = table[h];
                    table[h] = (ushort)i;
                    if (Load32(ref src, candidate) != current)
                    {
                        break;
                    }
                }

                i++;
            }
        }

    EmitRemainder:
        if (nextEmit < length)
        {
            written += EmitLiteral(input[nextEmit..], output[written..]);
        }

        return written;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Load32(ref byte src, int index) => Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref src, index));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Hash(uint bytes, int shift) => (int)((bytes * 0x1E35A7BDu) >> shift);

    /// <summary>How many bytes at <paramref name="earlier"/> equal those at <paramref name="later"/>, up to <paramref name="end"/>.</summary>
    private static int MatchLength(ref byte src, int earlier, int later, int end)
    {
        int matched = 0;
        while (later + matched + 8 <= end)
        {
            ulong a = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref src, earlier + matched));
            ulong b = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref src, later + matched));
            ulong diff = a ^ b;
            if (diff != 0)
            {
                int equalBits = BitConverter.IsLittleEndian ? BitOperations.TrailingZeroCount(diff) : BitOperations.LeadingZeroCount(diff);
                return matched + (equalBits >> 3);
            }

            matched += 8;
        }

        while (later + matched < end && Unsafe.Add(ref src, earlier + matched) == Unsafe.Add(ref src, later + matched))
        {
            matched++;
        }

        return matched;
    }

    private static int EmitLiteral(ReadOnlySpan<byte> literal, Span<byte> output)
    {
        int n = literal.Length - 1;
        int header;
        if (n < 60)
        {
            output[0] = (byte)(n << 2);
            header = 1;
        }
        else
        {
            // Tags 60..63 say that the length minus one follows in 1..4 little-endian bytes.
            int bytes = n < 1 << 8 ? 1 : n < 1 << 16 ? 2 : n < 1 << 24 ? 3 : 4;
            output[0] = (byte)((59 + bytes) << 2);
            for (int b = 0; b < bytes; b++)
            {
                output[1 + b] = (byte)(n >> (8 * b));
            }

            header = 1 + bytes;
        }

        literal.CopyTo(output[header..]);
        return header + literal.Length;
    }

    private static int EmitCopy(int offset, int length, Span<byte> output)
    {
        int written = 0;

        // A two-byte-offset copy carries at most 64 bytes; split so that the last piece is still at least 4 long.
        while (length >= 68)
        {
            written += EmitCopy2(offset, 64, output[written..]);
            length -= 64;
        }

        if (length > 64)
        {
            written += EmitCopy2(offset, 60, output[written..]);
            length -= 60;
        }

        if (length < 12 && offset < 2048)
        {
            output[written] = (byte)(0b01 | ((length - 4) << 2) | ((offset >> 8) << 5));
            output[written + 1] = (byte)offset;
            return written + 2;
        }

        return written + EmitCopy2(offset, length, output[written..]);
    }

    private static int EmitCopy2(int offset, int length, Span<byte> output)
    {
        output[0] = (byte)(0b10 | ((length - 1) << 2));
        BinaryPrimitives.WriteUInt16LittleEndian(output[1..], (ushort)offset);
        return 3;
    }

    private static int WriteVarint(uint value, Span<byte> output)
    {
        int i = 0;
        while (value >= 0x80)
        {
            output[i++] = (byte)(value | 0x80);
            value >>= 7;
        }

        output[i++] = (byte)value;
        return i;
    }
}
