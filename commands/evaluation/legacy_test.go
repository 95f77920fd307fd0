package evaluation_test

import (
	"sort"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/domain/jobset"
	"buildledger/domain/streams"
	"buildledger/events"
)

// TestEvaluateLegacyJobset evaluates release.nix and checks Hydra's rows:
// nested jobs, a failing attribute next to good ones, an aggregate, meta,
// several outputs, steps with their edges, an already built job, then a
// cached and a forced re-evaluation that reuses every build.
func TestEvaluateLegacyJobset(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	run(t, "", "nix-build", "--no-out-link", jobsDir(t)+"/prebuilt.nix")
	e.createJobset("main", e.legacy("release.nix"))

	sum := e.evaluate("main", false)
	require.Equal(t, jobset.OutcomeFinished, sum.Outcome, sum.Error)
	wantJobs := []string{"all", "dep", "multi", "packageset.deeper.deeper.nested", "packageset.nested",
		"plain.set.job", "prebuilt", "user", "withMeta"}
	require.Equal(t, len(wantJobs), sum.Jobs)
	require.Equal(t, len(wantJobs), sum.NewBuilds)
	require.Equal(t, 1, sum.Errors)
	require.Equal(t, 1, sum.CachedBuilds, "prebuilt's output is valid")
	require.True(t, sum.HasNewBuilds)
	e.project()

	// The evaluation row and its members.
	require.Equal(t, 1, e.count(`select count(*) from JobsetEvals where id = $1 and hasNewBuilds = 1 and nrBuilds = $2 and hash = $3`,
		sum.EvalID, len(wantJobs), sum.Hash))
	builds := e.builds(sum.EvalID)
	var jobs []string
	for j := range builds {
		jobs = append(jobs, j)
	}
	sort.Strings(jobs)
	require.Equal(t, wantJobs, jobs)
	require.Equal(t, len(wantJobs), e.count(`select count(*) from JobsetEvalMembers where eval = $1 and isNew = 1`, sum.EvalID))
	require.Equal(t, len(wantJobs), e.count(`select count(*) from Builds where isCurrent = 1 and finished = 0 or id = $1`, builds["prebuilt"]))

	// The failing attribute is the eval's error and the jobset's.
	require.Contains(t, e.str(`select errorMsg from EvaluationErrors where id = $1`, sum.EvalID), "this job is broken on purpose")
	require.Contains(t, e.str(`select errorMsg from Jobsets where name = 'main'`), "in job ‘broken’:\n")
	require.Equal(t, "", e.str(`select fetchErrorMsg from Jobsets where name = 'main'`))

	// Meta.
	var desc, license, homepage, maint string
	var prio, timeout, maxSilent int
	require.NoError(t, e.pool.QueryRow(e.ctx, `select description, license, homepage, maintainers, priority, timeout, maxsilent
		from Builds where id = $1`, builds["withMeta"]).Scan(&desc, &license, &homepage, &maint, &prio, &timeout, &maxSilent))
	require.Equal(t, []any{"A job with meta", "MIT, BSD", "https://example.org", "alice@example.com, bob@example.org", 50, 123, 45},
		[]any{desc, license, homepage, maint, prio, timeout, maxSilent})
	require.Equal(t, 100, e.count(`select priority from Builds where id = $1`, builds["dep"]), "default scheduling priority")
	require.Equal(t, 1, e.count(`select count(*) from Builds where id = $1 and timeout is null and maxsilent is null`, builds["dep"]),
		"without meta.timeout and meta.maxSilent Hydra stores NULL; the runner's defaults apply")

	// Several outputs.
	require.Equal(t, 2, e.count(`select count(*) from BuildOutputs where build = $1 and name in ('out', 'dev') and path like '/nix/store/%'`, builds["multi"]))

	// The aggregate's constituents, by name and by derivation.
	rows, err := e.pool.Query(e.ctx, `select constituent from AggregateConstituents where aggregate = $1 order by constituent`, builds["all"])
	require.NoError(t, err)
	var cons []int64
	for rows.Next() {
		var c int64
		require.NoError(t, rows.Scan(&c))
		cons = append(cons, c)
	}
	rows.Close()
	want := []int64{builds["dep"], builds["packageset.nested"]}
	sort.Slice(want, func(i, j int) bool { return want[i] < want[j] })
	require.Equal(t, want, cons)

	// The already built job is a cached build; the others are queued.
	require.Equal(t, 1, e.count(`select count(*) from Builds where id = $1 and finished = 1 and isCachedBuild = 1 and buildStatus = 0`, builds["prebuilt"]))
	require.Equal(t, len(wantJobs)-1, e.count(`select count(*) from Builds where finished = 0`))

	// The input.
	require.Equal(t, 1, e.count(`select count(*) from JobsetEvalInputs where eval = $1 and name = 'src' and type = 'path'
		and path like '/nix/store/%' and sha256hash like 'sha256:%'`, sum.EvalID))
	require.Equal(t, 1, e.count(`select count(*) from JobsetEvalInputs where eval = $1 and name = 'salt' and value = $2`, sum.EvalID, e.salt))

	// Steps: user's derivation has an edge to dep's.
	var userDrv, depDrv string
	require.NoError(t, e.pool.QueryRow(e.ctx, `select drvPath from Builds where id = $1`, builds["user"]).Scan(&userDrv))
	require.NoError(t, e.pool.QueryRow(e.ctx, `select drvPath from Builds where id = $1`, builds["dep"]).Scan(&depDrv))
	st := e.stepQueued(userDrv)
	require.Equal(t, []string{depDrv}, st.InputDrvs)
	require.Equal(t, builds["user"], st.BuildID)
	require.Equal(t, sum.EvalID, st.EvalID)
	require.NotEmpty(t, st.Outputs)
	require.Equal(t, len(wantJobs)-1, sum.Steps, "one step per unbuilt job derivation")

	// The event order the projection relies on.
	evalEvents := e.streamEvents(streams.Eval(sum.EvalID))
	require.IsType(t, &events.EvaluationStarted{}, evalEvents[0])
	require.IsType(t, &events.EvaluationFinished{}, evalEvents[len(evalEvents)-1])

	// Unchanged inputs: a cached evaluation, no new rows.
	again := e.evaluate("main", false)
	require.Equal(t, jobset.OutcomeCached, again.Outcome)
	require.Equal(t, sum.EvalID, again.CachedFrom)
	e.project()
	require.Equal(t, 1, e.count(`select count(*) from JobsetEvals`))
	require.Equal(t, 0, e.count(`select count(*) from eval_staging_members`))

	// Forced: a new evaluation reusing every build.
	forced := e.evaluate("main", true)
	require.Equal(t, jobset.OutcomeFinished, forced.Outcome)
	require.Zero(t, forced.NewBuilds)
	require.False(t, forced.HasNewBuilds)
	e.project()
	require.Equal(t, builds, e.builds(forced.EvalID))
	require.Equal(t, 0, e.count(`select count(*) from JobsetEvalMembers where eval = $1 and isNew = 1`, forced.EvalID))
	require.Equal(t, len(wantJobs), e.count(`select count(*) from Builds`))
	require.Equal(t, 1, e.count(`select count(*) from JobsetEvals where id = $1 and hasNewBuilds = 0`, forced.EvalID))

	// A changed input: only the job that depends on it gets a new build.
	cfg := e.legacy("release.nix", events.JobsetInput{Name: "version", Type: "string", Value: "2"})
	e.updateJobset("main", cfg)
	changed := e.evaluate("main", false)
	require.Equal(t, jobset.OutcomeFinished, changed.Outcome)
	require.Equal(t, 1, changed.NewBuilds)
	e.project()
	nb := e.builds(changed.EvalID)
	require.NotEqual(t, builds["user"], nb["user"])
	require.Equal(t, builds["dep"], nb["dep"])
	require.Equal(t, 1, e.count(`select count(*) from JobsetEvalMembers where eval = $1 and isNew = 1`, changed.EvalID))
	require.Equal(t, 0, e.count(`select isCurrent from Builds where id = $1`, builds["user"]))
	require.Equal(t, 1, e.count(`select isCurrent from Builds where id = $1`, nb["user"]))
}
