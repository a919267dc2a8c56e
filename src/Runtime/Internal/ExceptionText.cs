using System;

namespace FapiLog.Internal;

/// <summary>
/// The text of a logged exception, taken so that an exception type whose <see cref="Exception.Message"/> or
/// <see cref="Exception.ToString"/> throws cannot make the worker lose the batch it is in: the failing member is replaced
/// by a marker that names what went wrong.
/// </summary>
internal static class ExceptionText
{
    /// <summary><paramref name="ex"/>'s message, or a marker when reading it throws.</summary>
    public static string Message(Exception ex)
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

    /// <summary><paramref name="ex"/>'s full text (type, message, stack, inner exceptions), or its type and a marker when that throws.</summary>
    public static string Full(Exception ex)
    {
        try
        {
            return ex.ToString();
        }
        catch (Exception failure)
        {
            return ex.GetType().FullName + ": " + Marker("ToString", failure);
        }
    }

    // Only the failure's type: its own message might throw as well.
    private static string Marker(string member, Exception failure) => $"<{member} threw {failure.GetType().FullName}>";
}
