package evaluation_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres"
	"buildledger/domain/streams"
	"buildledger/events"
	"buildledger/projections"
	"buildledger/projections/hydra"
	"buildledger/projections/ledger"
)

// BenchmarkIngest100k records a synthetic 100,000-job evaluation
// (BuildQueued, StepQueued with an edge to a shared dependency,
// JobEvaluated, EvaluationFinished) and measures how long the Hydra and
// ledger projections take to bring the read models up to date. The events
// are appended in batches below 1 MiB before the clock starts; only the
// projection is timed. BENCH_JOBS overrides the size; BENCH_PROJECTION
// (hydra or ledger) runs one projection alone.
func BenchmarkIngest100k(b *testing.B) {
	n := 100000
	if v := benchJobs(); v != 10000 {
		n = v
	}
	for i := range b.N {
		b.StopTimer()
		e := newEnv(b, envOptions{})
		e.createJobset("big", e.legacy("small.nix"))
		nEvents := e.appendSyntheticEval(int64(i+1)*1000000, n)
		ps := []projections.Projection{hydra.Projection{}, ledger.Projection{}}
		switch os.Getenv("BENCH_PROJECTION") {
		case "hydra":
			ps = ps[:1]
		case "ledger":
			ps = ps[1:]
		}
		runner, err := projections.NewRunner(e.store, e.codec, postgres.NewReadModelDB(e.pool), ps, projections.RunnerOptions{})
		require.NoError(b, err)
		b.StartTimer()
		t0 := time.Now()
		_, err = runner.CatchUp(e.ctx)
		require.NoError(b, err)
		d := time.Since(t0)
		b.StopTimer()
		if os.Getenv("BENCH_PROJECTION") != "ledger" {
			require.Equal(b, n, e.count(`select count(*) from JobsetEvalMembers`))
			require.Equal(b, n, e.count(`select count(*) from Builds where finished = 0`))
		}
		b.ReportMetric(d.Seconds(), "ingest-s")
		b.ReportMetric(float64(nEvents)/d.Seconds(), "events/s")
	}
}

// appendSyntheticEval appends an evaluation of n jobs with build ids from
// firstBuild and returns the number of events.
func (e *env) appendSyntheticEval(firstBuild int64, n int) int {
	e.t.Helper()
	const evalID = 1
	const batch = 1000
	var count int
	put := func(stream string, ps []events.Payload) {
		evs := make([]events.Event, len(ps))
		for i, p := range ps {
			ev, err := e.codec.Encode(p, e.admin, e.rt.Clock().Now())
			require.NoError(e.t, err)
			evs[i] = ev
		}
		_, err := e.store.Append(e.ctx, stream, events.Any, evs...)
		require.NoError(e.t, err)
		count += len(evs)
	}
	put(streams.Eval(evalID), []events.Payload{&events.EvaluationStarted{EvalID: evalID, Project: "p", Jobset: "big", JobsetID: 1, StartTime: 1}})
	dep := "/nix/store/00000000000000000000000000000000-dep.drv"
	put(streams.Step(dep), []events.Payload{&events.StepQueued{DrvPath: dep, System: "x86_64-linux", BuildID: firstBuild, EvalID: evalID,
		Outputs: []events.Output{{Name: "out", Path: "/nix/store/00000000000000000000000000000000-dep"}}}})
	drv := func(i int) string { return fmt.Sprintf("/nix/store/%032d-job%d.drv", i+1, i) }
	out := func(i int) []events.Output {
		return []events.Output{{Name: "out", Path: fmt.Sprintf("/nix/store/%032d-job%d", i+1, i)}}
	}
	var builds, steps, jobs []events.Payload
	flush := func(force bool) {
		if len(builds) >= batch || (force && len(builds) > 0) {
			put("bench-builds-"+strconv.Itoa(count), builds)
			put("bench-steps-"+strconv.Itoa(count), steps)
			builds, steps = nil, nil
		}
	}
	for i := range n {
		id := firstBuild + int64(i)
		meta := events.JobMeta{Timeout: 36000, MaxSilent: 7200, SchedulingPriority: 100, Description: "synthetic job"}
		builds = append(builds, &events.BuildQueued{BuildID: id, EvalID: evalID, JobsetID: 1, Project: "p", Jobset: "big",
			Job: "job" + strconv.Itoa(i), NixName: "job" + strconv.Itoa(i), DrvPath: drv(i), System: "x86_64-linux",
			Outputs: out(i), Meta: meta, Timestamp: 1})
		steps = append(steps, &events.StepQueued{DrvPath: drv(i), System: "x86_64-linux", Outputs: out(i), InputDrvs: []string{dep},
			BuildID: id, EvalID: evalID})
		jobs = append(jobs, &events.JobEvaluated{EvalID: evalID, Job: "job" + strconv.Itoa(i), NixName: "job" + strconv.Itoa(i),
			System: "x86_64-linux", DrvPath: drv(i), Outputs: out(i), Meta: meta, BuildID: id, IsNew: true})
		flush(false)
	}
	flush(true)
	for len(jobs) > 0 {
		k := min(batch, len(jobs))
		put(streams.Eval(evalID), jobs[:k])
		jobs = jobs[k:]
	}
	put(streams.Eval(evalID), []events.Payload{&events.EvaluationFinished{EvalID: evalID, Project: "p", Jobset: "big", JobsetID: 1,
		Hash: "h", Timestamp: 2, NrJobs: n, NrBuilds: n, NrNewBuilds: n, HasNewBuilds: true}})
	return count
}
