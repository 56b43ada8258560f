#!/bin/bash
# Request-based versus CPU-based scaling on the same load, with sdep serve:
# the built-in mock classifier answering in DELAY seconds (a model that waits,
# as one bound by a GPU, a lock or a downstream call does), one load step of
# CONCURRENCY closed-loop clients from second START to START+LOAD, the whole
# run RUN seconds. Writes OUT/{requests,cpu}/ (decisions.txt, plot.svg) and
# prints each run's decisions.
#   hack/compare-scaling/run.sh [OUT]
set -euo pipefail
out=${1:-sdep-compare}
sdep=${SDEP:-bin/sdep}
delay=${DELAY:-0.05} concurrency=${CONCURRENCY:-8} start=${START:-20} load=${LOAD:-60} run=${RUN:-110}
sync=${SYNC_PERIOD:-15s} down=${DOWNSCALE:-15s}
mkdir -p "$out"
param='[{"name":"delaySecs","value":"'"$delay"'","type":"FLOAT"}]'
# The same component, model and bounds (1 to 4 replicas); only the metric differs.
python3 - "$out" "$param" <<'PY'
import json, sys
out, param = sys.argv[1], json.loads(sys.argv[2])
req = json.load(open("examples/requests-hpa.json"))
req["spec"]["predictors"][0]["graph"]["parameters"] = param
req["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "0.5"}}
json.dump(req, open(out + "/requests.json", "w"), indent=1)
cpu = json.load(open("examples/seed-hpaspecs.json"))
cpu["spec"]["predictors"][0]["graph"]["parameters"] = param
json.dump(cpu, open(out + "/cpu.json", "w"), indent=1)
PY
for kind in requests cpu; do
	echo "== $kind: $concurrency clients from ${start}s for ${load}s, model delay ${delay}s, sync $sync"
	"$sdep" serve -f "$out/$kind.json" --http-port 18700 --grpc-port 18750 --status-port -1 --table never \
		--sync-period "$sync" --downscale-stabilization "$down" --report-dir "$out/$kind" > "$out/$kind.log" 2>&1 &
	pid=$!
	sleep "$start"
	"$sdep" load http://127.0.0.1:18700/api/v1.0/predictions --concurrency "$concurrency" --duration "${load}s" 2>&1 |
		tr '\r' '\n' | grep -E '^(throughput|latency|errors)'  # the summary, not the progress line
	sleep $((run - start - load))
	kill -INT "$pid"; wait "$pid" || true
	grep -E '→' "$out/$kind.log" || echo "(no scaling)"
done
