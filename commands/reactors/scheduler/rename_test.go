package scheduler_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/commands"
	"buildledger/commands/reactors/scheduler"
	"buildledger/domain/password"
	"buildledger/domain/streams"
	"buildledger/events"
)

// TestQueuedBuildsSurviveProjectRename: a build queued, and one of its
// steps running, when its project is renamed goes on: the running step
// finishes, the next one is dispatched, and the build finishes, as the
// scheduler keys builds and jobsets by id.
func TestQueuedBuildsSurviveProjectRename(t *testing.T) {
	f := newFixture(t)
	pool := pgtest.NewPool(t)
	f.store = pglog.New(pool, pglog.Options{})
	f.rt = commands.NewRuntime(f.store, f.codec, commands.Options{Clock: commands.ClockFunc(func() time.Time { return f.now })})
	h := commands.NewHandlers(f.rt, commands.NewAllocator(f.rt, commands.AllocatorOptions{}), postgres.NewVault(pool))
	hash, err := password.Hash("s3cret", password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	require.NoError(t, err)
	_, err = h.CreateUser(f.ctx, f.md, commands.CreateUser{UserName: "alice", EmailAddress: "alice@example.org", PasswordHash: hash})
	require.NoError(t, err)
	cfg := events.ProjectConfig{DisplayName: "P", Owner: "alice", Enabled: true}
	_, err = h.CreateProject(f.ctx, f.md, commands.CreateProject{Name: "p", Config: cfg})
	require.NoError(t, err)
	_, err = h.CreateJobset(f.ctx, f.md, commands.CreateJobset{Project: "p", Name: "j", Config: events.JobsetConfig{
		NixExprInput: "src", NixExprPath: "release.nix", Enabled: 1, KeepNr: 3, SchedulingShares: 100,
		Inputs: []events.JobsetInput{{Name: "src", Type: "path", Value: "/tmp/src"}}}})
	require.NoError(t, err)
	_, err = h.RegisterMachine(f.ctx, f.md, commands.RegisterMachine{Name: "b1", Config: events.MachineConfig{
		URI: "ssh://b1", Systems: []string{sys}, MaxJobs: 2, SpeedFactor: 1, Enabled: true}})
	require.NoError(t, err)
	f.seed(streams.Build(1), &events.BuildQueued{BuildID: 1, EvalID: 3, JobsetID: 1, Project: "p", Jobset: "j", DrvPath: drv("b"), Outputs: out("b")})
	f.seed(streams.Step(drv("a")), &events.StepQueued{DrvPath: drv("a"), System: sys, Outputs: out("a"), EvalID: 3})
	f.seed(streams.Step(drv("b")), &events.StepQueued{DrvPath: drv("b"), System: sys, Outputs: out("b"), InputDrvs: []string{drv("a")}, EvalID: 3})
	f.seed(streams.Eval(3), &events.EvaluationFinished{EvalID: 3, Project: "p", Jobset: "j", JobsetID: 1})

	bus := &recordingSender{}
	s := scheduler.New(f.rt, f.codec, bus, scheduler.Options{})
	pass := func() scheduler.PassResult {
		t.Helper()
		_, err := s.CatchUp(f.ctx)
		require.NoError(t, err)
		res, err := s.Pass(f.ctx)
		require.NoError(t, err)
		return res
	}
	require.Equal(t, 1, pass().Dispatched)
	a := bus.sent[0]
	_, err = h.StartStep(f.ctx, f.md, events.StepStarted{DrvPath: a.DrvPath, BuildID: 1, StepNr: a.StepNr, Attempt: 1, Machine: "b1", StartTime: f.now.Unix()})
	require.NoError(t, err)

	_, err = h.RenameProject(f.ctx, f.md, commands.RenameProject{Name: "p", NewName: "q", Config: cfg})
	require.NoError(t, err)
	require.Zero(t, pass().Dispatched, "the running step is not dispatched again")

	_, err = h.FinishStep(f.ctx, f.md, events.StepFinished{DrvPath: a.DrvPath, BuildID: 1, StepNr: a.StepNr, Attempt: 1, Machine: "b1",
		StartTime: f.now.Unix(), StopTime: f.now.Unix() + 5})
	require.NoError(t, err)
	require.Equal(t, 1, pass().Dispatched)
	b := bus.sent[1]
	require.Equal(t, drv("b"), b.DrvPath)
	_, err = h.StartStep(f.ctx, f.md, events.StepStarted{DrvPath: b.DrvPath, BuildID: 1, StepNr: b.StepNr, Attempt: 1, Machine: "b1", StartTime: f.now.Unix()})
	require.NoError(t, err)
	_, err = h.FinishStep(f.ctx, f.md, events.StepFinished{DrvPath: b.DrvPath, BuildID: 1, StepNr: b.StepNr, Attempt: 1, Machine: "b1",
		StartTime: f.now.Unix(), StopTime: f.now.Unix() + 5})
	require.NoError(t, err)
	require.Equal(t, 1, pass().Actions)
	require.Equal(t, []string{"BuildQueued", "BuildFinished"}, f.streamTypes(streams.Build(1)))

}
