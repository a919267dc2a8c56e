#!/usr/bin/env bash
# Runs the side-by-side comparison (FapiLog, Microsoft console provider, ZLogger, Serilog, NLog) and writes
# benchmarks/results/comparison.md with the machine's description and benchmarks/results/comparison-latency.svg.
#
#   benchmarks/run.sh            full run (about 25 minutes on 2 cores)
#   benchmarks/run.sh --quick    smoke run (a couple of minutes; written to benchmarks/results/quick/, not committed)
#
# Three parts: BenchmarkDotNet call-site suites (disabled, enabled with room, saturated, exception), lossless
# throughput (1, 2, 4 producers, blocking modes), call latency at 10,000 and 200,000 logs/s from 4 tasks.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done

if [[ $quick == 1 ]]; then
  out="$here/results/quick"
  events=100000; rounds=2; seconds=1; repetitions=1
  export COMPARISON_QUICK=1
  command="benchmarks/run.sh --quick"
else
  out="$here/results"
  events=1000000; rounds=5; seconds=5; repetitions=3
  export COMPARISON_QUICK=0
  command="benchmarks/run.sh"
fi
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
project="$here/Comparison/FapiLog.Comparison.csproj"
echo "== build"
dotnet build "$project" -c Release -nologo -v q
dll="$here/Comparison/bin/Release/net10.0/FapiLog.Comparison.dll"

load() { cut -d' ' -f1-3 /proc/loadavg; }
started="$(date -u '+%Y-%m-%d %H:%M UTC')"
load_start="$(load)"
cpu="$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1)"
cores="$(nproc)"
mem="$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
os="$( (. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME") || uname -s), kernel $(uname -r)"
sdk="$(dotnet --version)"
runtime="$(dotnet --list-runtimes | sed -n 's/^Microsoft.NETCore.App \([^ ]*\).*/\1/p' | tail -1)"
commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"

echo "== check: every library renders the same event"
dotnet "$dll" check | tee "$work/check.txt"

echo "== BenchmarkDotNet call-site suites"
load_bdn="$(load)"
(cd "$here/Comparison" && dotnet "$dll" bdn --filter 'FapiLog.Comparison.*' --artifacts "$work/bdn" ) | tee "$work/bdn.txt" | grep -E '^\|| Mean|// \*\*\*' || true

echo "== lossless throughput"
load_tp="$(load)"
dotnet "$dll" throughput --events "$events" --rounds "$rounds" --threads 1,2,4 --out "$work"

echo "== call latency"
load_lat="$(load)"
dotnet "$dll" latency --rates 10000,200000 --tasks 4 --seconds "$seconds" --repetitions "$repetitions" --out "$work" \
  --subtitle "$started, $cores cores, .NET $runtime, load avg at start $load_lat"
load_end="$(load)"

cp "$work/latency.svg" "$out/comparison-latency.svg"
cp "$work/throughput.json" "$work/latency.json" "$out/" 2>/dev/null || true
report="$out/comparison.md"
{
  echo "# FapiLog beside its peers"
  echo
  echo "Produced by \`$command\` on $started (commit $commit)."
  echo
  echo "| machine | |"
  echo "|---|---|"
  echo "| CPU | ${cpu:-unknown}, $cores cores |"
  echo "| memory | $mem |"
  echo "| OS | $os |"
  echo "| .NET | SDK $sdk, runtime $runtime |"
  echo "| load average (1, 5, 15 min) | start $load_start; BenchmarkDotNet $load_bdn; throughput $load_tp; latency $load_lat; end $load_end |"
  echo
  echo "Libraries: FapiLog (this repository), Microsoft.Extensions.Logging + Console 10.0.12 (\`[LoggerMessage]\`), ZLogger 2.6.1"
  echo "(\`[ZLoggerMessage]\`, async stream processor), Serilog 4.4.0 + Serilog.Sinks.Async 2.1.0, NLog 6.2.2 (AsyncTargetWrapper)."
  echo "Every library gets a queue of 10,000 events and a sink of ours that renders the message, the fields and the"
  echo "exception into a reused buffer and counts; see benchmarks/Comparison/Contenders.cs for exactly what each path does."
  echo
  echo "What every sink rendered for the first event:"
  echo
  echo '```'
  grep Lossless "$work/check.txt" || true
  echo '```'
  echo
  echo "## 1. Call site (BenchmarkDotNet, [MemoryDiagnoser], ratio to FapiLog)"
  echo
  echo "- **LevelDisabled**: the Debug event while the minimum level is Information."
  echo "- **EnabledWithRoom**: bursts of 4,000 calls per invocation (OperationsPerInvoke), each library's queue drained"
  echo "  before every iteration ([IterationSetup]), so no call finds the queue full; the consumer runs concurrently."
  echo "- **WithException**: the same, with an Error event carrying an exception."
  echo "- **Saturated**: each library's dropping mode with its sink stalled and its queue full: every call is a drop."
  echo "- Allocated is what BenchmarkDotNet counts for the process (all threads, so the consumer's own allocations"
  echo "  are included); the caller-thread bytes per call are in the latency tables below."
  echo
  for suite in LevelDisabled EnabledWithRoom WithException Saturated; do
    f="$(ls "$work"/bdn/results/*."$suite"-report-github.md 2>/dev/null | head -1 || true)"
    echo "### $suite"
    echo
    if [[ -n "$f" ]]; then
      # The table only (the environment block is the same for every suite; it is at the end).
      grep '^|' "$f" | sed "s/&#39;//g"
    else
      echo "(no BenchmarkDotNet result)"
    fi
    echo
  done
  echo "## 2. Lossless throughput"
  echo
  cat "$work/throughput.md"
  echo
  echo "## 3. Call latency (open loop, 4 tasks)"
  echo
  echo "Every library in its blocking mode (nothing dropped); each call timed with the monotonic clock."
  echo
  cat "$work/latency.md"
  echo "![call latency by percentile](comparison-latency.svg)"
  echo
  echo "BenchmarkDotNet environment:"
  echo
  echo '```'
  sed -n '/^BenchmarkDotNet v/,/^$/p' "$work/bdn.txt" | awk 'NF==0{exit} {print}'
  echo '```'
} > "$report"
echo "== wrote $report and $out/comparison-latency.svg"
