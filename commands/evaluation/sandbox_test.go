package evaluation_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/domain/jobset"
	"buildledger/events"
)

// TestJobsetCannotPublishServerSecrets: a jobset that reads a secret from
// the evaluator's environment and from a file outside its inputs (the
// server's session key, say) gets nothing and an error, and the secret
// is nowhere in the log.
func TestJobsetCannotPublishServerSecrets(t *testing.T) {
	const secret = "s3cr3t-5ca1ab1e-c0ffee"
	t.Setenv("BUILDLEDGER_TEST_SECRET", secret)
	secretFile := filepath.Join(t.TempDir(), "session.key")
	require.NoError(t, os.WriteFile(secretFile, []byte(secret), 0o600))
	e := newEnv(t, envOptions{})
	e.createJobset("j", e.legacy("steal.nix", events.JobsetInput{Name: "secretFile", Type: "string", Value: secretFile}))
	sum := e.evaluate("j", false)
	require.Equal(t, jobset.OutcomeFinished, sum.Outcome, sum.Error)
	require.Equal(t, 1, sum.Jobs, "only envDrv evaluates, and without the secret")
	require.Equal(t, 3, sum.Errors)
	require.Zero(t, e.count(`select count(*) from ledger.events where data::text like '%' || $1 || '%' or metadata::text like '%' || $1 || '%'`, secret))
	require.Equal(t, 2, e.count(`select count(*) from ledger.events where type = 'JobEvaluationFailed' and data::text like '%forbidden in restricted mode%'`))
}

// TestLocalInputsOutsideTheRootsAreRefused: a path input or a local git
// repository outside the operator's roots fails the fetch with a clear
// message, and nothing of it reaches the store.
func TestLocalInputsOutsideTheRootsAreRefused(t *testing.T) {
	t.Parallel()
	for _, in := range []events.JobsetInput{
		{Name: "other", Type: "path", Value: "/etc"},
		{Name: "other", Type: "git", Value: "file:///etc"},
		{Name: "other", Type: "git", Value: "/root"},
	} {
		t.Run(in.Type+" "+in.Value, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{})
			e.createJobset("j", e.legacy("small.nix", in))
			sum := e.evaluate("j", false)
			require.Equal(t, jobset.OutcomeFailed, sum.Outcome)
			require.Equal(t, "fetch", sum.Phase)
			require.Contains(t, sum.Error, "not inside a directory the operator allows inputs from")
		})
	}
}

// TestJobCap: an evaluation with more jobs than the cap fails with a clear
// message, and the builds it recorded while Nix ran are withdrawn, as for
// any failed evaluation.
func TestJobCap(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{maxJobs: 2, recordChunk: 1})
	e.createJobset("j", e.legacy("release.nix"))
	sum := e.evaluate("j", false)
	require.Equal(t, jobset.OutcomeFailed, sum.Outcome)
	require.Equal(t, "eval", sum.Phase)
	require.Equal(t, "the jobset has more than 2 jobs, the most one evaluation may have", sum.Error)
	require.NotZero(t, e.count(`select count(*) from ledger.events where type = 'JobEvaluated'`), "jobs were recorded while Nix ran")
	e.project()
	require.Zero(t, e.count(`select count(*) from Builds`))
	require.Zero(t, e.count(`select count(*) from JobsetEvals`))
	require.Contains(t, e.str(`select errorMsg from Jobsets where name = 'j'`), "more than 2 jobs")
}

// TestForgedStorePathIsAJobError: a job whose drvPath is not a store path
// fails alone and never reaches the build graph.
func TestForgedStorePathIsAJobError(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.createJobset("j", e.legacy("forged.nix"))
	sum := e.evaluate("j", false)
	require.Equal(t, jobset.OutcomeFinished, sum.Outcome, sum.Error)
	require.Equal(t, 1, sum.Jobs)
	require.Equal(t, 1, e.count(`select count(*) from ledger.events where type = 'JobEvaluationFailed'
		and data::text like '%drvPath %--store% is not a derivation in the store%'`))
}
