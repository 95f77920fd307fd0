#!/usr/bin/env bash
# Runs the benchmarks the issues name and prints their figures: events/s,
# ratios against the bare tool (COPY, nix-instantiate, nix-build), latency
# percentiles. Sizes are the issues' targets; override with
# BUILDLEDGER_BENCH_EVENTS / BUILDLEDGER_BENCH_BUILDS for a quick run.
#
# "run-bench.sh scale" is make bench-scale (issue #24): the whole system
# on a nixpkgs-shaped workload of SCALE_JOBS jobs (default 100,000), then
# replay and the scheduler's cold start over BUILDLEDGER_BENCH_EVENTS
# events (default 10,000,000). At full size it runs for hours on 2 cores.
set -euo pipefail
mode="${1:-all}"
cd "$(dirname "$0")/.."

tmp=$(mktemp -d /tmp/buildledger-bench-XXXXXX)
chmod 755 "$tmp"
cleanup() {
	pg="$(command -v pg_ctl || ls /usr/lib/postgresql/*/bin/pg_ctl | tail -1)"
	if [ -f "$tmp/data/postmaster.pid" ]; then
		if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$pg" -D "$tmp/data" -m immediate -w stop >/dev/null 2>&1 || true
		else "$pg" -D "$tmp/data" -m immediate -w stop >/dev/null 2>&1 || true; fi
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
go run ./test/pgserver "$tmp/data" > "$tmp/url"
export BUILDLEDGER_TEST_DATABASE_URL="$(cat "$tmp/url")"
if [ "$mode" = scale ]; then
	export BUILDLEDGER_BENCH_EVENTS="${BUILDLEDGER_BENCH_EVENTS:-10000000}"
else
	export BUILDLEDGER_BENCH_EVENTS="${BUILDLEDGER_BENCH_EVENTS:-1000000}"
fi
export BUILDLEDGER_BENCH_BUILDS="${BUILDLEDGER_BENCH_BUILDS:-1000000}"

run() { # run PACKAGE BENCH-REGEX [BENCHTIME]
	echo "== $1 $2"
	go test -run '^$' -bench "$2" -benchtime "${3:-1x}" -timeout 60m "$1" | grep -E '^(Benchmark|ok|FAIL)' || true
}

if [ "$mode" = scale ]; then
	echo "== the whole system, SCALE_JOBS=${SCALE_JOBS:-100000} jobs, 4 local slots"
	go build -o "$tmp/buildledger" ./cmd/buildledger
	go run ./test/workloads/benchscale -bin "$tmp/buildledger"
	run ./projections/hydra 'BenchmarkReplay'
	run ./commands/reactors/scheduler 'BenchmarkColdStart/(evict|snapshot)'
	exit 0
fi

run ./adapters/eventstore/pglog 'BenchmarkAppend' 200000x
run ./projections/hydra 'BenchmarkReplay'
for pkg in $(go list ./... ); do
	case "$pkg" in
	*/adapters/eventstore/pglog|*/projections/hydra) continue ;;
	esac
	dir=$(go list -f '{{.Dir}}' "$pkg")
	if grep -qs '^func Benchmark' "$dir"/*_test.go; then
		run "$pkg" '.'
	fi
done
