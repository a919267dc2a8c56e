using System;
using System.IO;
using System.Linq;

namespace FapiLog.Tests.Support;

/// <summary>
/// Puts a buffer in the place of <see cref="Console.Error"/> until disposed, for tests of FapiLog's own stderr lines. The
/// console is the process's: only tests in the console collection, which run alone, may use it.
/// </summary>
internal sealed class StderrCapture : IDisposable
{
    private readonly TextWriter _original = Console.Error;
    private readonly StringWriter _buffer = new();
    private readonly TextWriter _writer;
    private bool _restored;

    public StderrCapture()
    {
        _writer = TextWriter.Synchronized(_buffer);
        Console.SetError(_writer);
    }

    /// <summary>What was written so far. Read under the writer's lock: FapiLog's threads may be writing.</summary>
    public string Text
    {
        get
        {
            lock (_writer)
            {
                return _buffer.ToString();
            }
        }
    }

    /// <summary>What was written so far, line by line, blank lines left out.</summary>
    public string[] Lines() => Text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();

    /// <summary>Puts the console's own stderr back (once; the buffer stays readable).</summary>
    public void Dispose()
    {
        if (!_restored)
        {
            _restored = true;
            Console.SetError(_original);
        }
    }
}
