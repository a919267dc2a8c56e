using FapiLog;
using Microsoft.Extensions.Logging;

/// <summary>Log methods in the global namespace.</summary>
public static partial class GlobalNamespaceLog
{
    /// <summary>Logs a greeting.</summary>
    /// <param name="name">Who is greeted.</param>
    [FapiLog(LogLevel.Information, "Hello {Name}", EventId = 1)]
    public static partial void Hello(string name);
}
