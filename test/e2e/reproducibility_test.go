package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/nix/nixtest"
	"buildledger/adapters/postgres"
	"buildledger/events"
	"buildledger/projections/insights"
)

// TestReproducibilityVerified is issue 23's acceptance: a jobset with
// verifyFraction 1 and two builders (localhost, each with its own chroot
// store, under Nix's default sandbox) ends with an OutputVerified for
// every output built, each rebuilt on the other machine; the derivation
// that writes a random nonce is reported as not reproducible with both
// NAR hashes and the differing file, the others as reproducible. The
// scheduler recorded every rebuild as a verification.
func TestReproducibilityVerified(t *testing.T) {
	e := newHarness(t, harnessOptions{verifyFraction: 1})
	e.seed("repro.nix")
	for _, name := range []string{"a", "b"} {
		e.registerMachine(name, events.MachineConfig{URI: "localhost", Systems: []string{hostSystem()}, MaxJobs: 2,
			SpeedFactor: 1, Store: nixtest.NewChrootStore(t), Enabled: true})
	}
	e.startQueue(queueOptions{})
	sum := e.evaluate()
	require.Equal(t, 2, sum.Builds)
	e.waitBuilds(2, pipelineDeadline)

	built := e.queryStrings(`select s.drvpath || ' ' || o.name || ' ' || s.machine from buildsteps s
		join buildstepoutputs o using (build, stepnr) where s.status = 0 and s.propagatedfrom is null order by 1`)
	require.Len(t, built, 3, "base, stable and nonce built")
	query := `select drv_path || ' ' || output || ' ' || original_machine || ' ' || machine || ' ' || matches || ' ' ||
		nar_hash || ' ' || original_nar_hash || ' ' || coalesce(first_difference, '-') from insight_verifications order by 1`
	var rows []string
	deadline := time.Now().Add(pipelineDeadline)
	for {
		rows = e.queryStrings(query)
		if len(rows) >= len(built) {
			break
		}
		require.True(t, time.Now().Before(deadline), "verifications: %v of %v", rows, built)
		time.Sleep(200 * time.Millisecond)
	}
	require.Len(t, rows, len(built), "one OutputVerified per output")
	for i, r := range rows {
		f := strings.Fields(r)
		require.Equal(t, built[i], strings.Join(f[:3], " "), "the output, as built on its original machine")
		require.NotEqual(t, f[2], f[3], "rebuilt on the other machine")
		require.Regexp(t, `^sha256:[0-9a-z]{52}$`, f[5])
		require.Regexp(t, `^sha256:[0-9a-z]{52}$`, f[6])
		if strings.HasSuffix(f[0], "-repro-nonce.drv") {
			require.Equal(t, "false", f[4], "the nonce is not reproducible")
			require.NotEqual(t, f[5], f[6], "both hashes, different")
			require.Equal(t, "nonce", f[7], "the first differing file")
			continue
		}
		require.Equal(t, "true", f[4], "%s is reproducible", f[0])
		require.Equal(t, f[5], f[6])
	}

	rep, err := insights.JobsetReproducibility(e.ctx, postgres.NewReadModelDB(e.pool), projectName, jobsetName)
	require.NoError(t, err)
	require.Equal(t, 3, rep.Verified)
	require.Equal(t, 2, rep.Matching)
	require.Len(t, rep.Days, 1)
	require.Len(t, rep.Mismatches, 1)
	require.True(t, strings.HasSuffix(rep.Mismatches[0].DrvPath, "-repro-nonce.drv"))

	reasons := e.queryStrings(`select (data::json->'reason'->>'verification') from ledger.events where type = 'VerificationDispatched'`)
	require.Len(t, reasons, 3)
	for _, r := range reasons {
		require.Equal(t, "true", r, "recorded as a verification")
	}
}
