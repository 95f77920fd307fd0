#!/usr/bin/env bash
# Runs every test. One private Postgres cluster in a temporary directory is
# shared by all test binaries (each test gets its own database) and is
# stopped at the end, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d /tmp/buildledger-test-XXXXXX)
chmod 755 "$tmp"
cleanup() {
	if [ -f "$tmp/data/postmaster.pid" ]; then
		pg="$(command -v pg_ctl || ls /usr/lib/postgresql/*/bin/pg_ctl | tail -1)"
		if [ "$(id -u)" = 0 ]; then
			runuser -u postgres -- "$pg" -D "$tmp/data" -m immediate -w stop >/dev/null 2>&1 || true
		else
			"$pg" -D "$tmp/data" -m immediate -w stop >/dev/null 2>&1 || true
		fi
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

go run ./test/pgserver "$tmp/data" > "$tmp/url"
export BUILDLEDGER_TEST_DATABASE_URL="$(cat "$tmp/url")"
echo "test database server: $BUILDLEDGER_TEST_DATABASE_URL"

go test -count=1 -timeout 12m ${GOTESTFLAGS:-} ./... 2>&1 | tee "$tmp/test.log"
status=${PIPESTATUS[0]}
passed=$(grep -c -- '--- PASS' "$tmp/test.log" || true)
failed=$(grep -c -- '--- FAIL' "$tmp/test.log" || true)
echo "tests: $passed passed, $failed failed"
exit "$status"
