using System;
using System.Buffers;
using System.Globalization;
using System.Text.Encodings.Web;

namespace FapiLog.Internal;

/// <summary>
/// <see cref="JavaScriptEncoder.UnsafeRelaxedJsonEscaping"/> (non-ASCII and HTML characters kept as they are, so a JSON
/// line stays readable) that also writes the bidirectional embedding, override and isolate controls (U+202A..U+202E,
/// U+2066..U+2069) as <c>\uXXXX</c>: JSON lines are read in terminals and viewers too, where such a character in a value
/// would reorder how the rest of the line is displayed ("Trojan Source"). The escape decodes to the same string.
/// </summary>
/// <remarks>
/// Everything else is the relaxed encoder's own work: text without these characters goes to it in one call (after one
/// vectorized search), text with them goes to it in the runs between them. Built once; allocates nothing.
/// </remarks>
internal sealed class ReadableJsonEncoder : JavaScriptEncoder
{
    /// <summary>The one instance.</summary>
    public static readonly ReadableJsonEncoder Instance = new();

    private static readonly JavaScriptEncoder s_relaxed = UnsafeRelaxedJsonEscaping;

    // The nine controls lie in U+202A..U+2069. Searching for that whole range is one vectorized search (SearchValues of a
    // contiguous range); a set of just the nine is searched a character at a time, which made rendering Loki lines 20 % slower.
    // IsBidiControl then decides. (IndexOfAnyInRange, generic, allocated 96 bytes a call in the Loki allocation tests.)
    private static readonly SearchValues<char> s_bidiRange = SearchValues.Create(RangeOf('\u202A', '\u2069'));

    // Their UTF-8 form: E2 80 AA..AE and E2 81 A6..A9.
    private const byte Utf8Lead = 0xE2;

    private const int EscapeLength = 6;

    private ReadableJsonEncoder()
    {
    }

    /// <inheritdoc />
    public override int MaxOutputCharactersPerInputCharacter => Math.Max(EscapeLength, s_relaxed.MaxOutputCharactersPerInputCharacter);

    /// <summary>Whether <paramref name="scalar"/> is one of U+202A..U+202E (LRE, RLE, PDF, LRO, RLO) or U+2066..U+2069 (LRI, RLI, FSI, PDI).</summary>
    public static bool IsBidiControl(int scalar) => (uint)(scalar - 0x202A) <= 0x202E - 0x202A || (uint)(scalar - 0x2066) <= 0x2069 - 0x2066;

    /// <inheritdoc />
    public override bool WillEncode(int unicodeScalar) => IsBidiControl(unicodeScalar) || s_relaxed.WillEncode(unicodeScalar);

    /// <inheritdoc />
    public override unsafe int FindFirstCharacterToEncode(char* text, int textLength)
    {
        int relaxed = s_relaxed.FindFirstCharacterToEncode(text, textLength);
        int bidi = IndexOfBidiControl(new ReadOnlySpan<char>(text, relaxed < 0 ? textLength : relaxed));
        return bidi >= 0 ? bidi : relaxed;
    }

    /// <inheritdoc />
    public override int FindFirstCharacterToEncodeUtf8(ReadOnlySpan<byte> utf8Text)
    {
        int relaxed = s_relaxed.FindFirstCharacterToEncodeUtf8(utf8Text);
        int bidi = IndexOfBidiControl(relaxed < 0 ? utf8Text : utf8Text.Slice(0, relaxed));
        return bidi >= 0 ? bidi : relaxed;
    }

    /// <inheritdoc />
    public override unsafe bool TryEncodeUnicodeScalar(int unicodeScalar, char* buffer, int bufferLength, out int numberOfCharactersWritten)
    {
        if (!IsBidiControl(unicodeScalar))
        {
            return s_relaxed.TryEncodeUnicodeScalar(unicodeScalar, buffer, bufferLength, out numberOfCharactersWritten);
        }

        numberOfCharactersWritten = 0;
        if (bufferLength < EscapeLength)
        {
            return false;
        }

        numberOfCharactersWritten = WriteEscape(unicodeScalar, new Span<char>(buffer, bufferLength));
        return true;
    }

    /// <inheritdoc />
    public override OperationStatus Encode(ReadOnlySpan<char> source, Span<char> destination, out int charsConsumed, out int charsWritten, bool isFinalBlock = true)
    {
        charsConsumed = 0;
        charsWritten = 0;
        while (true)
        {
            int next = IndexOfBidiControl(source);
            if (next < 0)
            {
                OperationStatus last = s_relaxed.Encode(source, destination, out int consumed, out int written, isFinalBlock);
                charsConsumed += consumed;
                charsWritten += written;
                return last;
            }

            // The run ends before a complete character, so it is a final block: a lone surrogate at its end is lone for good.
            OperationStatus status = s_relaxed.Encode(source.Slice(0, next), destination, out int runConsumed, out int runWritten, isFinalBlock: true);
            charsConsumed += runConsumed;
            charsWritten += runWritten;
            if (status != OperationStatus.Done)
            {
                return status;
            }

            destination = destination.Slice(runWritten);
            if (destination.Length < EscapeLength)
            {
                return OperationStatus.DestinationTooSmall;
            }

            int escape = WriteEscape(source[next], destination);
            source = source.Slice(next + 1);
            destination = destination.Slice(escape);
            charsConsumed += 1;
            charsWritten += escape;
        }
    }

    /// <inheritdoc />
    public override OperationStatus EncodeUtf8(ReadOnlySpan<byte> utf8Source, Span<byte> utf8Destination, out int bytesConsumed, out int bytesWritten, bool isFinalBlock = true)
    {
        bytesConsumed = 0;
        bytesWritten = 0;
        while (true)
        {
            int next = IndexOfBidiControl(utf8Source);
            if (next < 0)
            {
                OperationStatus last = s_relaxed.EncodeUtf8(utf8Source, utf8Destination, out int consumed, out int written, isFinalBlock);
                bytesConsumed += consumed;
                bytesWritten += written;
                return last;
            }

            OperationStatus status = s_relaxed.EncodeUtf8(utf8Source.Slice(0, next), utf8Destination, out int runConsumed, out int runWritten, isFinalBlock: true);
            bytesConsumed += runConsumed;
            bytesWritten += runWritten;
            if (status != OperationStatus.Done)
            {
                return status;
            }

            utf8Destination = utf8Destination.Slice(runWritten);
            if (utf8Destination.Length < EscapeLength)
            {
                return OperationStatus.DestinationTooSmall;
            }

            // E2 80 xx is U+2000 + (xx - 0x80); E2 81 xx is U+2040 + (xx - 0x80).
            int escape = WriteEscape(0x2000 + ((utf8Source[next + 1] - 0x80) << 6) + (utf8Source[next + 2] - 0x80), utf8Destination);
            utf8Source = utf8Source.Slice(next + 3);
            utf8Destination = utf8Destination.Slice(escape);
            bytesConsumed += 3;
            bytesWritten += escape;
        }
    }

    private static string RangeOf(char first, char last)
    {
        var chars = new char[last - first + 1];
        for (int i = 0; i < chars.Length; i++)
        {
            chars[i] = (char)(first + i);
        }

        return new string(chars);
    }

    private static int IndexOfBidiControl(ReadOnlySpan<char> text)
    {
        int offset = 0;
        while (true)
        {
            int i = text.Slice(offset).IndexOfAny(s_bidiRange);
            if (i < 0)
            {
                return -1;
            }

            offset += i;
            if (IsBidiControl(text[offset]))
            {
                return offset;
            }

            offset++;
        }
    }

    private static int IndexOfBidiControl(ReadOnlySpan<byte> utf8)
    {
        int offset = 0;
        while (true)
        {
            int i = utf8.Slice(offset).IndexOf(Utf8Lead);
            if (i < 0)
            {
                return -1;
            }

            offset += i;
            if (offset + 2 < utf8.Length)
            {
                byte second = utf8[offset + 1];
                byte third = utf8[offset + 2];
                if ((second == 0x80 && third is >= 0xAA and <= 0xAE) || (second == 0x81 && third is >= 0xA6 and <= 0xA9))
                {
                    return offset;
                }
            }

            offset++;
        }
    }

    private static int WriteEscape(int scalar, Span<char> destination)
    {
        destination[0] = '\\';
        destination[1] = 'u';
        scalar.TryFormat(destination.Slice(2), out _, "X4", CultureInfo.InvariantCulture);
        return EscapeLength;
    }

    private static int WriteEscape(int scalar, Span<byte> utf8Destination)
    {
        utf8Destination[0] = (byte)'\\';
        utf8Destination[1] = (byte)'u';
        scalar.TryFormat(utf8Destination.Slice(2), out _, "X4", CultureInfo.InvariantCulture);
        return EscapeLength;
    }
}
