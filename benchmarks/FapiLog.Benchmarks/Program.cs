using BenchmarkDotNet.Running;

namespace FapiLog.Benchmarks;

/// <summary>Runs the suites: <c>dotnet run -c Release --project benchmarks/FapiLog.Benchmarks -- --filter '*'</c>.</summary>
public static class Program
{
    public static void Main(string[] args)
    {
        if (args is ["--loki-cpu"])
        {
            LokiEncodingBenchmarks.MeasureCpuTime(System.Console.Out);
            return;
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
