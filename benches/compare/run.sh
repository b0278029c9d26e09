#!/usr/bin/env bash
# Side-by-side flow-extraction timing: maximus-sim vs nfstream, the Python
# cicflowmeter (0.2.0) and tshark, on the same capture.
#
#   benches/compare/run.sh [capture.pcap]
#
# Without an argument the capture is the flows bench's generated one
# ($TMPDIR/maximus-bench-flows.pcap: 1.5 M packets, 100 k flows, mixed
# TCP/UDP), written by running that bench once in test mode.
# Peers are pip-installed into benches/compare/.venv (nfstream, and
# cicflowmeter 0.2.0 which needs scapy 2.5.0); tshark comes from apt.
# Each tool gets PEER_TIMEOUT seconds (default 1800); a tool that times out
# is reported as such. Prints wall time, packets/s, peak RSS and the ratio
# to maximus-sim.
set -euo pipefail
exec </dev/null
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
timeout_s="${PEER_TIMEOUT:-1800}"
tmp="${TMPDIR:-/tmp}"
out="$tmp/maximus-compare"
mkdir -p "$out"

capture="${1:-$tmp/maximus-bench-flows.pcap}"
if [ ! -f "$capture" ]; then
    echo "generating $capture with the flows bench's generator..." >&2
    (cd "$repo" && cargo bench --bench flows -- --test >/dev/null)
fi
[ -f "$capture" ] || { echo "no capture at $capture" >&2; exit 66; }
rm -f "$out"/*.csv

venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q nfstream "cicflowmeter==0.2.0" "scapy==2.5.0"
fi
# tshark is a peer; tcpdump is how scapy (under the Python cicflowmeter) reads files.
for tool in tshark tcpdump; do
    if ! command -v "$tool" >/dev/null; then
        (apt-get install -y -q "$tool" || (apt-get update -q && apt-get install -y -q "$tool")) >/dev/null 2>&1 || true
    fi
done

(cd "$repo" && cargo build --release -q)
bin="$repo/target/release/maximus-sim"
packets=$("$bin" inspect --json "$capture" | python3 -c 'import json,sys; print(json.load(sys.stdin)["files"][0]["stats"]["records"])')
echo "capture: $capture ($packets packets, $(du -h "$capture" | cut -f1))"

# run NAME OUTPUT CMD...: time one tool, record "name seconds rss_kb status";
# a tool that exits non-zero, times out, or leaves OUTPUT empty has failed.
results="$out/results.txt"
: > "$results"
run() {
    local name="$1" output="$2"; shift 2
    local status=ok
    if ! /usr/bin/time -f "%e %M" -o "$out/$name.time" timeout "$timeout_s" "$@" >"$out/$name.stdout" 2>"$out/$name.stderr"; then
        status="failed-or-timeout"
    elif [ ! -s "$output" ]; then
        status="failed:no-output(see-$out/$name.stderr)"
    fi
    read -r secs rss < <(tail -n 1 "$out/$name.time")
    echo "$name $secs $rss $status" >> "$results"
}

run maximus-sim-corrected "$out/maximus-corrected.csv" "$bin" flows "$capture" -o "$out/maximus-corrected.csv"
run maximus-sim-corrected-1thread "$out/maximus-corrected-1t.csv" "$bin" flows "$capture" --threads 1 -o "$out/maximus-corrected-1t.csv"
run maximus-sim-cic2017 "$out/maximus-cic2017.csv" "$bin" flows "$capture" --profile cic2017 -o "$out/maximus-cic2017.csv"
run nfstream "$out/nfstream.csv" "$venv/bin/python" -c "
import sys
from nfstream import NFStreamer
NFStreamer(source=sys.argv[1], statistical_analysis=True, n_dissections=0).to_csv(path=sys.argv[2])
" "$capture" "$out/nfstream.csv"
run cicflowmeter-py "$out/cicflowmeter-py.csv" "$venv/bin/cicflowmeter" -f "$capture" -c "$out/cicflowmeter-py.csv"
if command -v tshark >/dev/null; then
    run tshark-conv "$out/tshark-conv.stdout" tshark -r "$capture" -q -z conv,tcp -z conv,udp
fi

python3 - "$results" "$packets" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
packets = int(sys.argv[2])
base = next(float(r[1]) for r in rows if r[0] == "maximus-sim-corrected")
print(f"{'tool':34} {'seconds':>9} {'packets/s':>12} {'peak RSS':>10} {'x maximus':>10}  status")
for name, secs, rss, status in rows:
    s = float(secs)
    print(f"{name:34} {s:9.2f} {packets / s if s else 0:12,.0f} {int(rss) / 1024:8.0f}MB {s / base:10.1f}  {status}")
PY
