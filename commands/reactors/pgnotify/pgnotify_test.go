package pgnotify_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/commands"
	"buildledger/commands/reactors/outbox"
	"buildledger/commands/reactors/pgnotify"
	"buildledger/domain/streams"
	"buildledger/events"
	"buildledger/projections"
	"buildledger/projections/hydra"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// channels are every channel Hydra sends on.
var channels = []string{
	"jobset_shares_changed", "jobsets_added", "jobsets_deleted", "jobset_scheduling_changed",
	"builds_deleted", "builds_restarted", "builds_cancelled", "builds_bumped",
	"builds_added", "build_queued", "build_started", "build_finished", "step_started", "step_finished",
	"eval_started", "eval_added", "eval_cached", "eval_failed", "cached_build_finished", "cached_build_queued",
}

type env struct {
	t     *testing.T
	pool  *pgxpool.Pool
	store *pglog.Store
	rt    *commands.Runtime
	cps   *postgres.Outbox
	conn  *pgx.Conn
}

func newEnv(t *testing.T) *env {
	ctx := context.Background()
	e := &env{t: t, pool: pgtest.NewPool(t)}
	e.store = pglog.New(e.pool, pglog.Options{})
	e.rt = commands.NewRuntime(e.store, events.NewCodec(), commands.Options{Host: "test",
		Clock: commands.ClockFunc(func() time.Time { return time.Unix(1_700_000_000, 0) })})
	e.cps = postgres.NewOutbox(e.pool)
	conn, err := pgx.ConnectConfig(ctx, e.pool.Config().ConnConfig.Copy())
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	for _, c := range append(channels, "test_done") {
		_, err := conn.Exec(ctx, "listen "+c)
		require.NoError(t, err)
	}
	e.conn = conn
	return e
}

func (e *env) append(md events.Metadata, stream string, ps ...events.Payload) {
	e.t.Helper()
	for _, p := range ps {
		ev, err := e.rt.Codec().Encode(p, md, time.Unix(1_700_000_000, 0))
		require.NoError(e.t, err)
		_, err = e.store.Append(context.Background(), stream, events.Any, ev)
		require.NoError(e.t, err)
	}
}

// catchUp runs a new pgnotify reactor (a restarted process) up to the
// log's head.
func (e *env) catchUp() {
	e.t.Helper()
	r := pgnotify.New(e.rt, postgres.NewNotifier(e.pool), postgres.NewNotifyLookup(e.pool), nil)
	require.NoError(e.t, outbox.NewFollower(e.rt, e.cps, r, nil).CatchUp(context.Background()))
}

// project brings Hydra's read models up to the log's head, as up's
// projector does (the reactor waits for them).
func (e *env) project() {
	e.t.Helper()
	ctx := context.Background()
	runner, err := projections.NewRunner(e.store, e.rt.Codec(), postgres.NewReadModelDB(e.pool),
		[]projections.Projection{hydra.Projection{Keys: postgres.NewVault(e.pool)}}, projections.RunnerOptions{})
	require.NoError(e.t, err)
	_, err = runner.CatchUp(ctx)
	require.NoError(e.t, err)
}

// heard returns what the listener heard, as "channel payload", up to a
// notification sent now: Postgres delivers in commit order.
func (e *env) heard() []string {
	e.t.Helper()
	ctx := context.Background()
	_, err := e.pool.Exec(ctx, `select pg_notify('test_done', '')`)
	require.NoError(e.t, err)
	var out []string
	for {
		n, err := e.conn.WaitForNotification(ctx)
		require.NoError(e.t, err)
		if n.Channel == "test_done" {
			return out
		}
		out = append(out, n.Channel+" "+n.Payload)
	}
}

const drv1, drv2 = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-one.drv", "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-two.drv"

// history records a jobset, two evaluations (the second keeps the
// first's builds), a build, a check, a failed evaluation and the
// jobset's end: every channel.
func (e *env) history(md events.Metadata) {
	cfg := events.JobsetConfig{NixExprInput: "src", NixExprPath: "release.nix", Enabled: 1, CheckInterval: 300, SchedulingShares: 100,
		Inputs: []events.JobsetInput{{Name: "src", Type: "path", Value: "/tmp"}}}
	js := streams.Jobset("p", "j")
	queued := func(eval, build int64, drv string) {
		e.append(md, streams.Build(build), &events.BuildQueued{BuildID: build, EvalID: eval, JobsetID: 1, Project: "p", Jobset: "j",
			Job: drv[44:], DrvPath: drv, System: "x86_64-linux"})
	}
	e.append(md, streams.Project("p"), &events.ProjectCreated{Name: "p", ProjectConfig: events.ProjectConfig{DisplayName: "p", Owner: "admin", Enabled: true}})
	e.append(md, js, &events.JobsetCreated{Project: "p", Name: "j", ID: 1, JobsetConfig: cfg})
	e.append(md, streams.Eval(1), &events.EvaluationStarted{EvalID: 1, Project: "p", Jobset: "j", JobsetID: 1})
	queued(1, 1, drv1)
	queued(1, 2, drv2)
	e.append(md, streams.Eval(1),
		&events.JobEvaluated{EvalID: 1, Job: "one", BuildID: 1, IsNew: true, DrvPath: drv1, System: "x86_64-linux"},
		&events.JobEvaluated{EvalID: 1, Job: "two", BuildID: 2, IsNew: true, DrvPath: drv2, System: "x86_64-linux"},
		&events.EvaluationFinished{EvalID: 1, Project: "p", Jobset: "j", JobsetID: 1})
	e.append(md, streams.Step(drv1),
		&events.StepStarted{DrvPath: drv1, BuildID: 1, StepNr: 1, Machine: "m1", Attempt: 1, StartTime: 10},
		&events.StepLogStored{DrvPath: drv1, BuildID: 1, StepNr: 1, Attempt: 1, Location: "aa/aaaa-one.drv-1.log.zst"},
		&events.StepFinished{DrvPath: drv1, BuildID: 1, StepNr: 1, Machine: "m1", Attempt: 1, StartTime: 10, StopTime: 20})
	e.append(md, streams.Build(1), &events.BuildFinished{BuildID: 1, StartTime: 10, StopTime: 20})
	e.append(md, streams.Eval(2), &events.EvaluationStarted{EvalID: 2, Project: "p", Jobset: "j", JobsetID: 1},
		&events.JobEvaluated{EvalID: 2, Job: "one", BuildID: 1, DrvPath: drv1, System: "x86_64-linux"},
		&events.JobEvaluated{EvalID: 2, Job: "two", BuildID: 2, DrvPath: drv2, System: "x86_64-linux"},
		&events.EvaluationFinished{EvalID: 2, Project: "p", Jobset: "j", JobsetID: 1})
	e.append(md, streams.Build(2), &events.BuildBumped{BuildID: 2, GlobalPriority: 40},
		&events.BuildCancelled{BuildID: 2, Timestamp: 41})
	e.append(md, streams.Build(1), &events.BuildRestarted{BuildID: 1, Timestamp: 42})
	e.append(md, js, &events.EvaluationRequested{Project: "p", Jobset: "j", Reason: "api", Force: true, At: 43},
		&events.EvaluationCached{Project: "p", Jobset: "j", EvalID: 2, Hash: "2", Timestamp: 44, StartTime: 43})
	e.append(md, streams.Eval(3), &events.EvaluationStarted{EvalID: 3, Project: "p", Jobset: "j", JobsetID: 1},
		&events.EvaluationFailed{EvalID: 3, Project: "p", Jobset: "j", Phase: "fetch", Error: "no network", Timestamp: 45})
	changed := cfg
	changed.SchedulingShares = 50
	e.append(md, js, &events.JobsetUpdated{Project: "p", Name: "j", JobsetConfig: changed},
		&events.JobsetDeleted{Project: "p", Name: "j"})
}

// TestLiveEventsAreHeardOnce: a listener hears Hydra's channels with
// Hydra's payloads for the events recorded while the reactor runs; a
// restarted reactor, a replay of the read models and a reactor first
// started on an old log send nothing; imported history is silent.
func TestLiveEventsAreHeardOnce(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.catchUp() // the first start: the checkpoint is the empty log's head
	e.history(events.Metadata{Actor: "component:test"})
	e.project()
	e.catchUp()
	require.Equal(t, []string{
		"jobsets_added ",
		"eval_started 1\t1",
		"build_queued 1",
		"build_queued 2",
		"eval_added 1\t1\t1",
		"builds_added 1",
		"step_started 1\t1",
		"build_started 1",
		"step_finished 1\t1\taa/aaaa-one.drv-1.log.zst",
		"build_finished 1",
		"eval_started 2\t1",
		"cached_build_finished 2\t1",
		"cached_build_queued 2\t2",
		"eval_added 2\t1\t2",
		"builds_bumped ",
		"builds_cancelled ",
		"builds_restarted ",
		"jobset_scheduling_changed ",
		"eval_cached check.44\t1\t2",
		"eval_started 3\t1",
		"eval_failed 3\t1",
		"jobset_shares_changed ",
		"jobsets_deleted ",
		"builds_deleted ",
	}, e.heard())

	e.catchUp()
	require.Empty(t, e.heard(), "a restarted reactor resumes from its checkpoint")

	res, err := projections.Replay(ctx, e.store, e.rt.Codec(), postgres.NewSchemas(e.pool),
		[]projections.Projection{hydra.Projection{Keys: postgres.NewVault(e.pool)}}, projections.ReplayOptions{Target: "pgnotify_replay"})
	require.NoError(t, err)
	require.True(t, res.Swapped)
	e.project()
	require.Empty(t, e.heard(), "a replay and the projector are silent")

	// Imported history is never announced.
	e.append(events.Metadata{Actor: "component:hydra-import", ImportedFrom: "hydra", Source: "test:1"}, streams.Project("q"),
		&events.ProjectCreated{Name: "q", ProjectConfig: events.ProjectConfig{DisplayName: "q", Owner: "admin", Enabled: true}})
	e.append(events.Metadata{Actor: "component:hydra-import", ImportedFrom: "hydra", Source: "test:2"}, streams.Jobset("q", "j"),
		&events.JobsetCreated{Project: "q", Name: "j", ID: 2, JobsetConfig: events.JobsetConfig{Enabled: 1, SchedulingShares: 100}})
	e.project()
	e.catchUp()
	require.Empty(t, e.heard(), "imported history is silent")
}

// TestFirstStartOnOldLogIsSilent: a reactor with no checkpoint starts at
// the log's head, as a listener hears only what happens while it listens.
func TestFirstStartOnOldLogIsSilent(t *testing.T) {
	e := newEnv(t)
	e.history(events.Metadata{Actor: "component:test"})
	e.project()
	e.catchUp()
	require.Empty(t, e.heard())
}

// TestBuildFinishedWithDependents: as Hydra's queue runner, a failed
// step sends one build_finished for the build it ran for, followed by
// the builds it finished with it (BuildFinished.Dependents), split so
// that no payload passes 7,000 bytes, each part starting with the build;
// a dependent so listed sends nothing of its own, and one not listed (a
// later cached failure) sends its own.
func TestBuildFinishedWithDependents(t *testing.T) {
	e := newEnv(t)
	e.catchUp()
	md := events.Metadata{Actor: "component:test"}
	e.append(md, streams.Build(5), &events.BuildFinished{BuildID: 5, Status: 1,
		Dependents: []events.FailedDependent{{BuildID: 6, Status: 2}, {BuildID: 7, Status: 2}}})
	e.append(md, streams.Build(6), &events.BuildFinished{BuildID: 6, Status: 2, PropagatedFrom: 5})
	e.append(md, streams.Build(7), &events.BuildFinished{BuildID: 7, Status: 2, PropagatedFrom: 5})
	e.append(md, streams.Build(8), &events.BuildFinished{BuildID: 8, Status: 2, PropagatedFrom: 5})
	many := &events.BuildFinished{BuildID: 100000, Status: 1}
	for id := int64(200000); id < 202000; id++ {
		many.Dependents = append(many.Dependents, events.FailedDependent{BuildID: id, Status: 2})
	}
	e.append(md, streams.Build(100000), many)
	e.project()
	e.catchUp()

	heard := e.heard()
	require.Equal(t, []string{"build_finished 5\t6\t7", "build_finished 8"}, heard[:2])
	var listed []string
	for _, h := range heard[2:] {
		payload, ok := strings.CutPrefix(h, "build_finished ")
		require.True(t, ok, h)
		require.Less(t, len(payload), 7001)
		fields := strings.Split(payload, "\t")
		require.Equal(t, "100000", fields[0], "each part starts with the build")
		listed = append(listed, fields[1:]...)
	}
	require.Greater(t, len(heard[2:]), 1, "2,000 dependents take several notifications")
	require.Len(t, listed, 2000)
	require.Equal(t, "200000", listed[0])
	require.Equal(t, "201999", listed[1999])
}

// TestProgressWaitsForEvalAdded: steps run while their evaluation goes
// on, but Hydra writes an evaluation's builds when it ends, so its
// listeners never hear of a build's progress before eval_added. What a
// build of an open evaluation does is held and heard after eval_added and
// builds_added, in log order, also by a reactor restarted in between; a
// build of an evaluation that ended is heard at once; nothing is heard
// of the builds of an evaluation that fails. The held events are read
// filtered where the log is kept, or by the reactor from a store that
// cannot filter.
func TestProgressWaitsForEvalAdded(t *testing.T) {
	for _, filtered := range []bool{true, false} {
		t.Run(fmt.Sprintf("filtered=%v", filtered), func(t *testing.T) {
			e := newEnv(t)
			if !filtered {
				// A store with only the events.Store methods.
				e.rt = commands.NewRuntime(struct{ events.Store }{e.store}, e.rt.Codec(), commands.Options{Host: "test"})
			}
			progressWaitsForEvalAdded(t, e)
		})
	}
}

func progressWaitsForEvalAdded(t *testing.T, e *env) {
	e.catchUp()
	md := events.Metadata{Actor: "component:test"}
	const drv3 = "/nix/store/cccccccccccccccccccccccccccccccc-three.drv"
	e.append(md, streams.Project("p"), &events.ProjectCreated{Name: "p", ProjectConfig: events.ProjectConfig{DisplayName: "p", Owner: "admin", Enabled: true}})
	e.append(md, streams.Jobset("p", "j"), &events.JobsetCreated{Project: "p", Name: "j", ID: 1,
		JobsetConfig: events.JobsetConfig{Enabled: 1, SchedulingShares: 100}})
	queued := func(eval, build int64, drv string) {
		e.append(md, streams.Build(build), &events.BuildQueued{BuildID: build, EvalID: eval, JobsetID: 1, Project: "p", Jobset: "j",
			Job: drv[44:], DrvPath: drv, System: "x86_64-linux"})
	}
	ran := func(build int64, drv string) {
		e.append(md, streams.Step(drv),
			&events.StepStarted{DrvPath: drv, BuildID: build, StepNr: 1, Machine: "m1", Attempt: 1, StartTime: 10},
			&events.StepFinished{DrvPath: drv, BuildID: build, StepNr: 1, Machine: "m1", Attempt: 1, StartTime: 10, StopTime: 20})
		e.append(md, streams.Build(build), &events.BuildFinished{BuildID: build, StartTime: 10, StopTime: 20})
	}
	e.append(md, streams.Eval(1), &events.EvaluationStarted{EvalID: 1, Project: "p", Jobset: "j", JobsetID: 1})
	queued(1, 1, drv1)
	ran(1, drv1)
	e.project()
	e.catchUp()
	require.Equal(t, []string{"jobsets_added ", "eval_started 1\t1", "build_queued 1"}, e.heard(), "build 1's progress is held")

	// A reactor restarted while the evaluation runs holds it too, and
	// finds what it held past more events than one read of the log
	// covers.
	const fillerDrv = "/nix/store/dddddddddddddddddddddddddddddddd-filler.drv"
	filler := make([]events.Event, 1500)
	for i := range filler {
		var err error
		filler[i], err = e.rt.Codec().Encode(&events.StepQueued{DrvPath: fillerDrv, System: "x86_64-linux"}, md, time.Unix(1_700_000_000, 0))
		require.NoError(t, err)
	}
	_, err := e.store.Append(context.Background(), streams.Step(fillerDrv), events.Any, filler...)
	require.NoError(t, err)
	queued(1, 2, drv2)
	e.append(md, streams.Step(drv2), &events.StepStarted{DrvPath: drv2, BuildID: 2, StepNr: 1, Machine: "m1", Attempt: 1, StartTime: 30})
	e.append(md, streams.Eval(1),
		&events.JobEvaluated{EvalID: 1, Job: "one", BuildID: 1, IsNew: true, DrvPath: drv1, System: "x86_64-linux"},
		&events.JobEvaluated{EvalID: 1, Job: "two", BuildID: 2, IsNew: true, DrvPath: drv2, System: "x86_64-linux"},
		&events.EvaluationFinished{EvalID: 1, Project: "p", Jobset: "j", JobsetID: 1})
	e.append(md, streams.Step(drv2), &events.StepFinished{DrvPath: drv2, BuildID: 2, StepNr: 1, Machine: "m1", Attempt: 1, StartTime: 30, StopTime: 40})
	e.project()
	e.catchUp()
	require.Equal(t, []string{
		"build_queued 2",
		"eval_added 1\t1\t1",
		"builds_added 1",
		"step_started 1\t1", "build_started 1", "step_finished 1\t1\t-", "build_finished 1",
		"step_started 2\t1", "build_started 2",
		"step_finished 2\t1\t-",
	}, e.heard())

	// An evaluation that fails withdraws its builds: nothing of them.
	e.append(md, streams.Eval(2), &events.EvaluationStarted{EvalID: 2, Project: "p", Jobset: "j", JobsetID: 1})
	queued(2, 3, drv3)
	ran(3, drv3)
	e.append(md, streams.Build(3), &events.BuildWithdrawn{BuildID: 3})
	e.append(md, streams.Eval(2), &events.EvaluationFailed{EvalID: 2, Project: "p", Jobset: "j", Phase: "eval", Error: "boom", Timestamp: 50})
	e.project()
	e.catchUp()
	require.Equal(t, []string{"eval_started 2\t1", "build_queued 3", "builds_deleted ", "eval_failed 2\t1"}, e.heard())
}
