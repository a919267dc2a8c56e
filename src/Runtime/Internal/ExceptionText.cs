using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace FapiLog.Internal;

/// <summary>
/// The text of a logged exception, taken so that an exception type whose <see cref="Exception.Message"/>,
/// <see cref="Exception.StackTrace"/> or <see cref="Exception.ToString"/> throws cannot make the worker lose the batch it
/// is in, nor the rest of the exception's text: the failing member is replaced by a marker that names what went wrong. An exception whose inner exceptions form a cycle (<see cref="Exception.ToString"/>
/// would recurse until the stack overflows and the process dies), nest deeper than <see cref="MaxDepth"/> (its cost grows
/// with the square of the depth), or are too many to walk, is written in a bounded form of its own instead.
/// </summary>
internal static class ExceptionText
{
    /// <summary>
    /// Longest chain of exceptions (the outermost one counted) that <see cref="Exception.ToString"/> is trusted with, and
    /// the most the bounded form shows.
    /// </summary>
    internal const int MaxDepth = 100;

    /// <summary>Most exceptions (inner ones of aggregates included, each time it is met) walked before the text is written.</summary>
    internal const int MaxExceptions = 100_000;

    // The texts taken while the worker hands one batch to its sinks, by exception (compared by reference): every sink renders
    // an event's exception (console, file, Loki), and ToString builds the stack trace text anew each time, 2.4 KB for a
    // shallow one; many a Message (ArgumentException's, with its parameter name) is built anew too. Only between
    // BeginBatch and EndBatch, which forgets them, so that nothing keeps a drained exception alive, and a sink called
    // outside a pipeline renders as before.
    [ThreadStatic]
    private static BatchTexts? t_batch;

    /// <summary>From now until <see cref="EndBatch"/>, the texts of an exception are taken once on this thread and reused.</summary>
    public static void BeginBatch() => (t_batch ??= new BatchTexts()).Active = true;

    /// <summary>Forgets the texts taken since <see cref="BeginBatch"/> and stops reusing them.</summary>
    public static void EndBatch() => t_batch?.Forget();

    /// <summary><paramref name="ex"/>'s message, or a marker when reading it throws.</summary>
    public static string Message(Exception ex) => Text(ex, full: false);

    private static string TakeMessage(Exception ex)
    {
        try
        {
            return ex.Message;
        }
        catch (Exception failure)
        {
            return Marker("Message", failure);
        }
    }

    /// <summary>
    /// <paramref name="ex"/>'s full text (type, message, stack, inner exceptions); the bounded form when its inner
    /// exceptions cycle, nest too deep or are too many, or when <see cref="Exception.ToString"/> throws (then followed by
    /// a marker that says so).
    /// </summary>
    public static string Full(Exception ex) => Text(ex, full: true);

    /// <summary>The message or the full text: taken, or the one taken earlier in the batch being delivered.</summary>
    private static string Text(Exception ex, bool full)
    {
        if (t_batch is not { Active: true } batch)
        {
            return full ? TakeFull(ex) : TakeMessage(ex);
        }

        ref BatchTexts.Entry entry = ref batch.Texts(ex);
        if ((full ? entry.Full : entry.Message) is { } taken)
        {
            return taken;
        }

        string text = full ? TakeFull(ex) : TakeMessage(ex);
        // Looked up again: taking the text runs the exception's own code, which may have added entries meanwhile.
        entry = ref batch.Texts(ex);
        if (full)
        {
            entry.Full = text;
        }
        else
        {
            entry.Message = text;
        }

        return text;
    }

    private static string TakeFull(Exception ex)
    {
        if (!IsBounded(ex))
        {
            return Bounded(ex);
        }

        try
        {
            return ex.ToString();
        }
        catch (Exception failure)
        {
            // An override that throws (one that appends a property that happens to be null), or a StackTrace getter that
            // does, anywhere in the chain: the message, the stack and the inner exceptions are what the reader of an
            // error needs, so they are read one by one, each failure marked where it happened.
            return Bounded(ex) + "\n" + Marker("ToString", failure);
        }
    }

    /// <summary>
    /// True when <see cref="Exception.ToString"/> of <paramref name="ex"/> ends in reasonable time: its inner exceptions
    /// (<see cref="Exception.InnerException"/>, and every one of an <see cref="AggregateException"/>) form no chain longer
    /// than <see cref="MaxDepth"/> exceptions and are at most <see cref="MaxExceptions"/>. A cycle nests without end, so it fails the
    /// depth check without a set of the exceptions seen (nothing is allocated for an ordinary exception).
    /// </summary>
    private static bool IsBounded(Exception ex)
    {
        int budget = MaxExceptions;
        return Walk(ex, 0, ref budget);
    }

    private static bool Walk(Exception ex, int depth, ref int budget)
    {
        // Depth counts from 0: depth MaxDepth is exception MaxDepth + 1 of the chain, the first one the bounded form leaves out.
        if (depth >= MaxDepth || --budget < 0)
        {
            return false;
        }

        if (ex is AggregateException aggregate)
        {
            System.Collections.ObjectModel.ReadOnlyCollection<Exception> inners = aggregate.InnerExceptions;
            for (int i = 0; i < inners.Count; i++)
            {
                if (!Walk(inners[i], depth + 1, ref budget))
                {
                    return false;
                }
            }

            return true;
        }

        return ex.InnerException is not { } next || Walk(next, depth + 1, ref budget);
    }

    /// <summary>
    /// The bounded form: each exception of the <see cref="Exception.InnerException"/> chain (the first inner exception of
    /// an aggregate) as type, message and stack trace, joined with <c> ---&gt; </c>, at most <see cref="MaxDepth"/> of
    /// them, ending with a marker that says why the rest is missing (the chain leads back, goes deeper, or an aggregate's
    /// other inner exceptions were left out).
    /// </summary>
    private static string Bounded(Exception ex)
    {
        var text = new StringBuilder();
        var seen = new HashSet<Exception>(ReferenceEqualityComparer.Instance);
        Exception? current = ex;
        bool othersLeftOut = false;
        for (int depth = 0; ; depth++)
        {
            if (current is null)
            {
                if (othersLeftOut)
                {
                    text.Append("\n ---> <inner exceptions of aggregates other than the first not shown>");
                }

                break;
            }

            if (depth > 0)
            {
                text.Append("\n ---> ");
            }

            if (!seen.Add(current))
            {
                text.Append("<the inner exceptions lead back to ").Append(current.GetType().FullName).Append(": not shown again>");
                break;
            }

            if (depth == MaxDepth)
            {
                text.Append("<inner exceptions deeper than ").Append(MaxDepth.ToString(CultureInfo.InvariantCulture)).Append(" not shown>");
                break;
            }

            text.Append(current.GetType().FullName).Append(": ").Append(Message(current));
            string? stack = StackTrace(current);
            if (!string.IsNullOrEmpty(stack))
            {
                text.Append('\n').Append(stack);
            }

            othersLeftOut |= current is AggregateException { InnerExceptions.Count: > 1 };
            current = current.InnerException;
        }

        return text.ToString();
    }

    private static string? StackTrace(Exception ex)
    {
        try
        {
            return ex.StackTrace;
        }
        catch (Exception failure)
        {
            return Marker("StackTrace", failure);
        }
    }

    // Only the failure's type: its own message might throw as well.
    private static string Marker(string member, Exception failure) => $"<{member} threw {failure.GetType().FullName}>";

    /// <summary>The exceptions of the batch being delivered and their texts, in a table kept from batch to batch.</summary>
    private sealed class BatchTexts
    {
        // A batch has few distinct exceptions, and a search of them costs nothing beside one ToString. Past MaxEntries (an
        // error storm in a batch of thousands) the search would cost more than it saves: further exceptions get a scratch
        // entry that the next one overwrites, so their texts are taken per sink, as without the table.
        private const int MaxEntries = 32;
        private Entry[] _entries = new Entry[4];
        private int _count;
        private Entry _scratch;

        public bool Active;

        /// <summary>The texts of <paramref name="ex"/>, added (none taken yet) when the batch has no entry for it.</summary>
        public ref Entry Texts(Exception ex)
        {
            for (int i = 0; i < _count; i++)
            {
                if (ReferenceEquals(_entries[i].Exception, ex))
                {
                    return ref _entries[i];
                }
            }

            if (_count == MaxEntries)
            {
                if (ReferenceEquals(_scratch.Exception, ex))
                {
                    return ref _scratch;
                }

                _scratch = default;
                _scratch.Exception = ex;
                return ref _scratch;
            }

            if (_count == _entries.Length)
            {
                Array.Resize(ref _entries, _count * 2);
            }

            ref Entry added = ref _entries[_count++];
            added.Exception = ex;
            return ref added;
        }

        public void Forget()
        {
            Array.Clear(_entries, 0, _count);
            _count = 0;
            _scratch = default;
            Active = false;
        }

        public struct Entry
        {
            public Exception? Exception;
            public string? Message;
            public string? Full;
        }
    }
}
