package evaluation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"buildledger/domain/jobset"
	"buildledger/domain/project"
	"buildledger/domain/streams"
	"buildledger/events"
)

// Defaults of SchedulerOptions.
const (
	DefaultMaxConcurrent = 4
	DefaultPoll          = time.Second
)

// SchedulerOptions tune a Scheduler. The zero value is ready to use.
type SchedulerOptions struct {
	// MaxConcurrent is the most evaluations running at once.
	MaxConcurrent int
	// Poll is how often due jobsets are looked for when no event arrives.
	Poll time.Duration
	// RecoverAll closes, at start, every evaluation left open, not only
	// those opened by this host (Options.Host of the Service).
	RecoverAll bool
	// OnDone, if set, is called after each evaluation the scheduler ran.
	OnDone func(Summary, error)
	// Logger receives progress. Default the Service's.
	Logger *slog.Logger
}

// Scheduler decides when jobsets are evaluated, as hydra-evaluator does:
// a jobset of an enabled project that is enabled is evaluated when a
// request is pending (EvaluationRequested, reacted to as soon as it is
// recorded) or when its check interval has elapsed since it was last
// checked; a one-at-a-time jobset only when its latest evaluation has no
// unfinished build. At most MaxConcurrent evaluations run at once, never
// two of one jobset. It learns jobsets from the log (project and jobset
// streams).
type Scheduler struct {
	svc  *Service
	opts SchedulerOptions
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

// NewScheduler returns a Scheduler running evaluations through svc.
func NewScheduler(svc *Service, opts SchedulerOptions) *Scheduler {
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
	return &Scheduler{svc: svc, opts: opts, log: log, jobsets: make(map[string]*jobset.State),
		projects: make(map[string]project.State), running: make(map[string]int64),
		closed: make(map[string]int64), awaited: make(map[string]events.Position), done: make(chan finished)}
}

var schedFilter = events.Filter{StreamPrefixes: []string{streams.JobsetPrefix, streams.ProjectPrefix}}

// Run schedules evaluations until ctx ends, then waits for the running
// ones to stop (they are closed as failed) and returns nil. At start it
// reads the jobsets from the log and closes evaluations left open by an
// earlier run (see Service.Recover).
func (sc *Scheduler) Run(ctx context.Context) error {
	store := sc.svc.rt.Store()
	pos, err := sc.catchUp(ctx)
	if err != nil {
		return err
	}
	sc.recoverOpen(ctx)
	sub, err := store.SubscribeAll(ctx, pos, schedFilter)
	if err != nil {
		return fmt.Errorf("subscribe to jobsets: %w", err)
	}
	defer sub.Close()
	tick := time.NewTicker(sc.opts.Poll)
	defer tick.Stop()
	sc.schedule(ctx)
	for {
		select {
		case <-ctx.Done():
			sc.drain()
			return nil
		case r, ok := <-sub.Events():
			if !ok {
				sc.drain()
				if err := sub.Err(); err != nil && !errors.Is(err, context.Canceled) {
					return fmt.Errorf("jobset subscription: %w", err)
				}
				return nil
			}
			if sc.fold(ctx, r) {
				sc.schedule(ctx)
			}
		case f := <-sc.done:
			sc.finish(f)
			sc.schedule(ctx)
		case <-tick.C:
			sc.schedule(ctx)
		}
	}
}

// catchUp folds the project and jobset streams up to the log's head and
// returns the position it reached.
func (sc *Scheduler) catchUp(ctx context.Context) (events.Position, error) {
	store := sc.svc.rt.Store()
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
			if schedFilter.Match(r) {
				sc.fold(ctx, r)
			}
			pos = r.Position
		}
	}
	sc.folded = pos
	sc.loadChecks(ctx)
	return pos, nil
}

// loadChecks takes the time of the latest check of each jobset that the
// log does not record from the Checks port, so that a restart does not
// check every jobset at once. Without it they are all due: one check
// each.
func (sc *Scheduler) loadChecks(ctx context.Context) {
	if sc.svc.ports.Checks == nil {
		return
	}
	last, err := sc.svc.ports.Checks.LastChecks(ctx)
	if err != nil {
		sc.log.WarnContext(ctx, "read the last checks; every polled jobset is checked now", "err", err)
		return
	}
	for _, js := range sc.jobsets {
		if at, ok := last[js.ID]; ok && js.Exists {
			js.LastChecked = max(js.LastChecked, at)
		}
	}
}

// fold applies one event and reports whether it may make a jobset due.
func (sc *Scheduler) fold(ctx context.Context, r events.Recorded) bool {
	p, err := sc.svc.codec.Decode(r)
	if err != nil {
		if !errors.Is(err, events.ErrUnknownType) {
			sc.log.WarnContext(ctx, "scheduler: undecodable event", "stream", r.Stream, "err", err)
		}
		return false
	}
	if name, ok := projectName(r.Stream); ok {
		sc.projects[name] = project.EvolveAt(sc.projects[name], p, r.Position)
		return true
	}
	js := sc.jobsets[r.Stream]
	if js == nil {
		js = new(jobset.State)
		sc.jobsets[r.Stream] = js
	}
	*js = jobset.EvolveAt(*js, p, r.Position)
	sc.folded = r.Position
	if at, ok := sc.awaited[r.Stream]; ok && !r.Position.Less(at) {
		delete(sc.awaited, r.Stream)
		delete(sc.running, r.Stream)
	}
	if c, ok := p.(*events.EvaluationClosed); ok {
		sc.closed[r.Stream] = max(sc.closed[r.Stream], c.EvalID)
		if id := sc.running[r.Stream]; id > 0 && id <= c.EvalID {
			delete(sc.running, r.Stream)
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

// recoverOpen closes the evaluations an earlier run left open.
func (sc *Scheduler) recoverOpen(ctx context.Context) {
	for _, js := range sc.jobsets {
		if js.Open == nil || (!sc.opts.RecoverAll && js.Open.Host != sc.svc.opts.Host) {
			continue
		}
		id, err := sc.svc.Recover(ctx, js.Project, js.Name)
		if err != nil {
			sc.log.ErrorContext(ctx, "close interrupted evaluation", "project", js.Project, "jobset", js.Name, "err", err)
			continue
		}
		sc.log.InfoContext(ctx, "closed interrupted evaluation", "project", js.Project, "jobset", js.Name, "eval", id)
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

// schedule starts due evaluations while slots are free.
func (sc *Scheduler) schedule(ctx context.Context) {
	if ctx.Err() != nil || sc.inFlight >= sc.opts.MaxConcurrent {
		return
	}
	now := sc.svc.rt.Clock().Now().Unix()
	var due []string
	for stream, js := range sc.jobsets {
		if _, busy := sc.running[stream]; busy {
			continue
		}
		if Due(*js, sc.projects[js.Project], now) {
			due = append(due, stream)
		}
	}
	sort.Slice(due, func(a, b int) bool {
		x, y := sc.jobsets[due[a]], sc.jobsets[due[b]]
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
		if sc.inFlight >= sc.opts.MaxConcurrent {
			return
		}
		js := sc.jobsets[stream]
		if js.Config.Enabled == jobset.OneAtATime && js.LastEval != 0 && sc.svc.ports.Status != nil {
			busy, err := sc.svc.ports.Status.HasUnfinishedBuilds(ctx, js.LastEval)
			if err != nil {
				sc.log.WarnContext(ctx, "one-at-a-time check", "project", js.Project, "jobset", js.Name, "err", err)
				continue
			}
			if busy {
				continue
			}
		}
		sc.start(ctx, stream, js.Project, js.Name)
	}
}

func (sc *Scheduler) start(ctx context.Context, stream, project, name string) {
	sc.running[stream] = -1
	sc.inFlight++
	go func() {
		sum, err := sc.svc.Evaluate(ctx, project, name, Params{})
		sc.done <- finished{stream: stream, sum: sum, err: err}
	}()
}

func (sc *Scheduler) finish(f finished) {
	sc.inFlight--
	if sc.opts.OnDone != nil {
		sc.opts.OnDone(f.sum, f.err)
	}
	switch {
	case f.err != nil && f.sum.EvalID == 0:
		sc.log.Warn("evaluation not started", "project", f.sum.Project, "jobset", f.sum.Jobset, "err", f.err)
		delete(sc.running, f.stream)
	case f.err != nil:
		sc.log.Error("evaluation aborted", "project", f.sum.Project, "jobset", f.sum.Jobset, "eval", f.sum.EvalID, "err", f.err)
	default:
		sc.log.Info("evaluation done", "project", f.sum.Project, "jobset", f.sum.Jobset, "eval", f.sum.EvalID,
			"outcome", f.sum.Outcome, "jobs", f.sum.Jobs, "newBuilds", f.sum.NewBuilds, "errors", f.sum.Errors, "error", f.sum.Error)
	}
	if js := sc.jobsets[f.stream]; js != nil && f.sum.CheckedAt > js.LastChecked {
		js.LastChecked = f.sum.CheckedAt // a check the log may not record
	}
	if _, ok := sc.running[f.stream]; !ok {
		return
	}
	if f.sum.EvalID == 0 && sc.folded.Less(f.sum.Recorded) {
		// Wait until the log shows the check, which cleared a request.
		sc.awaited[f.stream] = f.sum.Recorded
		return
	}
	if sc.closed[f.stream] >= f.sum.EvalID {
		delete(sc.running, f.stream)
	} else {
		// Wait until the log shows the evaluation closed, so that the
		// jobset is not judged on a state that predates it.
		sc.running[f.stream] = f.sum.EvalID
	}
}

// drain waits for the running evaluations.
func (sc *Scheduler) drain() {
	for sc.inFlight > 0 {
		sc.finish(<-sc.done)
	}
}
