package evaluation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"buildledger/commands"
	"buildledger/domain/jobset"
	"buildledger/domain/project"
	"buildledger/domain/streams"
	"buildledger/events"
)

// Defaults of TriggerOptions.
const (
	DefaultMaxConcurrent = 4
	DefaultPoll          = time.Second
)

// TriggerOptions tune a Trigger. The zero value is ready to use.
type TriggerOptions struct {
	// MaxConcurrent is the most evaluations running at once.
	MaxConcurrent int
	// Poll is how often due jobsets are looked for when no event arrives.
	Poll time.Duration
	// RecoverAll closes, at start, every evaluation left open, not only
	// those opened by this host (Options.Host of the Service).
	RecoverAll bool
	// OnDone, if set, is called after each evaluation the trigger ran.
	OnDone func(Summary, error)
	// Logger receives progress. Default the Service's.
	Logger *slog.Logger
}

// Trigger decides when jobsets are evaluated, as hydra-evaluator does
// (the word scheduler is kept for the build scheduler,
// commands/reactors/scheduler): a jobset of an enabled project that is
// enabled is evaluated when a
// request is pending (EvaluationRequested, reacted to as soon as it is
// recorded) or when its check interval has elapsed since it was last
// checked; a one-at-a-time jobset only when its latest evaluation has no
// unfinished build. At most MaxConcurrent evaluations run at once, never
// two of one jobset. It learns jobsets from the log (project and jobset
// streams).
type Trigger struct {
	svc  *Service
	opts TriggerOptions
	log  *slog.Logger

	jobsets  map[string]*jobset.State // by stream
	projects map[string]project.State
	running  map[string]int64 // stream → -1 while running, eval id while its close is awaited
	closed   map[string]int64 // stream → last closed eval id seen
	// awaited is, by stream, the position of a check's EvaluationCached
	// not folded yet (the stream stays in running until it is).
	awaited  map[string]events.Position
	folded   events.Position // the last position folded
	inFlight int
	done     chan finished
}

type finished struct {
	stream string
	sum    Summary
	err    error
}

// NewTrigger returns a Trigger running evaluations through svc.
func NewTrigger(svc *Service, opts TriggerOptions) *Trigger {
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = DefaultMaxConcurrent
	}
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	log := opts.Logger
	if log == nil {
		log = svc.log
	}
	return &Trigger{svc: svc, opts: opts, log: log, jobsets: make(map[string]*jobset.State),
		projects: make(map[string]project.State), running: make(map[string]int64),
		closed: make(map[string]int64), awaited: make(map[string]events.Position), done: make(chan finished)}
}

var triggerFilter = events.Filter{StreamPrefixes: []string{streams.JobsetPrefix, streams.ProjectPrefix}}

// Run starts evaluations until ctx ends, then waits for the running
// ones to stop (they are closed as failed) and returns nil. At start it
// reads the jobsets from the log and closes evaluations left open by an
// earlier run (see Service.Recover).
func (tr *Trigger) Run(ctx context.Context) error {
	store := tr.svc.rt.Store()
	pos, err := tr.catchUp(ctx)
	if err != nil {
		return err
	}
	tr.recoverOpen(ctx)
	sub, err := store.SubscribeAll(ctx, pos, triggerFilter)
	if err != nil {
		return fmt.Errorf("subscribe to jobsets: %w", err)
	}
	defer sub.Close()
	tick := time.NewTicker(tr.opts.Poll)
	defer tick.Stop()
	tr.startDue(ctx)
	for {
		select {
		case <-ctx.Done():
			tr.drain()
			return nil
		case r, ok := <-sub.Events():
			if !ok {
				tr.drain()
				if err := sub.Err(); err != nil && !errors.Is(err, context.Canceled) {
					return fmt.Errorf("jobset subscription: %w", err)
				}
				return nil
			}
			if tr.fold(ctx, r) {
				tr.startDue(ctx)
			}
		case f := <-tr.done:
			tr.finish(f)
			tr.startDue(ctx)
		case <-tick.C:
			tr.startDue(ctx)
		}
	}
}

// catchUp folds the project and jobset streams up to the log's head and
// returns the position it reached.
func (tr *Trigger) catchUp(ctx context.Context) (events.Position, error) {
	store := tr.svc.rt.Store()
	head, err := store.Head(ctx)
	if err != nil {
		return events.Start, fmt.Errorf("read log head: %w", err)
	}
	pos := events.Start
	for pos.Less(head) {
		recs, err := store.ReadAll(ctx, pos, 1000)
		if err != nil {
			return pos, fmt.Errorf("read log: %w", err)
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			if triggerFilter.Match(r) {
				tr.fold(ctx, r)
			}
			pos = r.Position
		}
	}
	tr.folded = pos
	tr.loadChecks(ctx)
	return pos, nil
}

// loadChecks takes the time of the latest check of each jobset that the
// log does not record from the Checks port, so that a restart does not
// check every jobset at once. Without it they are all due: one check
// each.
func (tr *Trigger) loadChecks(ctx context.Context) {
	if tr.svc.ports.Checks == nil {
		return
	}
	last, err := tr.svc.ports.Checks.LastChecks(ctx)
	if err != nil {
		tr.log.WarnContext(ctx, "read the last checks; every polled jobset is checked now", "err", err)
		return
	}
	for _, js := range tr.jobsets {
		if at, ok := last[js.ID]; ok && js.Exists {
			js.LastChecked = max(js.LastChecked, at)
		}
	}
}

// fold applies one event and reports whether it may make a jobset due.
func (tr *Trigger) fold(ctx context.Context, r events.Recorded) bool {
	p, err := tr.svc.codec.Decode(r)
	if err != nil {
		if !errors.Is(err, events.ErrUnknownType) {
			tr.log.WarnContext(ctx, "evaluation trigger: undecodable event", "stream", r.Stream, "err", err)
		}
		return false
	}
	if name, ok := projectName(r.Stream); ok {
		tr.projects[name] = project.EvolveAt(tr.projects[name], p, r.Position)
		return true
	}
	js := tr.jobsets[r.Stream]
	if js == nil {
		js = new(jobset.State)
		tr.jobsets[r.Stream] = js
	}
	*js = jobset.EvolveAt(*js, p, r.Position)
	tr.folded = r.Position
	if at, ok := tr.awaited[r.Stream]; ok && !r.Position.Less(at) {
		delete(tr.awaited, r.Stream)
		delete(tr.running, r.Stream)
	}
	if c, ok := p.(*events.EvaluationClosed); ok {
		tr.closed[r.Stream] = max(tr.closed[r.Stream], c.EvalID)
		if id := tr.running[r.Stream]; id > 0 && id <= c.EvalID {
			delete(tr.running, r.Stream)
		}
	}
	return true
}

func projectName(stream string) (string, bool) {
	if len(stream) > len(streams.ProjectPrefix) && stream[:len(streams.ProjectPrefix)] == streams.ProjectPrefix {
		return stream[len(streams.ProjectPrefix):], true
	}
	return "", false
}

// metadata is the metadata of a command the trigger issues: the
// evaluator acts, with a fresh correlation id.
func (tr *Trigger) metadata() events.Metadata {
	return commands.NewMetadata(commands.ComponentActor("evaluator"), tr.svc.rt)
}

// recoverOpen closes the evaluations an earlier run left open.
func (tr *Trigger) recoverOpen(ctx context.Context) {
	for _, js := range tr.jobsets {
		if js.Open == nil || (!tr.opts.RecoverAll && js.Open.Host != tr.svc.opts.Host) {
			continue
		}
		id, err := tr.svc.Recover(ctx, tr.metadata(), Recover{Project: js.Project, Jobset: js.Name})
		if err != nil {
			tr.log.ErrorContext(ctx, "close interrupted evaluation", "project", js.Project, "jobset", js.Name, "err", err)
			continue
		}
		tr.log.InfoContext(ctx, "closed interrupted evaluation", "project", js.Project, "jobset", js.Name, "eval", id)
	}
}

// Due reports whether js should be evaluated at now (Unix seconds),
// leaving aside the one-at-a-time rule: it is live in an enabled project,
// enabled, not being evaluated, and has a pending request or an elapsed
// check interval (jobset.EffectiveCheckInterval: never below the minimum,
// whatever an old event says).
func Due(js jobset.State, p project.State, now int64) bool {
	switch {
	case !jobset.Live(js, p) || !p.Config.Enabled || js.Config.Enabled == jobset.Disabled || js.Open != nil:
		return false
	case js.TriggerTime != 0:
		return true
	}
	interval := jobset.EffectiveCheckInterval(js.Config.CheckInterval)
	return interval > 0 && js.LastChecked+int64(interval) <= now
}

// startDue starts due evaluations while slots are free.
func (tr *Trigger) startDue(ctx context.Context) {
	if ctx.Err() != nil || tr.inFlight >= tr.opts.MaxConcurrent {
		return
	}
	now := tr.svc.rt.Clock().Now().Unix()
	var due []string
	for stream, js := range tr.jobsets {
		if _, busy := tr.running[stream]; busy {
			continue
		}
		if Due(*js, tr.projects[js.Project], now) {
			due = append(due, stream)
		}
	}
	sort.Slice(due, func(a, b int) bool {
		x, y := tr.jobsets[due[a]], tr.jobsets[due[b]]
		if (x.TriggerTime != 0) != (y.TriggerTime != 0) {
			return x.TriggerTime != 0
		}
		if x.TriggerTime != y.TriggerTime {
			return x.TriggerTime < y.TriggerTime
		}
		if x.LastChecked != y.LastChecked {
			return x.LastChecked < y.LastChecked
		}
		return x.ID < y.ID
	})
	for _, stream := range due {
		if tr.inFlight >= tr.opts.MaxConcurrent {
			return
		}
		js := tr.jobsets[stream]
		if js.Config.Enabled == jobset.OneAtATime && js.LastEval != 0 && tr.svc.ports.Status != nil {
			busy, err := tr.svc.ports.Status.HasUnfinishedBuilds(ctx, js.LastEval)
			if err != nil {
				tr.log.WarnContext(ctx, "one-at-a-time check", "project", js.Project, "jobset", js.Name, "err", err)
				continue
			}
			if busy {
				continue
			}
		}
		tr.start(ctx, stream, js.Project, js.Name)
	}
}

func (tr *Trigger) start(ctx context.Context, stream, project, name string) {
	tr.running[stream] = -1
	tr.inFlight++
	go func() {
		sum, err := tr.svc.Evaluate(ctx, tr.metadata(), Evaluate{Project: project, Jobset: name})
		tr.done <- finished{stream: stream, sum: sum, err: err}
	}()
}

func (tr *Trigger) finish(f finished) {
	tr.inFlight--
	if tr.opts.OnDone != nil {
		tr.opts.OnDone(f.sum, f.err)
	}
	switch {
	case f.err != nil && f.sum.EvalID == 0:
		tr.log.Warn("evaluation not started", "project", f.sum.Project, "jobset", f.sum.Jobset, "err", f.err)
		delete(tr.running, f.stream)
	case f.err != nil:
		tr.log.Error("evaluation aborted", "project", f.sum.Project, "jobset", f.sum.Jobset, "eval", f.sum.EvalID, "err", f.err)
	default:
		tr.log.Info("evaluation done", "project", f.sum.Project, "jobset", f.sum.Jobset, "eval", f.sum.EvalID,
			"outcome", f.sum.Outcome, "jobs", f.sum.Jobs, "newBuilds", f.sum.NewBuilds, "errors", f.sum.Errors, "error", f.sum.Error)
	}
	if js := tr.jobsets[f.stream]; js != nil && f.sum.CheckedAt > js.LastChecked {
		js.LastChecked = f.sum.CheckedAt // a check the log may not record
	}
	if _, ok := tr.running[f.stream]; !ok {
		return
	}
	if f.sum.EvalID == 0 && tr.folded.Less(f.sum.Recorded) {
		// Wait until the log shows the check, which cleared a request.
		tr.awaited[f.stream] = f.sum.Recorded
		return
	}
	if tr.closed[f.stream] >= f.sum.EvalID {
		delete(tr.running, f.stream)
	} else {
		// Wait until the log shows the evaluation closed, so that the
		// jobset is not judged on a state that predates it.
		tr.running[f.stream] = f.sum.EvalID
	}
}

// drain waits for the running evaluations.
func (tr *Trigger) drain() {
	for tr.inFlight > 0 {
		tr.finish(<-tr.done)
	}
}
