using System.Runtime.CompilerServices;

namespace FapiLog.LoadTest;

/// <summary>
/// What the bare rings of <c>--reference</c> hold: the load test's event as a queue slot holds it, with the timestamp, the
/// descriptor, the string, the two values and a publication marker, padded to the size of a <see cref="LogRecord"/> so
/// that a ring of them spans the same memory as the queue's.
/// </summary>
internal struct BareRecord
{
    // Written by the bare rings (BareRings.cs), which the test project, where this file is linked, leaves out; Rest is
    // never written: it is the part of a slot this event leaves alone.
#pragma warning disable CS0649
    public long Published;
    public long Ticks;
    public object? Descriptor;
    public string? Customer;
    public long OrderId;
    public double Amount;
    public Padding Rest;
#pragma warning restore CS0649

    /// <summary>The part of a slot the load test's event does not write (the exception, trace context, unused value and reference room).</summary>
    [InlineArray(14)]
    public struct Padding
    {
        private long _element;
    }
}
