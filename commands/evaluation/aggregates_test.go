package evaluation_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/domain/jobset"
	"buildledger/events"
)

// TestBrokenAggregates follows Hydra's evaluator tests
// (evaluate-constituents-broken.t, evaluate-constituents-globbing.t,
// queue-runner/constituents.t): an evaluation that would add builds while
// an aggregate is broken fails with hydra-eval-jobset's message and keeps
// no build; one that adds none finishes, the aggregate's failure written as
// a job's error in Hydra's format.
func TestBrokenAggregates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// before is evaluated first when set.
		before, which string
		failed        bool
		errorMsg      string
		builds        int
	}{
		{name: "missing constituent", which: "broken", failed: true,
			errorMsg: "aggregate job ‘mixed_aggregate’ failed with the error: constituentA: does not exist"},
		{name: "cycle through globs", which: "cycle-glob", failed: true,
			errorMsg: "aggregate job ‘indirect_aggregate’ failed with the error: Dependency cycle: indirect_aggregate <-> packages.constituentA"},
		// Both jobs are in the cycle, so no build is added: Hydra keeps
		// the evaluation, with the cycle as the jobs' errors.
		{name: "trivial cycle", which: "cycle",
			errorMsg: "in job ‘indirect_aggregate’:\nDependency cycle: indirect_aggregate <-> ok_aggregate\n\n"},
		{name: "nothing evaluates", which: "only-broken",
			errorMsg: "in job ‘broken’:\ndoes-not-evaluate: "},
		{name: "no new builds", before: "good", which: "good-broken", builds: 1,
			errorMsg: "in job ‘agg’:\nmissing: does not exist\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{})
			cfg := func(which string) events.JobsetConfig {
				return e.legacy("aggregates.nix", events.JobsetInput{Name: "which", Type: "string", Value: which})
			}
			evals := 0
			if tt.before != "" {
				e.createJobset("j", cfg(tt.before))
				first := e.evaluate("j", false)
				require.Equal(t, jobset.OutcomeFinished, first.Outcome, first.Error)
				e.updateJobset("j", cfg(tt.which))
				evals++
			} else {
				e.createJobset("j", cfg(tt.which))
			}
			sum := e.evaluate("j", true)
			e.project()
			if tt.failed {
				require.Equal(t, jobset.OutcomeFailed, sum.Outcome)
				require.Equal(t, "eval", sum.Phase)
				require.Equal(t, tt.errorMsg, sum.Error)
				require.Equal(t, tt.errorMsg, e.str(`select errorMsg from Jobsets where name = 'j'`))
			} else {
				require.Equal(t, jobset.OutcomeFinished, sum.Outcome, sum.Error)
				require.False(t, sum.HasNewBuilds)
				require.Contains(t, e.str(`select errorMsg from Jobsets where name = 'j'`), tt.errorMsg)
				evals++
			}
			require.Equal(t, tt.builds, e.count(`select count(*) from Builds where finished = 0 and isCurrent = 1`))
			require.Equal(t, tt.builds, e.count(`select count(*) from Builds`))
			require.Equal(t, evals, e.count(`select count(*) from JobsetEvals`))
		})
	}
}
