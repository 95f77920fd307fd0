#!/usr/bin/env bash
# make chaos: CHAOS_TRIALS trials (default 100) of test/deploy's TestChaos
# on one split deployment, printing each trial and the closing "chaos:"
# lines. CHAOS_REPORT (default .buildledger/chaos.json) keeps the trials as
# JSON; CHAOS_DURATION (e.g. 2h) stops starting trials after that long.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .buildledger
export CHAOS_TRIALS="${CHAOS_TRIALS:-100}"
export CHAOS_REPORT="${CHAOS_REPORT:-$PWD/.buildledger/chaos.json}"
export NIX_CONF_DIR="${NIX_CONF_DIR:-$(mktemp -d)}"
log=$(mktemp /tmp/buildledger-chaos-XXXXXX.log)
echo "chaos: $CHAOS_TRIALS trials; full log in $log"
set +e
go test -count=1 -v -timeout "${CHAOS_TIMEOUT:-24h}" -run '^TestChaos$' ./test/deploy/ > "$log" 2>&1
status=$?
grep -aE 'trial [0-9]+:|seed|^(--- |FAIL|ok)' "$log" | sed 's/^ *//'
[ $status = 0 ] || grep -aE '^\s+(chaos_test|deploy_test)\.go:[0-9]+:' "$log" | tail -40
grep -a '^chaos:' "$log"
exit $status
