using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using FapiLog.Internal;
using FapiLog.Sinks;
using FapiLog.Tests.Support;
using Xunit;

namespace FapiLog.Tests;

/// <summary>Calls refused once the shutdown is over (or the worker died), said on stderr: once an interval, not once a call, and not for calls that raced the shutdown.</summary>
[Collection(Loki.ConsoleCollection.Name)]
public sealed class LateDropTests
{
    private static FapiLogOptions Options(FakeTime time) => TestLog.Options(o =>
    {
        o.TimeProvider = time;
        o.DropWarningInterval = TimeSpan.FromSeconds(10);
    });

    [Fact]
    public void A_call_that_races_the_shutdown_while_it_runs_gets_no_line_of_its_own()
    {
        // Calls that race the shutdown while it runs are expected, and are counted in the next line only (README). The call
        // below is made (from another thread) while the shutdown runs: the queue is closed and the worker is in its final
        // flush. Nothing else was dropped, so there is no line for it to be counted in; the same Shutdown said it as late.
        var time = new FakeTime();
        FapiLogOptions options = Options(time);
        LogPipeline? pipeline = null;
        int raced = 0;
        options.AddSink(new FlushHookSink(() =>
        {
            if (pipeline!.Queue.IsClosed && Interlocked.Exchange(ref raced, 1) == 0)
            {
                Assert.False(Task.Run(() => TestLog.Emit(pipeline, 2, 0)).Result);
            }
        }));
        pipeline = TestLog.Start(options);
        using var stderr = new StderrCapture();

        Assert.True(TestLog.Emit(pipeline, 1, 0));
        Assert.True(pipeline.Shutdown(TestLog.Safety));

        Assert.Equal(1, raced);
        Assert.Equal(1, pipeline.GetStatistics().DroppedShutdown);
        Assert.Empty(stderr.Lines());
    }

    [Fact]
    public void Calls_after_the_worker_died_are_not_said_one_line_per_call()
    {
        // After the worker's death the queue is closed with WorkerStopped: every later call goes through the closed path,
        // which says its drop. A loop that logs on must not write a stderr line per call.
        var time = new FakeTime();
        LogPipeline pipeline = TestLog.Start(Options(time));
        using var stderr = new StderrCapture();
        pipeline.FaultWorkerForTesting();
        Assert.True(pipeline.Stopped.Wait(TestLog.Safety));

        for (int i = 0; i < 5; i++)
        {
            Assert.False(TestLog.Emit(pipeline, 1, i));
        }

        string[] drops = stderr.Lines().Where(l => l.StartsWith("FapiLog dropped", StringComparison.Ordinal)).ToArray();
        Assert.Equal(5, pipeline.GetStatistics().DroppedWorkerStopped);
        // The first at once, the others within DropWarningInterval (the clock has not moved) kept back.
        Assert.True(drops.Length == 1, string.Join("\n", stderr.Lines()));
    }

    [Fact]
    public void Global_second_Shutdown_says_the_late_calls_kept_back()
    {
        // What the exit hook does: FapiLogging.Shutdown() again says the calls kept back within the interval.
        var time = new FakeTime();
        FapiLogging.ResetForTesting();
        try
        {
            FapiLogging.Configure(Options(time));
            using var stderr = new StderrCapture();
            Assert.True(FapiLogging.Shutdown(TestLog.Safety));
            Assert.False(TestLog.EmitInstalled(1, 0));
            Assert.False(TestLog.EmitInstalled(1, 1));
            Assert.False(TestLog.EmitInstalled(1, 2));
            Assert.Single(stderr.Lines());
            Assert.True(FapiLogging.Shutdown(TestLog.Safety));
            Assert.Equal(2, stderr.Lines().Length);
            Assert.Contains("after shutdown: 2", stderr.Lines()[1], StringComparison.Ordinal);
        }
        finally
        {
            FapiLogging.ResetForTesting();
        }
    }

    [Fact]
    public void Calls_made_after_a_shutdown_gave_up_are_said_once_the_worker_has_exited()
    {
        // Shutdown gives up on a hung sink and returns false; the application then logs three more lines (refused, counted
        // as DroppedShutdown). The sink lets go, the worker exits, and the exit hook's Shutdown runs: those calls were made
        // after a Shutdown call had returned, not while one ran, and were taken for calls that raced it: no line said them.
        var time = new FakeTime();
        FapiLogOptions options = TestLog.Options(o =>
        {
            o.TimeProvider = time;
            o.DropWarningInterval = TimeSpan.FromSeconds(10);
        });
        var gate = new GateSink(honourCancellation: false);
        options.AddSink(gate);
        LogPipeline pipeline = TestLog.Start(options);
        using var stderr = new StderrCapture();

        Assert.True(TestLog.Emit(pipeline, 1, 0));
        Assert.False(pipeline.Shutdown(TimeSpan.Zero));   // given up: the worker is held in the sink
        Assert.True(gate.WaitEntered(TestLog.Safety));
        for (int i = 1; i <= 3; i++)
        {
            Assert.False(TestLog.Emit(pipeline, 1, i));
        }

        gate.Open();
        Assert.True(pipeline.Stopped.Wait(TestLog.Safety));
        pipeline.Shutdown(TestLog.Safety);                 // the exit hook's

        Assert.Equal(3, pipeline.GetStatistics().DroppedShutdown);
        string[] lines = stderr.Lines();
        Assert.True(lines.Any(l => l.StartsWith("FapiLog dropped 3 event(s)", StringComparison.Ordinal)), string.Join("\n", lines));
    }
}
