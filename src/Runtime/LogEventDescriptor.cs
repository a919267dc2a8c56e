using System;
using System.Collections.Generic;
using System.ComponentModel;
using System.Text.Json;
using FapiLog.Internal;
using Microsoft.Extensions.Logging;

namespace FapiLog;

/// <summary>
/// Everything about one log event that does not change from call to call: id, name, level, the parsed template and the
/// layout of its arguments. Generated code creates one per <c>[FapiLog]</c> method, once; the worker uses it to read the
/// typed values back from a queue slot and render the message and the fields without reflection or boxing.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class LogEventDescriptor
{
    /// <summary>Value bytes a slot holds inline; events that need more use a per-slot buffer that is kept and reused.</summary>
    internal const int InlineValueBytes = 64;

    /// <summary>References a slot holds inline; events that need more use a per-slot array that is kept and reused.</summary>
    internal const int InlineReferences = 4;

    /// <summary>
    /// The most value bytes and references whose spill storage a slot keeps after the event is drained. Storage for a larger
    /// event (an ILogger call with hundreds of properties, say) is let go with it: kept, every slot such an event passed
    /// through held its size for the life of the process. Far above what a log method's parameters need.
    /// </summary>
    internal const int MaxRetainedSpillValueBytes = 1024;

    /// <inheritdoc cref="MaxRetainedSpillValueBytes"/>
    internal const int MaxRetainedSpillReferences = 128;

    private static readonly HashSet<string> s_reservedFieldNames = new(StringComparer.Ordinal)
    {
        "level", "message", "event", "event_id", "exception", "timestamp", "trace_id", "span_id", "category",
    };

    /// <summary>Creates a descriptor; throws when the template and the arguments do not fit together.</summary>
    /// <param name="eventId">The numeric event id (0 when none was given).</param>
    /// <param name="eventName">The event name (the method name unless one was given).</param>
    /// <param name="level">The event's level.</param>
    /// <param name="message">The message template.</param>
    /// <param name="arguments">The arguments in the order generated code writes them.</param>
    /// <exception cref="ArgumentException">The template is malformed or names an argument that does not exist.</exception>
    public LogEventDescriptor(int eventId, string eventName, LogLevel level, string message, params LogArgument[] arguments)
        : this(eventId, eventName, level, message, arguments, keptReservedName: null, messageOnlyArguments: 0)
    {
    }

    /// <summary>
    /// Creates a descriptor in which the argument called <paramref name="keptReservedName"/> keeps that name although it is
    /// reserved (the hosting package's ILogger bridge writes the logger category as the field <c>category</c>), and whose
    /// first <paramref name="messageOnlyArguments"/> arguments only fill the message: they are not fields (the bridge
    /// passes a formatter's text that way).
    /// </summary>
    internal LogEventDescriptor(
        int eventId, string eventName, LogLevel level, string message, LogArgument[] arguments, string? keptReservedName, int messageOnlyArguments)
    {
        ArgumentNullException.ThrowIfNull(eventName);
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(arguments);
        EventId = eventId;
        EventName = eventName;
        Level = level;
        Message = message;
        // A copy: the caller's array stays theirs, and what the worker reads cannot change under it.
        arguments = (LogArgument[])arguments.Clone();
        ArgumentArray = arguments;
        Arguments = Array.AsReadOnly(arguments);
        ArgumentOutOfRangeException.ThrowIfNegative(messageOnlyArguments);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(messageOnlyArguments, arguments.Length);
        FirstField = messageOnlyArguments;

        if (!MessageTemplate.TryParse(message, out List<TemplateSegment> parsed, out string? error, out _))
        {
            throw new ArgumentException($"The message template of event '{eventName}' is invalid: {error}.", nameof(message));
        }

        var fieldNames = new string?[arguments.Length];
        Segments = new Segment[parsed.Count];
        for (int i = 0; i < parsed.Count; i++)
        {
            TemplateSegment s = parsed[i];
            if (!s.IsPlaceholder)
            {
                Segments[i] = new Segment(s.Literal!, -1, 0, null);
                continue;
            }

            int index = Array.FindIndex(arguments, a => string.Equals(a.Name, s.Name, StringComparison.OrdinalIgnoreCase));
            if (index < 0)
            {
                throw new ArgumentException($"The placeholder '{{{s.Name}}}' of event '{eventName}' has no matching argument.", nameof(message));
            }

            fieldNames[index] ??= s.Name;
            Segments[i] = new Segment(null, index, s.Alignment, s.Format);
        }

        Offsets = new int[arguments.Length];
        string[] names = AssignFieldNames(arguments, fieldNames, keptReservedName, messageOnlyArguments);
        FieldNameArray = names;
        FieldNames = Array.AsReadOnly(names);
        JsonFieldNames = new JsonEncodedText[arguments.Length];
        int valueBytes = 0;
        int references = 0;
        for (int i = 0; i < arguments.Length; i++)
        {
            LogArgument a = arguments[i];
            if (a.IsReference)
            {
                Offsets[i] = references++;
            }
            else
            {
                Offsets[i] = valueBytes;
                valueBytes += a.Size;
            }

            JsonFieldNames[i] = JsonEncodedText.Encode(names[i], JsonFormatting.Encoder);
        }

        ValueBytes = valueBytes;
        ReferenceCount = references;
        SpillsOversized = valueBytes > MaxRetainedSpillValueBytes || references > MaxRetainedSpillReferences;
        JsonEventName = JsonEncodedText.Encode(JsonFormatting.WellFormed(eventName), JsonFormatting.Encoder);
    }

    /// <summary>
    /// The field name of each argument: the placeholder's spelling, else the argument's name. A reserved name (a
    /// placeholder called <c>{message}</c> or <c>{level}</c>) must not overwrite the event's own members and becomes
    /// <c>_message</c>; a name some other field already has gets one more <c>_</c> until it is unique, so that a JSON line
    /// never has two members of one name. A name that is not well-formed UTF-16 (the bridge takes names from states and
    /// scopes) has its lone surrogates replaced by U+FFFD first, as JSON can only carry them that way.
    /// </summary>
    private static string[] AssignFieldNames(LogArgument[] arguments, string?[] placeholderNames, string? keptReservedName, int firstField)
    {
        var names = new string[arguments.Length];
        var taken = new HashSet<string>(StringComparer.Ordinal);
        for (int i = firstField; i < arguments.Length; i++)
        {
            string field = JsonFormatting.WellFormed(placeholderNames[i] ?? arguments[i].Name);
            bool reserved = s_reservedFieldNames.Contains(field) && !string.Equals(field, keptReservedName, StringComparison.Ordinal);
            if (!reserved && taken.Add(field))
            {
                names[i] = field;
            }
        }

        for (int i = 0; i < arguments.Length; i++)
        {
            if (names[i] is not null)
            {
                continue;
            }

            string field = JsonFormatting.WellFormed(placeholderNames[i] ?? arguments[i].Name);
            if (i < firstField)
            {
                // Not a field: the name is never written.
                names[i] = field;
                continue;
            }

            do
            {
                field = "_" + field;
            }
            while (!taken.Add(field));
            names[i] = field;
        }

        return names;
    }

    /// <summary>The numeric event id.</summary>
    public int EventId { get; }

    /// <summary>The event name.</summary>
    public string EventName { get; }

    /// <summary>The event's level.</summary>
    public LogLevel Level { get; }

    /// <summary>The message template as written.</summary>
    public string Message { get; }

    /// <summary>The arguments in the order they are written.</summary>
    public IReadOnlyList<LogArgument> Arguments { get; }

    /// <summary>
    /// The field name of each argument: the placeholder name as written in the template, else the parameter name; a reserved
    /// or already used name is prefixed with <c>_</c> until it is unique.
    /// </summary>
    public IReadOnlyList<string> FieldNames { get; }

    /// <summary>
    /// <see cref="Arguments"/> as an array, which the worker indexes per field and placeholder: an array read, where the
    /// interface would cost a dispatch.
    /// </summary>
    internal LogArgument[] ArgumentArray { get; }

    /// <summary><see cref="FieldNames"/> as an array (see <see cref="ArgumentArray"/>).</summary>
    internal string[] FieldNameArray { get; }

    /// <summary>The index of the first argument that is a field; the ones before it only fill the message.</summary>
    internal int FirstField { get; }

    internal Segment[] Segments { get; }

    /// <summary>Byte offset in the value area (values) or index in the reference area (strings), per argument.</summary>
    internal int[] Offsets { get; }

    internal int ValueBytes { get; }

    internal int ReferenceCount { get; }

    /// <summary>True when the event's spill storage is larger than a slot keeps once the event is drained.</summary>
    internal bool SpillsOversized { get; }

    internal JsonEncodedText[] JsonFieldNames { get; }

    internal JsonEncodedText JsonEventName { get; }

    /// <inheritdoc />
    public override string ToString() => $"{EventName} ({EventId}, {Level}): {Message}";

    /// <summary>A literal (<see cref="Literal"/> set) or a placeholder bound to an argument index.</summary>
    internal readonly record struct Segment(string? Literal, int ArgumentIndex, int Alignment, string? Format);
}
