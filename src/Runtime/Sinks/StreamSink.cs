using System;
using System.Buffers;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Threading;
using FapiLog.Internal;
using FapiLog.Loki;

namespace FapiLog.Sinks;

/// <summary>
/// Base of the sinks that write one line per event to a <see cref="Stream"/>: a batch is rendered into one reused UTF-8
/// buffer and written with a single call, so the steady state allocates nothing.
/// </summary>
/// <remarks>
/// The base of <see cref="ConsoleSink"/> and <see cref="JsonFileSink"/> only: its rendering hooks are internal, so it
/// cannot be derived from outside FapiLog. A sink of your own derives from <see cref="LogSink"/>.
/// </remarks>
public abstract class StreamSink : LogSink
{
    private static readonly byte[] s_newLine = "\n"u8.ToArray();
    private readonly ByteBuffer _bytes = new(16 * 1024);
    private readonly Utf8JsonWriter _json;
    private readonly PooledCharBuffer _chars = new(1024);
    private readonly PooledCharBuffer _message = new(256);
    private Stream? _stream;
    // A write failed part way and its partial line could not be cut off: the next batch starts on a new line, so that the
    // first event after the failure is not glued to it.
    private bool _partialLine;

    /// <summary>Creates the sink over <paramref name="stream"/> (owned: disposed with the sink when <paramref name="ownsStream"/>).</summary>
    // Private protected, as WriteRecord is: a constructor other assemblies could call would promise a base they cannot
    // complete (CS0534 on a member they cannot see), and opening it later is compatible, closing it is not.
    private protected StreamSink(Stream stream, bool ownsStream)
    {
        _stream = stream ?? throw new ArgumentNullException(nameof(stream));
        OwnsStream = ownsStream;
        _json = new Utf8JsonWriter(_bytes, JsonFormatting.WriterOptions);
    }

    /// <summary>Whether the stream is disposed with the sink.</summary>
    private protected bool OwnsStream { get; }

    /// <inheritdoc />
    internal override bool UsableAfterDispose => false;

    /// <inheritdoc />
    public override void Write(in LogBatch batch, CancellationToken cancellationToken)
    {
        Stream stream = _stream ?? throw new ObjectDisposedException(Name);
        try
        {
            WriteBatch(in batch, stream);
        }
        finally
        {
            TrimBuffers();
        }
    }

    /// <summary>
    /// After each batch, written or failed: lets go of a buffer that one huge event grew (see
    /// <see cref="ByteBuffer.MaxRetainedBytes"/> and <see cref="PooledCharBuffer.MaxRetainedChars"/>), so that the sink does
    /// not keep its size for the life of the process. A compare per buffer unless one grew that far.
    /// </summary>
    private protected virtual void TrimBuffers()
    {
        _bytes.TrimExcess();
        _chars.ClearAndTrim();
        _message.ClearAndTrim();
    }

    /// <summary>The capacities of the buffers the sink keeps between batches, in bytes (for tests).</summary>
    internal virtual long RetainedBufferBytes => _bytes.Capacity + (2L * (_chars.Capacity + _message.Capacity));

    private void WriteBatch(in LogBatch batch, Stream stream)
    {
        _bytes.Clear();
        for (int i = 0; i < batch.Count; i++)
        {
            WriteRecord(in batch[i]);
        }

        // From finding the end to writing there, no other sink of this process writes the same file (see SharedFileLock).
        object? sharedFile = SharedFileLock;
        bool locked = false;
        try
        {
            if (sharedFile is not null)
            {
                Monitor.Enter(sharedFile, ref locked);
            }

            stream = BeforeWrite(stream, _bytes.Length);
            AfterSeekForTesting?.Invoke();
            WriteRendered(stream);
        }
        finally
        {
            if (locked)
            {
                Monitor.Exit(sharedFile!);
            }
        }
    }

    private void WriteRendered(Stream stream)
    {
        long start = stream.CanSeek ? stream.Position : -1;
        try
        {
            if (_partialLine)
            {
                stream.Write(s_newLine);
            }

            stream.Write(_bytes.WrittenSpan);
            stream.Flush();
            _partialLine = false;
        }
        catch (IOException)
        {
            // A full disk can take part of the batch before the write fails. The batch is counted as failed; its partial
            // last line must not stay in front of the next batch's first event, which would then not parse. Cut back,
            // the stream is as before this write (a partial line from before stays marked); otherwise mark it.
            if (!TryCutBack(stream, start))
            {
                _partialLine = true;
            }

            throw;
        }
    }

    /// <summary>
    /// Held by a batch from <see cref="BeforeWrite"/> to the end of its write, when other sinks of this process may write
    /// the same file; null otherwise.
    /// </summary>
    private protected virtual object? SharedFileLock => null;

    /// <summary>Tests: called between <see cref="BeforeWrite"/> and the write, under <see cref="SharedFileLock"/>.</summary>
    internal Action? AfterSeekForTesting { get; set; }

    /// <summary>Cuts a seekable stream back to <paramref name="length"/> (what it held before a failed write); false when it cannot.</summary>
    private static bool TryCutBack(Stream stream, long length)
    {
        if (length < 0)
        {
            return false;
        }

        try
        {
            stream.SetLength(length);
            stream.Position = length;
            return true;
        }
        catch (Exception ex) when (ex is IOException or NotSupportedException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// Called with the rendered batch's size before it is written; returns the stream to write it to. A sink that
    /// switches streams (the rolling file sink) swaps it in with <see cref="SwapStream"/> first.
    /// </summary>
    private protected virtual Stream BeforeWrite(Stream stream, int batchBytes) => stream;

    /// <summary>
    /// Replaces the stream written to, unless the sink was disposed meanwhile (then <paramref name="replacement"/> is
    /// disposed too and <see cref="ObjectDisposedException"/> thrown, so that no file handle outlives the sink).
    /// </summary>
    private protected void SwapStream(Stream current, Stream replacement)
    {
        if (Interlocked.CompareExchange(ref _stream, replacement, current) != current)
        {
            replacement.Dispose();
            throw new ObjectDisposedException(Name);
        }

        // A partial line left in the old file stays there; the new one starts clean.
        _partialLine = false;
    }

    /// <summary>Appends one event, including its line break, to the batch buffer.</summary>
    private protected abstract void WriteRecord(in LogRecord record);

    /// <summary>
    /// Appends the event as one JSON line. An event that cannot be rendered (a string longer than System.Text.Json
    /// writes, say) must not cost the batch: its line says so instead, as in the Loki sink.
    /// </summary>
    private protected void AppendJsonLine(in LogRecord record)
    {
        JsonFormatting.AppendEvent(_json, _bytes, in record, _message, JsonLineParts.All);
        _bytes.Write(s_newLine);
    }

    /// <summary>A reused char buffer for text renderings, cleared.</summary>
    private protected PooledCharBuffer Chars
    {
        get
        {
            _chars.Clear();
            return _chars;
        }
    }

    /// <summary>Encodes <paramref name="text"/> as UTF-8 into the batch buffer.</summary>
    private protected void AppendUtf8(ReadOnlySpan<char> text)
    {
        Span<byte> span = _bytes.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length));
        int written = Encoding.UTF8.GetBytes(text, span);
        _bytes.Advance(written);
    }

    /// <inheritdoc />
    public override void Flush(CancellationToken cancellationToken)
    {
        // Not one a failed roll left closed (the next batch opens the file again): flushing it would throw, and the report
        // would name an ObjectDisposedException for a sink that lost nothing.
        if (_stream is { CanWrite: true } stream)
        {
            stream.Flush();
        }
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Stream? stream = Interlocked.Exchange(ref _stream, null);
            if (stream is not null)
            {
                if (stream.CanWrite)
                {
                    stream.Flush();
                }

                if (OwnsStream)
                {
                    stream.Dispose();
                }
            }

            _json.Dispose();
            _chars.Dispose();
            _message.Dispose();
        }

        base.Dispose(disposing);
    }
}

/// <summary>
/// Appends events as JSON lines (one object per line, the members of the Loki line plus timestamp and trace ids), and,
/// when given a size limit, rolls the file the way logrotate names it: <c>app.jsonl</c> becomes <c>app.jsonl.1</c>, the
/// older ones move up one number, and the oldest beyond the retained count is deleted. A file renamed or deleted under
/// the sink (logrotate without <c>copytruncate</c>, <c>rm</c>) is noticed before the next batch, and the path is opened
/// again (not on Windows, nor for a symbolic link).
/// </summary>
public sealed class JsonFileSink : StreamSink
{
    private readonly string _fullPath;
    private readonly long _maxBytes;
    private readonly int _retainedFiles;
    // False for a path that is a symbolic link (/dev/stdout, /proc/self/fd/1, a link to a file elsewhere): rolling would
    // rename the link itself and put a plain file in its place, and the output would no longer go where the link points.
    private readonly bool _rollable;
    // The path, stat'ed before each batch to tell whether it still names the open file: logrotate without copytruncate
    // renames the file and a user may delete it, and the sink went on writing to a file no one would read (deleted, its
    // space not even freed) until the next roll, which without FileMaxBytes never came. Null for a symbolic link, which
    // is written through wherever it points, and on Windows, where the check is not verified (the file is held open
    // there with delete sharing, and logrotate is not a Windows tool).
    private readonly FileInfo? _pathStatus;
    private long _fileBytes;
    private bool _rollFailureReported;
    // Whether the rolled files above the retained count have been looked for: once per sink, at its first roll.
    private bool _swept;
    private SharedPath? _sharedPath;

    // Every sink of this process on one file (by full path) writes under one lock. Two of them append in two steps each, to
    // the end each found, and without it a batch of one could land over the other's: the sink of a pipeline that Configure
    // replaced (a configuration reload, the same FilePath) drains what it holds while the new pipeline's sink writes.
    // Case-insensitive where file names usually are: two files that differ only in case then merely take turns.
    private static readonly Dictionary<string, SharedPath> s_sharedPaths =
        new(OperatingSystem.IsLinux() ? StringComparer.Ordinal : StringComparer.OrdinalIgnoreCase);

    /// <summary>Opens (creating folders as needed) and appends to <paramref name="path"/>; other processes may read it meanwhile. The file is never rolled.</summary>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
    /// <exception cref="IOException">The file or its folder cannot be created or opened.</exception>
    /// <exception cref="UnauthorizedAccessException">The process may not write the file or create its folder.</exception>
    public JsonFileSink(string path)
        : this(path, maxBytes: 0, retainedFiles: 0)
    {
    }

    /// <summary>
    /// Opens (creating folders as needed) and appends to <paramref name="path"/>; before a batch would take the file past
    /// <paramref name="maxBytes"/>, the file is rolled and a new one begun. A batch is never split, so a single batch
    /// larger than the limit makes a file larger than the limit. 0 means never roll.
    /// </summary>
    /// <param name="path">The file to append to.</param>
    /// <param name="maxBytes">Largest size of a file before it is rolled, at least <see cref="MinRollBytes"/>; 0 to never roll.</param>
    /// <param name="retainedFiles">
    /// Rolled files kept (<c>path.1</c> … <c>path.N</c>), 0 to <see cref="MaxRetainedFiles"/>; 0 keeps none. Rolled files
    /// numbered above it (an earlier run kept more) are deleted at the first roll.
    /// </param>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxBytes"/> or <paramref name="retainedFiles"/> is out of its range.</exception>
    /// <exception cref="IOException">The file or its folder cannot be created or opened.</exception>
    /// <exception cref="UnauthorizedAccessException">The process may not write the file or create its folder.</exception>
    public JsonFileSink(string path, long maxBytes, int retainedFiles)
        : this(path, CheckLimits(path, maxBytes, retainedFiles), maxBytes, retainedFiles)
    {
    }

    // The full path is resolved once: rolling reopens the file later, when the working directory may have changed.
    private JsonFileSink(string path, string fullPath, long maxBytes, int retainedFiles)
        : base(Open(fullPath, out long length), ownsStream: true)
    {
        Path = path;
        _fullPath = fullPath;
        _maxBytes = maxBytes;
        _retainedFiles = retainedFiles;
        _fileBytes = length;
        bool link = IsSymbolicLink(fullPath);
        _rollable = maxBytes > 0 && !link;
        _pathStatus = link || OperatingSystem.IsWindows() ? null : new FileInfo(fullPath);
        if (maxBytes > 0 && !_rollable)
        {
            Stderr.Write($"FapiLog: {path} is a symbolic link; it is written to and never rolled (FileMaxBytes applies to plain files).");
        }

        _sharedPath = SharedPath.Join(CanonicalPath(fullPath));
    }

    /// <summary>
    /// The file's path with every symbolic link resolved (a log folder that links elsewhere, a <c>current.jsonl</c> that
    /// links to the file): two sinks that reach one file by different paths share its lock. On Windows, and when the path
    /// cannot be resolved, the full path as given.
    /// </summary>
    private static string CanonicalPath(string fullPath)
    {
        if (OperatingSystem.IsWindows())
        {
            return fullPath;
        }

        nint resolved = RealPath(fullPath, 0);
        if (resolved == 0)
        {
            return fullPath;
        }

        try
        {
            return Marshal.PtrToStringUTF8(resolved) ?? fullPath;
        }
        finally
        {
            Free(resolved);
        }
    }

    [DllImport("libc", EntryPoint = "realpath", SetLastError = true)]
    private static extern nint RealPath([MarshalAs(UnmanagedType.LPUTF8Str)] string path, nint resolved);

    [DllImport("libc", EntryPoint = "free")]
    private static extern void Free(nint pointer);

    private protected override object? SharedFileLock => _sharedPath;

    /// <summary>The lock of one file's sinks, counted so that it goes once the last of them is disposed.</summary>
    private sealed class SharedPath(string fullPath)
    {
        private int _sinks;

        public static SharedPath Join(string fullPath)
        {
            lock (s_sharedPaths)
            {
                if (!s_sharedPaths.TryGetValue(fullPath, out SharedPath? shared))
                {
                    shared = new SharedPath(fullPath);
                    s_sharedPaths.Add(fullPath, shared);
                }

                shared._sinks++;
                return shared;
            }
        }

        public void Leave()
        {
            lock (s_sharedPaths)
            {
                if (--_sinks == 0)
                {
                    s_sharedPaths.Remove(fullPath);
                }
            }
        }
    }

    /// <summary>Whether a sink of this process holds the lock of <paramref name="path"/> (tests).</summary>
    internal static bool HasSharedLock(string path)
    {
        lock (s_sharedPaths)
        {
            return s_sharedPaths.ContainsKey(CanonicalPath(System.IO.Path.GetFullPath(path)));
        }
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        try
        {
            base.Dispose(disposing);
        }
        finally
        {
            if (disposing)
            {
                Interlocked.Exchange(ref _sharedPath, null)?.Leave();
            }
        }
    }

    private static bool IsSymbolicLink(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget is not null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Checks the limits and returns the full path of <paramref name="path"/>.</summary>
    private static string CheckLimits(string path, long maxBytes, int retainedFiles)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (maxBytes != 0 && maxBytes < MinRollBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(maxBytes), maxBytes, $"The file size limit must be 0 (never roll) or at least {MinRollBytes} bytes.");
        }

        if (retainedFiles < 0 || retainedFiles > MaxRetainedFiles)
        {
            throw new ArgumentOutOfRangeException(nameof(retainedFiles), retainedFiles, $"The number of rolled files kept must be from 0 to {MaxRetainedFiles}.");
        }

        return System.IO.Path.GetFullPath(path);
    }

    /// <summary>Smallest size limit accepted for rolling (1 KiB).</summary>
    public static readonly long MinRollBytes = 1024;

    /// <summary>Most rolled files that can be kept.</summary>
    public static readonly int MaxRetainedFiles = 1000;

    /// <summary>The file written to.</summary>
    public string Path { get; }

    /// <summary>Largest size of a file before it is rolled; 0 when the file is never rolled.</summary>
    public long MaxBytes => _maxBytes;

    /// <summary>How many rolled files are kept.</summary>
    public int RetainedFiles => _retainedFiles;

    /// <inheritdoc />
    public override string Name => "file:" + Path;

    private static FileStream Open(string path, out long length)
    {
        if (Directory.Exists(path))
        {
            // .NET's own error for this is "Access to the path is denied", which sends an operator looking at permissions.
            throw new IOException($"'{path}' is a folder, not a file: name the log file in it, such as '{System.IO.Path.Combine(path, "app.jsonl")}'.");
        }

        string? folder = System.IO.Path.GetDirectoryName(path);
        if (!string.IsNullOrEmpty(folder))
        {
            // .NET says "Could not find a part of the path" when a folder on the way is a file, which sends an operator
            // looking for a folder that is missing.
            for (string? above = folder; !string.IsNullOrEmpty(above); above = System.IO.Path.GetDirectoryName(above))
            {
                if (File.Exists(above))
                {
                    throw new IOException($"'{above}' is a file, not a folder, so '{path}' cannot be created.");
                }
            }

            Directory.CreateDirectory(folder);
        }

        // Not FileMode.Append: .NET remembers the end it found at open and writes there, and it refuses to seek below it
        // once another process has truncated the file. BeforeWrite seeks to the current end before every batch instead.
        // A pipe (FAPILOG_FILE=/dev/stdout in a container) cannot seek and needs not: it only appends.
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
        }
        catch (IOException) when (DescriptorOf(path) is { } descriptor && OpenDescriptor(descriptor) is { } inherited)
        {
            // Linux opens no socket through /proc/self/fd (ENXIO), and /dev/stdout is one under systemd (its journal) and
            // behind many supervisors: such a path is written through the process's own descriptor instead.
            stream = inherited;
        }

        if (stream.CanSeek && DescriptorOf(path) is { } shared)
        {
            // /dev/stdout of `app > out.log`: a file the application writes through its own descriptor, at that
            // descriptor's offset, which the sink's writes (through another open of the file) do not move, so the
            // application's next line went over the events written since. Both now append, as `app >> out.log` does.
            AppendOnly.Set(shared);
            AppendOnly.Set(stream.SafeFileHandle);
        }

        length = stream.CanSeek ? stream.Seek(0, SeekOrigin.End) : 0;
        return stream;
    }

    /// <summary>
    /// Sets <c>O_APPEND</c> on an open file (Linux only, where a write then goes to the end whatever the offset, and
    /// pwrite too); best effort: a file it cannot be set on keeps its offset, as before.
    /// </summary>
    private static class AppendOnly
    {
        private const int GetFlags = 3;   // F_GETFL
        private const int SetFlags = 4;   // F_SETFL
        private const int Append = 0x400; // O_APPEND

        public static void Set(Microsoft.Win32.SafeHandles.SafeFileHandle handle)
        {
            bool added = false;
            try
            {
                handle.DangerousAddRef(ref added);
                Set((int)handle.DangerousGetHandle());
            }
            finally
            {
                if (added)
                {
                    handle.DangerousRelease();
                }
            }
        }

        public static void Set(int descriptor)
        {
            // Linux only: fcntl is variadic, which P/Invoke calls correctly on Linux's x64 and arm64 conventions but not on
            // Apple's arm64 one.
            if (!OperatingSystem.IsLinux())
            {
                return;
            }

            int flags = Fcntl(descriptor, GetFlags, 0);
            if (flags >= 0 && (flags & Append) == 0)
            {
                Fcntl(descriptor, SetFlags, flags | Append);
            }
        }

        [DllImport("libc", EntryPoint = "fcntl", SetLastError = true)]
        private static extern int Fcntl(int descriptor, int command, int argument);
    }

    /// <summary>
    /// The descriptor <paramref name="path"/> names (<c>/dev/stdout</c>, <c>/dev/stderr</c>, <c>/dev/fd/N</c>,
    /// <c>/proc/self/fd/N</c>), or null; not on Windows, which has no such paths.
    /// </summary>
    internal static int? DescriptorOf(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            return null;
        }

        switch (path)
        {
            case "/dev/stdout":
                return 1;
            case "/dev/stderr":
                return 2;
        }

        foreach (string folder in (ReadOnlySpan<string>)["/dev/fd/", "/proc/self/fd/"])
        {
            if (path.StartsWith(folder, StringComparison.Ordinal)
                && int.TryParse(path.AsSpan(folder.Length), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int descriptor))
            {
                return descriptor;
            }
        }

        return null;
    }

    /// <summary>A stream that writes to <paramref name="descriptor"/> (not closed with it), or null when it is not open for writing.</summary>
    private static FileStream? OpenDescriptor(int descriptor)
    {
        try
        {
            return new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(descriptor, ownsHandle: false), FileAccess.Write, bufferSize: 0);
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private protected override Stream BeforeWrite(Stream stream, int batchBytes)
    {
        // Another process may have appended to the file (the same FAPILOG_FILE) or emptied it (logrotate's copytruncate)
        // since the last batch: write at its end as it is now, or its lines are overwritten or a hole of NULs is left.
        // Not writable when an earlier roll could not open the new file: Roll retries that.
        // A pipe has no size to roll at.
        bool open = stream.CanWrite;
        bool seekable = open && stream.CanSeek;
        if (seekable)
        {
            _fileBytes = stream.Seek(0, SeekOrigin.End);
            if (_pathStatus is not null && !IsStillAtPath((FileStream)stream, _fileBytes))
            {
                stream = Reopen(stream);
            }
        }

        if (_rollable && (!open || (seekable && _fileBytes > 0 && _fileBytes + batchBytes > _maxBytes)))
        {
            stream = Roll(stream);
        }

        _fileBytes += batchBytes;
        return stream;
    }

    /// <summary>
    /// Whether the path still names the open file: it exists with the open file's size and last write time. .NET gives
    /// no inode number to compare; a different file with both the same is what the two calls cannot tell apart (a new,
    /// empty file beside an open one nothing was written to yet), and then the next batch, which changes the size, does.
    /// Another process appending between the two reads makes them differ too, which costs a reopen of the same file.
    /// </summary>
    private bool IsStillAtPath(FileStream stream, long length)
    {
        FileInfo path = _pathStatus!;
        path.Refresh();
        return path.Exists && path.Length == length && path.LastWriteTimeUtc == File.GetLastWriteTimeUtc(stream.SafeFileHandle);
    }

    /// <summary>
    /// Opens the path again after the open file was renamed or deleted under the sink, and closes the old one. If the open
    /// fails, the batch fails (counted and reported, not written where no one reads it) and the next one tries again.
    /// </summary>
    private Stream Reopen(Stream stale)
    {
        FileStream next = Open(_fullPath, out long length);
        SwapStream(stale, next);
        stale.Dispose();
        _fileBytes = length;
        return next;
    }

    /// <summary>
    /// Closes the full file, shifts the rolled ones and opens a new file. If the shift fails (a file locked by another
    /// process, no permission), the events still go out: the sink reopens the same file, keeps appending, says so on
    /// stderr once, and tries again before the next batch.
    /// </summary>
    private Stream Roll(Stream full)
    {
        // Not writable when an earlier roll shifted the files but could not open the new one: then only the open is
        // retried, since shifting again would push every rolled file one place further and delete the oldest early.
        bool shifted = !full.CanWrite;
        if (!shifted)
        {
            full.Flush();
        }

        full.Dispose();
        try
        {
            if (!shifted)
            {
                Shift();
                DeleteRolledBeyondLimit();
            }

            _rollFailureReported = false;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            if (!_rollFailureReported)
            {
                _rollFailureReported = true;
                Stderr.Write($"FapiLog: could not roll {Path} ({ex.GetType().Name}: {ex.Message}); appending to it until rolling succeeds.");
            }
        }

        FileStream next = Open(_fullPath, out long length);
        SwapStream(full, next);
        _fileBytes = length;
        return next;
    }

    private string Rolled(int n) => _fullPath + "." + n.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private void Shift()
    {
        if (_retainedFiles == 0)
        {
            File.Delete(_fullPath);
            return;
        }

        // Only the rolled files below the first free number move up, and the oldest is deleted only when none is free. A
        // roll whose last step failed (the live file locked, or renamed away) and is tried again before the next batch
        // then finds .1 free and moves nothing: it must not push the rolled files up and delete the oldest again each
        // time, for a roll that never happened.
        int free = 1;
        while (free <= _retainedFiles && File.Exists(Rolled(free)))
        {
            free++;
        }

        if (free > _retainedFiles)
        {
            File.Delete(Rolled(_retainedFiles));
            free = _retainedFiles;
        }

        for (int n = free - 1; n >= 1; n--)
        {
            File.Move(Rolled(n), Rolled(n + 1));
        }

        File.Move(_fullPath, Rolled(1));
    }

    /// <summary>
    /// Deletes this log's rolled files numbered above the retained count, left by an earlier run that kept more (10
    /// yesterday, 3 today): the shift only looks at the numbers it keeps, so they stayed forever. Only names this sink
    /// can have made are touched, <c>path.N</c> with N up to <see cref="MaxRetainedFiles"/> written without leading
    /// zeros; <c>path.5.gz</c> or a date suffix such as <c>path.20240101</c> are someone else's. The sink's own shifts
    /// never number a file above the limit, so one look, at the first roll, is enough.
    /// </summary>
    private void DeleteRolledBeyondLimit()
    {
        if (_swept)
        {
            return;
        }

        _swept = true;
        bool reported = false;
        for (int n = _retainedFiles + 1; n <= MaxRetainedFiles; n++)
        {
            string rolled = Rolled(n);
            try
            {
                // Exists is false for a folder of that name, which is left alone.
                if (File.Exists(rolled))
                {
                    File.Delete(rolled);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // The roll itself succeeded; a file that cannot go only costs disk, so it is reported and the rest tried.
                if (!reported)
                {
                    reported = true;
                    Stderr.Write($"FapiLog: could not delete {rolled}, a rolled file beyond FileRetainedFiles ({ex.GetType().Name}: {ex.Message}).");
                }
            }
        }
    }

    private protected override void WriteRecord(in LogRecord record) => AppendJsonLine(in record);
}

/// <summary>
/// Writes events to standard output: readable text (coloured by level on a terminal, unless <c>NO_COLOR</c> is set to a
/// non-empty value or <c>TERM</c> is <c>dumb</c>; also through a pipe, into a file or on a <c>dumb</c> terminal when
/// <c>FORCE_COLOR</c> is set to a non-empty value other than <c>0</c> or <c>false</c>, unless <c>NO_COLOR</c> is set) or
/// JSON lines.
/// </summary>
public sealed class ConsoleSink : StreamSink
{
    private readonly bool _json;
    private readonly bool _colour;
    private readonly PooledCharBuffer _part = new(256);

    /// <summary>
    /// Creates a console sink; <paramref name="json"/> selects JSON lines. On Linux and macOS a pipe or socket on standard
    /// output is written through a stream of the sink's own, under <c>Console.Out</c>'s lock as .NET's console stream
    /// writes: events written after the pipe's reader has gone fail (.NET's console stream takes such a write as a
    /// success). A terminal, a file, and standard output on Windows are written through .NET's console stream.
    /// </summary>
    public ConsoleSink(bool json = false)
        : this(OpenStandardOutput(), json, colour: UseColour(
            json,
            Console.IsOutputRedirected,
            Environment.GetEnvironmentVariable("NO_COLOR"),
            Environment.GetEnvironmentVariable("TERM"),
            Environment.GetEnvironmentVariable("FORCE_COLOR")))
    {
    }

    /// <summary>
    /// Standard output for the console sink. .NET's console stream treats a write to a pipe whose reader has gone
    /// (<c>app | head -1</c>, a log collector that exited) as a success, so every later event was counted as delivered
    /// and nothing said it went nowhere. A pipe or socket is written through a stream on descriptor 1 instead, whose
    /// write fails with EPIPE: the events are counted as failed and reported like any other sink failure. A terminal or
    /// a file keeps the console stream (a file shares its offset with the application's own <c>Console.Out</c>).
    /// </summary>
    private static Stream OpenStandardOutput()
    {
        if (OperatingSystem.IsWindows() || !Console.IsOutputRedirected)
        {
            return Console.OpenStandardOutput();
        }

        try
        {
            var stream = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(1, ownsHandle: false), FileAccess.Write, bufferSize: 0);
            if (!stream.CanSeek)
            {
                return new PipeOutput(stream, Console.OpenStandardOutput);
            }

            stream.Dispose();
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or UnauthorizedAccessException)
        {
            // Descriptor 1 closed or not usable as a stream: the console stream says so in its own way.
        }

        return Console.OpenStandardOutput();
    }

    /// <summary>
    /// Standard output when it is a pipe or a socket: writes fail when the reader has gone. Descriptor 1 may also have been
    /// left non-blocking by a process that shares it, and then a full pipe fails a write with EAGAIN where .NET's console
    /// stream waits for room. Writes go out in pieces of at most PIPE_BUF bytes, each of which a pipe takes whole or not
    /// at all, with one <c>write</c> each, which says how much a socket took of it: after EAGAIN only what was not taken
    /// is written again, never a part twice. With
    /// <paramref name="waitingOutput"/> (standard output), a write holds <c>Console.Out</c>'s lock as .NET's console
    /// stream does, and from the first EAGAIN on, that stream writes. Without it (FapiLog's stderr lines, written by a
    /// thread of FapiLog's own that nobody waits on for long), no lock is taken, and a full non-blocking pipe is waited
    /// for here: .NET's console stream waits under <c>Console.Out</c>'s lock, so a stderr nobody reads would hold up the
    /// application's <c>Console.Out</c> for good.
    /// </summary>
    internal sealed class PipeOutput(FileStream pipe, Func<Stream>? waitingOutput) : Stream
    {
        // Android is Linux underneath: the same PIPE_BUF and EAGAIN.
        private static readonly int s_atomicBytes = OperatingSystem.IsLinux() || OperatingSystem.IsAndroid() ? 4096 : 512;
        private static readonly int s_wouldBlock = OperatingSystem.IsLinux() || OperatingSystem.IsAndroid() ? 11 : 35;

        // The longest sleep between two tries of a piece that a full non-blocking pipe refused (stderr only): short enough
        // that a reader coming back finds the line soon, long enough that a stderr nobody reads costs next to nothing.
        private const int MaxRetryMilliseconds = 10;

        private Stream? _console;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (waitingOutput is null)
            {
                WritePieces(buffer);
                return;
            }

            // Under Console.Out's lock, as .NET's console stream writes: an application's Console.WriteLine meanwhile would
            // otherwise go out between two pieces, in the middle of an event's line.
            lock (Console.Out)
            {
                WritePieces(buffer);
            }
        }

        private void WritePieces(ReadOnlySpan<byte> buffer)
        {
            int retry = 1;
            while (!buffer.IsEmpty)
            {
                if (_console is not null)
                {
                    _console.Write(buffer);
                    return;
                }

                ReadOnlySpan<byte> piece = buffer.Slice(0, Math.Min(s_atomicBytes, buffer.Length));
                int written;
                try
                {
                    written = WriteSome(piece);
                }
                catch (IOException ex) when (ex.HResult == s_wouldBlock)
                {
                    if (waitingOutput is null)
                    {
                        // Nothing of the piece was taken: it is tried again once a reader may have made room.
                        Thread.Sleep(retry);
                        retry = Math.Min(2 * retry, MaxRetryMilliseconds);
                        continue;
                    }

                    _console = waitingOutput();
                    continue;
                }

                retry = 1;
                buffer = buffer.Slice(written);
            }
        }

        /// <summary>
        /// One <c>write</c> of <paramref name="piece"/>; returns how much of it was taken. A pipe takes a piece of up to
        /// PIPE_BUF whole or not at all, but a socket may take part of it and refuse the rest: written through
        /// <see cref="FileStream"/>, which writes on until all is taken and says nothing of a part taken before it failed,
        /// that part was written again after EAGAIN (bytes twice in a line). Throws an <see cref="IOException"/> whose
        /// <see cref="Exception.HResult"/> is the errno (EAGAIN when nothing was taken, EPIPE when the reader has gone).
        /// </summary>
        private unsafe int WriteSome(ReadOnlySpan<byte> piece)
        {
            Microsoft.Win32.SafeHandles.SafeFileHandle handle = pipe.SafeFileHandle;
            bool added = false;
            try
            {
                handle.DangerousAddRef(ref added);
                int descriptor = (int)handle.DangerousGetHandle();
                fixed (byte* bytes = piece)
                {
                    while (true)
                    {
                        nint taken = SystemWrite(descriptor, bytes, piece.Length);
                        if (taken > 0)
                        {
                            return (int)taken;
                        }

                        int errno = taken == 0 ? s_wouldBlock : Marshal.GetLastPInvokeError();
                        if (errno != Interrupted)
                        {
                            throw new IOException(Marshal.GetPInvokeErrorMessage(errno), errno);
                        }
                    }
                }
            }
            finally
            {
                if (added)
                {
                    handle.DangerousRelease();
                }
            }
        }

        // EINTR, the same on Linux and macOS: a signal arrived before anything was written, and the write is made again.
        private const int Interrupted = 4;

        [DllImport("libc", EntryPoint = "write", SetLastError = true)]
        private static extern unsafe nint SystemWrite(int descriptor, byte* buffer, nint count);

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }

    /// <summary>
    /// Whether readable text is coloured. <c>NO_COLOR</c> set to a non-empty value turns colour off, whatever else is set
    /// (no-color.org: an empty <c>NO_COLOR</c> does not count). Otherwise <c>FORCE_COLOR</c> set to a non-empty value other
    /// than <c>0</c> or <c>false</c> turns it on (force-color.org: for a CI log or <c>docker logs</c> that show colour
    /// although the output is a pipe; Node's tools read <c>0</c> and <c>false</c> as "no", so those force nothing).
    /// Otherwise colour is used on a terminal, but not on one whose <c>TERM</c> is <c>dumb</c> (an editor's shell
    /// buffer, say), which shows escape sequences as text.
    /// </summary>
    internal static bool UseColour(bool json, bool redirected, string? noColor, string? term, string? forceColor)
    {
        if (json || !string.IsNullOrEmpty(noColor))
        {
            return false;
        }

        if (!string.IsNullOrEmpty(forceColor) && forceColor != "0" && !forceColor.Equals("false", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        return !redirected && term != "dumb";
    }

    /// <summary>Creates a console-format sink over any stream (for tests and redirection).</summary>
    public ConsoleSink(Stream output, bool json, bool colour)
        : base(output, ownsStream: false)
    {
        _json = json;
        _colour = colour;
    }

    /// <inheritdoc />
    public override string Name => "console";

    private protected override void WriteRecord(in LogRecord record)
    {
        if (_json)
        {
            AppendJsonLine(in record);
            return;
        }

        PooledCharBuffer text = Chars;
        Span<char> time = stackalloc char[40];
        record.Timestamp.UtcDateTime.TryFormat(time, out int n, "yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture);
        ValueReader.Append(text, time.Slice(0, n));
        ValueReader.Append(text, " ");
        if (_colour)
        {
            ValueReader.Append(text, Colour(record.Level));
        }

        ValueReader.Append(text, PaddedLevel(record.Level));
        if (_colour)
        {
            ValueReader.Append(text, "\u001b[0m");
        }

        // The level column is eight wide ("critical" fills it), so the separator comes after it, uncoloured.
        ValueReader.Append(text, " ");
        AppendReadable(text, record.EventName);
        ValueReader.Append(text, ": ");
        _part.Clear();
        record.FormatMessage(_part);
        AppendReadable(text, _part.WrittenSpan);
        if (record.Exception is { } ex)
        {
            ValueReader.Append(text, ContinuationBreak);
            AppendReadable(text, ExceptionText.Full(ex));
        }

        ValueReader.Append(text, "\n");
        AppendUtf8(text.WrittenSpan);
    }

    /// <summary>What starts every line of an event after its first: only an event's first line starts with its timestamp.</summary>
    private const string ContinuationBreak = "\n    ";

    // Line breaks (CR, LF, VT, FF, NEL, LS, PS), the other C0 and C1 controls and DEL; tab is kept. Also the bidirectional
    // embedding, override and isolate controls (U+202A..U+202E, U+2066..U+2069), which reorder how the rest of a line is
    // displayed; the marks U+200E/U+200F only affect neutral characters next to them and are kept.
    private static readonly SearchValues<char> s_unreadable = SearchValues.Create(
        "\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008\u000a\u000b\u000c\u000d\u000e\u000f"
        + "\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f"
        + "\u007f\u0080\u0081\u0082\u0083\u0084\u0085\u0086\u0087\u0088\u0089\u008a\u008b\u008c\u008d\u008e\u008f"
        + "\u0090\u0091\u0092\u0093\u0094\u0095\u0096\u0097\u0098\u0099\u009a\u009b\u009c\u009d\u009e\u009f\u2028\u2029"
        + "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069");

    /// <summary>
    /// Appends text that may come from users (argument values, exception messages) so that it cannot pass for another
    /// event or drive the terminal: a line break continues the event on an indented line, so a value cannot forge a line
    /// that starts with a timestamp, and any other control character (ESC of an escape sequence, C1's CSI, BEL, NUL, DEL,
    /// a bidirectional override or isolate) is written as its <c>\uXXXX</c> escape.
    /// </summary>
    private static void AppendReadable(PooledCharBuffer w, ReadOnlySpan<char> text)
    {
        while (true)
        {
            int i = text.IndexOfAny(s_unreadable);
            if (i < 0)
            {
                ValueReader.Append(w, text);
                return;
            }

            ValueReader.Append(w, text.Slice(0, i));
            char c = text[i];
            int consumed = 1;
            switch (c)
            {
                case '\r' when i + 1 < text.Length && text[i + 1] == '\n':
                    consumed = 2;
                    ValueReader.Append(w, ContinuationBreak);
                    break;
                case '\r' or '\n' or '\v' or '\f' or '\u0085' or '\u2028' or '\u2029':
                    ValueReader.Append(w, ContinuationBreak);
                    break;
                default:
                    Span<char> escape = w.GetSpan(6);
                    escape[0] = '\\';
                    escape[1] = 'u';
                    ((int)c).TryFormat(escape.Slice(2), out _, "X4", System.Globalization.CultureInfo.InvariantCulture);
                    w.Advance(6);
                    break;
            }

            text = text.Slice(i + consumed);
        }
    }

    private protected override void TrimBuffers()
    {
        _part.ClearAndTrim();
        base.TrimBuffers();
    }

    internal override long RetainedBufferBytes => base.RetainedBufferBytes + (2L * _part.Capacity);

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _part.Dispose();
        }

        base.Dispose(disposing);
    }

    private static readonly string[] s_paddedLevels = ["trace   ", "debug   ", "info    ", "warning ", "error   ", "critical", "none    "];

    private static string PaddedLevel(Microsoft.Extensions.Logging.LogLevel level)
        => (uint)level < (uint)s_paddedLevels.Length ? s_paddedLevels[(int)level] : "unknown ";

    private static string Colour(Microsoft.Extensions.Logging.LogLevel level) => level switch
    {
        Microsoft.Extensions.Logging.LogLevel.Trace or Microsoft.Extensions.Logging.LogLevel.Debug => "\u001b[90m",
        Microsoft.Extensions.Logging.LogLevel.Information => "\u001b[32m",
        Microsoft.Extensions.Logging.LogLevel.Warning => "\u001b[33m",
        _ => "\u001b[1;31m",
    };
}
