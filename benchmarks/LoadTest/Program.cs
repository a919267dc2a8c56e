using System;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Threading;
using FapiLog;
using FapiLog.LoadTest;

try
{
    if (args.Contains("-h") || args.Contains("--help"))
    {
        Console.WriteLine(LoadTestSettings.Usage);
        return 0;
    }

    LoadTestSettings settings = LoadTestSettings.Parse(args, Environment.GetEnvironmentVariable);
    return settings.CoreToCore ? CoreToCore.Run(settings.DurationSeconds) : LoadTestRunner.Run(settings);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 2;
}
