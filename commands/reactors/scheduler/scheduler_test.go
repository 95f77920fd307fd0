package scheduler_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/bus"
	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/commands"
	"buildledger/commands/reactors/scheduler"
	"buildledger/domain/domainerr"
	"buildledger/domain/step"
	"buildledger/domain/streams"
	"buildledger/events"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// recordingSender stands in for the command bus (a boundary): it keeps
// the BuildStep commands it is given.
type recordingSender struct {
	mu   sync.Mutex
	sent []commands.BuildStep
}

func (r *recordingSender) SendBuildStep(_ context.Context, c commands.BuildStep) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, c)
	return nil
}

type fixture struct {
	t     *testing.T
	ctx   context.Context
	rt    *commands.Runtime
	store events.Store
	codec *events.Codec
	now   time.Time
	md    events.Metadata
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t, ctx: context.Background(), codec: events.NewCodec(), now: time.Unix(1_700_000_000, 0),
		md: events.Metadata{Actor: "component:test"}}
	f.store = pglog.New(pgtest.NewPool(t), pglog.Options{})
	f.rt = commands.NewRuntime(f.store, f.codec, commands.Options{Clock: commands.ClockFunc(func() time.Time { return f.now })})
	return f
}

// seed appends setup events the way the evaluator does.
func (f *fixture) seed(stream string, ps ...events.Payload) {
	f.t.Helper()
	evs := make([]events.Event, len(ps))
	for i, p := range ps {
		ev, err := f.codec.Encode(p, f.md, f.now)
		require.NoError(f.t, err)
		evs[i] = ev
	}
	_, err := f.store.Append(f.ctx, stream, events.Any, evs...)
	require.NoError(f.t, err)
}

// oneStep registers machine b1, one slot, and queues build 1 of step a;
// it returns the handlers that did.
func (f *fixture) oneStep() *commands.Handlers {
	f.t.Helper()
	h := commands.NewHandlers(f.rt, nil, nil)
	_, err := h.RegisterMachine(f.ctx, f.md, commands.RegisterMachine{Name: "b1", Config: events.MachineConfig{
		URI: "ssh://b1", Systems: []string{sys}, MaxJobs: 1, SpeedFactor: 1, Enabled: true}})
	require.NoError(f.t, err)
	f.seed(streams.Build(1), &events.BuildQueued{BuildID: 1, DrvPath: drv("a")})
	f.seed(streams.Step(drv("a")), &events.StepQueued{DrvPath: drv("a"), System: sys})
	return h
}

func (f *fixture) streamTypes(stream string) []string {
	recs, err := f.store.ReadStream(f.ctx, stream, 0, 100)
	require.NoError(f.t, err)
	var out []string
	for _, r := range recs {
		out = append(out, r.Type)
	}
	return out
}

func TestSchedulerDispatchAndFinish(t *testing.T) {
	f := newFixture(t)
	h := commands.NewHandlers(f.rt, nil, nil)
	_, err := h.RegisterMachine(f.ctx, f.md, commands.RegisterMachine{Name: "b1", Config: events.MachineConfig{
		URI: "ssh://b1", Systems: []string{sys}, MaxJobs: 2, SpeedFactor: 1, Enabled: true}})
	require.NoError(t, err)
	f.seed(streams.Build(1), &events.BuildQueued{BuildID: 1, EvalID: 3, DrvPath: drv("b"), Outputs: out("b")})
	f.seed(streams.Step(drv("a")), &events.StepQueued{DrvPath: drv("a"), System: sys, Outputs: out("a"), EvalID: 3})
	f.seed(streams.Step(drv("b")), &events.StepQueued{DrvPath: drv("b"), System: sys, Outputs: out("b"), InputDrvs: []string{drv("a")}, EvalID: 3})
	f.seed(streams.Eval(3), &events.EvaluationFinished{EvalID: 3})

	bus := &recordingSender{}
	s := scheduler.New(f.rt, f.codec, bus, scheduler.Options{})
	res, err := s.Pass(f.ctx)
	require.NoError(t, err)
	require.Zero(t, res.Decisions, "nothing is decided before catching up")
	_, err = s.CatchUp(f.ctx)
	require.NoError(t, err)
	res, err = s.Pass(f.ctx)
	require.NoError(t, err)
	require.Equal(t, 1, res.Dispatched)
	require.Len(t, bus.sent, 1)
	cmd := bus.sent[0]
	require.Equal(t, drv("a"), cmd.DrvPath)
	require.Equal(t, "b1", cmd.Machine)
	require.Equal(t, "ssh://b1", cmd.MachineConfig.URI)
	require.Equal(t, 1, cmd.Attempt)
	require.Equal(t, int64(1), cmd.BuildID)
	require.Equal(t, 1, cmd.StepNr)
	require.Equal(t, uint64(1), cmd.StepRevision)
	require.Equal(t, f.now.Unix()+300, cmd.LeaseUntil)
	require.Equal(t, 36000, cmd.Timeout)
	require.Equal(t, []string{"StepQueued", "StepDispatched"}, f.streamTypes(streams.Step(drv("a"))))

	// A second dispatch of the same attempt is refused by the stream.
	_, err = h.DispatchStep(f.ctx, f.md, events.StepDispatched{DrvPath: drv("a"), Attempt: 1, Machine: "b1", Timestamp: f.now.Unix()})
	require.ErrorIs(t, err, domainerr.ErrConflict)

	// The worker starts it; a duplicate delivery cannot start it again.
	started := events.StepStarted{DrvPath: drv("a"), BuildID: 1, StepNr: cmd.StepNr, Attempt: 1, Machine: "b1", StartTime: f.now.Unix()}
	_, err = h.StartStep(f.ctx, f.md, started)
	require.NoError(t, err)
	_, err = h.StartStep(f.ctx, f.md, started)
	require.ErrorIs(t, err, domainerr.ErrConflict)
	f.now = f.now.Add(10 * time.Second)
	fin := events.StepFinished{DrvPath: drv("a"), BuildID: 1, StepNr: cmd.StepNr, Attempt: 1, Machine: "b1", Status: 0,
		StartTime: started.StartTime, StopTime: f.now.Unix()}
	_, err = h.FinishStep(f.ctx, f.md, fin)
	require.NoError(t, err)
	_, err = h.FinishStep(f.ctx, f.md, fin)
	require.ErrorIs(t, err, domainerr.ErrConflict, "a step finishes once")

	_, err = s.CatchUp(f.ctx)
	require.NoError(t, err)
	res, err = s.Pass(f.ctx)
	require.NoError(t, err)
	require.Equal(t, 1, res.Dispatched)
	require.Equal(t, drv("b"), bus.sent[1].DrvPath)
	require.Equal(t, 2, bus.sent[1].StepNr)
	cmd = bus.sent[1]
	_, err = h.StartStep(f.ctx, f.md, events.StepStarted{DrvPath: cmd.DrvPath, BuildID: 1, StepNr: 2, Attempt: 1, Machine: "b1", StartTime: f.now.Unix()})
	require.NoError(t, err)
	_, err = h.FinishStep(f.ctx, f.md, events.StepFinished{DrvPath: cmd.DrvPath, BuildID: 1, StepNr: 2, Attempt: 1,
		Machine: "b1", Status: 0, StartTime: f.now.Unix(), StopTime: f.now.Unix() + 5})
	require.NoError(t, err)
	_, err = s.CatchUp(f.ctx)
	require.NoError(t, err)
	res, err = s.Pass(f.ctx)
	require.NoError(t, err)
	require.Equal(t, 1, res.Actions)
	require.Equal(t, []string{"BuildQueued", "BuildFinished"}, f.streamTypes(streams.Build(1)))

	// A fresh scheduler rebuilt from the log agrees and repeats nothing.
	s2 := scheduler.New(f.rt, f.codec, bus, scheduler.Options{})
	_, err = s2.CatchUp(f.ctx)
	require.NoError(t, err)
	res, err = s2.Pass(f.ctx)
	require.NoError(t, err)
	require.Equal(t, scheduler.PassResult{}, res)
	st := s2.Status()
	require.Equal(t, 0, st.NrQueuedBuilds)
	require.Equal(t, 1, st.NrBuildsSucceeded)
	require.Equal(t, 2, st.Machines["b1"].NrStepsDone)
}

func TestSchedulerLeaseAndRetry(t *testing.T) {
	f := newFixture(t)
	h := f.oneStep()

	bus := &recordingSender{}
	s := scheduler.New(f.rt, f.codec, bus, scheduler.Options{Config: scheduler.Config{DispatchLease: 60}})
	pass := func() scheduler.PassResult { return catchUpAndPass(t, f.ctx, s) }
	require.Equal(t, 1, pass().Dispatched)
	// The command is lost: after the lease the step is requeued and sent
	// again as attempt 2.
	f.now = f.now.Add(61 * time.Second)
	require.Equal(t, 1, pass().Actions)
	require.Equal(t, 1, pass().Dispatched)
	require.Len(t, bus.sent, 2)
	require.Equal(t, 2, bus.sent[1].Attempt)
	// The late worker of attempt 1 cannot start.
	_, err := h.StartStep(f.ctx, f.md, events.StepStarted{DrvPath: drv("a"), BuildID: 1, StepNr: 1, Attempt: 1})
	require.ErrorIs(t, err, domainerr.ErrConflict)
	// Attempt 2 aborts (transient): retried after 60 s.
	_, err = h.FinishStep(f.ctx, f.md, events.StepFinished{DrvPath: drv("a"), BuildID: 1, StepNr: 2, Attempt: 2,
		Status: 3, StartTime: f.now.Unix(), StopTime: f.now.Unix()})
	require.NoError(t, err)
	require.Equal(t, 1, pass().Actions)
	require.Equal(t, []string{"StepQueued", "StepDispatched", "StepRetryScheduled", "StepDispatched", "StepFinished", "StepRetryScheduled"},
		f.streamTypes(streams.Step(drv("a"))))
	require.Zero(t, pass().Dispatched, "backing off")
	f.now = f.now.Add(60 * time.Second)
	require.Equal(t, 1, pass().Dispatched)
	require.Equal(t, 3, bus.sent[2].Attempt)
	require.Equal(t, 3, bus.sent[2].StepNr)
}

// TestLostCommandRedeliveredByLease: the in-process bus keeps nothing, so
// a BuildStep sent while no worker is subscribed is lost; the dispatch
// lease requeues the step and the next dispatch reaches the worker.
func TestLostCommandRedeliveredByLease(t *testing.T) {
	f := newFixture(t)
	f.oneStep()

	b := bus.NewGoChannel(bus.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer b.Close()
	s := scheduler.New(f.rt, f.codec, b, scheduler.Options{Config: scheduler.Config{DispatchLease: 60}})
	pass := func() scheduler.PassResult { return catchUpAndPass(t, f.ctx, s) }
	require.Equal(t, 1, pass().Dispatched, "sent while no worker listens: lost")

	got := make(chan commands.BuildStep, 1)
	b.Handle(func(_ context.Context, c commands.BuildStep) error { got <- c; return nil })
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	<-b.Ready()
	require.Zero(t, pass().Dispatched, "the lease still holds")
	require.Empty(t, got)

	f.now = f.now.Add(61 * time.Second)
	require.Equal(t, 1, pass().Actions, "the lease expired: requeued")
	require.Equal(t, 1, pass().Dispatched)
	c := <-got
	require.Equal(t, drv("a"), c.DrvPath)
	require.Equal(t, 2, c.Attempt)
	cancel()
	require.NoError(t, <-done)
}

// failingSender refuses the first n commands, as a bus whose database is
// restarting does, and records the others.
type failingSender struct {
	recordingSender
	n int
}

func (f *failingSender) SendBuildStep(ctx context.Context, c commands.BuildStep) error {
	if f.n > 0 {
		f.n--
		return errors.New("bus: connection refused")
	}
	return f.recordingSender.SendBuildStep(ctx, c)
}

// TestUnsentCommandIsGivenUpAtOnce: a dispatch recorded whose BuildStep
// the bus refused reaches no worker. The next pass gives the attempt up
// (step.ReasonUnsent) without waiting for its lease, and the one after
// dispatches the step again; the unsent attempt cannot start.
func TestUnsentCommandIsGivenUpAtOnce(t *testing.T) {
	f := newFixture(t)
	h := f.oneStep()

	sender := &failingSender{n: 1}
	s := scheduler.New(f.rt, f.codec, sender, scheduler.Options{Config: scheduler.Config{DispatchLease: 300}})
	pass := func() scheduler.PassResult { return catchUpAndPass(t, f.ctx, s) }
	require.Equal(t, 1, pass().Dispatched, "recorded; its command refused")
	require.Empty(t, sender.sent)
	res := pass()
	require.Equal(t, 1, res.Actions, "given up within the lease: %+v", res)
	require.Equal(t, 1, pass().Dispatched)
	require.Len(t, sender.sent, 1)
	require.Equal(t, 2, sender.sent[0].Attempt)
	require.Equal(t, []string{"StepQueued", "StepDispatched", "StepRetryScheduled", "StepDispatched"}, f.streamTypes(streams.Step(drv("a"))))
	recs, err := f.rt.Store().ReadStream(f.ctx, streams.Step(drv("a")), 2, 1)
	require.NoError(t, err)
	require.Contains(t, string(recs[0].Data), step.ReasonUnsent)
	_, err = h.StartStep(f.ctx, f.md, events.StepStarted{DrvPath: drv("a"), BuildID: 1, StepNr: 1, Attempt: 1})
	require.ErrorIs(t, err, domainerr.ErrConflict)
}

// TestRestartGivesUpStepsOfTheLastProcess: a queue runner killed while a
// step ran and another was dispatched leaves both open in the log. The
// next queue runner, whose workers run in its own process, gives both up
// at once: the running one fails (status 3, retried) rather than after
// its timeout plus grace (ten hours by default), the dispatched one is
// requeued rather than after its lease, and the old attempt's command,
// delivered again by the durable bus, cannot start. A scheduler whose
// workers run elsewhere waits, and a second catch-up of the same
// scheduler (a Run restarted after a database outage, its workers alive)
// gives nothing up.
func TestRestartGivesUpStepsOfTheLastProcess(t *testing.T) {
	tests := []struct {
		name       string
		inProcess  bool
		wantAction int
	}{
		{"workers in process", true, 2},
		{"workers elsewhere", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			h := commands.NewHandlers(f.rt, nil, nil)
			_, err := h.RegisterMachine(f.ctx, f.md, commands.RegisterMachine{Name: "b1", Config: events.MachineConfig{
				URI: "ssh://b1", Systems: []string{sys}, MaxJobs: 2, SpeedFactor: 1, Enabled: true}})
			require.NoError(t, err)
			for i, n := range []string{"a", "b"} {
				f.seed(streams.Build(int64(i+1)), &events.BuildQueued{BuildID: int64(i + 1), DrvPath: drv(n)})
				f.seed(streams.Step(drv(n)), &events.StepQueued{DrvPath: drv(n), System: sys})
			}
			pass := func(s *scheduler.Scheduler) scheduler.PassResult { return catchUpAndPass(t, f.ctx, s) }
			opts := scheduler.Options{Config: scheduler.Config{DispatchLease: 60}, WorkersInProcess: tt.inProcess}
			first := scheduler.New(f.rt, f.codec, &recordingSender{}, opts)
			require.Equal(t, 2, pass(first).Dispatched)
			_, err = h.StartStep(f.ctx, f.md, events.StepStarted{DrvPath: drv("a"), BuildID: 1, StepNr: 1, Attempt: 1,
				Machine: "b1", StartTime: f.now.Unix()})
			require.NoError(t, err)
			require.Zero(t, pass(first).Actions, "the first process's own steps")

			// kill -9; the next process starts a second later.
			f.now = f.now.Add(time.Second)
			sent := &recordingSender{}
			next := scheduler.New(f.rt, f.codec, sent, opts)
			res := pass(next)
			require.Equal(t, tt.wantAction, res.Actions, "%+v", res)
			if !tt.inProcess {
				require.Zero(t, pass(next).Actions)
				return
			}
			res = pass(next)
			require.Equal(t, 1, res.Actions, "the transient failure's retry")
			require.Equal(t, 1, res.Dispatched, "b goes out again at once")
			require.Equal(t, drv("b"), sent.sent[0].DrvPath)
			require.Equal(t, 2, sent.sent[0].Attempt)
			require.Zero(t, pass(next).Actions, "a later catch-up gives up nothing more")
			require.Equal(t, []string{"StepQueued", "StepDispatched", "StepStarted", "StepFinished", "StepRetryScheduled"},
				f.streamTypes(streams.Step(drv("a"))), "the running step aborted (status 3) and retried")
			require.Equal(t, []string{"StepQueued", "StepDispatched", "StepRetryScheduled", "StepDispatched"},
				f.streamTypes(streams.Step(drv("b"))), "the dispatched step requeued and dispatched again")
			_, err = h.StartStep(f.ctx, f.md, events.StepStarted{DrvPath: drv("b"), BuildID: 2, StepNr: 2, Attempt: 1,
				Machine: "b1", StartTime: f.now.Unix()})
			require.ErrorIs(t, err, domainerr.ErrConflict, "the first attempt's command, delivered again")
			f.now = f.now.Add(60 * time.Second)
			require.Equal(t, 1, pass(next).Dispatched, "a goes out again after its retry interval")
			require.Equal(t, 2, sent.sent[1].Attempt)
			require.Equal(t, drv("a"), sent.sent[1].DrvPath)
		})
	}
}

// catchUpAndPass folds the log, runs one decision pass and folds what it
// appended, as Run does between wake-ups.
func catchUpAndPass(t *testing.T, ctx context.Context, s *scheduler.Scheduler) scheduler.PassResult {
	t.Helper()
	_, err := s.CatchUp(ctx)
	require.NoError(t, err)
	res, err := s.Pass(ctx)
	require.NoError(t, err)
	_, err = s.CatchUp(ctx)
	require.NoError(t, err)
	return res
}
