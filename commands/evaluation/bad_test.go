package evaluation_test

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/domain/jobset"
	"buildledger/events"
)

// TestBadInput: each broken configuration fails the evaluation with a
// clear message in the jobset's errormsg or fetcherrormsg, and leaves the
// previous evaluation and its builds as they were.
func TestBadInput(t *testing.T) {
	t.Parallel()
	fifo := filepath.Join(t.TempDir(), "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	tests := []struct {
		name  string
		cfg   func(e *env) events.JobsetConfig
		phase string
		want  string
	}{
		{"syntax error", func(e *env) events.JobsetConfig { return e.legacy("syntax.nix") }, "eval", "syntax error"},
		{"missing nixexprpath", func(e *env) events.JobsetConfig { return e.legacy("no-such-file.nix") }, "eval", "no-such-file.nix"},
		{"unreachable git", func(e *env) events.JobsetConfig {
			return e.legacy("small.nix", events.JobsetInput{Name: "other", Type: "git", Value: "file:///nonexistent/repo.git"})
		}, "fetch", "/nonexistent/repo.git"},
		{"input name not an identifier", func(e *env) events.JobsetConfig {
			return e.legacy("small.nix", events.JobsetInput{Name: "let", Type: "string", Value: "x"})
		}, "eval", `input name "let" is not a Nix identifier`},
		{"timeout", func(e *env) events.JobsetConfig {
			return e.legacy("block.nix", events.JobsetInput{Name: "fifo", Type: "string", Value: fifo})
		}, "eval", "timed out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := envOptions{evalTimeout: time.Minute}
			if tt.name == "timeout" {
				o = envOptions{evalTimeout: 2 * time.Second, evalPaths: []string{filepath.Dir(fifo)}}
			}
			e := newEnv(t, o)
			e.createJobset("j", e.legacy("small.nix"))
			good := e.evaluate("j", false)
			require.Equal(t, jobset.OutcomeFinished, good.Outcome, good.Error)
			e.project()
			before := e.builds(good.EvalID)
			nBuilds := e.count(`select count(*) from Builds`)

			e.updateJobset("j", tt.cfg(e))
			bad := e.evaluate("j", false)
			require.Equal(t, jobset.OutcomeFailed, bad.Outcome)
			require.Equal(t, tt.phase, bad.Phase)
			require.Contains(t, bad.Error, tt.want)
			e.project()
			col := map[string]string{"fetch": "fetchErrorMsg", "eval": "errorMsg"}[tt.phase]
			require.Contains(t, e.str(`select `+col+` from Jobsets where name = 'j'`), tt.want)
			require.Equal(t, 1, e.count(`select count(*) from JobsetEvals`))
			require.Equal(t, before, e.builds(good.EvalID))
			require.Equal(t, nBuilds, e.count(`select count(*) from Builds`))
			require.Equal(t, len(before), e.count(`select count(*) from Builds where isCurrent = 1`))
			for _, tbl := range []string{"eval_staging_inputs", "eval_staging_members", "eval_staging_errors"} {
				require.Zero(t, e.count(`select count(*) from `+tbl), tbl)
			}
			require.NotZero(t, e.count(`select count(*) from Jobsets where name = 'j' and lastCheckedTime is not null and startTime is null`))

			// The jobset stays schedulable: the next evaluation runs.
			e.updateJobset("j", e.legacy("small.nix"))
			next := e.evaluate("j", true)
			require.Equal(t, jobset.OutcomeFinished, next.Outcome, next.Error)
		})
	}
}

// TestJobNameCollision: colliding job names are a per-job error; the other
// jobs evaluate.
func TestJobNameCollision(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.createJobset("j", e.legacy("collide.nix"))
	sum := e.evaluate("j", false)
	require.Equal(t, jobset.OutcomeFinished, sum.Outcome, sum.Error)
	require.Equal(t, 1, sum.Errors)
	e.project()
	require.Equal(t, []string{"c"}, keys(e.builds(sum.EvalID)))
	require.Contains(t, e.str(`select errorMsg from Jobsets where name = 'j'`), "job name collision")
}

func keys(m map[string]int64) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
