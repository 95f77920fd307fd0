#!/usr/bin/env bash
# Runs every fuzz target for FUZZTIME (default 20s). New crashers land in
# the package's testdata/fuzz and stay there as regression seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
		echo "== $pkg $f"
		go test -run '^$' -fuzz "^$f\$" -fuzztime "${FUZZTIME:-20s}" "$pkg"
	done
done
