using System;
using System.Collections.Generic;

namespace FapiLog.Internal;

/// <summary>Finds the name a misspelt one most likely meant, for messages that name it ("did you mean …?").</summary>
internal static class Spelling
{
    /// <summary>The name in <paramref name="known"/> nearest to <paramref name="key"/> in edits (case aside), if near enough to be a typo.</summary>
    public static string? Closest(string key, IEnumerable<string> known)
    {
        string? best = null;
        int bestDistance = int.MaxValue;
        string upper = key.ToUpperInvariant();
        foreach (string name in known)
        {
            int distance = Edits(upper, name.ToUpperInvariant());
            if (distance < bestDistance)
            {
                best = name;
                bestDistance = distance;
            }
        }

        // A letter or two wrong, more in a long name; "Url" for "Tenant" is no typo.
        return bestDistance <= Math.Max(2, key.Length / 4) ? best : null;
    }

    /// <summary>Levenshtein distance: the fewest insertions, deletions and substitutions that turn one into the other.</summary>
    private static int Edits(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
                current[j] = Math.Min(substitution, Math.Min(previous[j] + 1, current[j - 1] + 1));
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}
