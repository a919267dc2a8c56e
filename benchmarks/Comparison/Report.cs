using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;

namespace FapiLog.Comparison;

/// <summary>Markdown tables and an SVG chart, written by this code (no external tool).</summary>
public static class Report
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    private static readonly Dictionary<string, string> s_colors = new()
    {
        ["FapiLog"] = "#d62728",
        [Contender.FapiLogBigBatch] = "#8c1a1a",
        ["MEL Console"] = "#1f77b4",
        ["ZLogger"] = "#2ca02c",
        ["Serilog"] = "#9467bd",
        ["NLog"] = "#ff7f0e",
    };

    public static string ThroughputMarkdown(List<ThroughputResult> results, int rounds)
    {
        var sb = new StringBuilder();
        int[] threads = [.. results.Select(r => r.Threads).Distinct().Order()];
        int events = results.Count > 0 ? results[0].Events : 0;
        sb.Append(Inv, $"Lossless throughput: {events:N0} events per round, median of {rounds} rounds, events/s (millions) until the sink has seen them all.\n\n");
        sb.Append("| library (blocking mode) |");
        foreach (int t in threads)
        {
            sb.Append(Inv, $" {t} producer{(t == 1 ? "" : "s")} |");
        }

        sb.Append("\n|---|");
        sb.Append(string.Concat(threads.Select(_ => "---:|")));
        sb.Append('\n');
        foreach (string library in results.Select(r => r.Library).Distinct())
        {
            sb.Append(Inv, $"| {(library == Contender.FapiLogBigBatch ? "FapiLog (Overflow=Block, BatchSize=1000)" : $"{library} ({BlockingMode(library)})")} |");
            foreach (int t in threads)
            {
                ThroughputResult? r = results.FirstOrDefault(x => x.Library == library && x.Threads == t);
                sb.Append(r is null ? " – |" : string.Create(Inv, $" {r.Median / 1e6:0.00} M/s{(r.Lossless ? "" : " (incomplete)")}{(r.Dropped > 0 ? $" ({r.Dropped} dropped)" : "")} |"));
            }

            sb.Append('\n');
        }

        foreach (string fapiName in results.Select(r => r.Library).Distinct().Where(IsFapiLog))
        {
            sb.Append(Inv, $"| **{fapiName} ÷ fastest peer** |");
            foreach (int t in threads)
            {
                double fapi = results.FirstOrDefault(x => x.Library == fapiName && x.Threads == t)?.Median ?? double.NaN;
                ThroughputResult? best = results.Where(x => !IsFapiLog(x.Library) && x.Threads == t).MaxBy(x => x.Median);
                sb.Append(best is null ? " – |" : string.Create(Inv, $" **{fapi / best.Median:0.00}×** (vs {best.Library}) |"));
            }

            sb.Append('\n');
        }

        return sb.ToString();
    }

    public static bool IsFapiLog(string library) => library.StartsWith("FapiLog", StringComparison.Ordinal);

    public static string LatencyMarkdown(List<LatencyResult> results)
    {
        var sb = new StringBuilder();
        foreach (int rate in results.Select(r => r.Rate).Distinct())
        {
            LatencyResult[] rows = [.. results.Where(r => r.Rate == rate)];
            LatencyResult first = rows[0];
            sb.Append(Inv, $"**{rate:N0} logs/s** in total from {first.Tasks} tasks, {first.Repetitions} × {first.Seconds:0.#} s ({first.Calls:N0} calls per library); ");
            sb.Append("call latency in ns (incl. one clock read), each figure the median over the repetitions:\n\n");
            sb.Append("| library | avg | p50 | p90 | p99 | p99.9 | p99.99 | max | B/call (caller) | delivered |\n");
            sb.Append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
            foreach (LatencyResult r in rows)
            {
                sb.Append(Inv, $"| {r.Library} | {r.AverageNs:N0} | {r.PercentileNs[0]:N0} | {r.PercentileNs[2]:N0} | {r.PercentileNs[4]:N0} | " +
                               $"{r.PercentileNs[6]:N0} | {r.PercentileNs[8]:N0} | {r.MaxNs:N0} | {r.BytesPerCall:0.#} | {r.Seen:N0} |\n");
            }

            LatencyResult? fapi = rows.FirstOrDefault(r => r.Library == "FapiLog");
            LatencyResult? bestP99 = rows.Where(r => !IsFapiLog(r.Library)).MinBy(r => r.PercentileNs[4]);
            LatencyResult? bestAvg = rows.Where(r => !IsFapiLog(r.Library)).MinBy(r => r.AverageNs);
            if (fapi is not null && bestP99 is not null && bestAvg is not null)
            {
                sb.Append(Inv, $"\nFastest peer's p99 ÷ FapiLog's p99: **{bestP99.PercentileNs[4] / fapi.PercentileNs[4]:0.0}×** (vs {bestP99.Library}); " +
                               $"average: **{bestAvg.AverageNs / fapi.AverageNs:0.0}×** (vs {bestAvg.Library}).\n\n");
            }
        }

        return sb.ToString();
    }

    /// <summary>Percentile curves of the call latency, one panel per rate, log scale.</summary>
    public static string LatencySvg(List<LatencyResult> results, string subtitle)
    {
        int[] rates = [.. results.Select(r => r.Rate).Distinct()];
        const int panelW = 460, panelH = 320, left = 70, top = 60, gap = 40, legendH = 40;
        int width = left + rates.Length * (panelW + gap);
        int height = top + panelH + 70 + legendH;
        double maxNs = Math.Max(1000, results.SelectMany(r => r.PercentileNs).Max());
        double minNs = Math.Max(10, Math.Min(100, results.SelectMany(r => r.PercentileNs).Min()));
        double lo = Math.Floor(Math.Log10(minNs)), hi = Math.Ceiling(Math.Log10(maxNs));
        var svg = new StringBuilder();
        svg.Append(Inv, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        svg.Append(Inv, $"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n");
        svg.Append(Inv, $"<text x=\"{left}\" y=\"22\" font-size=\"16\" font-weight=\"bold\">Log call latency by percentile (lower is better)</text>\n");
        svg.Append(Inv, $"<text x=\"{left}\" y=\"42\" fill=\"#555\">{Escape(subtitle)}</text>\n");
        string[] libraries = [.. results.Select(r => r.Library).Distinct()];
        for (int p = 0; p < rates.Length; p++)
        {
            int x0 = left + p * (panelW + gap);
            int tasks = results.First(r => r.Rate == rates[p]).Tasks;
            svg.Append(Inv, $"<text x=\"{x0 + panelW / 2}\" y=\"{top - 6}\" text-anchor=\"middle\" font-weight=\"bold\">{rates[p]:N0} logs/s, {tasks} tasks</text>\n");
            svg.Append(Inv, $"<rect x=\"{x0}\" y=\"{top}\" width=\"{panelW}\" height=\"{panelH}\" fill=\"none\" stroke=\"#999\"/>\n");
            for (double d = lo; d <= hi; d++)
            {
                double y = top + panelH - (d - lo) / (hi - lo) * panelH;
                svg.Append(Inv, $"<line x1=\"{x0}\" y1=\"{y:0.#}\" x2=\"{x0 + panelW}\" y2=\"{y:0.#}\" stroke=\"#e5e5e5\"/>\n");
                svg.Append(Inv, $"<text x=\"{x0 - 6}\" y=\"{y + 4:0.#}\" text-anchor=\"end\">{FormatNs(Math.Pow(10, d))}</text>\n");
            }

            int n = Stats.Percentiles.Length;
            for (int i = 0; i < n; i++)
            {
                double x = x0 + 20 + i * (panelW - 40.0) / (n - 1);
                svg.Append(Inv, $"<line x1=\"{x:0.#}\" y1=\"{top}\" x2=\"{x:0.#}\" y2=\"{top + panelH}\" stroke=\"#f0f0f0\"/>\n");
                svg.Append(Inv, $"<text x=\"{x:0.#}\" y=\"{top + panelH + 16}\" text-anchor=\"middle\">p{Stats.Percentiles[i]:0.##}</text>\n");
            }

            foreach (LatencyResult r in results.Where(r => r.Rate == rates[p]))
            {
                string color = s_colors.GetValueOrDefault(r.Library, "#333");
                var points = new StringBuilder();
                for (int i = 0; i < n; i++)
                {
                    double x = x0 + 20 + i * (panelW - 40.0) / (n - 1);
                    double y = top + panelH - (Math.Log10(Math.Max(r.PercentileNs[i], minNs)) - lo) / (hi - lo) * panelH;
                    points.Append(Inv, $"{x:0.#},{y:0.#} ");
                    svg.Append(Inv, $"<circle cx=\"{x:0.#}\" cy=\"{y:0.#}\" r=\"3\" fill=\"{color}\"><title>{Escape(r.Library)} p{Stats.Percentiles[i]:0.##}: {r.PercentileNs[i]:N0} ns</title></circle>\n");
                }

                string width2 = r.Library == "FapiLog" ? "3" : "2";
                svg.Append(Inv, $"<polyline points=\"{points.ToString().Trim()}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"{width2}\"/>\n");
            }

            svg.Append(Inv, $"<text x=\"{x0 + panelW / 2}\" y=\"{top + panelH + 36}\" text-anchor=\"middle\" fill=\"#555\">percentile of the call duration</text>\n");
        }

        svg.Append(Inv, $"<text transform=\"translate(16,{top + panelH / 2}) rotate(-90)\" text-anchor=\"middle\" fill=\"#555\">call duration (log scale)</text>\n");
        int ly = top + panelH + 62;
        for (int i = 0; i < libraries.Length; i++)
        {
            int lx = left + i * 150;
            string color = s_colors.GetValueOrDefault(libraries[i], "#333");
            svg.Append(Inv, $"<line x1=\"{lx}\" y1=\"{ly}\" x2=\"{lx + 24}\" y2=\"{ly}\" stroke=\"{color}\" stroke-width=\"3\"/>\n");
            svg.Append(Inv, $"<text x=\"{lx + 30}\" y=\"{ly + 4}\">{Escape(libraries[i])}</text>\n");
        }

        svg.Append("</svg>\n");
        return svg.ToString();
    }

    public static string BlockingMode(string library) => library switch
    {
        "FapiLog" or Contender.FapiLogBigBatch => "Overflow=Block",
        "MEL Console" => "QueueFullMode=Wait",
        "ZLogger" => "FullMode=Block",
        "Serilog" => "blockWhenFull",
        "NLog" => "OverflowAction=Block",
        _ => "?",
    };

    private static string FormatNs(double ns) => ns >= 1e6 ? $"{ns / 1e6:0.#} ms" : ns >= 1e3 ? $"{ns / 1e3:0.#} µs" : $"{ns:0} ns";

    private static string Escape(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");
}
