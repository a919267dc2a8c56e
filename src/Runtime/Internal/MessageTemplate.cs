// This file is compiled into both the runtime (net8.0) and the generator (netstandard2.0): one parser, so the
// generator's diagnostics and the runtime's rendering can never disagree about what a template means.
using System.Collections.Generic;
using System.Text;

namespace FapiLog.Internal;

/// <summary>One piece of a parsed message template: literal text, or a placeholder ("hole").</summary>
internal readonly struct TemplateSegment
{
    public TemplateSegment(string literal)
    {
        Literal = literal;
        Name = null;
        Format = null;
        Alignment = 0;
        Start = 0;
        Length = 0;
    }

    public TemplateSegment(string name, int alignment, string? format, int start, int length)
    {
        Literal = null;
        Name = name;
        Alignment = alignment;
        Format = format;
        Start = start;
        Length = length;
    }

    /// <summary>The unescaped text of a literal segment; null for a placeholder.</summary>
    public string? Literal { get; }

    /// <summary>The placeholder name as written; null for a literal.</summary>
    public string? Name { get; }

    public int Alignment { get; }

    public string? Format { get; }

    /// <summary>Where the placeholder starts in the template (at its '{'), for diagnostics.</summary>
    public int Start { get; }

    /// <summary>The placeholder's length in the template, braces included.</summary>
    public int Length { get; }

    public bool IsPlaceholder => Name is not null;
}

/// <summary>Parses .NET composite-format style templates: <c>{Name}</c>, <c>{Name,alignment}</c>, <c>{Name:format}</c>, <c>{{</c>, <c>}}</c>.</summary>
internal static class MessageTemplate
{
    /// <summary>Parses <paramref name="template"/>; on failure returns false with a message and the offending position.</summary>
    public static bool TryParse(string template, out List<TemplateSegment> segments, out string? error, out int errorPosition)
    {
        segments = new List<TemplateSegment>();
        error = null;
        errorPosition = -1;
        var literal = new StringBuilder();
        int i = 0;
        while (i < template.Length)
        {
            char c = template[i];
            if (c == '{')
            {
                if (i + 1 < template.Length && template[i + 1] == '{')
                {
                    literal.Append('{');
                    i += 2;
                    continue;
                }

                int close = template.IndexOf('}', i + 1);
                if (close < 0)
                {
                    error = "a '{' at position " + i + " has no closing '}' (write '{{' for a literal brace)";
                    errorPosition = i;
                    return false;
                }

                string body = template.Substring(i + 1, close - i - 1);
                if (!TryParseHole(body, out string name, out int alignment, out string? format, out string? holeError))
                {
                    error = "the placeholder '" + template.Substring(i, close - i + 1) + "' at position " + i + " is malformed: " + holeError;
                    errorPosition = i;
                    return false;
                }

                if (literal.Length > 0)
                {
                    segments.Add(new TemplateSegment(literal.ToString()));
                    literal.Clear();
                }

                segments.Add(new TemplateSegment(name, alignment, format, i, close - i + 1));
                i = close + 1;
            }
            else if (c == '}')
            {
                if (i + 1 < template.Length && template[i + 1] == '}')
                {
                    literal.Append('}');
                    i += 2;
                    continue;
                }

                error = "a '}' at position " + i + " has no opening '{' (write '}}' for a literal brace)";
                errorPosition = i;
                return false;
            }
            else
            {
                literal.Append(c);
                i++;
            }
        }

        if (literal.Length > 0)
        {
            segments.Add(new TemplateSegment(literal.ToString()));
        }

        return true;
    }

    private static bool TryParseHole(string body, out string name, out int alignment, out string? format, out string? error)
    {
        name = string.Empty;
        alignment = 0;
        format = null;
        error = null;

        int colon = body.IndexOf(':');
        string head = colon >= 0 ? body.Substring(0, colon) : body;
        if (colon >= 0)
        {
            format = body.Substring(colon + 1);
            if (format.Length == 0)
            {
                error = "the format after ':' is empty";
                return false;
            }

            if (format.IndexOf('{') >= 0)
            {
                error = "a format cannot contain '{'";
                return false;
            }
        }

        int comma = head.IndexOf(',');
        string rawName = comma >= 0 ? head.Substring(0, comma) : head;
        if (comma >= 0)
        {
            string align = head.Substring(comma + 1).Trim();
            if (!int.TryParse(align, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out alignment)
                || alignment > 1000 || alignment < -1000)
            {
                error = "the alignment '" + align + "' is not a whole number from -1000 to 1000";
                return false;
            }
        }

        name = rawName.Trim();
        if (name.Length == 0)
        {
            error = "the name is empty";
            return false;
        }

        if (name.Length != rawName.Length)
        {
            error = "the name has surrounding white space";
            return false;
        }

        foreach (char ch in name)
        {
            if (!IsNameCharacter(ch))
            {
                error = "the name contains '" + ch + "'; use the characters of a C# name, '@' or '.'";
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// A character a C# parameter name may hold (letters, letter numbers, digits, combining marks, connector punctuation
    /// such as '_'), or '@' or '.'. Placeholders name parameters, and the vowel signs of Devanagari or Thai names are
    /// combining marks. Format characters (a zero-width space) are not: C# leaves them out of a name, so a placeholder
    /// holding one could never match.
    /// </summary>
    private static bool IsNameCharacter(char ch)
    {
        if (ch == '@' || ch == '.')
        {
            return true;
        }

        switch (char.GetUnicodeCategory(ch))
        {
            case System.Globalization.UnicodeCategory.UppercaseLetter:
            case System.Globalization.UnicodeCategory.LowercaseLetter:
            case System.Globalization.UnicodeCategory.TitlecaseLetter:
            case System.Globalization.UnicodeCategory.ModifierLetter:
            case System.Globalization.UnicodeCategory.OtherLetter:
            case System.Globalization.UnicodeCategory.LetterNumber:
            case System.Globalization.UnicodeCategory.DecimalDigitNumber:
            case System.Globalization.UnicodeCategory.NonSpacingMark:
            case System.Globalization.UnicodeCategory.SpacingCombiningMark:
            case System.Globalization.UnicodeCategory.ConnectorPunctuation:
                return true;
            default:
                return false;
        }
    }
}
