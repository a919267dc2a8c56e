using System;
using System.Collections.Generic;
using System.Globalization;

namespace FapiLog.Soak;

/// <summary>
/// Which events (worker, sequence) a receiver saw, and how often: a count per event, so that a resend and a line written
/// twice are told apart from a new one. Lines without a worker (FapiLog's own drop warnings) are kept as distinct texts.
/// </summary>
internal sealed class Ledger(int workers, long perWorker)
{
    private readonly byte[][] _seen = CreateSeen(workers, perWorker);
    private readonly HashSet<string> _other = new(StringComparer.Ordinal);

    public long Lines { get; private set; }
    public long Distinct { get; private set; }
    public long Repeats { get; private set; }
    public long OtherLines { get; private set; }
    public long Unparsed { get; private set; }
    public int DistinctOther => _other.Count;
    public IEnumerable<string> Other => _other;

    private static byte[][] CreateSeen(int workers, long perWorker)
    {
        var seen = new byte[workers][];
        for (int i = 0; i < workers; i++)
        {
            seen[i] = new byte[perWorker];
        }

        return seen;
    }

    public void Record(IEnumerable<string> lines)
    {
        lock (_seen)
        {
            foreach (string line in lines)
            {
                RecordOne(line);
            }
        }
    }

    public void Record(string line)
    {
        lock (_seen)
        {
            RecordOne(line);
        }
    }

    /// <summary>How many of the events each worker logged (sequences below <paramref name="logged"/>) were never seen.</summary>
    public long Missing(long[] logged)
    {
        long missing = 0;
        lock (_seen)
        {
            for (int w = 0; w < logged.Length; w++)
            {
                for (long s = 0; s < logged[w] && s < _seen[w].Length; s++)
                {
                    missing += _seen[w][s] == 0 ? 1 : 0;
                }
            }
        }

        return missing;
    }

    private void RecordOne(string line)
    {
        Lines++;
        if (Number(line, "\"Worker\":") is not { } worker || Number(line, "\"Seq\":") is not { } seq)
        {
            if (line.Contains("\"event\":\"FapiLog.", StringComparison.Ordinal))
            {
                OtherLines++;
                _other.Add(line);
            }
            else
            {
                Unparsed++;
            }

            return;
        }

        byte[] seen = _seen[worker];
        if (seq >= seen.Length)
        {
            Unparsed++;
            return;
        }

        if (seen[seq] == 0)
        {
            Distinct++;
        }
        else
        {
            Repeats++;
        }

        seen[seq] = (byte)Math.Min(255, seen[seq] + 1);
    }

    private static int? Number(string line, string name)
    {
        int at = line.IndexOf(name, StringComparison.Ordinal);
        if (at < 0)
        {
            return null;
        }

        int start = at + name.Length;
        int end = start;
        while (end < line.Length && char.IsAsciiDigit(line[end]))
        {
            end++;
        }

        return int.TryParse(line.AsSpan(start, end - start), NumberStyles.None, CultureInfo.InvariantCulture, out int value) ? value : null;
    }
}
