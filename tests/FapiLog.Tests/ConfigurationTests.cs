using System;
using System.Collections.Generic;
using System.Threading;
using Microsoft.Extensions.Logging;
using Xunit;

namespace FapiLog.Tests;

public class ConfigurationTests
{
    [Fact]
    public void Defaults_are_those_of_the_design()
    {
        var o = new FapiLogOptions();
        Assert.Equal(LogLevel.Information, o.MinimumLevel);
        Assert.Equal(8192, o.QueueCapacity);
        Assert.Equal(OverflowStrategy.Drop, o.Overflow);
        Assert.Equal(0.1, o.SampleRate);
        Assert.Equal(100, o.BatchSize);
        Assert.Equal(TimeSpan.FromSeconds(2), o.FlushInterval);
        Assert.Equal(TimeSpan.FromSeconds(5), o.ShutdownTimeout);
        o.Validate();
    }

    [Fact]
    public void Environment_variables_set_every_option()
    {
        var env = new Dictionary<string, string>
        {
            ["FAPILOG_MIN_LEVEL"] = "warning",
            ["FAPILOG_QUEUE_CAPACITY"] = "5000",
            ["FAPILOG_OVERFLOW"] = "Sample",
            ["FAPILOG_SAMPLE_RATE"] = "0.25",
            ["FAPILOG_BATCH_SIZE"] = "250",
            ["FAPILOG_FLUSH_INTERVAL"] = "0.5",
            ["FAPILOG_SHUTDOWN_TIMEOUT"] = "7",
            ["FAPILOG_BLOCK_TIMEOUT"] = "1.5",
            ["FAPILOG_CONSOLE"] = "json",
            ["FAPILOG_FILE"] = "logs/app.jsonl",
            ["FAPILOG_FILE_MAX_BYTES"] = "10485760",
            ["FAPILOG_FILE_RETAINED_FILES"] = "0",
        };
        var o = new FapiLogOptions().ApplyEnvironment(name => env.GetValueOrDefault(name));

        Assert.Equal(LogLevel.Warning, o.MinimumLevel);
        Assert.Equal(5000, o.QueueCapacity);
        Assert.Equal(OverflowStrategy.Sample, o.Overflow);
        Assert.Equal(0.25, o.SampleRate);
        Assert.Equal(250, o.BatchSize);
        Assert.Equal(TimeSpan.FromMilliseconds(500), o.FlushInterval);
        Assert.Equal(TimeSpan.FromSeconds(7), o.ShutdownTimeout);
        Assert.Equal(TimeSpan.FromSeconds(1.5), o.BlockTimeout);
        Assert.True(o.Console);
        Assert.True(o.ConsoleJson);
        Assert.Equal("logs/app.jsonl", o.FilePath);
        Assert.Equal(10L * 1024 * 1024, o.FileMaxBytes);
        Assert.Equal(0, o.FileRetainedFiles);
        o.Validate();
    }

    [Theory]
    [InlineData("true", true, false)]
    [InlineData("1", true, false)]
    [InlineData("yes", true, false)]
    [InlineData("TEXT", true, false)]
    [InlineData("json", true, true)]
    [InlineData("false", false, false)]
    [InlineData("0", false, false)]
    [InlineData("No", false, false)]
    public void FAPILOG_CONSOLE_takes_the_spellings_the_other_switches_take(string value, bool console, bool json)
    {
        var o = new FapiLogOptions().ApplyEnvironment(name => name == "FAPILOG_CONSOLE" ? value : null);

        Assert.Equal(console, o.Console);
        Assert.Equal(json, o.ConsoleJson);
    }

    [Theory]
    [InlineData("FAPILOG_QUEUE_CAPACITY", "-5")]
    [InlineData("FAPILOG_QUEUE_CAPACITY", "lots")]
    [InlineData("FAPILOG_OVERFLOW", "explode")]
    [InlineData("FAPILOG_SAMPLE_RATE", "1.5")]
    [InlineData("FAPILOG_BATCH_SIZE", "0")]
    [InlineData("FAPILOG_FLUSH_INTERVAL", "-1")]
    [InlineData("FAPILOG_FLUSH_INTERVAL", "0.00000001")] // under one tick: once passed here and was refused as FlushInterval
    [InlineData("FAPILOG_SAMPLE_HIGH_WATER", "0")] // likewise refused as SampleHighWaterMark
    [InlineData("FAPILOG_SHUTDOWN_TIMEOUT", "soon")]
    [InlineData("FAPILOG_MIN_LEVEL", "loud")]
    [InlineData("FAPILOG_FILE_MAX_BYTES", "100")]
    [InlineData("FAPILOG_FILE_MAX_BYTES", "10MB")]
    [InlineData("FAPILOG_FILE_RETAINED_FILES", "-1")]
    [InlineData("FAPILOG_LOKI_URL", "not a url")]
    [InlineData("FAPILOG_LOKI_URL", "ftp://logs.example/")]
    public void A_bad_environment_variable_is_rejected_naming_the_variable_and_the_value(string name, string value)
    {
        var ex = Assert.Throws<FapiLogConfigurationException>(
            () => new FapiLogOptions().ApplyEnvironment(n => n == name ? value : null));

        Assert.Equal(name, ex.Setting);
        Assert.Equal(value, ex.Value);
        Assert.Contains(name, ex.Message);
        Assert.Contains($"'{value}'", ex.Message);
    }

    [Theory]
    [InlineData(nameof(FapiLogOptions.QueueCapacity), "-1")]
    [InlineData(nameof(FapiLogOptions.QueueCapacity), "0")]
    [InlineData(nameof(FapiLogOptions.BatchSize), "0")]
    [InlineData(nameof(FapiLogOptions.SampleRate), "-0.5")]
    [InlineData(nameof(FapiLogOptions.SampleRate), "NaN")]
    [InlineData(nameof(FapiLogOptions.SampleHighWaterMark), "0")]
    [InlineData(nameof(FapiLogOptions.FlushInterval), "00:00:00")]
    [InlineData(nameof(FapiLogOptions.ShutdownTimeout), "-00:00:01")]
    [InlineData(nameof(FapiLogOptions.Overflow), "7")]
    [InlineData(nameof(FapiLogOptions.MinimumLevel), "42")]
    [InlineData(nameof(FapiLogOptions.FileMaxBytes), "-1")]
    [InlineData(nameof(FapiLogOptions.FileMaxBytes), "1023")]
    [InlineData(nameof(FapiLogOptions.FileRetainedFiles), "1001")]
    public void A_bad_option_is_rejected_at_configuration_naming_the_option_and_the_value(string option, string value)
    {
        var o = new FapiLogOptions();
        switch (option)
        {
            case nameof(FapiLogOptions.QueueCapacity): o.QueueCapacity = int.Parse(value); break;
            case nameof(FapiLogOptions.BatchSize): o.BatchSize = int.Parse(value); break;
            case nameof(FapiLogOptions.SampleRate): o.SampleRate = double.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case nameof(FapiLogOptions.SampleHighWaterMark): o.SampleHighWaterMark = double.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case nameof(FapiLogOptions.FlushInterval): o.FlushInterval = TimeSpan.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case nameof(FapiLogOptions.ShutdownTimeout): o.ShutdownTimeout = TimeSpan.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case nameof(FapiLogOptions.Overflow): o.Overflow = (OverflowStrategy)int.Parse(value); break;
            case nameof(FapiLogOptions.MinimumLevel): o.MinimumLevel = (LogLevel)int.Parse(value); break;
            case nameof(FapiLogOptions.FileMaxBytes): o.FileMaxBytes = long.Parse(value); break;
            case nameof(FapiLogOptions.FileRetainedFiles): o.FileRetainedFiles = int.Parse(value); break;
        }

        var ex = Assert.Throws<FapiLogConfigurationException>(o.Validate);
        Assert.Equal(option, ex.Setting);
        Assert.Contains(option, ex.Message);
        Assert.Contains("expected", ex.Message);
    }

    [Theory]
    [InlineData(nameof(FapiLogOptions.FlushInterval))]
    [InlineData(nameof(FapiLogOptions.ShutdownTimeout))]
    [InlineData(nameof(FapiLogOptions.DropWarningInterval))]
    public void Timeout_InfiniteTimeSpan_where_it_is_refused_is_called_by_its_name(string option)
    {
        var o = new FapiLogOptions();
        switch (option)
        {
            case nameof(FapiLogOptions.FlushInterval): o.FlushInterval = Timeout.InfiniteTimeSpan; break;
            case nameof(FapiLogOptions.ShutdownTimeout): o.ShutdownTimeout = Timeout.InfiniteTimeSpan; break;
            case nameof(FapiLogOptions.DropWarningInterval): o.DropWarningInterval = Timeout.InfiniteTimeSpan; break;
        }

        // The message said only '-00:00:00.0010000' is not valid, a value no one wrote.
        var ex = Assert.Throws<FapiLogConfigurationException>(o.Validate);
        Assert.Equal(option, ex.Setting);
        Assert.Contains("Timeout.InfiniteTimeSpan, which only BlockTimeout takes", ex.Message);

        o = new FapiLogOptions { BlockTimeout = Timeout.InfiniteTimeSpan };
        o.Validate();
    }

    [Theory]
    [InlineData(null, false, true, false)] // a file replaces the default console
    [InlineData(null, true, true, true)] // asking for JSON console lines is asking for the console, as FAPILOG_CONSOLE=json is
    [InlineData(null, true, false, true)] // likewise beside a sink of your own
    [InlineData(false, true, true, false)] // an explicit Console = false still wins
    [InlineData(true, false, true, true)]
    public void ConsoleJson_keeps_the_console_beside_a_file_or_a_sink_of_your_own(bool? console, bool json, bool file, bool expected)
    {
        string folder = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "fapilog-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(folder);
        var options = new FapiLogOptions { Console = console, ConsoleJson = json };
        if (file)
        {
            options.FilePath = System.IO.Path.Combine(folder, "app.jsonl");
        }
        else
        {
            options.AddSink(new FapiLog.Sinks.InMemorySink());
        }

        options.Validate();
        List<LogSink> sinks = FapiLogging.BuildSinks(options);
        try
        {
            Assert.Equal(expected, sinks.Exists(s => s is FapiLog.Sinks.ConsoleSink));
        }
        finally
        {
            sinks.ForEach(s => s.Dispose());
            System.IO.Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void A_file_path_that_cannot_be_opened_fails_configuration_naming_the_setting_and_the_path()
    {
        // A folder where the file should be: opening it for appending fails.
        string folder = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "fapilog-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(folder);
        try
        {
            var options = new FapiLogOptions { FilePath = folder, Console = false };
            options.Validate();
            var ex = Assert.Throws<FapiLogConfigurationException>(() => FapiLogging.BuildSinks(options));
            Assert.Equal(nameof(FapiLogOptions.FilePath), ex.Setting);
            Assert.Equal(folder, ex.Value);
            Assert.Contains(folder, ex.Message);
            Assert.NotNull(ex.InnerException);
            // Said as it is: .NET's own error for a folder is "Access to the path is denied", which sends an operator
            // looking at permissions.
            Assert.Contains("is a folder, not a file", ex.Message);
            Assert.DoesNotContain("denied", ex.Message);
            // The I/O error's own sentence ends the message: with one full stop, not a second one after it.
            Assert.EndsWith("app.jsonl'.", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            System.IO.Directory.Delete(folder);
        }
    }

    [Fact]
    public void A_file_path_through_a_file_names_that_file_and_where_the_path_can_be_set()
    {
        // .NET's own error ("Could not find a part of the path") sent an operator looking for a missing folder, and the
        // message named FAPILOG_FILE alone as where FilePath comes from, also when appsettings.json set it.
        string file = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "fapilog-" + Guid.NewGuid().ToString("N") + ".txt");
        System.IO.File.WriteAllText(file, "not a folder");
        try
        {
            string path = System.IO.Path.Combine(file, "logs", "app.jsonl");
            var options = new FapiLogOptions { FilePath = path, Console = false };
            var ex = Assert.Throws<FapiLogConfigurationException>(() => FapiLogging.BuildSinks(options));
            Assert.Contains($"'{file}' is a file, not a folder", ex.Message, StringComparison.Ordinal);
            Assert.Contains("FapiLog:FilePath", ex.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("Could not find a part of the path", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            System.IO.File.Delete(file);
        }
    }
}
