using System;

namespace FapiLog;

/// <summary>Settings of the Grafana Loki sink (see the README's "Loki integration").</summary>
public sealed class LokiOptions
{
    /// <summary>Loki's base URL, e.g. <c>http://localhost:3100</c>; the push path is added. Env <c>FAPILOG_LOKI_URL</c>.</summary>
    public Uri? Url { get; set; }

    internal void ApplyEnvironment(Func<string, string?> getVariable)
    {
        string? url = getVariable("FAPILOG_LOKI_URL");
        if (!string.IsNullOrWhiteSpace(url))
        {
            if (!Uri.TryCreate(url.Trim(), UriKind.Absolute, out Uri? parsed) || (parsed.Scheme != Uri.UriSchemeHttp && parsed.Scheme != Uri.UriSchemeHttps))
            {
                throw new FapiLogConfigurationException("FAPILOG_LOKI_URL", url, "an absolute http:// or https:// URL such as http://localhost:3100");
            }

            Url = parsed;
        }
    }

    internal void Validate()
    {
    }

    /// <summary>The Loki sink for these settings, or null when no URL is set.</summary>
    internal LogSink? CreateSink() => null;
}
