using System;

namespace FapiLog.Tests.Support;

/// <summary>An exception type whose text cannot be read (Message and ToString throw): a logger must still log it.</summary>
internal sealed class UnreadableException : Exception
{
    public override string Message => throw new InvalidOperationException("no message");

    public override string ToString() => throw new NotSupportedException("no text");
}
