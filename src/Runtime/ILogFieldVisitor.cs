using System;

namespace FapiLog;

/// <summary>
/// Receives an event's fields with their types intact (see <see cref="LogRecord.VisitFields{TVisitor}(ref TVisitor)"/>).
/// Integers arrive widened to <see cref="long"/> or <see cref="ulong"/>, <see cref="float"/> as the <see cref="double"/> that
/// prints as the float does (0.1f as 0.1, not 0.10000000149011612); enums,
/// chars and strings as strings; <see langword="null"/> values through <see cref="VisitNull"/>.
/// </summary>
/// <remarks>
/// <para>
/// An interface rather than a base class so that a struct can implement it: <see cref="LogRecord.VisitFields{TVisitor}(ref TVisitor)"/>
/// then calls it without boxing, and the calls can be inlined.
/// </para>
/// <para>
/// Versioning: a later version may add members for values that are strings today (<see cref="DateOnly"/>, say). Each
/// comes with a default implementation that passes the value to <see cref="Visit(string, string)"/> as the string it
/// arrives as today, so an existing visitor keeps compiling and keeps receiving what it receives now; implement the new
/// member to get the value typed. The members listed here will not change. A default member runs on a boxed copy of a
/// struct visitor, so keep what a visitor collects in a reference it holds (a buffer, a list, a writer) rather than in
/// value fields of the struct itself.
/// </para>
/// </remarks>
public interface ILogFieldVisitor
{
    /// <summary>A signed integer field.</summary>
    void Visit(string name, long value);

    /// <summary>An unsigned integer field.</summary>
    void Visit(string name, ulong value);

    /// <summary>A floating-point field.</summary>
    void Visit(string name, double value);

    /// <summary>A decimal field.</summary>
    void Visit(string name, decimal value);

    /// <summary>A Boolean field.</summary>
    void Visit(string name, bool value);

    /// <summary>A string field: strings, chars, enum names, and the invariant string of any other type.</summary>
    void Visit(string name, string value);

    /// <summary>A <see cref="DateTime"/> field.</summary>
    void Visit(string name, DateTime value);

    /// <summary>A <see cref="DateTimeOffset"/> field.</summary>
    void Visit(string name, DateTimeOffset value);

    /// <summary>A <see cref="TimeSpan"/> field.</summary>
    void Visit(string name, TimeSpan value);

    /// <summary>A <see cref="Guid"/> field.</summary>
    void Visit(string name, Guid value);

    /// <summary>A field whose value was <see langword="null"/>.</summary>
    void VisitNull(string name);
}
