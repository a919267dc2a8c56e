using System;
using System.Threading;
using FapiLog;
using FapiLog.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FapiLog.TestHost;

/// <summary>
/// Exit and shutdown scenarios: FapiLog.TestHost MODE FILE COUNT, COUNT "Tick" events into the JSON-lines FILE.
/// sigterm-hung: a sink that hangs until told to give up comes before the file, ShutdownTimeout 2 s; prints "ready" and
/// waits for a signal. host-slow-sink: a Generic Host with AddFapiLog whose extra sink holds every write until the host
/// begins to stop (ShutdownTimeout 10 min); prints "ready" and runs until a signal stops the host. sigterm-cancelled-hung:
/// a hung sink, ShutdownTimeout 2 s, and a SIGTERM handler of the application's that cancels the signal; prints "ready",
/// then "handled" once every handler has run, and returns from Main. crash-thread: an
/// unhandled exception on a background thread after the events. crash-block-hung: the same while Block (no time limit)
/// waits on a full queue that a hung sink holds. crash-unconfigured: an unhandled exception before any log call or
/// Configure (FILE and COUNT unused: the FAPILOG_* variables configure it). crash-first-log-call: the same, with the first
/// log call as the crash (run it with a bad FAPILOG_* value); crash-first-log-call-in-static-constructor: the same, in a static
/// constructor. crash-configure-error: Configure with a bad QueueCapacity, not
/// caught. crash-after-env-fixed: the first log call fails on FAPILOG_QUEUE_CAPACITY, the handler removes that variable,
/// then a crash. configure-at-exit: a ProcessExit handler of
/// the user's configures FapiLog again after the exit hook shut it down, logs COUNT more and prints the statistics.
/// log-at-exit-unconfigured: nothing logged or configured in Main; a ProcessExit handler of the user's makes the first log
/// call (FAPILOG_FILE configures it), logs COUNT events and prints the statistics. huge-queue (run it with a small
/// GC heap limit): configures the largest QueueCapacity with the file sink, prints the refusal and how many handles on
/// FILE are still open, then configures a small queue and logs COUNT events. huge-queue-env: the same capacity from
/// FAPILOG_QUEUE_CAPACITY, met by the first log call. exception-cycle: COUNT events, then one
/// whose exception's inner exceptions lead back to it, into FILE and the console text. ignoring-sink-shutdown: a sink that
/// hangs and ignores cancellation, ShutdownTimeout 10 min; Main shuts down with a 1 s timeout, prints "shutdown=…" and
/// returns, so the exit hook meets a pipeline already given up on. host-ignoring-sink: a Generic Host whose extra sink
/// hangs and ignores cancellation, ShutdownTimeout 2 s; prints "ready" and runs until a signal stops the host. console:
/// COUNT events to the console sink the environment sets up (FILE unused). console-reader-gone: one event to the console,
/// then COUNT more after the test closed the pipe and wrote "closed" to stdin; prints the statistics on stderr.
/// sigterm-loki-down: COUNT events to FILE and a Loki at TESTHOST_LOKI_URL that refuses them; prints "ready" once a retry
/// waits, then sleeps until a signal ends it. stderr-unread: COUNT events to FILE after 300 sinks that fail with long
/// messages, with stderr a pipe nobody reads yet; prints whether the flush and the shutdown finished, then returns once
/// "exit" comes on stdin; stderr-unread-utf8: the same after Console.OutputEncoding = Encoding.UTF8;
/// stderr-unread-nonblocking: the same with descriptor 2 made non-blocking first (Linux); stderr-unread-error-lock: the same,
/// printing after the flush whether a Console.Error.Flush() on another thread returned ("error-flush=…"). stderr-line-lock (Linux): stderr
/// a pipe this process reads itself, and a sink that fails with a 2 MiB message; prints "flushed=…", whether
/// Console.Error's lock was free while the failure line was being written, and whether the line came whole.
/// bridge-exit: Configure and new FapiLogLoggerProvider() only (no exit hook registered by hand), COUNT events through
/// ILogger, then returns from Main. crash-in-console-write: COUNT events to the console sink, then a crash thrown inside Console.WriteLine, which holds
/// Console.Out's lock. stderr-first-seen-replaced: FapiLog's stderr first touched while Console.Error is a StringWriter, then a sink failure
/// with a non-ASCII message once .NET's writer is back; prints "flushed=…". meter-set-level, meter-configure,
/// meter-first-call: see <see cref="MeterFirstUse"/> (run with FAPILOG_FILE=FILE).
/// </summary>
internal static class ExitModes
{
    public static int? Run(string mode, string file, int count)
    {
        switch (mode)
        {
            case "sigterm-hung":
                // What the generated module initializer does.
                FapiLogging.RegisterShutdownHooks();
                FapiLogging.Configure(o =>
                {
                    o.Console = false;
                    o.AddSink(new HungSink());
                    o.FilePath = file;
                    o.ShutdownTimeout = TimeSpan.FromSeconds(2);
                    o.FlushInterval = TimeSpan.FromHours(1);
                    o.BatchSize = 1000;
                });
                Ticks(count);
                Ready();
                Thread.Sleep(Timeout.Infinite);
                return 1;
            case "sigterm-loki-down":
                // A Loki (TESTHOST_LOKI_URL) that answers 503: "ready" once the first attempt failed and the sender waits
                // out a 30-minute backoff, so that a signal's flush gives up with the failure known.
                FapiLogging.RegisterShutdownHooks();
                FapiLogging.Configure(o =>
                {
                    o.Console = false;
                    o.FilePath = file;
                    o.ShutdownTimeout = TimeSpan.FromSeconds(1);
                    o.FlushInterval = TimeSpan.FromMilliseconds(20);
                    o.Loki.Url = new Uri(Environment.GetEnvironmentVariable("TESTHOST_LOKI_URL")!);
                    o.Loki.MinBackoff = TimeSpan.FromMinutes(30);
                    o.Loki.MaxBackoff = TimeSpan.FromMinutes(30);
                });
                Ticks(count);
                if (!SpinWait.SpinUntil(() => FapiLogging.LokiStatistics.Retries >= 1, TimeSpan.FromMinutes(1)))
                {
                    return 2;
                }

                Ready();
                Thread.Sleep(Timeout.Infinite);
                return 1;
            case "host-slow-sink":
                return RunHost(file, count, stopping => new UntilStoppingSink(stopping), TimeSpan.FromMinutes(10));
            case "ignoring-sink-shutdown":
                FapiLogging.RegisterShutdownHooks();
                FapiLogging.Configure(o =>
                {
                    FileOnly(o, file);
                    o.AddSink(new IgnoringSink());
                    o.ShutdownTimeout = TimeSpan.FromMinutes(10);
                });
                Ticks(count);
                Console.WriteLine("shutdown=" + FapiLogging.Shutdown(TimeSpan.FromSeconds(1)));
                Console.Out.Flush();
                return 0;
            case "host-ignoring-sink":
                return RunHost(file, count, _ => new IgnoringSink(), TimeSpan.FromSeconds(2));
            case "sigterm-cancelled-hung":
            {
                // An application that cancels SIGTERM and stops by itself (as the Generic Host does): its handler is
                // registered after FapiLog's, so it runs first. A handler registered before FapiLog's runs last and tells
                // Main that the signal has been handled; Main then returns, and the ProcessExit hook shuts down.
                using var handled = new ManualResetEventSlim(false);
                using var last = System.Runtime.InteropServices.PosixSignalRegistration.Create(
                    System.Runtime.InteropServices.PosixSignal.SIGTERM, _ => handled.Set());
                FapiLogging.RegisterShutdownHooks();
                FapiLogging.Configure(o =>
                {
                    o.Console = false;
                    o.AddSink(new HungSink());
                    o.ShutdownTimeout = TimeSpan.FromSeconds(2);
                    o.FlushInterval = TimeSpan.FromHours(1);
                    o.BatchSize = 1000;
                });
                using var first = System.Runtime.InteropServices.PosixSignalRegistration.Create(
                    System.Runtime.InteropServices.PosixSignal.SIGTERM, c => c.Cancel = true);
                Ticks(count);
                Ready();
                // A runtime that stops at the first handler that cancels runs neither FapiLog's nor this last one.
                handled.Wait(TimeSpan.FromSeconds(30));
                Console.WriteLine("handled");
                return 0;
            }
            case "crash-thread":
                FapiLogging.RegisterShutdownHooks();
                FapiLogging.Configure(o =>
                {
                    o.Console = false;
                    o.FilePath = file;
                    o.FlushInterval = TimeSpan.FromHours(1);
                    o.BatchSize = 1000;
                });
                Ticks(count);
                var crashing = new Thread(() => throw new InvalidOperationException("crash on a background thread")) { IsBackground = true };
                crashing.Start();
                crashing.Join();
                Thread.Sleep(Timeout.Infinite);
                return 1;
            case "crash-block-hung":
            {
                // Block without a time limit, and the worker holds a full queue in a hung sink: a plain log call would wait
                // for good (the user asked for that), but the crash's own event must not keep the process from ending.
                FapiLogging.RegisterShutdownHooks();
                FapiLogging.Configure(o =>
                {
                    o.Console = false;
                    o.AddSink(new HungSink());
                    o.Overflow = OverflowStrategy.Block;
                    o.BlockTimeout = Timeout.InfiniteTimeSpan;
                    o.QueueCapacity = count;
                    o.BatchSize = count;
                    o.ShutdownTimeout = TimeSpan.FromSeconds(2);
                });
                Ticks(count);
                var crashingWhileFull = new Thread(() => throw new InvalidOperationException("crash while the queue is full")) { IsBackground = true };
                crashingWhileFull.Start();
                crashingWhileFull.Join();
                Thread.Sleep(Timeout.Infinite);
                return 1;
            }
            case "crash-unconfigured":
                // What the generated module initializer does, then a crash before any log call or Configure (a setting
                // missing at startup, say): the FAPILOG_* variables the child was started with are all there is.
                FapiLogging.RegisterShutdownHooks();
                throw new InvalidOperationException("crash before any log call");
            case "crash-first-log-call":
                // The same, but the crash is the first log call itself, which a bad FAPILOG_* value makes throw.
                FapiLogging.RegisterShutdownHooks();
                Program.Tick(0);
                return 1;
            case "crash-first-log-call-in-static-constructor":
                // The same, with the first log call in a static constructor: the crash wraps the error.
                FapiLogging.RegisterShutdownHooks();
                LogsWhenFirstUsed.Touch();
                return 1;
            case "crash-configure-error":
                // A configuration error that is not the environment's: Configure with a bad value, and nothing catches it.
                FapiLogging.RegisterShutdownHooks();
                FapiLogging.Configure(o => o.QueueCapacity = -5);
                return 1;
            case "crash-after-env-fixed":
                // The first log call fails on a bad FAPILOG_* value and the application handles that by fixing it; a crash
                // later has a good environment to configure from.
                FapiLogging.RegisterShutdownHooks();
                try
                {
                    Program.Tick(0);
                    return 3;
                }
                catch (FapiLogConfigurationException)
                {
                    Environment.SetEnvironmentVariable("FAPILOG_QUEUE_CAPACITY", null);
                }

                throw new InvalidOperationException("crash after the setting was fixed");
            case "log-at-exit-unconfigured":
                // What the generated module initializer does, and nothing logged or configured in Main: a ProcessExit handler
                // of the user's (it runs after FapiLog's) makes the first log call, which configures from FAPILOG_*.
                FapiLogging.RegisterShutdownHooks();
                AppDomain.CurrentDomain.ProcessExit += (_, _) =>
                {
                    for (long i = 0; i < count; i++)
                    {
                        Program.Tick(i);
                    }

                    FapiLogStatistics s = FapiLogging.Statistics;
                    Console.WriteLine($"late attempted={s.Attempted} enqueued={s.Enqueued} shutdown={s.DroppedShutdown} pending={s.Pending}");
                };
                return 0;
            case "configure-at-exit":
                // What the generated module initializer does, then a ProcessExit handler of the user's (it runs after
                // FapiLog's) that configures FapiLog again and logs.
                FapiLogging.RegisterShutdownHooks();
                FapiLogging.Configure(o => FileOnly(o, file));
                AppDomain.CurrentDomain.ProcessExit += (_, _) =>
                {
                    FapiLogging.Configure(o => FileOnly(o, file));
                    for (long i = count; i < 2 * count; i++)
                    {
                        Program.Tick(i);
                    }

                    FapiLogStatistics s = FapiLogging.Statistics;
                    Console.WriteLine($"late attempted={s.Attempted} delivered={s.Delivered} dropped={s.Dropped} pending={s.Pending}");
                };
                Ticks(count);
                return 0;
            case "meter-set-level":
            case "meter-configure":
            case "meter-first-call":
                return MeterFirstUse(mode, file);
            case "huge-queue-env":
                // FAPILOG_QUEUE_CAPACITY too large for the heap limit: the first log call starts the pipeline from it.
                try
                {
                    Program.Tick(0);
                    Console.WriteLine("logged");
                    return 3;
                }
                catch (FapiLogConfigurationException ex)
                {
                    Console.WriteLine($"threw {ex.Setting}");
                    return 0;
                }

            case "huge-queue":
                try
                {
                    FapiLogging.Configure(o =>
                    {
                        FileOnly(o, file);
                        o.QueueCapacity = FapiLogOptions.MaxQueueCapacity;
                    });
                    Console.WriteLine("configured");
                    return 3;
                }
                catch (FapiLogConfigurationException ex)
                {
                    Console.WriteLine($"refused {ex.Setting}={ex.Value} configured={FapiLogging.IsConfigured} handles={OpenHandlesOn(file)}");
                    Console.WriteLine(ex.Message);
                }

                FapiLogging.Configure(o => FileOnly(o, file));
                Ticks(count);
                return FapiLogging.Shutdown(TimeSpan.FromSeconds(30)) ? 0 : 4;
            case "exception-cycle":
            {
                // An exception whose inner exceptions lead back to it (only reflection makes one): its ToString would
                // recurse until the stack overflows, which no catch can stop. Logged to the file and the console text.
                FapiLogging.Configure(o =>
                {
                    FileOnly(o, file);
                    o.Console = true;
                });
                var outer = new InvalidOperationException("outer");
                var inner = new InvalidOperationException("inner", outer);
                typeof(Exception).GetField("_innerException", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic)!
                    .SetValue(outer, inner);
                Ticks(count);
                LogEventWriter w = FapiLogRuntime.Begin(s_cycle);
                w.SetException(outer);
                w.Commit();
                return FapiLogging.Shutdown(TimeSpan.FromSeconds(30)) ? 0 : 4;
            }

            case "console-reader-gone":
            {
                // `app | head -1`: one event to the console, then, once the test has closed its end of the pipe and said
                // so on stdin, COUNT more; the statistics go to stderr.
                FapiLogging.Configure(o =>
                {
                    o.Console = true;
                    o.FlushInterval = TimeSpan.FromHours(1);
                });
                Program.Tick(0);
                if (!FapiLogging.Flush(TimeSpan.FromSeconds(30)) || Console.In.ReadLine() != "closed")
                {
                    return 3;
                }

                for (long i = 1; i <= count; i++)
                {
                    Program.Tick(i);
                }

                bool shutdown = FapiLogging.Shutdown(TimeSpan.FromSeconds(30));
                Console.Error.WriteLine($"shutdown={shutdown} {FapiLogging.Statistics}");
                return 0;
            }

            case "stderr-unread":
            case "stderr-unread-utf8":
            case "stderr-unread-nonblocking":
            case "stderr-unread-error-lock":
            {
                // A parent that redirects stderr and never reads it (Process.Start reading stdout only, some supervisors):
                // 300 sinks that fail the first batch, each with a 4 KiB message, say far more than a pipe holds (64 KiB
                // on Linux) before the file sink, last, gets the batch. Stdout says whether the flush and the shutdown
                // finished; the test then reads stderr and writes "exit" to stdin, and Main returns.
                if (mode == "stderr-unread-utf8")
                {
                    // The line many applications begin with. .NET's Console.Error is then built on an encoding of its own
                    // (the given one without its byte order mark), no longer the Console.OutputEncoding object.
                    Console.OutputEncoding = System.Text.Encoding.UTF8;
                }

                if (mode == "stderr-unread-nonblocking")
                {
                    // As a process that shares the pipe may leave it: a write to it, once full, fails with EAGAIN.
                    Native.MakeNonBlocking(2);
                }

                FapiLogging.RegisterShutdownHooks();
                FapiLogging.Configure(o =>
                {
                    for (int i = 0; i < StderrSinks; i++)
                    {
                        o.AddSink(new LongFailureSink(i));
                    }

                    FileOnly(o, file);
                    o.ShutdownTimeout = TimeSpan.FromSeconds(5);
                });
                Ticks(count);
                bool flushed = FapiLogging.Flush(TimeSpan.FromSeconds(30));
                Console.WriteLine($"flushed={flushed}");
                if (mode == "stderr-unread-error-lock")
                {
                    // FapiLog's stderr thread is stuck in a line for good now (the flush found stderr taking nothing). A
                    // Console.Error.Flush() with nothing to write (or Console.OutputEncoding's setter, which calls it holding
                    // System.Console's own lock) takes Console.Error's lock and nothing else: it must not wait for that line.
                    var flush = new Thread(() => Console.Error.Flush()) { IsBackground = true };
                    flush.Start();
                    Console.WriteLine($"error-flush={flush.Join(TimeSpan.FromSeconds(10))}");
                }

                Console.Out.Flush();
                bool shutdown = FapiLogging.Shutdown();
                Console.WriteLine($"shutdown={shutdown} {FapiLogging.Statistics}");
                Console.Out.Flush();
                return Console.In.ReadLine() == "exit" ? 0 : 3;
            }

            case "stderr-line-lock":
                return LineUnderConsoleErrorLock(file, count);

            case "stderr-first-seen-replaced":
            {
                // FapiLog's stderr is first touched (the shutdown of a replaced pipeline) while Console.Error is a test's
                // StringWriter, whose encoding is UTF-16; then .NET's own writer is back, and a sink fails with a message
                // that is not ASCII. The failure line must reach stderr in stderr's encoding.
                System.IO.TextWriter original = Console.Error;
                Console.SetError(new System.IO.StringWriter());
                FapiLogging.Configure(o => FileOnly(o, file));
                FapiLogging.Configure(o => FileOnly(o, file));
                Console.SetError(original);
                FapiLogging.Configure(o =>
                {
                    o.AddSink(new NamedFailureSink("disque", "disque plein à 100 %"));
                    FileOnly(o, file);
                });
                Ticks(count);
                Console.WriteLine($"flushed={FapiLogging.Flush(TimeSpan.FromSeconds(30))}");
                return 0;
            }

            case "bridge-exit":
            {
                // An application that logs through ILogger only (no [FapiLog] method, so no generated module initializer)
                // and manages the pipeline itself, as the README shows for FapiLogLoggerProvider's public constructor:
                // Configure, then AddProvider(new FapiLogLoggerProvider()); COUNT events, then return from Main.
                FapiLogging.Configure(o => FileOnly(o, file));
                using ILoggerFactory factory = LoggerFactory.Create(b => b.AddProvider(new FapiLogLoggerProvider()));
                ILogger logger = factory.CreateLogger("Tick");
                for (long i = 0; i < count; i++)
                {
                    logger.LogInformation("Tick {Sequence}", i);
                }

                return 0;
            }

            case "crash-in-console-write":
                // The default console sink (stdout a pipe, as in a container), COUNT events, then an unhandled exception
                // thrown inside Console.WriteLine: a format string with more placeholders than values throws while
                // Console.Out's lock is held, and the crash handler runs before that lock is released.
                FapiLogging.RegisterShutdownHooks();
                FapiLogging.Configure(o =>
                {
                    o.Console = true;
                    o.FlushInterval = TimeSpan.FromHours(1);
                    o.BatchSize = 1000;
                    o.ShutdownTimeout = TimeSpan.FromSeconds(2);
                });
                Ticks(count);
                Console.WriteLine("{0} {1}", "only one value");
                return 1;

            case "stderr-output-encoding-race":
            {
                // stderr a file (as a terminal), neither Console.Out nor Console.Error replaced, and the application sets
                // Console.OutputEncoding while FapiLog writes a line on stderr. COUNT rounds; each ends with the setter
                // done, or reports a deadlock.
                Native.StandardErrorToFile(file);
                var write = typeof(FapiLogging).Assembly.GetType("FapiLog.Internal.Stderr")!.GetMethod("Write")!;
                var outField = typeof(Console).GetField("s_out", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!;
                using var stdout = new System.IO.FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(1, ownsHandle: false), System.IO.FileAccess.Write, 1);
                void Say(string text)
                {
                    byte[] bytes = System.Text.Encoding.UTF8.GetBytes(text + "\n");
                    stdout.Write(bytes, 0, bytes.Length);
                }

                for (int i = 0; i < count; i++)
                {
                    System.IO.TextWriter error = Console.Error;
                    _ = Console.Out;
                    Monitor.Enter(error);
                    long contention = Monitor.LockContentionCount;
                    // FapiLog's stderr thread takes Console.Error's lock (held here) for the line.
                    write.Invoke(null, ["FapiLog: line " + i]);
                    SpinWait.SpinUntil(() => Monitor.LockContentionCount > contention, TimeSpan.FromSeconds(5));
                    // Console.OutputEncoding's setter: System.Console's lock, Console.Out flushed and dropped, then
                    // Console.Error.Flush(), which waits for Console.Error's lock.
                    var setter = new Thread(() => Console.OutputEncoding = new System.Text.UTF8Encoding(false));
                    setter.Start();
                    SpinWait.SpinUntil(() => outField.GetValue(null) is null && (setter.ThreadState & ThreadState.WaitSleepJoin) != 0, TimeSpan.FromSeconds(5));
                    Monitor.Exit(error);
                    if (!setter.Join(TimeSpan.FromSeconds(20)))
                    {
                        Say("deadlock in round " + i);
                        System.Diagnostics.Process.GetCurrentProcess().Kill();
                    }
                }

                Say("rounds done");
                return 0;
            }

            case "stderr-set-to-stdout":
            {
                // An application that sends its stderr to stdout (Console.SetError(Console.Out): a CI runner or PowerShell
                // that takes anything on stderr for a failure), stderr itself a file (or the terminal).
                Native.StandardErrorToFile(file);
                Console.SetError(Console.Out);
                FapiLogging.Configure(o =>
                {
                    o.Console = false;
                    o.FlushInterval = TimeSpan.FromHours(1);
                    o.AddSink(new NamedFailureSink("disk", "disk full"));
                });
                Ticks(count);
                return FapiLogging.Shutdown(TimeSpan.FromSeconds(10)) ? 0 : 4;
            }

            case "console-stdout-unread":
                // `app | less` left unscrolled, with stderr on the terminal: stdout is a pipe that nobody reads, stderr is
                // not a pipe (a file here, which .NET's console stream writes as it writes a terminal). COUNT events fill the
                // pipe, so the console sink's write waits for good and the shutdown gives up after a second; it must still
                // say so on stderr.
                Native.StandardOutputToUnreadPipe();
                Native.StandardErrorToFile(file);
                FapiLogging.Configure(o =>
                {
                    o.Console = true;
                    o.FlushInterval = TimeSpan.FromHours(1);
                });
                Ticks(count);
                return FapiLogging.Shutdown(TimeSpan.FromSeconds(1)) ? 0 : 4;
            case "console":
                // The default console sink, set up by the environment it was started with (NO_COLOR, FORCE_COLOR, TERM):
                // COUNT events to stdout, which the test reads through a pipe.
                FapiLogging.Configure(o =>
                {
                    o.Console = true;
                    o.FlushInterval = TimeSpan.FromHours(1);
                });
                Ticks(count);
                return FapiLogging.Shutdown(TimeSpan.FromSeconds(30)) ? 0 : 4;
            default:
                return SignalExitModes.Run(mode, file, count);
        }
    }

    private static readonly LogEventDescriptor s_cycle = new(2, "Cycle", LogLevel.Error, "Inner exceptions in a cycle");

    /// <summary>
    /// A Generic Host with AddFapiLog (no [FapiLog] method here, so no module initializer: the host starts FapiLog, only
    /// ILogger calls, say) and one extra sink, made with an event that is set when the host begins to stop: logs COUNT
    /// ticks, prints "ready" and runs until a signal stops the host.
    /// </summary>
    private static int RunHost(string file, int count, Func<ManualResetEventSlim, LogSink> extraSink, TimeSpan shutdownTimeout)
    {
        using var stopping = new ManualResetEventSlim(false);
        HostApplicationBuilder builder = Host.CreateApplicationBuilder(Array.Empty<string>());
        builder.Logging.ClearProviders();
        builder.Services.AddFapiLog(o =>
        {
            FileOnly(o, file);
            o.AddSink(extraSink(stopping));
            o.ShutdownTimeout = shutdownTimeout;
        });
        using IHost host = builder.Build();
        host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.Register(stopping.Set);
        host.Start();
        ILogger logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Ticks");
        for (int i = 0; i < count; i++)
        {
            logger.LogInformation("Tick {Sequence}", (long)i);
        }

        Ready();
        host.WaitForShutdown();
        return 0;
    }

    /// <summary>
    /// The first use of FapiLog (SetMinimumLevel, Configure, or a log call configured from FAPILOG_*) with a collector
    /// listening that takes a lock of its own both when an instrument is published and around its collections, as
    /// OpenTelemetry's does: a collection running on another thread meanwhile reads the statistics, which takes FapiLog's
    /// configuration lock. Published under that lock, the two would wait for each other; here the collection is given
    /// 10 s. Prints how many FapiLog instruments were published and how many such collections could not finish.
    /// </summary>
    private static int MeterFirstUse(string mode, string file)
    {
        int published = 0;
        int blocked = 0;
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, _) =>
        {
            if (instrument.Meter.Name != "FapiLog")
            {
                return;
            }

            published++;
            if (blocked == 0)
            {
                var collection = System.Threading.Tasks.Task.Factory.StartNew(
                    static () => FapiLogging.Statistics, System.Threading.Tasks.TaskCreationOptions.LongRunning);
                if (!collection.Wait(TimeSpan.FromSeconds(10)))
                {
                    blocked++;
                }
            }
        };
        listener.Start();
        switch (mode)
        {
            case "meter-set-level":
                FapiLogging.SetMinimumLevel(LogLevel.Information);
                break;
            case "meter-configure":
                FapiLogging.Configure(o => FileOnly(o, file));
                break;
            default:
                Program.Tick(0);
                break;
        }

        Console.WriteLine($"published={published} blocked={blocked}");
        return FapiLogging.Shutdown(TimeSpan.FromSeconds(30)) ? 0 : 4;
    }

    /// <summary>
    /// stderr-line-lock: .NET's Console.Error writes a long line 256 characters at a time, each piece under the lock of the
    /// Console.Error writer, so FapiLog's stderr line must be written under that lock as well, or it can land inside the
    /// application's line. The failure line here is far longer than a pipe holds: when this process first reads from its
    /// stderr pipe, FapiLog's stderr thread is still in the middle of writing the line, and Console.Error's lock must be
    /// taken. Nothing else in the process takes it.
    /// </summary>
    private static int LineUnderConsoleErrorLock(string file, int count)
    {
        const int length = 2 << 20;
        int readEnd = Native.StandardErrorToOwnPipe();
        string expected = $"FapiLog: sink 'huge' failed {count} event(s): IOException: " + new string('x', length);
        bool? consoleErrorFree = null;
        bool whole = false;
        var reader = new Thread(() =>
        {
            using var pipe = new System.IO.FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(readEnd, ownsHandle: true), System.IO.FileAccess.Read, bufferSize: 0);
            var read = new System.IO.MemoryStream();
            byte[] buffer = new byte[4096];
            int n;
            while ((n = pipe.Read(buffer, 0, buffer.Length)) > 0)
            {
                if (consoleErrorFree is null)
                {
                    consoleErrorFree = Monitor.TryEnter(Console.Error);
                    if (consoleErrorFree == true)
                    {
                        Monitor.Exit(Console.Error);
                    }
                }

                read.Write(buffer, 0, n);
                if (buffer[n - 1] == (byte)'\n')
                {
                    break;
                }
            }

            whole = System.Text.Encoding.UTF8.GetString(read.ToArray()) == expected + "\n";
        })
        { IsBackground = true };
        reader.Start();

        FapiLogging.Configure(o =>
        {
            o.AddSink(new NamedFailureSink("huge", new string('x', length)));
            FileOnly(o, file);
        });
        Ticks(count);
        bool flushed = FapiLogging.Flush(TimeSpan.FromSeconds(30));
        bool done = reader.Join(TimeSpan.FromSeconds(30));
        Console.WriteLine($"flushed={flushed} read={done} console-error-free={consoleErrorFree} whole={whole}");
        return 0;
    }

    private static void FileOnly(FapiLogOptions o, string file)
    {
        o.Console = false;
        o.FilePath = file;
        o.FlushInterval = TimeSpan.FromHours(1);
        o.BatchSize = 1000;
    }

    /// <summary>How many of this process's file descriptors point at <paramref name="file"/> (Linux: /proc/self/fd).</summary>
    private static int OpenHandlesOn(string file)
    {
        string full = System.IO.Path.GetFullPath(file);
        int open = 0;
        foreach (string fd in System.IO.Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            try
            {
                if (new System.IO.FileInfo(fd).LinkTarget == full)
                {
                    open++;
                }
            }
            catch (System.IO.IOException)
            {
                // The descriptor that enumerates the folder closes while it is read.
            }
        }

        return open;
    }

    private static void Ready()
    {
        Console.WriteLine("ready");
        Console.Out.Flush();
    }

    private static void Ticks(int count)
    {
        for (long i = 0; i < count; i++)
        {
            Program.Tick(i);
        }
    }

    /// <summary>How many <see cref="LongFailureSink"/>s the stderr-unread mode configures (the test counts on 300).</summary>
    private const int StderrSinks = 300;

    /// <summary>Fails every batch with a 4 KiB message, so that its failure line alone fills a 64th of a pipe.</summary>
    private sealed class LongFailureSink(int index) : LogSink
    {
        private static readonly string s_message = "disk full " + new string('x', 4096);

        public override string Name => "failing-" + index.ToString(System.Globalization.CultureInfo.InvariantCulture);

        public override void Write(in LogBatch batch, CancellationToken cancellationToken) => throw new System.IO.IOException(s_message);
    }

    /// <summary>Fails every batch with <paramref name="message"/>.</summary>
    private sealed class NamedFailureSink(string name, string message) : LogSink
    {
        public override string Name => name;

        public override void Write(in LogBatch batch, CancellationToken cancellationToken) => throw new System.IO.IOException(message);
    }

    /// <summary>Hangs in every write until the pipeline tells the sinks to give up.</summary>
    private sealed class HungSink : LogSink
    {
        public override void Write(in LogBatch batch, CancellationToken cancellationToken)
        {
            cancellationToken.WaitHandle.WaitOne();
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>Hangs for good and ignores cancellation: what no shutdown can wait out.</summary>
    private sealed class IgnoringSink : LogSink
    {
        public override void Write(in LogBatch batch, CancellationToken cancellationToken) => Thread.Sleep(Timeout.Infinite);
    }

    /// <summary>Holds every write until the host begins to stop (a sink that is slow for as long as the app runs).</summary>
    private sealed class UntilStoppingSink(ManualResetEventSlim stopping) : LogSink
    {
        public override void Write(in LogBatch batch, CancellationToken cancellationToken)
            => WaitHandle.WaitAny([stopping.WaitHandle, cancellationToken.WaitHandle]);
    }

    private static class LogsWhenFirstUsed
    {
        static LogsWhenFirstUsed() => Program.Tick(0);

        public static void Touch()
        {
        }
    }
}
