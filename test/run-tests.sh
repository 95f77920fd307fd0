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

# The s3:// cache tests run a real MinIO server: build it now (minutes,
# the first time only) rather than inside a test's timeout. A failure
# stops the run here, loudly.
minio=$(go run ./test/minio)
echo "minio server: $minio"

go run ./test/pgserver "$tmp/data" > "$tmp/url"
export BUILDLEDGER_TEST_DATABASE_URL="$(cat "$tmp/url")"
echo "test database server: $BUILDLEDGER_TEST_DATABASE_URL"

# From here on nothing stops the script early: whatever the log holds
# (builds print arbitrary bytes, hence grep -a), the failures are shown
# and the closing "tests:" line is printed.
set +e +o pipefail
go test -count=1 -v -timeout 12m ${GOTESTFLAGS:-} ./... > "$tmp/test.log" 2>&1
status=$?
# The verbose log is long: show the package lines, and the output of
# whatever failed.
grep -aE '^(ok|FAIL|panic:|\?)' "$tmp/test.log"
if [ "$status" != 0 ]; then
	echo "---- failures ----"
	# Assertion messages first (testify's, then t.Fatal's and t.Error's
	# lines, without the tests' informational logs or sshd's debug
	# chatter, which once filled the page before the failure), then the
	# failing tests' summary lines.
	grep -aE -B1 -A25 '^\s+Error Trace:' "$tmp/test.log" | grep -av 'debug1:' | head -300
	grep -aE '^\s+[A-Za-z0-9_]+_test\.go:[0-9]+: .*(fail|FAIL|error|Error|unexpected|want|got)' "$tmp/test.log" | grep -av 'debug1:' | head -100
	grep -aE -B2 -A10 '^\s*--- FAIL|^panic:|\[build failed\]|^# ' "$tmp/test.log" | head -200
	mkdir -p .buildledger && cp "$tmp/test.log" .buildledger/test.log
	echo "the whole log: .buildledger/test.log"
fi
passed=$(grep -acE '^\s*--- PASS' "$tmp/test.log")
failed=$(grep -acE '^\s*--- FAIL' "$tmp/test.log")
skipped=$(grep -acE '^\s*--- SKIP' "$tmp/test.log")
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit "$status"
