package scheduler_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/commands"
	"buildledger/commands/reactors/scheduler"
	"buildledger/domain/streams"
	"buildledger/events"
)

// evictFixture drives a scheduler that evicts after a minute through the
// real commands, as builder workers and the web would.
type evictFixture struct {
	*fixture
	h    *commands.Handlers
	bus  *recordingSender
	s    *scheduler.Scheduler
	sent int
}

func newEvictFixture(t *testing.T) *evictFixture {
	return newDriveFixture(t, scheduler.Options{Config: scheduler.Config{EvictAfter: 60}})
}

// newDriveFixture is newEvictFixture with the scheduler's options.
func newDriveFixture(t *testing.T, opts scheduler.Options) *evictFixture {
	f := &evictFixture{fixture: newFixture(t), bus: &recordingSender{}}
	f.h = commands.NewHandlers(f.rt, nil, nil)
	_, err := f.h.RegisterMachine(f.ctx, f.md, commands.RegisterMachine{Name: "b1", Config: events.MachineConfig{
		URI: "ssh://b1", Systems: []string{sys}, MaxJobs: 4, SpeedFactor: 1, Enabled: true}})
	require.NoError(t, err)
	f.s = scheduler.New(f.rt, f.codec, f.bus, opts)
	return f
}

// pass catches up, carries out the due follow-ups and dispatches, and
// catches up again; it returns the BuildStep commands it sent.
func (f *evictFixture) pass() []commands.BuildStep {
	f.t.Helper()
	for range 2 {
		_, err := f.s.CatchUp(f.ctx)
		require.NoError(f.t, err)
		_, err = f.s.Pass(f.ctx)
		require.NoError(f.t, err)
	}
	_, err := f.s.CatchUp(f.ctx)
	require.NoError(f.t, err)
	f.bus.mu.Lock()
	defer f.bus.mu.Unlock()
	got := f.bus.sent[f.sent:]
	f.sent = len(f.bus.sent)
	return got
}

// run plays the worker for c: started, then finished with status st.
func (f *evictFixture) run(c commands.BuildStep, st int) {
	f.t.Helper()
	t0 := f.now.Unix()
	_, err := f.h.StartStep(f.ctx, f.md, events.StepStarted{DrvPath: c.DrvPath, BuildID: c.BuildID, StepNr: c.StepNr,
		Attempt: c.Attempt, Machine: c.Machine, StartTime: t0})
	require.NoError(f.t, err)
	f.now = f.now.Add(10 * time.Second)
	_, err = f.h.FinishStep(f.ctx, f.md, events.StepFinished{DrvPath: c.DrvPath, BuildID: c.BuildID, StepNr: c.StepNr,
		Attempt: c.Attempt, Machine: c.Machine, Status: st, StartTime: t0, StopTime: f.now.Unix()})
	require.NoError(f.t, err)
}

// fresh folds the whole log into a scheduler that never evicts.
func (f *evictFixture) fresh() scheduler.Status {
	f.t.Helper()
	s := scheduler.New(f.rt, f.codec, nil, scheduler.Options{Config: scheduler.Config{EvictAfter: -1}})
	_, err := s.CatchUp(f.ctx)
	require.NoError(f.t, err)
	return s.Status()
}

// same compares what both schedulers decide from: everything in Status
// but what each holds in memory, and the run times.
func same(t *testing.T, want, got scheduler.Status) {
	t.Helper()
	for _, st := range []*scheduler.Status{&want, &got} {
		st.NrBuildsHeld, st.NrStepsHeld, st.Time, st.Uptime, st.NrDecisions = 0, 0, 0, 0, 0
	}
	require.Equal(t, want, got)
}

// TestEvictionAndRestore: finished builds and the steps only they needed
// leave memory a minute after they finish; a restarted evicted build is
// read back from its streams and numbers its new steps after the old
// ones; an evicted step queued again by a new build is read back with its
// attempts; and a scheduler that never evicts, folding the same log,
// agrees throughout.
func TestEvictionAndRestore(t *testing.T) {
	f := newEvictFixture(t)
	f.seed(streams.Step(drv("a")), &events.StepQueued{DrvPath: drv("a"), System: sys, Outputs: out("a")})
	f.seed(streams.Step(drv("b")), &events.StepQueued{DrvPath: drv("b"), System: sys, Outputs: out("b"), InputDrvs: []string{drv("a")}})
	f.seed(streams.Step(drv("c")), &events.StepQueued{DrvPath: drv("c"), System: sys, Outputs: out("c"), InputDrvs: []string{drv("a")}})
	f.seed(streams.Build(1), &events.BuildQueued{BuildID: 1, JobsetID: 1, DrvPath: drv("b"), Outputs: out("b")})
	f.seed(streams.Build(2), &events.BuildQueued{BuildID: 2, JobsetID: 1, DrvPath: drv("c"), Outputs: out("c")})

	sent := f.pass()
	require.Len(t, sent, 1)
	f.run(sent[0], 0) // a, for build 1
	sent = f.pass()
	require.Len(t, sent, 2)
	for _, c := range sent {
		if c.DrvPath == drv("b") {
			f.run(c, 0)
		} else {
			f.run(c, 1) // c fails for good: build 2 fails
		}
	}
	f.pass()
	st := f.s.Status()
	require.Equal(t, 0, st.NrQueuedBuilds)
	require.Equal(t, 2, st.NrBuildsHeld, "finished less than a minute ago")
	same(t, f.fresh(), st)

	f.now = f.now.Add(2 * time.Minute)
	f.pass()
	st = f.s.Status()
	require.Zero(t, st.NrBuildsHeld, "evicted")
	require.Zero(t, st.NrStepsHeld, "no build in memory needs a step")
	same(t, f.fresh(), st)

	// Build 2 is restarted: its failed step runs again, numbered after
	// the numbers build 2 used (one: step c).
	_, err := f.h.RestartBuild(f.ctx, f.md, 2)
	require.NoError(t, err)
	sent = f.pass()
	require.Len(t, sent, 1)
	require.Equal(t, drv("c"), sent[0].DrvPath)
	require.Equal(t, 2, sent[0].Attempt)
	require.Equal(t, int64(2), sent[0].BuildID)
	require.Equal(t, 2, sent[0].StepNr)
	same(t, f.fresh(), f.s.Status())
	f.run(sent[0], 0)
	f.pass()
	st = f.s.Status()
	require.Equal(t, 2, st.NrBuildsSucceeded)
	same(t, f.fresh(), st)

	// A new build needs a again, whose outputs were lost: the evaluator
	// queues it again, and it runs as attempt 2.
	f.now = f.now.Add(2 * time.Minute)
	f.pass()
	require.Zero(t, f.s.Status().NrStepsHeld)
	f.seed(streams.Step(drv("a")), &events.StepQueued{DrvPath: drv("a"), System: sys, Outputs: out("a")})
	f.seed(streams.Build(3), &events.BuildQueued{BuildID: 3, JobsetID: 1, DrvPath: drv("a"), Outputs: out("a")})
	sent = f.pass()
	require.Len(t, sent, 1)
	require.Equal(t, drv("a"), sent[0].DrvPath)
	require.Equal(t, 2, sent[0].Attempt)
	require.Equal(t, 1, sent[0].StepNr)
	same(t, f.fresh(), f.s.Status())
	f.run(sent[0], 0)
	f.pass()
	st = f.s.Status()
	require.Equal(t, 3, st.NrBuildsSucceeded)
	same(t, f.fresh(), st)

	// A cold start that evicts as it folds agrees too.
	cold := scheduler.New(f.rt, f.codec, nil, scheduler.Options{Config: scheduler.Config{EvictAfter: 60}})
	_, err = cold.CatchUp(f.ctx)
	require.NoError(t, err)
	same(t, f.fresh(), cold.Status())
}
