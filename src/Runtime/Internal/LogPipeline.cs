using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using FapiLog.Loki;

namespace FapiLog.Internal;

/// <summary>
/// One running pipeline: the queue, the sinks and the single background worker that moves batches from one to the other.
/// The worker is a dedicated thread and calls the sinks synchronously, so shipping never waits on the thread pool.
/// </summary>
internal sealed class LogPipeline
{
    private readonly LogQueue _queue;
    private readonly LogSink[] _sinks;
    private readonly bool _defers;
    private readonly OverflowStrategy _overflow;
    private readonly TicketPool _tickets;
    private readonly PipelineCounters _counters;
    private readonly int _batchSize;
    private readonly TimeSpan _flushInterval;
    private readonly TimeSpan _shutdownTimeout;
    private readonly TimeSpan _dropWarningInterval;
    private readonly TimeProvider _time;
    private readonly Thread _worker;
    private readonly CancellationTokenSource _abort = new();
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly object _flushLock = new();
    private readonly List<(long Target, TaskCompletionSource<bool> Done)> _flushWaiters = new();
    private readonly DropWarning _dropWarning;
    // The timer that says drops on stderr at their due time while the worker may be held in a sink (see ReportDropsOffWorker),
    // made at the first need; guarded by its lock, closed when the worker exits.
    private readonly object _dropTimerLock = new();
    private ITimer? _dropTimer;
    private bool _dropTimerArmed;
    private bool _dropTimerClosed;
    // Whether a drop after the worker's last report has been said (under _dropTimerLock): the first is said at once.
    private bool _lateDropSaid;
    private long _flushTarget = -1;
    private int _shutdownState;
    private bool _workerExited;
    // Set once the worker flushed and disposed the sinks on its way out; a worker that died did not, and a sink with a
    // sender of its own (Loki) may still hold events the queue no longer has.
    private bool _sinksFinished;
    // The queued events the line about the worker's death named as lost: a shutdown that later gives up on what a sink
    // held counts every event not delivered, those among them, and says how many of its count that line named already.
    private long _namedAtDeath;
    // The end of the last batch handed to every sink (the worker's own): a fault between that and the batch's release
    // leaves it in the queue, though the sinks have it.
    private long _handedOut;
    // Gates of later pipelines that took sinks over from this one, told when this worker exits.
    private List<StartGate>? _successors;
    private long _finalTail = -1;
    private Action<LogPipeline>? _faultForTesting;
    private long _lastFullBatch;
    private readonly bool _systemClock;

    /// <summary>How often the worker looks at the queue while events are flowing (real time, whatever the clock).</summary>
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(1);

    /// <summary>
    /// How long after its last full batch the worker keeps polling before it sleeps until the oldest event is due: traffic
    /// that fills a batch within this window is fast enough that a producer would otherwise pay a wake-up system call for
    /// nearly every batch; slower traffic is cheaper to be woken for than to poll for.
    /// </summary>
    private static readonly TimeSpan ActiveWindow = TimeSpan.FromMilliseconds(100);

    public LogPipeline(FapiLogOptions options, IReadOnlyList<LogSink> sinks)
        : this(options, sinks, startWorker: true)
    {
    }

    /// <summary>Builds the pipeline; tests pass <paramref name="startWorker"/> false to log before the worker first looks.</summary>
    internal LogPipeline(FapiLogOptions options, IReadOnlyList<LogSink> sinks, bool startWorker)
    {
        _counters = new PipelineCounters();
        _queue = new LogQueue(options.QueueCapacity, options.Overflow, options.SampleRate, options.SampleHighWaterMark,
            options.BlockTimeout, options.BatchSize, _counters, options.TimeProvider);
        _sinks = [.. sinks];
        foreach (LogSink sink in _sinks)
        {
            _defers |= sink.DefersDelivery;
        }

        _tickets = new TicketPool(_counters);
        _overflow = options.Overflow;
        _batchSize = options.BatchSize;
        _flushInterval = options.FlushInterval;
        _shutdownTimeout = options.ShutdownTimeout;
        _dropWarningInterval = options.DropWarningInterval;
        _time = options.TimeProvider;
        _systemClock = ReferenceEquals(_time, TimeProvider.System);
        if (options.CaptureTraceContext)
        {
            ActivityWatch.EnsureStarted();
        }

        _dropWarning = new DropWarning(_counters);
        _queue.DropCounted = ReportDropsOffWorker;
        _worker = new Thread(Run) { IsBackground = true, Name = "FapiLog worker" };
        _queue.Consumer = _worker;
        if (startWorker)
        {
            StartWorker();
        }
    }

    /// <summary>Starts a worker that the constructor was told not to start (tests only).</summary>
    internal void StartWorkerForTesting() => StartWorker();

    /// <summary>Tests: runs on the worker between its read of the pending count and the rest of its loop.</summary>
    internal Action? _afterPendingForTesting;

    /// <summary>Tests: runs on the worker just before it resets its wake-up event to go idle.</summary>
    internal Action? _beforeIdleResetForTesting;

    /// <summary>Tests: the smallest position a waiting flush needs the worker to reach, -1 when none waits.</summary>
    internal long FlushTargetForTesting => Volatile.Read(ref _flushTarget);

    /// <summary>Tests: told how many milliseconds the worker is about to sleep for (system clock), idle or until an event is due.</summary>
    internal Action<int>? _idleWaitForTesting;

    /// <summary>Tests: told how long a synchronous flush may wait.</summary>
    internal Action<TimeSpan>? _flushWaitForTesting;

    /// <summary>Tests: told how long a shutdown (not on the worker) is about to wait for the worker.</summary>
    internal Action<TimeSpan>? _shutdownWaitForTesting;

    /// <summary>Tests: told how long a shutdown (not on the worker) lets stderr take the lines still waiting, at its end.</summary>
    internal Action<TimeSpan>? _stderrDrainForTesting;

    /// <summary>
    /// Starts a worker that the constructor was told not to start: the pipeline that replaces one whose sinks it takes over,
    /// once that one has stopped, so that a sink is never written to from two workers at once.
    /// </summary>
    /// <remarks>
    /// Without the caller's execution context (<see cref="Thread.UnsafeStart()"/>): the first log call often starts the
    /// pipeline inside a request, and the worker ran in that context for good, its Activity current (so a sink that sends
    /// over HttpClient, Loki's sender started from the worker, sent that trace's traceparent) and its async locals kept.
    /// </remarks>
    internal void StartWorker() => _worker.UnsafeStart();

    // Sinks that the pipeline replacing this one took over: flushed at the end like the others, but not disposed.
    private HashSet<LogSink>? _handedOver;

    /// <summary>
    /// Marks <paramref name="sinks"/> as taken over by a later pipeline: this one's final flush still flushes them, but
    /// leaves disposing them to that one. Added to what earlier calls handed over (a retired pipeline whose worker still
    /// runs can hand sinks to more than one later pipeline). Call before its worker finishes: before
    /// <see cref="Shutdown"/>, or while it is still inside a sink. Once the worker has begun disposing its sinks it is too
    /// late for those it has not been told of (see <see cref="IsDisposing"/>, which the caller asks first).
    /// </summary>
    internal void HandOver(IEnumerable<LogSink> sinks)
    {
        lock (_flushLock)
        {
            var all = new HashSet<LogSink>(sinks, ReferenceEqualityComparer.Instance);
            if (Volatile.Read(ref _handedOver) is { } earlier)
            {
                all.UnionWith(earlier);
            }

            Volatile.Write(ref _handedOver, all);
        }
    }

    /// <summary>The lock HandOver takes (Start holds every holder's at once, under s_lock, to decide for all of them).</summary>
    internal object HandOverLock => _flushLock;

    /// <summary>Under <see cref="HandOverLock"/>: whether this pipeline's worker is disposing <paramref name="sink"/> (its own, not handed over).</summary>
    internal bool IsDisposing(LogSink sink)
        => _disposingSinks && Array.IndexOf(_sinks, sink) >= 0 && !(_handedOver?.Contains(sink) ?? false);

    // Set under _flushLock when the worker decides which sinks it disposes: a hand-over is too late from then on.
    private bool _disposingSinks;

    /// <summary>Tests: called once the worker has decided which sinks to dispose, before it disposes them.</summary>
    internal Action? _beforeDisposingSinksForTesting;

    public LogQueue Queue => _queue;

    public PipelineCounters Counters => _counters;

    public IReadOnlyList<LogSink> Sinks => _sinks;

    public TimeSpan ShutdownTimeout => _shutdownTimeout;

    public bool IsShutDown => Volatile.Read(ref _shutdownState) != 0;

    /// <summary>True once a shutdown gave up on the worker (its sinks were told to stop and what is left was reported).</summary>
    public bool GaveUp => Volatile.Read(ref _shutdownState) == 2;

    /// <summary>A task that completes when the worker has exited (after the final flush, or after a fault).</summary>
    public Task Stopped => _stopped.Task;

    public FapiLogStatistics GetStatistics()
    {
        // Delivered and failed before the tail: an event is enqueued before it can be delivered, so read in this order a
        // snapshot taken under load never shows more delivered and failed than enqueued.
        long delivered = _counters.Delivered;
        long failed = _counters.Failed;
        return ReadStatistics(_counters, _queue.Tail, _queue.Capacity, delivered, failed);
    }

    /// <summary>A snapshot of <paramref name="counters"/> with the given enqueued count (the queue's final tail).</summary>
    internal static FapiLogStatistics ReadStatistics(PipelineCounters counters, long enqueued, long capacity)
        => ReadStatistics(counters, enqueued, capacity, counters.Delivered, counters.Failed);

    private static FapiLogStatistics ReadStatistics(PipelineCounters counters, long enqueued, long capacity, long delivered, long failed) => new(
        enqueued,
        counters.Dropped(DropReason.QueueFull),
        counters.Dropped(DropReason.BlockTimeout),
        counters.Dropped(DropReason.Shutdown),
        counters.Dropped(DropReason.WorkerStopped),
        counters.SampledOut,
        delivered,
        failed,
        capacity);

    /// <summary>Delivers everything enqueued before the call and flushes the sinks; false if that took longer than <paramref name="timeout"/>.</summary>
    public bool Flush(TimeSpan timeout)
    {
        _flushWaitForTesting?.Invoke(timeout);
        Task<bool> done = RequestFlush();
        // A thread that drains (this or another pipeline's worker, a Loki sender) must not wait: what it would wait for
        // may be waiting for it (a sink that flushes, a handover's new worker, a flush the sender completes).
        return IsWorkerThread || LogQueue.InDrainingFlow ? done.IsCompleted && done.Result : Wait(done, timeout) && done.Result;
    }

    public async Task<bool> FlushAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        Task<bool> done = RequestFlush();
        return await WaitAsync(done, timeout, cancellationToken).ConfigureAwait(false) && done.Result;
    }

    /// <summary>
    /// A task that completes once every event enqueued before the call was delivered (true), or once the worker has exited
    /// without delivering them all (false: it died, and nothing will deliver them).
    /// </summary>
    private Task<bool> RequestFlush()
    {
        long target = _queue.Tail;
        var done = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        bool afterDeath = false;
        lock (_flushLock)
        {
            if (_workerExited)
            {
                if (_queue.Head < target || _sinksFinished || !_defers)
                {
                    return Task.FromResult(_queue.Head >= target);
                }

                afterDeath = true;
            }
            else
            {
                // The smallest target still waited for: a flush completes as soon as its own events are out, not when
                // the largest target of the flushes made after it is reached (which, under load, keeps moving).
                _flushWaiters.Add((target, done));
                if (_flushTarget < 0 || target < _flushTarget)
                {
                    _flushTarget = target;
                }
            }
        }

        if (afterDeath)
        {
            // The worker died after handing these events out, and nothing flushed the sinks: done once those that still
            // hold some (Loki's sender) let go.
            WhenDeferringSinksDrained([done]);
            return done.Task;
        }

        _queue.WakeWorker.Set();
        // No Task.WhenAny here: its completion would be queued to the thread pool, and a synchronous Flush must keep
        // working while the pool is starved. The worker completes every waiter itself, also when it stops.
        return done.Task;
    }

    /// <summary>
    /// Stops taking events, delivers everything taken before, flushes and disposes the sinks. Idempotent and safe from any
    /// thread; returns false when the worker did not finish within <paramref name="timeout"/> (a hung sink), or when it had
    /// died and a sink that keeps batches (Loki) did not let go of them within it, in which case the sinks are told to give
    /// up and what was not delivered is reported on stderr.
    /// </summary>
    /// <param name="timeout">How long the call waits in all: for the worker, then for stderr to take FapiLog's own lines.</param>
    /// <param name="reportedTimeout">
    /// The time stderr says was waited, when the caller already waited before this call (the host's flush at stop, after
    /// which disposal gives up at once); <paramref name="timeout"/> when null.
    /// </param>
    public bool Shutdown(TimeSpan timeout, TimeSpan? reportedTimeout = null)
    {
        BeginShutdown();
        if (IsWorkerThread)
        {
            return false;
        }

        long start = Stopwatch.GetTimestamp();
        _shutdownWaitForTesting?.Invoke(timeout);
        // A worker an earlier shutdown gave up on (a sink that hangs and ignores cancellation) is not waited for again: a
        // second shutdown (the exit hook after the host's, or after yours) would add a whole timeout and a second report.
        bool finished = Wait(_stopped.Task, GaveUp ? TimeSpan.Zero : timeout);
        if (!finished)
        {
            GiveUp(reportedTimeout ?? timeout);
        }

        // Calls from now on come after the shutdown returned: said on stderr, also while a worker given up on still runs.
        _dropWarning.SayShutdownDrops();

        bool result = finished && AllReleased;
        if (finished)
        {
            SayLateDrops();
        }

        // The worker died with Loki's sender holding batches, which outlasted the wait: given up, counted and said as they
        // are when a live worker does not finish. Left to themselves they stayed pending, the sender retrying them after
        // Shutdown had returned, and nothing said so. Once: GiveUp does nothing for a later shutdown.
        if (finished && HeldAfterDeath && !Wait(HeldDrained(), HeldWait(timeout, start)))
        {
            GiveUpHeldAfterDeath(reportedTimeout ?? timeout);
            result = false;
        }

        // What the worker and this shutdown said is out before this returns, as long as stderr takes lines: the process
        // often ends next, and with it the thread that writes them. Within what is left of the timeout, which bounds the
        // whole call: a stderr read slowly must not stretch a shutdown that a hung sink has used up already.
        TimeSpan drain = Remaining(timeout, start);
        _stderrDrainForTesting?.Invoke(drain);
        Stderr.Drain(drain);
        return result;
    }

    /// <summary>
    /// True when the worker died (a fault) with sinks that keep batches (Loki): they were neither flushed nor disposed, and
    /// may still hold events the queue has released. Shutdown waits for them as a flush would, and gives them up when they
    /// outlast its timeout.
    /// </summary>
    private bool HeldAfterDeath => _defers && !Volatile.Read(ref _sinksFinished);

    private static TimeSpan Remaining(TimeSpan timeout, long start)
    {
        if (timeout == Timeout.InfiniteTimeSpan)
        {
            return timeout;
        }

        TimeSpan left = timeout - Stopwatch.GetElapsedTime(start);
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }

    /// <summary>True when every enqueued event has been through the sinks (false after the worker died with events queued).</summary>
    private bool AllReleased => _queue.Head >= _queue.Tail;

    public async Task<bool> ShutdownAsync(TimeSpan timeout, CancellationToken cancellationToken, TimeSpan? reportedTimeout = null)
    {
        BeginShutdown();
        if (IsWorkerThread)
        {
            // As Shutdown: the worker cannot wait for itself. A sink that blocked on this task would otherwise hold the
            // worker for the whole timeout, and then the shutdown would give up on it.
            return false;
        }

        long start = Stopwatch.GetTimestamp();
        _shutdownWaitForTesting?.Invoke(timeout);
        bool finished;
        try
        {
            finished = await WaitAsync(_stopped.Task, GaveUp ? TimeSpan.Zero : timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The wait was cancelled, not the shutdown: calls from now on come after this call returned (see Shutdown).
            _dropWarning.SayShutdownDrops();
            throw;
        }

        if (!finished)
        {
            GiveUp(reportedTimeout ?? timeout);
        }

        _dropWarning.SayShutdownDrops();

        bool result = finished && AllReleased;
        if (finished)
        {
            SayLateDrops();
        }

        if (finished && HeldAfterDeath && !await WaitAsync(HeldDrained(), HeldWait(timeout, start), cancellationToken).ConfigureAwait(false))
        {
            GiveUpHeldAfterDeath(reportedTimeout ?? timeout);
            result = false;
        }

        return result;
    }

    /// <summary>Completes once the sinks that keep batches (Loki's sender) have finished what they hold now.</summary>
    private Task<bool> HeldDrained()
    {
        var done = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        WhenDeferringSinksDrained([done]);
        return done.Task;
    }

    /// <summary>
    /// Gives up what the sinks held when the worker died, once it outlasted the wait, unless every such sink was handed over
    /// to the next pipeline: what it holds is that pipeline's to wait for, and its sender still delivers it, so saying
    /// "not delivered" here was wrong (a live worker that does not finish is another matter: it holds events itself).
    /// </summary>
    private void GiveUpHeldAfterDeath(TimeSpan reportedTimeout)
    {
        if (OwnDeferringSinks().Any())
        {
            GiveUp(reportedTimeout);
        }
    }

    /// <summary>
    /// The sinks that keep batches (Loki) and were not handed over to the next pipeline: what they hold is this pipeline's
    /// to give up (a sink handed over may hold the next one's batches once this worker has gone).
    /// </summary>
    private IEnumerable<LogSink> OwnDeferringSinks()
    {
        HashSet<LogSink>? handedOver = Volatile.Read(ref _handedOver);
        foreach (LogSink sink in _sinks)
        {
            if (sink.DefersDelivery && (handedOver is null || !handedOver.Contains(sink)))
            {
                yield return sink;
            }
        }
    }

    /// <summary>
    /// How long a shutdown waits for what the sinks held when the worker died: what is left of its timeout, and nothing once
    /// an earlier shutdown gave it up (a handler that ignores cancellation may hold a request still, as a hung sink may
    /// hold a live worker, and a second shutdown would add a whole timeout).
    /// </summary>
    private TimeSpan HeldWait(TimeSpan timeout, long start) => GaveUp ? TimeSpan.Zero : Remaining(timeout, start);

    /// <summary>
    /// Begins the shutdown of a pipeline that <paramref name="next"/> replaces (the installed one already): calls refused
    /// from now on claim in <paramref name="next"/> instead. No effect when a shutdown has begun already (a waiter woken
    /// by it has given up, as after any shutdown). Call <see cref="Shutdown"/> after it to wait for the worker.
    /// </summary>
    internal void BeginReplacement(LogPipeline next) => BeginShutdown(next._queue);

    private void BeginShutdown(LogQueue? successor = null)
    {
        // Not an exchange: a pipeline already given up on (state 2) must stay so, or it would be reported again.
        if (Interlocked.CompareExchange(ref _shutdownState, 1, 0) == 0)
        {
            Volatile.Write(ref _finalTail, successor is null ? _queue.Close() : _queue.CloseForReplacement(successor));
            _queue.WakeWorker.Set();
        }
    }

    private void GiveUp(TimeSpan timeout)
    {
        if (Interlocked.Exchange(ref _shutdownState, 2) == 2)
        {
            return;
        }

        // Counted before the sinks are told to give up: a sink that then fails at once has still not delivered them.
        long undelivered = Undelivered;
        long namedAtDeath = Math.Min(undelivered, Volatile.Read(ref _namedAtDeath));
        _abort.Cancel();
        GiveUpHeldBySinks();
        string named = namedAtDeath > 0 ? $", {namedAtDeath} of them named already when the worker stopped" : "";
        Stderr.Write($"FapiLog: shutdown did not finish within {timeout.TotalSeconds:0.###} s; {undelivered} event(s) were not delivered to every sink{named} " +
            $"(a sink is slow or hung{Troubles()}). {GetStatistics()}");
    }

    /// <summary>
    /// Tells the sinks that keep batches (Loki) to give up what they hold. The abort reaches such a sink through the flush
    /// the worker is in, and only that one: a sink the worker had not reached (one behind a sink that hangs, a second Loki
    /// sink) still held its batches, counted as pending, when Shutdown returned, and its sender went on retrying.
    /// </summary>
    private void GiveUpHeldBySinks()
    {
        // A worker that never started wrote nothing, and a sink it shares may hold the previous pipeline's batches; a sink
        // handed over to the next pipeline may hold that one's batches once this worker has gone. Both are left to the
        // flushes that wait for them.
        if (!WorkerStarted)
        {
            return;
        }

        foreach (LogSink sink in OwnDeferringSinks())
        {
            sink.GiveUpHeld();
        }
    }

    /// <summary>What the sinks say holds them up (Loki's last failed attempt), as "; name: trouble" for each that says anything.</summary>
    /// <param name="quoted">Sinks already quoted (and to skip), to which this call adds its own; null to quote every sink.</param>
    internal string Troubles(HashSet<LogSink>? quoted = null)
    {
        var text = new System.Text.StringBuilder();
        foreach (LogSink sink in _sinks)
        {
            if (quoted is not null && !quoted.Add(sink))
            {
                continue;
            }

            // Only the runtime's own sinks can say (Trouble is internal): nothing here runs user code but Name, read safely.
            if (sink.Trouble is { } trouble)
            {
                text.Append("; ").Append(SinkFailureReporter.NameOf(sink)).Append(": ").Append(trouble);
            }
        }

        return text.ToString();
    }

    /// <summary>Events enqueued that no sink has been through yet (neither delivered nor failed).</summary>
    public long Undelivered
    {
        get
        {
            // Delivered and failed before the tail, as in GetStatistics.
            long done = _counters.Delivered + _counters.Failed;
            return Math.Max(0, _queue.Tail - done);
        }
    }

    private bool IsWorkerThread => Thread.CurrentThread == _worker;

    private static bool Wait(Task task, TimeSpan timeout)
    {
        try
        {
            return task.Wait(timeout);
        }
        catch (AggregateException)
        {
            return true;
        }
    }

    private static async Task<bool> WaitAsync(Task task, TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            await task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    /// <summary>Makes the worker throw on its next loop, to test what happens when it dies (tests only).</summary>
    internal void FaultWorkerForTesting()
    {
        _faultForTesting = static _ => throw new InvalidOperationException("Worker fault injected by a test.");
        _queue.WakeWorker.Set();
    }

    private void Run()
    {
        // A log call made on this thread (a sink that logs) into any pipeline's queue never waits for room: this one's
        // only it drains, and the next pipeline's worker may be waiting for it to exit.
        LogQueue.MarkDrainingThread();
        // Told when this worker starts, not when the pipeline is built: a sink taken over from the previous pipeline
        // follows that pipeline's strategy until its worker has exited.
        foreach (LogSink sink in _sinks)
        {
            sink._pipelineOverflow = (int)_overflow;
            SinkFailureReporter.UseClock(sink, _time);
        }

        try
        {
            RunLoop();
            FinishSinks();
            Volatile.Write(ref _sinksFinished, true);
        }
        catch (Exception ex)
        {
            // Nothing drains the queue any more: refuse further calls (counted as WorkerStopped), and say what is stranded.
            _queue.Close(DropReason.WorkerStopped);
            // A batch the sinks had before the fault (between delivery and release) is released as the worker would have:
            // it is not stranded, and a sink that keeps batches (Loki) may still deliver it. It was named as lost, then
            // counted again by a shutdown that gave up on Loki, and named wrongly when Loki delivered it.
            long head = _queue.Head;
            if (_handedOut > head)
            {
                _queue.Release(head, (int)(_handedOut - head));
            }

            long stranded = Math.Max(0, _queue.Tail - _queue.Head);
            Volatile.Write(ref _namedAtDeath, stranded);
            Stderr.Write($"FapiLog: the background worker stopped unexpectedly; {stranded} queued event(s) " +
                $"will not be delivered, and further events are dropped and counted (reason WorkerStopped). {ex}");
        }
        finally
        {
            CloseDropTimer();
            _queue.MarkConsumerStopped();
            List<StartGate>? successors;
            List<TaskCompletionSource<bool>>? handed;
            lock (_flushLock)
            {
                _workerExited = true;
                successors = _successors;
                _successors = null;
                // Waiters whose events were delivered succeed (once a sink that still holds them lets go, when the worker
                // died without flushing them); the others fail now, since nothing will deliver them.
                handed = CompleteFlushWaiters(_queue.Head, exiting: true, handOff: HeldAfterDeath);
            }

            if (handed is not null)
            {
                WhenDeferringSinksDrained(handed);
            }

            _stopped.TrySetResult();
            foreach (StartGate gate in successors ?? [])
            {
                gate.Arrive();
            }
        }
    }

    /// <summary>
    /// Tells <paramref name="gate"/> once this pipeline's worker has exited (at once if it has): the pipeline that took over
    /// this one's sinks must not write to them while this worker, given up on by a shutdown that timed out, may still be
    /// inside one of them. No thread-pool continuation: this worker tells it on its way out.
    /// </summary>
    internal void StartAfterExit(StartGate gate)
    {
        lock (_flushLock)
        {
            if (!_workerExited)
            {
                (_successors ??= []).Add(gate);
                return;
            }
        }

        gate.Arrive();
    }

    /// <summary>Starts a pipeline's worker once every earlier pipeline it took sinks over from has told it its worker exited.</summary>
    internal sealed class StartGate(LogPipeline next, int predecessors)
    {
        private int _waiting = predecessors;

        public void Arrive()
        {
            if (Interlocked.Decrement(ref _waiting) == 0)
            {
                next.StartWorker();
            }
        }
    }

    /// <summary>True once the worker thread was started (tests: a successor waits for the pipeline it took sinks over from).</summary>
    internal bool WorkerStarted => (_worker.ThreadState & System.Threading.ThreadState.Unstarted) == 0;

    private void RunLoop()
    {
        ManualResetEventSlim wake = _queue.WakeWorker;
        while (true)
        {
            _faultForTesting?.Invoke(this);
            // Closed before the tail: once the queue is closed no claim succeeds, so the tail read after it is final and
            // "closing with nothing pending" really means done. Read the other way round, an event claimed between the two
            // reads was neither delivered nor waited for (and a flush covering it returned true).
            bool closing = _queue.IsClosed;
            long head = _queue.Head;
            long pending = _queue.Tail - head;
            _afterPendingForTesting?.Invoke();
            long flushTarget = Volatile.Read(ref _flushTarget);
            TimeSpan untilDue = Timeout.InfiniteTimeSpan;

            if (pending > 0)
            {
                // Age comes from the oldest event's own timestamp, so no producer has to announce the first event.
                _queue.WaitPublished(head, 1);
                TimeSpan age = TimeSpan.FromTicks(Math.Max(0, _queue.UtcNowTicks() - _queue.Slot(head)._timestampTicks));
                bool due = pending >= _queue.FullBatch || closing || flushTarget > head || _queue.BlockedProducers > 0 || age >= _flushInterval;
                if (due)
                {
                    int count = (int)Math.Min(pending, _batchSize);
                    _queue.WaitPublished(head, count);
                    Deliver(_queue.GetBatch(head, count), countEvents: true);
                    _handedOut = head + count;
                    if (count >= _queue.FullBatch)
                    {
                        _lastFullBatch = Stopwatch.GetTimestamp();
                    }

                    _faultForTesting?.Invoke(this);
                    _queue.Release(head, count);
                    // Under sustained overload a batch is due every time round, so the idle path below is never reached:
                    // a flush whose events are out, and the drop warning, get their turn here, or they wait for the
                    // whole overload.
                    long flushing = Volatile.Read(ref _flushTarget);
                    if (flushing >= 0 && head + count >= flushing)
                    {
                        CompleteFlush(head + count);
                    }

                    ReportDropsIfDue();
                    continue;
                }

                untilDue = _flushInterval - age;
            }

            if (flushTarget >= 0 && head >= flushTarget)
            {
                CompleteFlush(head);
            }

            if (closing && pending == 0 && head >= Volatile.Read(ref _finalTail))
            {
                return;
            }

            ReportDropsIfDue();

            _beforeIdleResetForTesting?.Invoke();
            wake.Reset();
            // A signal sent between the checks above and the reset is not lost: its condition is visible now. Any flush still
            // waiting is work: its events are pending (a batch is due) or out (it completes). Comparing the target with the
            // one read at the top was not enough: a flush requested between the reads of the tail and of the target had its
            // target seen, but not its events, and the worker slept through it for a whole FlushInterval.
            long nowFlushing = Volatile.Read(ref _flushTarget);
            if (_queue.Tail - head >= _queue.FullBatch || _queue.IsClosed != closing || nowFlushing >= 0
                || _queue.BlockedProducers > 0 || _dropWarning.HasOwed || _faultForTesting is not null)
            {
                continue;
            }

            TimeSpan timeout = pending > 0 ? untilDue : _flushInterval;
            if (_dropWarning.HasUnreported)
            {
                TimeSpan untilWarning = _dropWarning.TimeUntilDue(_time, _dropWarningInterval);
                timeout = untilWarning < timeout ? untilWarning : timeout;
            }

            if (_systemClock && Stopwatch.GetElapsedTime(_lastFullBatch) < ActiveWindow)
            {
                // Batches are filling fast: look again shortly instead of having producers pay a system call to wake us.
                // Slower traffic goes to sleep below, even with events pending, so that a quiet service does not wake
                // its worker every millisecond while a few events wait for the flush interval.
                // A test clock never polls: every wait then arms a timer of that clock, so a test that moves the
                // clock can tell the worker is waiting for it, whether it saw the events before or after it went idle.
                wake.Wait(PollInterval);
                continue;
            }

            // Idle: sleep until the oldest pending event is due (or for the whole interval when there is none); from now on
            // a producer that completes a batch wakes the worker.
            _queue.WorkerIdle = true;
            Interlocked.MemoryBarrier();
            if (_queue.Tail - head < _queue.FullBatch)
            {
                SleepUntil(wake, timeout);
            }

            _queue.WorkerIdle = false;
        }
    }

    /// <summary>
    /// Waits for a producer's signal or the timeout. With the real clock this is a kernel wait that needs no thread-pool
    /// timer (so it works while the pool is starved); with a test clock the timer comes from that clock.
    /// </summary>
    private void SleepUntil(ManualResetEventSlim wake, TimeSpan timeout)
    {
        if (timeout != Timeout.InfiniteTimeSpan && timeout <= TimeSpan.Zero)
        {
            return;
        }

        if (_systemClock || timeout == Timeout.InfiniteTimeSpan)
        {
            int milliseconds = WaitMilliseconds(timeout);
            _idleWaitForTesting?.Invoke(milliseconds);
            wake.Wait(milliseconds);
            return;
        }

        using ITimer timer = _time.CreateTimer(static state => ((ManualResetEventSlim)state!).Set(), wake, timeout, Timeout.InfiniteTimeSpan);
        wake.Wait();
    }

    /// <summary>
    /// <paramref name="timeout"/> in whole milliseconds for a kernel wait, rounded up: a wait truncates to whole milliseconds,
    /// so a <c>FlushInterval</c> below 1 ms (or the last fraction of one) became a wait of zero, and an idle worker spun on
    /// a core for as long as the process ran. An event is then shipped at most a millisecond after it is due.
    /// </summary>
    private static int WaitMilliseconds(TimeSpan timeout)
        => timeout == Timeout.InfiniteTimeSpan ? Timeout.Infinite : (int)Math.Min(int.MaxValue, Math.Ceiling(timeout.TotalMilliseconds));

    private void Deliver(LogBatch batch, bool countEvents)
    {
        // A sink that pushes later (Loki) holds the ticket, and the batch is counted when the last holder lets go.
        DeliveryTicket? ticket = countEvents && _defers ? _tickets.Rent(batch.Count) : null;
        bool allSucceeded = true;
        // Each sink renders an event's exception; its text is taken once for all of them (see ExceptionText).
        ExceptionText.BeginBatch();
        try
        {
            foreach (LogSink sink in _sinks)
            {
                sink._ticket = ticket;
                try
                {
                    sink.Write(in batch, _abort.Token);
                    if (!sink.DefersDelivery)
                    {
                        // A sink that defers says so itself, once it has pushed.
                        SinkFailureReporter.Succeeded(sink);
                    }
                }
                catch (Exception ex)
                {
                    allSucceeded = false;
                    // The drop warning is no event of the application's: Failed does not count it, and neither does stderr.
                    SinkFailureReporter.Report(sink, countEvents ? batch.Count : 0, ex);
                }
                finally
                {
                    sink._ticket = null;
                }
            }
        }
        finally
        {
            ExceptionText.EndBatch();
            MessageRenderer.TrimScratch();
        }

        if (ticket is not null)
        {
            ticket.Release(failed: !allSucceeded);
            return;
        }

        if (!countEvents)
        {
            return;
        }

        if (allSucceeded)
        {
            _counters.CountDelivered(batch.Count);
        }
        else
        {
            _counters.CountFailed(batch.Count);
        }
    }

    private void FlushSinks(bool skipDeferring = false)
    {
        foreach (LogSink sink in _sinks)
        {
            if (skipDeferring && sink.DefersDelivery)
            {
                continue;
            }

            try
            {
                sink.Flush(_abort.Token);
            }
            catch (LokiPushException ex) when (ex.Reason != LokiFailureReasons.Shutdown && SinkFailureReporter.WorksSinceReported(sink))
            {
                // Loki's flush throws for every entry given up since the last flush, under a pipeline the whole run, and its
                // sender reported each failure as it came: written again at shutdown, after the sink was reported working
                // again, an old failure read as a new one. One at shutdown is new, and is said.
            }
            catch (Exception ex)
            {
                SinkFailureReporter.Report(sink, 0, ex);
            }
        }
    }

    private void CompleteFlush(long head)
    {
        if (!_defers)
        {
            FlushSinks();
            CompleteFlushWaiters(head);
            return;
        }

        // A sink with a sender of its own (Loki) may take minutes while its endpoint is down: the worker does not wait for
        // it, or the other sinks would wait too. The waiters whose events the worker has handed out are completed by the
        // last of those senders to finish what it holds now.
        FlushSinks(skipDeferring: true);
        if (CompleteFlushWaiters(head, handOff: true) is { } handed)
        {
            WhenDeferringSinksDrained(handed);
        }
    }

    /// <summary>Completes <paramref name="waiters"/> (with true) once every sink that keeps batches has finished what it holds now.</summary>
    private void WhenDeferringSinksDrained(List<TaskCompletionSource<bool>> waiters)
    {
        var drained = new FlushCountdown(waiters, _sinks.Length + 1);
        foreach (LogSink sink in _sinks)
        {
            if (sink.DefersDelivery)
            {
                sink.WhenDrained(drained.Signal);
            }
            else
            {
                drained.Signal();
            }
        }

        drained.Signal();
    }

    /// <summary>Completes flush waiters (with true) once every sink that holds their events has signalled.</summary>
    private sealed class FlushCountdown(List<TaskCompletionSource<bool>> waiters, int signals)
    {
        private int _left = signals;

        public void Signal()
        {
            if (Interlocked.Decrement(ref _left) != 0)
            {
                return;
            }

            foreach (TaskCompletionSource<bool> waiter in waiters)
            {
                waiter.TrySetResult(true);
            }
        }
    }

    /// <summary>
    /// Completes the flush waiters whose events are all below <paramref name="head"/> (with true); when the worker is
    /// <paramref name="exiting"/>, completes the rest with false, since nothing will deliver their events any more.
    /// </summary>
    /// <returns>With <paramref name="handOff"/>, the waiters whose events are below <paramref name="head"/>, not completed.</returns>
    private List<TaskCompletionSource<bool>>? CompleteFlushWaiters(long head, bool exiting = false, bool handOff = false)
    {
        List<TaskCompletionSource<bool>>? handed = null;
        lock (_flushLock)
        {
            for (int i = _flushWaiters.Count - 1; i >= 0; i--)
            {
                bool delivered = _flushWaiters[i].Target <= head;
                if (delivered && handOff)
                {
                    (handed ??= new()).Add(_flushWaiters[i].Done);
                    _flushWaiters.RemoveAt(i);
                }
                else if (delivered || exiting)
                {
                    _flushWaiters[i].Done.TrySetResult(delivered);
                    _flushWaiters.RemoveAt(i);
                }
            }

            long smallest = -1;
            foreach ((long target, _) in _flushWaiters)
            {
                smallest = smallest < 0 || target < smallest ? target : smallest;
            }

            _flushTarget = smallest;
        }

        return handed;
    }

    private void FinishSinks()
    {
        ReportDropsIfDue(force: true);
        FlushSinks();
        CompleteFlushWaiters(long.MaxValue);
        HashSet<LogSink>? handedOver;
        lock (_flushLock)
        {
            // From here a sink not handed over is disposed: a Configure that comes with it now is refused (see HandOver),
            // where it was taken and the sink disposed under the new pipeline, which then failed every batch.
            _disposingSinks = true;
            handedOver = _handedOver;
        }

        _beforeDisposingSinksForTesting?.Invoke();
        foreach (LogSink sink in _sinks)
        {
            if (handedOver is not null && handedOver.Contains(sink))
            {
                continue;
            }

            try
            {
                sink.Dispose();
            }
            catch (Exception ex)
            {
                SinkFailureReporter.Report(sink, 0, ex);
            }

            SinkFailureReporter.ReportPending(sink);
        }
    }

    private void ReportDropsIfDue(bool force = false)
    {
        // The message names FapiLog already ("FapiLog dropped ..."), also where it is read in the sinks.
        if (_dropWarning.TakeLine(_time, _dropWarningInterval, force) is { } line)
        {
            Stderr.Write(line);
        }

        // What stderr was told, here or by a call while this worker was held in a sink, goes into the sinks from here only:
        // a sink is never entered by two threads at once.
        if (_dropWarning.TakeOwed())
        {
            Deliver(_dropWarning.AsBatch(), countEvents: false);
        }
    }

    /// <summary>
    /// Says the drops on stderr when they are due, from a call that has just dropped an event (queue full, sampled out, or
    /// given up after <c>BlockTimeout</c>): the worker reports between batches only, and one held in a sink (Loki's send
    /// buffer full while Loki is down, a custom sink that hangs or crawls) kept the warning back for as long as it was held,
    /// minutes at Loki's longest backoff, for good under a sink that never returns. Within the interval of the last line, a
    /// timer says them once it has passed. The worker is woken to copy the warning into the sinks once it is free.
    /// </summary>
    /// <param name="mayWait">Whether the caller may write the line itself and wait for stderr (see the remarks).</param>
    /// <remarks>
    /// <para>
    /// One report at a time, marked by the queue's <see cref="LogQueue.DropReportPending"/>: taken here, handed to the timer
    /// while it is armed, cleared once the line is said. A drop that finds it set calls nothing, so that under overload a
    /// drop costs one read, and the clock and the locks here are paid about twice per interval.
    /// </para>
    /// <para>
    /// A call that dropped on a full queue or sampled its event out (<paramref name="mayWait"/> false) never writes the line
    /// itself, which would make it wait for stderr: it arms the timer, at the earliest <see cref="DropReportGrace"/> from
    /// now, so that a worker that is not held says the drops between batches as it always did, with all the drops of the
    /// moment in one line. A call that gave up after <c>BlockTimeout</c> has waited that long already and writes the line
    /// when it is due.
    /// </para>
    /// </remarks>
    private void ReportDropsOffWorker(bool mayWait)
    {
        if (Interlocked.Exchange(ref _queue.DropReportPending, 1) == 0)
        {
            ReportHeld(mayWait);
        }
    }

    /// <summary>
    /// The earliest a drop on a full queue or a sample-out is said off the worker (1 s, or the drop warning interval when
    /// shorter): a worker that is not held in a sink says it sooner, between batches.
    /// </summary>
    internal TimeSpan DropReportGrace => _dropWarningInterval < s_dropReportGrace ? _dropWarningInterval : s_dropReportGrace;

    private static readonly TimeSpan s_dropReportGrace = TimeSpan.FromSeconds(1);

    /// <summary>Says or arms the report, for a caller that holds <see cref="LogQueue.DropReportPending"/>; hands it on or clears it.</summary>
    private void ReportHeld(bool mayWait)
    {
        while (SayOrArm(mayWait))
        {
            // Cleared (a full fence), then looked at again: a drop counted while the report was under way read the flag
            // set and left its drop to it, and the line may have been taken before that drop was counted.
            Interlocked.Exchange(ref _queue.DropReportPending, 0);
            if (!_dropWarning.HasUnreported || Interlocked.Exchange(ref _queue.DropReportPending, 1) != 0)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Says the drops when they are due (true), or arms the timer that will, which then holds the report (false); without
    /// <paramref name="mayWait"/>, only arms it.
    /// </summary>
    private bool SayOrArm(bool mayWait)
    {
        while (true)
        {
            if (mayWait && _dropWarning.TakeLine(_time, _dropWarningInterval, force: false) is { } line)
            {
                Stderr.Write(line);
                _queue.WakeWorker.Set();
                return true;
            }

            lock (_dropTimerLock)
            {
                Debug.Assert(!_dropTimerArmed, "an armed timer holds the report");
                if (!_dropWarning.HasUnreported)
                {
                    return true;
                }

                if (_dropTimerClosed)
                {
                    // The worker has made its last report (a call that counted its drop after that: one that gave up just
                    // before the shutdown, or a call made after it): nothing would say the drop, and no timer may be armed,
                    // so it is said now. Calls made after the shutdown, the first at once, later ones once the interval has
                    // passed, and those within it by the next shutdown call (the exit hook's; see SayLateDrops): a loop
                    // that logs on after the shutdown would otherwise write a line per call.
                    if (_lateDropSaid && !_dropWarning.HasUnreportedBesidesClosed
                        && _dropWarning.TimeUntilDue(_time, _dropWarningInterval) > TimeSpan.Zero)
                    {
                        Interlocked.Exchange(ref _queue.DropReportPending, 0);
                        return false;
                    }

                    _lateDropSaid = true;
                    break;
                }

                // Drops within the interval of the last line: said when it has passed, also when no call drops after them.
                TimeSpan due = _dropWarning.TimeUntilDue(_time, _dropWarningInterval);
                if (!mayWait && due < DropReportGrace)
                {
                    due = DropReportGrace;
                }

                if (due > TimeSpan.Zero)
                {
                    _dropTimerArmed = true;
                    if (_dropTimer is null)
                    {
                        _dropTimer = CreateDropTimer(due);
                    }
                    else
                    {
                        _dropTimer.Change(due, Timeout.InfiniteTimeSpan);
                    }

                    return false;
                }
            }

            // Due since the line was looked for: look again.
        }

        SayDropsLeft();
        return true;
    }

    /// <summary>
    /// The drop timer: with the real clock, one on FapiLog's own timer thread, which fires while the thread pool is starved
    /// (when a sink holds the worker, the pool is often why: Loki's pushes need it); with a test clock, that clock's.
    /// Should that thread fail to start (out of memory), the timer is not armed and the report stays held: the worker
    /// says the drops between batches, as it always does, and at the latest as it exits.
    /// </summary>
    private ITimer CreateDropTimer(TimeSpan due)
    {
        if (_systemClock)
        {
            return new OwnThreadTimer(static state => ((LogPipeline)state!).DropTimerFired(), this, due);
        }

        // Without the calling context: the timer outlives the call that armed it, and its Activity and async locals would be
        // kept with it for as long as the pipeline runs.
        bool suppressed = !ExecutionContext.IsFlowSuppressed();
        if (suppressed)
        {
            ExecutionContext.SuppressFlow();
        }

        try
        {
            return _time.CreateTimer(static state => ((LogPipeline)state!).DropTimerFired(), this, due, Timeout.InfiniteTimeSpan);
        }
        finally
        {
            if (suppressed)
            {
                ExecutionContext.RestoreFlow();
            }
        }
    }

    private void DropTimerFired()
    {
        lock (_dropTimerLock)
        {
            if (!_dropTimerArmed)
            {
                // The exiting worker closed the timer as it fired, and took the report over.
                return;
            }

            _dropTimerArmed = false;
        }

        ReportHeld(mayWait: true);
    }

    /// <summary>The worker is exiting: it has said and written what was dropped, and no timer is armed after it.</summary>
    private void CloseDropTimer()
    {
        bool armed;
        _dropWarning.SayShutdownDrops();
        lock (_dropTimerLock)
        {
            _dropTimerClosed = true;
            armed = _dropTimerArmed;
            _dropTimerArmed = false;
            _dropTimer?.Dispose();
            _dropTimer = null;
        }

        if (armed)
        {
            // Armed by a call that counted its drop after the worker's last report: the timer will not say it now, so the
            // report it held is made here (the timer being closed, at once).
            ReportHeld(mayWait: true);
        }
    }

    /// <summary>Once the worker has exited: says on stderr the drops counted since, that the interval kept back (see SayOrArm).</summary>
    private void SayLateDrops()
    {
        lock (_dropTimerLock)
        {
            if (!_dropTimerClosed)
            {
                return;
            }
        }

        SayDropsLeft();
    }

    /// <summary>
    /// Says on stderr at once, whatever the intervals, the drops and the sink failures they are holding back: for a signal
    /// whose default action ends the process next, with no shutdown to say them (see FapiLogging.FlushForSignal). Should
    /// the process go on, the sinks still get the drop warning from the worker, as ever.
    /// </summary>
    internal void SayHeldBackReports()
    {
        SayDropsLeft();
        foreach (LogSink sink in _sinks)
        {
            SinkFailureReporter.ReportPending(sink);
        }
    }

    /// <summary>Says on stderr, within the interval or not, the drops counted after the worker's last report (the sinks are done).</summary>
    private void SayDropsLeft()
    {
        if (_dropWarning.TakeLine(_time, _dropWarningInterval, force: true) is { } line)
        {
            Stderr.Write(line);
        }
    }
}
