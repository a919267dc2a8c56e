using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;
using FapiLog.Internal;
using Microsoft.Extensions.Logging;

namespace FapiLog.Hosting.Internal;

/// <summary>
/// Descriptors of the bridge's events, one per shape: category, level, event id and name, template (none when the message
/// is the formatter's text, so that calls whose whole text varies share one shape), and the name and kind of every field.
/// Steady-state calls find theirs without allocating: the lookup compares a thread's reusable probe against the stored
/// shapes, and only a new shape builds a key and a descriptor. The cache is bounded; past
/// <see cref="MaxEntries"/> shapes (scopes whose properties vary a lot, say) a descriptor is built per call.
/// </summary>
internal sealed class DescriptorCache
{
    public const int MaxEntries = 4096;

    [ThreadStatic]
    private static ShapeKey? t_probe;

    private readonly ConcurrentDictionary<ShapeKey, BridgeEvent> _events = new();
    private int _count;

    public int Count => Volatile.Read(ref _count);

    public BridgeEvent Get(FieldCollector fields, string category, LogLevel level, EventId eventId, string? template)
    {
        ShapeKey probe = t_probe ??= new ShapeKey();
        probe.Set(fields, category, level, eventId, template);
        try
        {
            if (_events.TryGetValue(probe, out BridgeEvent? found))
            {
                return found;
            }
        }
        finally
        {
            probe.Release();
        }

        BridgeEvent created = Create(fields, category, level, eventId, template);
        if (Volatile.Read(ref _count) < MaxEntries)
        {
            var key = new ShapeKey();
            key.Set(fields, category, level, eventId, template);
            key.Freeze();
            if (_events.TryAdd(key, created))
            {
                Interlocked.Increment(ref _count);
            }
            else if (_events.TryGetValue(key, out BridgeEvent? raced))
            {
                return raced;
            }
        }

        return created;
    }

    private static BridgeEvent Create(FieldCollector fields, string category, LogLevel level, EventId eventId, string? template)
    {
        string eventName = string.IsNullOrEmpty(eventId.Name) ? category : eventId.Name;
        if (template is not null && TemplateMatchesState(template, fields))
        {
            try
            {
                LogArgument[] arguments = CreateArguments(fields, 0);
                return new BridgeEvent(
                    new LogEventDescriptor(eventId.Id, eventName, level, template, arguments, FieldCollector.CategoryField, messageOnlyArguments: 0),
                    rendersMessage: false);
            }
            catch (ArgumentException)
            {
                // A template the runtime does not accept: fall back to the formatter's text.
            }
        }

        // The formatter's text is the message and nothing else: the first argument fills the template and is not a field.
        LogArgument[] withMessage = CreateArguments(fields, 1);
        withMessage[0] = LogArgument.Create<string>("message");
        return new BridgeEvent(
            new LogEventDescriptor(eventId.Id, eventName, level, "{message}", withMessage, FieldCollector.CategoryField, messageOnlyArguments: 1),
            rendersMessage: true);
    }

    /// <summary>
    /// True when FapiLog's renderer will produce what Microsoft's formatter does: the template parses, and each placeholder,
    /// matched by name as FapiLog matches them, is the state property Microsoft's formatter would use (they are matched by
    /// position there). Repeated or unmatched placeholders fall back to the formatter's text, and so does a format given
    /// to a value the bridge keeps only as text (a <see cref="DateOnly"/> in <c>{Day:yyyy-MM}</c>, say), which the
    /// formatter applies to the value itself.
    /// </summary>
    private static bool TemplateMatchesState(string template, FieldCollector fields)
    {
        if (!MessageTemplate.TryParse(template, out List<TemplateSegment> segments, out _, out _))
        {
            return false;
        }

        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (TemplateSegment segment in segments)
        {
            if (!segment.IsPlaceholder)
            {
                continue;
            }

            string name = segment.Name!;
            if (!seen.Add(name))
            {
                return false;
            }

            int match = -1;
            for (int i = 0; i < fields.Count; i++)
            {
                if (string.Equals(fields[i].Name, name, StringComparison.OrdinalIgnoreCase))
                {
                    match = i;
                    break;
                }
            }

            if (match < 0 || match >= fields.StateCount || !string.Equals(fields[match].Name, name, StringComparison.Ordinal)
                || (segment.Format is not null && fields[match].IsFormattableText))
            {
                return false;
            }
        }

        return true;
    }

    private static LogArgument[] CreateArguments(FieldCollector fields, int offset)
    {
        var arguments = new LogArgument[fields.Count + offset];
        for (int i = 0; i < fields.Count; i++)
        {
            ref readonly FieldCollector.Field f = ref fields[i];
            arguments[i + offset] = CreateArgument(f.Name, f.Kind, f.EnumType);
        }

        return arguments;
    }

    private static LogArgument CreateArgument(string name, ArgumentKind kind, Type? enumType) => kind switch
    {
        ArgumentKind.Boolean => LogArgument.Create<bool>(name),
        ArgumentKind.Char => LogArgument.Create<char>(name),
        ArgumentKind.SByte => LogArgument.Create<sbyte>(name),
        ArgumentKind.Byte => LogArgument.Create<byte>(name),
        ArgumentKind.Int16 => LogArgument.Create<short>(name),
        ArgumentKind.UInt16 => LogArgument.Create<ushort>(name),
        ArgumentKind.Int32 => LogArgument.Create<int>(name),
        ArgumentKind.UInt32 => LogArgument.Create<uint>(name),
        ArgumentKind.Int64 => LogArgument.Create<long>(name),
        ArgumentKind.UInt64 => LogArgument.Create<ulong>(name),
        ArgumentKind.IntPtr => LogArgument.Create<nint>(name),
        ArgumentKind.UIntPtr => LogArgument.Create<nuint>(name),
        ArgumentKind.Single => LogArgument.Create<float>(name),
        ArgumentKind.Double => LogArgument.Create<double>(name),
        ArgumentKind.Decimal => LogArgument.Create<decimal>(name),
        ArgumentKind.DateTime => LogArgument.Create<DateTime>(name),
        ArgumentKind.DateTimeOffset => LogArgument.Create<DateTimeOffset>(name),
        ArgumentKind.TimeSpan => LogArgument.Create<TimeSpan>(name),
        ArgumentKind.Guid => LogArgument.Create<Guid>(name),
        ArgumentKind.Enum => LogArgument.CreateEnum(name, enumType!),
        _ => LogArgument.Create<string>(name),
    };

    /// <summary>
    /// A shape: mutable while it is a thread's probe (it then borrows the collector's fields), copied into its own arrays
    /// once it becomes a stored key.
    /// </summary>
    private sealed class ShapeKey : IEquatable<ShapeKey>
    {
        private FieldCollector? _borrowed;
        private string[] _names = [];
        private ArgumentKind[] _kinds = [];
        private Type?[] _enumTypes = [];
        private bool[] _formattableTexts = [];
        private string _category = string.Empty;
        private string? _template;
        private string? _eventName;
        private int _eventId;
        private LogLevel _level;
        private int _count;
        private int _hash;

        public void Set(FieldCollector fields, string category, LogLevel level, EventId eventId, string? template)
        {
            _borrowed = fields;
            _count = fields.Count;
            _category = category;
            _level = level;
            _eventId = eventId.Id;
            _eventName = eventId.Name;
            _template = template;

            var hash = new HashCode();
            hash.Add(category);
            hash.Add(level);
            hash.Add(_eventId);
            hash.Add(_eventName);
            hash.Add(template);
            for (int i = 0; i < _count; i++)
            {
                ref readonly FieldCollector.Field f = ref fields[i];
                hash.Add(f.Name);
                hash.Add(f.Kind);
                hash.Add(f.EnumType);
                hash.Add(f.IsFormattableText);
            }

            _hash = hash.ToHashCode();
        }

        /// <summary>Copies the borrowed fields into arrays of its own, so that the key outlives the call.</summary>
        public void Freeze()
        {
            FieldCollector fields = _borrowed!;
            _names = new string[_count];
            _kinds = new ArgumentKind[_count];
            _enumTypes = new Type?[_count];
            _formattableTexts = new bool[_count];
            for (int i = 0; i < _count; i++)
            {
                ref readonly FieldCollector.Field f = ref fields[i];
                _names[i] = f.Name;
                _kinds[i] = f.Kind;
                _enumTypes[i] = f.EnumType;
                _formattableTexts[i] = f.IsFormattableText;
            }

            _borrowed = null;
        }

        public void Release()
        {
            _borrowed = null;
            _category = string.Empty;
            _template = null;
            _eventName = null;
        }

        private string NameAt(int i) => _borrowed is { } b ? b[i].Name : _names[i];

        private ArgumentKind KindAt(int i) => _borrowed is { } b ? b[i].Kind : _kinds[i];

        private Type? EnumTypeAt(int i) => _borrowed is { } b ? b[i].EnumType : _enumTypes[i];

        private bool FormattableTextAt(int i) => _borrowed is { } b ? b[i].IsFormattableText : _formattableTexts[i];

        public bool Equals(ShapeKey? other)
        {
            if (other is null || other._hash != _hash || other._count != _count || other._level != _level || other._eventId != _eventId
                || !string.Equals(other._category, _category, StringComparison.Ordinal)
                || !string.Equals(other._template, _template, StringComparison.Ordinal)
                || !string.Equals(other._eventName, _eventName, StringComparison.Ordinal))
            {
                return false;
            }

            for (int i = 0; i < _count; i++)
            {
                if (KindAt(i) != other.KindAt(i) || EnumTypeAt(i) != other.EnumTypeAt(i) || FormattableTextAt(i) != other.FormattableTextAt(i)
                    || !string.Equals(NameAt(i), other.NameAt(i), StringComparison.Ordinal))
                {
                    return false;
                }
            }

            return true;
        }

        public override bool Equals(object? obj) => Equals(obj as ShapeKey);

        public override int GetHashCode() => _hash;
    }
}
