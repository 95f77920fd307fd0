package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"buildledger/commands"
	"buildledger/commands/reactors"
	"buildledger/domain/domainerr"
	"buildledger/domain/streams"
	"buildledger/events"
)

// Options tune a Scheduler. The zero value is ready to use.
type Options struct {
	// Config holds the queue-runner knobs (zero fields: Hydra's defaults).
	Config Config
	// Interval is the time between dispatch passes when nothing wakes the
	// scheduler. Default 500 ms.
	Interval time.Duration
	// Logger receives decisions and errors. Default slog.Default().
	Logger *slog.Logger
	// Observer receives the scheduler's timings; nil drops them.
	Observer Observer
	// Snapshots, if set, keeps snapshots of the model: a cold start
	// folds only the log after the latest (see SaveSnapshot).
	Snapshots reactors.SnapshotStore
	// SnapshotEvery is how many events folded since the last snapshot
	// make Run save one. Default DefaultSnapshotEvery.
	SnapshotEvery int
	// SnapshotInterval is how often Run saves a snapshot when events
	// were folded since the last one; it also saves one when it stops.
	// Default DefaultSnapshotInterval.
	SnapshotInterval time.Duration
	// WorkersInProcess says the builder workers run in this process, as
	// in the queue runner and up: the steps the log shows running or
	// dispatched when the scheduler first catches up were lost with the
	// process before it (a kill -9, a crash), so they are given up at
	// once instead of after their timeout plus RunningGrace (ten hours by
	// default) or their DispatchLease (five minutes): a running one
	// fails with status 3 and is retried, a dispatched one is requeued
	// (step.ReasonLost). Hydra's queue runner clears its busy steps at
	// start alike.
	WorkersInProcess bool
}

// Observer receives how long the scheduler's work takes, for metrics
// (adapters/metrics).
type Observer interface {
	// Decided reports one in-memory decision pass.
	Decided(time.Duration)
	// Dispatched reports one dispatch recorded and sent.
	Dispatched(time.Duration)
}

// unobserved is the Observer of a scheduler nobody measures.
type unobserved struct{}

func (unobserved) Decided(time.Duration)    {}
func (unobserved) Dispatched(time.Duration) {}

// Scheduler is the queue runner's brain: a reactor that folds
// the log into a Model, and a loop that turns the model's decisions and
// follow-ups into commands (StepDispatched, BuildFinished, …) and sends
// BuildStep commands to builder workers. It is safe for concurrent use.
type Scheduler struct {
	rt     *commands.Runtime
	steps  *commands.Handlers
	codec  *events.Codec
	sender commands.BuildStepSender
	opts   Options
	log    *slog.Logger
	md     events.Metadata

	mu       sync.Mutex
	model    *Model
	pos      events.Position
	caughtUp bool
	// last is the last event folded that a snapshot can name (not a
	// store-internal one); folded counts the events folded, and
	// snapFolded that count at the last snapshot saved or read.
	last       eventRef
	folded     int
	snapFolded int
	snapRead   bool // the snapshot was looked for
	recovered  bool // the first catch-up gave up what the last process left
	started    time.Time
	wake       chan struct{}
}

// New returns a Scheduler writing through rt, decoding with codec and
// sending BuildStep commands with sender.
func New(rt *commands.Runtime, codec *events.Codec, sender commands.BuildStepSender, opts Options) *Scheduler {
	if opts.Interval <= 0 {
		opts.Interval = 500 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Observer == nil {
		opts.Observer = unobserved{}
	}
	if opts.SnapshotEvery <= 0 {
		opts.SnapshotEvery = DefaultSnapshotEvery
	}
	if opts.SnapshotInterval <= 0 {
		opts.SnapshotInterval = DefaultSnapshotInterval
	}
	// The step and build commands need neither ids nor a vault.
	return &Scheduler{rt: rt, steps: commands.NewHandlers(rt, nil, nil), codec: codec, sender: sender, opts: opts, log: opts.Logger,
		md:    events.Metadata{Actor: commands.ComponentActor("scheduler")},
		model: NewModel(opts.Config), started: rt.Clock().Now(), wake: make(chan struct{}, 1)}
}

// Filter selects the events the scheduler folds.
var Filter = events.Filter{Types: []string{"JobsetCreated", "JobsetUpdated", "MachineRegistered", "MachineUpdated",
	"MachineRemoved", "StepQueued", "BuildQueued", "BuildCached", "StepDispatched", "StepStarted", "StepFinished",
	"StepRetryScheduled", "OutputUploaded", "BuildFinished", "BuildCancelled", "BuildRestarted", "BuildBumped", "BuildWithdrawn",
	"EvaluationFinished", "EvaluationFailed", "EvaluationClosed", "FailedPathsCleared", "VerificationDispatched",
	"VerificationEnded"}, StreamPrefixes: []string{streams.BuildPrefix, streams.StepPrefix, streams.MachinePrefix,
	streams.JobsetPrefix, streams.EvalPrefix, streams.CachesPrefix, streams.VerifyPrefix}}

// apply folds one recorded event, after reading back what the model
// evicted and the event needs. The caller holds s.mu. An error (the store
// failed) leaves the event unapplied.
func (s *Scheduler) apply(ctx context.Context, r events.Recorded) error {
	if Filter.Match(r) {
		p, err := s.codec.Decode(r)
		if err != nil {
			s.log.Warn("scheduler: skipping event", "type", r.Type, "stream", r.Stream, "err", err)
		} else {
			if err := s.restore(ctx, r, p); err != nil {
				return err
			}
			s.model.Apply(p)
		}
	}
	s.pos = r.Position
	if !strings.HasPrefix(r.Stream, "$") {
		s.last = eventRef{stream: r.Stream, revision: r.Revision, id: r.ID, pos: r.Position}
	}
	s.folded++
	return nil
}

// CatchUp folds every event recorded after the last one seen, up to the
// log's head at the time of the call. The first call starts from the
// kept snapshot, when Options.Snapshots has one this scheduler can use.
// It returns how many events it read.
func (s *Scheduler) CatchUp(ctx context.Context) (int, error) {
	s.mu.Lock()
	first := !s.snapRead && s.opts.Snapshots != nil && s.pos.IsStart()
	s.snapRead = true
	s.mu.Unlock()
	if first {
		s.loadSnapshot(ctx)
	}
	store := s.rt.Store()
	head, err := store.Head(ctx)
	if err != nil {
		return 0, fmt.Errorf("scheduler catch-up: %w", err)
	}
	n := 0
	for {
		s.mu.Lock()
		from := s.pos
		s.mu.Unlock()
		if !from.Less(head) {
			break
		}
		recs, err := store.ReadAll(ctx, from, 5000)
		if err != nil {
			return n, fmt.Errorf("scheduler catch-up from %v: %w", from, err)
		}
		if len(recs) == 0 {
			break
		}
		s.mu.Lock()
		for _, r := range recs {
			if err := s.apply(ctx, r); err != nil {
				s.mu.Unlock()
				return n, err
			}
			n++
		}
		s.model.Evict(s.rt.Clock().Now().Unix())
		s.mu.Unlock()
	}
	s.mu.Lock()
	s.caughtUp = true
	// Only the first catch-up: a Run restarted in the same process (after
	// a database outage) finds its own workers' steps, which still run.
	if !s.recovered && s.opts.WorkersInProcess {
		if n := s.model.expireLeases(); n > 0 {
			s.log.Info("steps left by the previous process given up", "steps", n)
		}
	}
	s.recovered = true
	s.mu.Unlock()
	return n, nil
}

// Run catches up with the log (the cold start), then follows it live and
// runs a dispatch pass after each batch of events and every Interval,
// until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	t0 := time.Now()
	n, err := s.CatchUp(ctx)
	if err != nil {
		return err
	}
	s.log.Info("scheduler caught up", "events", n, "took", time.Since(t0))
	if s.snapshotDue() {
		s.snapshot(ctx)
	}
	s.mu.Lock()
	from := s.pos
	s.mu.Unlock()
	sub, err := s.rt.Store().SubscribeAll(ctx, from, events.Filter{})
	if err != nil {
		return fmt.Errorf("scheduler subscribe: %w", err)
	}
	defer sub.Close()
	tick := time.NewTicker(s.opts.Interval)
	defer tick.Stop()
	snapTick := time.NewTicker(s.opts.SnapshotInterval)
	defer snapTick.Stop()
	for {
		select {
		case <-ctx.Done():
			s.finalSnapshot(ctx)
			return nil
		case r, ok := <-sub.Events():
			if !ok {
				if err := sub.Err(); err != nil && ctx.Err() == nil {
					return fmt.Errorf("scheduler subscription: %w", err)
				}
				s.finalSnapshot(ctx)
				return nil
			}
			s.mu.Lock()
			err := s.apply(ctx, r)
			for more := len(sub.Events()); err == nil && more > 0; more-- {
				err = s.apply(ctx, <-sub.Events())
			}
			s.mu.Unlock()
			if err != nil {
				return err
			}
			if s.snapshotDue() {
				s.snapshot(ctx)
			}
			s.Wake()
		case <-tick.C:
			s.pass(ctx)
		case <-s.wake:
			s.pass(ctx)
		case <-snapTick.C:
			s.snapshot(ctx)
		}
	}
}

// Wake asks Run for a dispatch pass soon.
func (s *Scheduler) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Scheduler) pass(ctx context.Context) {
	if _, err := s.Pass(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("scheduler pass", "err", err)
	}
}

// PassResult counts what one pass did.
type PassResult struct {
	Actions    int
	Decisions  int
	Dispatched int
	Refused    int
	Failed     int
}

// Pass carries out the model's due follow-ups and one round of dispatch
// decisions at the runtime clock's time. It does nothing before the model
// caught up with the log. Each decision is recorded as StepDispatched at
// the step's revision and then sent as a BuildStep; a refused record
// (the step moved on) releases the reservation.
func (s *Scheduler) Pass(ctx context.Context) (PassResult, error) {
	var res PassResult
	s.mu.Lock()
	if !s.caughtUp {
		s.mu.Unlock()
		return res, nil
	}
	now := s.rt.Clock().Now().Unix()
	acts := s.model.Actions(now)
	s.model.Evict(now)
	s.mu.Unlock()
	for _, a := range acts {
		if err := s.do(ctx, a); err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			s.countErr(&res, err)
			s.log.Debug("scheduler action not recorded", "kind", a.Kind, "err", err)
			continue
		}
		res.Actions++
	}
	t0 := time.Now()
	s.mu.Lock()
	ds := s.model.Decide(now, 0)
	s.mu.Unlock()
	s.opts.Observer.Decided(time.Since(t0))
	res.Decisions = len(ds)
	for _, d := range ds {
		t1 := time.Now()
		err := s.dispatch(ctx, d, now)
		if err != nil {
			s.mu.Lock()
			s.model.Release(d)
			s.mu.Unlock()
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			s.countErr(&res, err)
			s.log.Debug("dispatch not recorded", "drv", d.DrvPath, "machine", d.Machine, "err", err)
			continue
		}
		s.opts.Observer.Dispatched(time.Since(t1))
		res.Dispatched++
	}
	return res, nil
}

func (s *Scheduler) countErr(res *PassResult, err error) {
	if errors.Is(err, domainerr.ErrConflict) || errors.Is(err, domainerr.ErrNotFound) {
		res.Refused++
		return
	}
	res.Failed++
	s.log.Warn("scheduler command failed", "err", err)
}

// dispatch records d and sends its BuildStep. A send failure is logged,
// not returned: the next pass gives the attempt up (Model.Unsent) and
// dispatches the step again. A verification's is left to its lease.
func (s *Scheduler) dispatch(ctx context.Context, d Decision, now int64) error {
	md := s.md
	md.CorrelationID = events.NewID(s.rt.Clock().Now())
	var r commands.Result
	var err error
	if d.Verify != nil {
		r, err = s.steps.DispatchVerification(ctx, md, d.VerificationDispatched(now))
	} else {
		r, err = s.steps.DispatchStep(ctx, md, d.Dispatched(now))
	}
	if err != nil {
		return err
	}
	if len(r.Events) == 0 {
		return fmt.Errorf("dispatch %s: %w", d.DrvPath, domainerr.Conflict("nothing recorded"))
	}
	cmd := commands.BuildStep{ID: r.Events[0].ID, DrvPath: d.DrvPath, System: d.System, Outputs: d.Outputs,
		BuildID: d.BuildID, StepNr: d.StepNr, Dependency: d.Dependency, Attempt: d.Attempt, StepRevision: r.NextRevision,
		Machine: d.Machine, MachineConfig: d.MachineConfig, LeaseUntil: d.LeaseUntil,
		Timeout: d.Timeout, MaxSilent: d.MaxSilent, MaxLogSize: d.MaxLogSize, MaxOutputSize: d.MaxOutputSize,
		CorrelationID: md.CorrelationID}
	if d.Verify != nil {
		cmd.Verify = &commands.Verification{OriginalMachine: d.Verify.OriginalMachine, Outputs: d.Verify.Outputs}
	}
	if s.sender != nil {
		if err := s.sender.SendBuildStep(ctx, cmd); err != nil {
			s.log.Warn("BuildStep not sent; the step is given up and dispatched again", "drv", d.DrvPath, "attempt", d.Attempt, "err", err)
			if d.Verify == nil {
				s.mu.Lock()
				s.model.Unsent(d.DrvPath, d.Attempt)
				s.mu.Unlock()
			}
		}
	}
	s.log.Debug("dispatched", "drv", d.DrvPath, "machine", d.Machine, "attempt", d.Attempt, "build", d.BuildID)
	return nil
}

// do carries out one follow-up.
func (s *Scheduler) do(ctx context.Context, a Action) error {
	var err error
	switch a.Kind {
	case FinishBuild:
		_, err = s.steps.FinishCreditedBuild(ctx, s.md, *a.Finish, a.Products, a.Metrics)
	case RequeueStep:
		_, err = s.steps.RequeueStep(ctx, s.md, *a.Requeue, a.Now)
	case AbandonStep:
		_, err = s.steps.AbandonStep(ctx, s.md, *a.StepEnd, nil)
	case AbortStep:
		_, err = s.steps.AbortStep(ctx, s.md, *a.StepEnd)
	case CancelStep:
		_, err = s.steps.FinishStep(ctx, s.md, *a.StepEnd)
	default:
		err = fmt.Errorf("unknown action %v", a.Kind)
	}
	return err
}
