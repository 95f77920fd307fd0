package insights_test

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres/pgtest"
	"buildledger/events"
	"buildledger/projections/insights"
	"buildledger/projections/ledger"
	"buildledger/test/projtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// seeded is a ledger with a history appended and projected.
type seeded struct {
	t *testing.T
	*projtest.Env
}

func newSeeded(t *testing.T) *seeded { return &seeded{t: t, Env: projtest.New(t)} }

func (s *seeded) add(stream string, ps ...events.Payload) {
	s.t.Helper()
	for _, p := range ps {
		s.Append(s.t, stream, events.Metadata{Actor: "component:test"}, p)
	}
}

func (s *seeded) project() {
	s.t.Helper()
	s.CatchUp(s.t, ledger.Projection{}, insights.Projection{})
}

func finished(drv string, attempt, status int, machine string) *events.StepFinished {
	return &events.StepFinished{DrvPath: drv, BuildID: 1, StepNr: attempt, Machine: machine, Attempt: attempt, Status: status, StartTime: 100, StopTime: 200}
}

func uploaded(drv, path, hash string, build int64) *events.OutputUploaded {
	return &events.OutputUploaded{DrvPath: drv, BuildID: build, OutputName: "out", Path: path, NarHash: hash, NarSize: 10, CacheURL: "file:///c"}
}

func TestFlakyAndNonReproducible(t *testing.T) {
	s := newSeeded(t)
	// flaky: failed (1), then succeeded on retry.
	s.add("step-flaky", finished("/nix/store/a-flaky.drv", 1, 1, "m1"), finished("/nix/store/a-flaky.drv", 2, 0, "m2"))
	// flaky after two failures (timed out, failed with output).
	s.add("step-flaky2", finished("/nix/store/b-flaky2.drv", 1, 7, "m1"), finished("/nix/store/b-flaky2.drv", 2, 6, "m1"),
		finished("/nix/store/b-flaky2.drv", 3, 0, "m1"))
	// not flaky: succeeded at once.
	s.add("step-ok", finished("/nix/store/c-ok.drv", 1, 0, "m1"))
	// not flaky: failed and stayed failed.
	s.add("step-bad", finished("/nix/store/d-bad.drv", 1, 1, "m1"), finished("/nix/store/d-bad.drv", 2, 1, "m1"))
	// not flaky: aborted (machine lost), then succeeded.
	s.add("step-aborted", finished("/nix/store/e-aborted.drv", 1, 3, "m1"), finished("/nix/store/e-aborted.drv", 2, 0, "m2"))
	// not flaky: dependency failed, then succeeded.
	s.add("step-dep", finished("/nix/store/f-dep.drv", 1, 2, "m1"), finished("/nix/store/f-dep.drv", 2, 0, "m1"))

	// non-reproducible: the same output with two NAR hashes.
	s.add("build-1", uploaded("/nix/store/g.drv", "/nix/store/g-out", "sha256:aaa", 1))
	s.add("build-2", uploaded("/nix/store/g.drv", "/nix/store/g-out", "sha256:bbb", 2))
	// reproducible: same hash twice.
	s.add("build-3", uploaded("/nix/store/h.drv", "/nix/store/h-out", "sha256:ccc", 3))
	s.add("build-4", uploaded("/nix/store/h.drv", "/nix/store/h-out", "sha256:ccc", 4))
	// different derivations with different hashes: nothing to see.
	s.add("build-5", uploaded("/nix/store/i.drv", "/nix/store/i-out", "sha256:ddd", 5))
	s.add("build-6", uploaded("/nix/store/j.drv", "/nix/store/j-out", "sha256:eee", 6))
	// a third hash for g is added to the same finding.
	s.add("build-7", uploaded("/nix/store/g.drv", "/nix/store/g-out", "sha256:fff", 7))
	s.project()

	ctx := context.Background()
	flaky, err := insights.FlakySteps(ctx, s.DB)
	require.NoError(t, err)
	got := map[string]insights.FlakyStep{}
	for _, f := range flaky {
		got[f.DrvPath] = f
	}
	require.Len(t, got, 2, "%+v", flaky)
	require.Equal(t, 1, got["/nix/store/a-flaky.drv"].FailedAttempts)
	require.Equal(t, []string{"m1", "m2"}, got["/nix/store/a-flaky.drv"].Machines)
	require.Equal(t, 2, got["/nix/store/b-flaky2.drv"].FailedAttempts)
	require.Equal(t, 7, got["/nix/store/b-flaky2.drv"].FirstFailedStatus)
	require.Equal(t, 3, got["/nix/store/b-flaky2.drv"].SucceededAttempt)

	nr, err := insights.NonReproducibleOutputs(ctx, s.DB)
	require.NoError(t, err)
	require.Len(t, nr, 1, "%+v", nr)
	require.Equal(t, "/nix/store/g.drv", nr[0].DrvPath)
	require.Equal(t, []string{"sha256:aaa", "sha256:bbb", "sha256:fff"}, nr[0].NarHashes)
	require.Equal(t, []int64{1, 2, 7}, nr[0].BuildIDs)
}

func TestBlockersOriginAndBlastRadius(t *testing.T) {
	s := newSeeded(t)
	const (
		lib  = "/nix/store/lib.drv"
		app  = "/nix/store/app.drv"
		tool = "/nix/store/tool.drv"
		gpu  = "/nix/store/gpu.drv"
	)
	s.add("machine-m1", &events.MachineRegistered{Name: "m1", MachineConfig: events.MachineConfig{URI: "ssh://m1", Systems: []string{"x86_64-linux"}, MaxJobs: 2, Enabled: true}})
	queue := func(id int64, drv, job string) *events.BuildQueued {
		return &events.BuildQueued{BuildID: id, EvalID: 1, JobsetID: 1, Project: "p", Jobset: "j", Job: job, DrvPath: drv, System: "x86_64-linux"}
	}
	s.add("build-1", queue(1, lib, "lib"))
	s.add("build-2", queue(2, app, "app"))
	s.add("build-3", queue(3, tool, "tool"))
	s.add("build-4", queue(4, gpu, "gpu"))
	s.add("step-lib", &events.StepQueued{DrvPath: lib, System: "x86_64-linux", BuildID: 1, EvalID: 1})
	s.add("step-app", &events.StepQueued{DrvPath: app, System: "x86_64-linux", InputDrvs: []string{lib}, BuildID: 2, EvalID: 1})
	s.add("step-tool", &events.StepQueued{DrvPath: tool, System: "x86_64-linux", InputDrvs: []string{app}, BuildID: 3, EvalID: 1})
	s.add("step-gpu", &events.StepQueued{DrvPath: gpu, System: "x86_64-linux", RequiredFeatures: []string{"cuda"}, BuildID: 4, EvalID: 1})
	s.project()

	ctx := context.Background()
	why, err := insights.BuildBlockers(ctx, s.DB, 3)
	require.NoError(t, err)
	kinds := map[string]string{}
	for _, b := range why.Blockers {
		kinds[b.Step.DrvPath] = b.Kind
	}
	require.Equal(t, map[string]string{lib: "machines-busy", app: "waiting", tool: "waiting"}, kinds)
	why, err = insights.BuildBlockers(ctx, s.DB, 4)
	require.NoError(t, err)
	require.Len(t, why.Blockers, 1)
	require.Equal(t, "no-machine", why.Blockers[0].Kind, why.Blockers[0].Detail)

	// lib starts on m1, then fails: app and tool get "dependency failed".
	s.add("step-lib", &events.StepStarted{DrvPath: lib, BuildID: 1, StepNr: 1, Machine: "m1", Attempt: 1, System: "x86_64-linux", StartTime: 10})
	s.project()
	why, err = insights.BuildBlockers(ctx, s.DB, 2)
	require.NoError(t, err)
	require.Len(t, why.Blockers, 2)
	require.Equal(t, "waiting", why.Blockers[0].Kind, "app waits for lib")
	require.Equal(t, "running", why.Blockers[1].Kind, "lib builds on m1")
	s.add("step-lib", finished(lib, 1, 1, "m1"))
	s.add("build-1", &events.BuildFinished{BuildID: 1, Status: 1})
	s.add("build-2", &events.BuildFinished{BuildID: 2, Status: 2, PropagatedFrom: 1, FailedDrv: lib})
	s.project()

	origin, err := insights.BuildFailureOrigin(ctx, s.DB, 2)
	require.NoError(t, err)
	require.NotNil(t, origin.Step)
	require.Equal(t, lib, origin.Step.DrvPath)
	require.Equal(t, int64(1), *origin.PropagatedFrom)
	require.Equal(t, "/build/1/step/1/log", origin.Step.LogURL)

	radius, err := insights.StepBlastRadius(ctx, s.DB, lib, insights.MaxBlastRadiusBuilds)
	require.NoError(t, err)
	require.Equal(t, 2, radius.Derivations, "app and tool depend on lib")
	require.Equal(t, []int64{1, 2, 3}, radius.Builds)
	require.Equal(t, 3, radius.NrBuilds)
	require.Equal(t, 1, radius.Unfinished, "only tool's build is still queued")
	// The list is capped; the counts are not.
	radius, err = insights.StepBlastRadius(ctx, s.DB, lib, 2)
	require.NoError(t, err)
	require.Equal(t, insights.BlastRadius{DrvPath: lib, Derivations: 2, NrBuilds: 3, Unfinished: 1, Builds: []int64{1, 2}}, radius)

	why, err = insights.BuildBlockers(ctx, s.DB, 3)
	require.NoError(t, err)
	kinds = map[string]string{}
	for _, b := range why.Blockers {
		kinds[b.Step.DrvPath] = b.Kind
	}
	require.Equal(t, "failed", kinds[lib])

	attempts, err := insights.StepAttempts(ctx, s.DB, lib)
	require.NoError(t, err)
	require.Len(t, attempts, 1)
	require.Equal(t, 1, *attempts[0].Status)
}

func TestEvalLatency(t *testing.T) {
	s := newSeeded(t)
	s.add("jobset-p.j", &events.EvaluationRequested{Project: "p", Jobset: "j", Reason: "push"})
	s.add("eval-1", &events.EvaluationStarted{EvalID: 1, Project: "p", Jobset: "j", JobsetID: 1},
		&events.InputFetched{EvalID: 1, Name: "src", Type: "git"},
		&events.EvaluationFinished{EvalID: 1, Project: "p", Jobset: "j", JobsetID: 1})
	s.add("eval-2", &events.EvaluationStarted{EvalID: 2, Project: "p", Jobset: "k", JobsetID: 2})
	s.project()
	lat, err := insights.EvalLatencies(context.Background(), s.DB)
	require.NoError(t, err)
	require.Len(t, lat, 1, "only finished evaluations count")
	require.Equal(t, "j", lat[0].Jobset)
	require.Equal(t, 1, lat[0].Evals)
	require.GreaterOrEqual(t, lat[0].AvgRequestToFinish, lat[0].AvgEval)
	require.NotNil(t, lat[0].AvgFetchToFinish)
}
