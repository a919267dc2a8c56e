using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using FapiLog.Tests.Loki;
using Xunit;

namespace FapiLog.Hosting.Tests;

/// <summary>
/// Starts the built samples/WebApi as a real child process, sends it requests on 127.0.0.1, stops it with a signal and
/// checks that every event reached a loopback Loki receiver (decoded independently of the sink) and the JSON-lines file sink.
/// Both SIGTERM and SIGINT (Ctrl+C) are tried. The flush interval and batch size are set so that nothing is
/// delivered before the shutdown: what is in the file got there through the hosted service's final flush.
/// </summary>
public sealed class WebApiProcessTests
{
    private const int Orders = 20;
    private const int Failures = 3;
    [Theory]
    [InlineData(15)] // SIGTERM: docker stop, Kubernetes
    [InlineData(2)]  // SIGINT: Ctrl+C
    public async Task Web_sample_delivers_every_event_when_stopped_by_a_signal(int signal)
    {
        if (OperatingSystem.IsWindows())
        {
            return; // SIGTERM is a POSIX signal; the project's machines and CI are Linux.
        }

        string directory = typeof(WebApiProcessTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "WebApiDirectory").Value!;
        string dll = Path.Combine(directory, "WebApi.dll");
        Assert.True(File.Exists(dll), $"The web sample was not built at {dll}.");

        // The port is free when probed, and Kestrel binds it a second or more later: a test of another project running
        // meanwhile may have been given it by then, and the sample ended at once (address in use), or that server answered.
        // Each attempt has a file and a Loki of its own: a sample that ended on a taken port flushed its own events there.
        for (int attempt = 1; ; attempt++)
        {
            string file = Path.Combine(Path.GetTempPath(), $"fapilog-webapi-{Guid.NewGuid():N}.jsonl");
            using var loki = new LokiReceiver();
            var output = new StringBuilder();
            int port = FreeLoopbackPort();
            using Process process = StartSample(directory, dll, port, file, loki, output);
            try
            {
                using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
                if (await WaitUntilServing(http, process, output))
                {
                    await CheckEveryEventIsDelivered(signal, process, http, port, file, loki, output);
                    return;
                }

                Assert.True(attempt < 5, $"The sample found its port taken in {attempt} attempts:\n{Output(output)}");
            }
            finally
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                    process.WaitForExit();
                }

                File.Delete(file);
            }
        }
    }

    /// <summary>Starts the sample on 127.0.0.1:<paramref name="port"/>, its stdout and stderr collected in <paramref name="output"/>.</summary>
    private static Process StartSample(string directory, string dll, int port, string file, LokiReceiver loki, StringBuilder output)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = directory,
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add(dll);
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add($"http://127.0.0.1:{port}");
        foreach (string inherited in new[] { "ASPNETCORE_URLS", "ASPNETCORE_HTTP_PORTS", "ASPNETCORE_ENVIRONMENT", "DOTNET_ENVIRONMENT" })
        {
            start.Environment.Remove(inherited);
        }

        start.Environment["FAPILOG_FILE"] = file;
        start.Environment["FAPILOG_LOKI_URL"] = loki.Url.ToString();
        start.Environment["FAPILOG_LOKI_LABELS"] = "app=webapi-test";
        start.Environment["FAPILOG_CONSOLE"] = "false";
        start.Environment["FAPILOG_QUEUE_CAPACITY"] = "20000";
        start.Environment["FAPILOG_BATCH_SIZE"] = "10000";
        start.Environment["FAPILOG_FLUSH_INTERVAL"] = "3600";
        start.Environment["FAPILOG_SHUTDOWN_TIMEOUT"] = "20";
        start.Environment["Logging__LogLevel__Microsoft.AspNetCore.Hosting.Diagnostics"] = "Information";

        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        Assert.True(process.Start());
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static async Task CheckEveryEventIsDelivered(int signal, Process process, HttpClient http, int port, string file, LokiReceiver loki, StringBuilder output)
    {
        var orderIds = Enumerable.Range(1, Orders).Select(i => 1000L + i).ToArray();
        foreach (long id in orderIds)
        {
            using HttpResponseMessage response = await http.GetAsync($"/orders/{id}?customer=c{id}&amount={id}.25");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var failedIds = Enumerable.Range(1, Failures).Select(i => 2000L + i).ToArray();
        foreach (long id in failedIds)
        {
            using HttpResponseMessage response = await http.GetAsync($"/orders/{id}/fail");
            Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        }

        Assert.False(File.Exists(file) && File.ReadAllText(file).Contains("\"OrderPlaced\"", StringComparison.Ordinal),
            "Events reached the file before shutdown; the test would not prove the final flush.");

        Assert.Equal(0, kill(process.Id, signal));
        using (var exitWait = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
        {
            await process.WaitForExitAsync(exitWait.Token);
        }

        Assert.True(process.ExitCode == 0, $"The sample exited with {process.ExitCode}:\n{Output(output)}");

        List<JsonElement> events = File.ReadAllLines(file).Where(l => l.Length > 0).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();

        // Loki got the very same events (its line is the file's object without timestamp and trace ids), once each.
        List<DecodedEntry> pushed = loki.Requests.SelectMany(r => r.AllEntries()).ToList();
        Assert.NotEmpty(pushed);
        Assert.All(loki.Requests, r => Assert.Equal("/loki/api/v1/push", r.Path));
        Assert.Equal(events.Count, pushed.Count);
        Assert.All(loki.Requests.SelectMany(r => r.Decode()), stream => Assert.Equal("webapi-test", stream.Labels["app"]));
        var lokiMessages = pushed.Select(e => Str(e.Json, "message")).OrderBy(m => m, StringComparer.Ordinal).ToList();
        var fileMessages = events.Select(e => Str(e, "message")).OrderBy(m => m, StringComparer.Ordinal).ToList();
        Assert.Equal(fileMessages, lokiMessages);

        foreach (long id in orderIds)
        {
            JsonElement placed = Assert.Single(events, e => Str(e, "event") == "OrderPlaced" && e.GetProperty("OrderId").GetInt64() == id);
            Assert.Equal($"Order {id} placed by c{id} for {id}.25", Str(placed, "message"));
            Assert.Equal($"c{id}", Str(placed, "Customer"));
            Assert.Equal(decimal.Parse($"{id}.25", System.Globalization.CultureInfo.InvariantCulture), placed.GetProperty("Amount").GetDecimal());
            Assert.Equal("info", Str(placed, "level"));

            JsonElement confirmed = Assert.Single(events, e => Str(e, "category") == "OrderEndpoints" && Str(e, "message") == $"Order {id} confirmed for c{id}");
            Assert.Equal(id, confirmed.GetProperty("OrderId").GetInt64());
            Assert.Equal($"/orders/{id}", Str(confirmed, "RequestPath"));

            // ASP.NET Core's own request logs came through the bridge with their state as fields.
            Assert.Single(events, e => Str(e, "category") == "Microsoft.AspNetCore.Hosting.Diagnostics" && e.GetProperty("event_id").GetInt32() == 1
                && Str(e, "Path") == $"/orders/{id}");
            Assert.Single(events, e => Str(e, "category") == "Microsoft.AspNetCore.Hosting.Diagnostics" && e.GetProperty("event_id").GetInt32() == 2
                && Str(e, "Path") == $"/orders/{id}" && e.GetProperty("StatusCode").GetInt32() == 200);
        }

        foreach (long id in failedIds)
        {
            JsonElement failed = Assert.Single(events, e => Str(e, "event") == "PaymentFailed" && e.GetProperty("OrderId").GetInt64() == id);
            Assert.Equal("error", Str(failed, "level"));
            Assert.Equal(7, failed.GetProperty("event_id").GetInt32());
            Assert.Equal("System.InvalidOperationException", Str(failed.GetProperty("exception"), "type"));
            Assert.Equal($"Card declined for order {id}.", Str(failed.GetProperty("exception"), "message"));
        }

        Assert.Single(events, e => Str(e, "event") == "ListeningOnAddress" && Str(e, "address") == $"http://127.0.0.1:{port}");
        Assert.Single(events, e => Str(e, "category") == "Microsoft.Hosting.Lifetime" && Str(e, "message") == "Application is shutting down...");
        JsonElement stopping = Assert.Single(events, e => Str(e, "event") == "Stopping");
        Assert.Equal(Orders + Failures, stopping.GetProperty("Requests").GetInt64());
        Assert.DoesNotContain("were not delivered", Output(output), StringComparison.Ordinal);
    }

    /// <summary>
    /// Polls the root endpoint until the sample answers, failing at once if the process exits; false when it exited because
    /// its port was taken (or its port is another server's), which a new port cures. The pause between attempts only
    /// spaces out connection attempts; the answer itself is the readiness signal.
    /// </summary>
    private static async Task<bool> WaitUntilServing(HttpClient http, Process process, StringBuilder output)
    {
        for (int attempt = 0; attempt < 600; attempt++)
        {
            try
            {
                using HttpResponseMessage response = await http.GetAsync("/");
                if (response.IsSuccessStatusCode)
                {
                    if ((await response.Content.ReadAsStringAsync()).StartsWith("FapiLog.Gen WebApi sample", StringComparison.Ordinal))
                    {
                        return true;
                    }

                    // Another server has the port; the sample cannot bind it and ends.
                    process.Kill(entireProcessTree: true);
                    await process.WaitForExitAsync();
                    return false;
                }
            }
            catch (HttpRequestException)
            {
            }

            Task exited = process.WaitForExitAsync();
            if (await Task.WhenAny(exited, Task.Delay(100)) == exited)
            {
                if (Output(output).Contains("address already in use", StringComparison.OrdinalIgnoreCase))
                {
                    return false;
                }

                Assert.Fail($"The sample exited early with {process.ExitCode}:\n{Output(output)}");
            }
        }

        Assert.Fail($"The sample did not answer on 127.0.0.1 within 60 s:\n{Output(output)}");
        return false;
    }

    private static string Output(StringBuilder output)
    {
        lock (output)
        {
            return output.ToString();
        }
    }

    private static string? Str(JsonElement e, string name)
        => e.TryGetProperty(name, out JsonElement value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);
}
