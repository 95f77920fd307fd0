package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"golang.org/x/sync/errgroup"

	"buildledger/events"
)

// RunnerOptions tunes a Runner. The zero value is ready to use.
type RunnerOptions struct {
	// BatchSize is the most events applied in one transaction. Default 5000.
	BatchSize int
	// MaxBatchSize, when above BatchSize, lets a runner that is behind
	// apply larger batches: after a full batch it reads twice as many
	// events, up to MaxBatchSize, and back to BatchSize once it has caught
	// up. Larger batches cost a projection fewer statements per event: in
	// alternated runs of the 100,000-job ingest benchmark of
	// commands/evaluation, batches of 20,000 took 9.5-9.7 s where batches
	// of 5,000 took 9.9-11.1 s. Default ReplayBatchSize when BatchSize is
	// defaulted, else BatchSize.
	MaxBatchSize int
	// Idle is the longest a caught-up runner waits before looking for new
	// events when no wake-up arrives. Default 1s.
	Idle time.Duration
	// Until, if not Start, stops the runner at that position: the read
	// models show the ledger as it was then.
	Until events.Position
	// Logger receives warnings about events that cannot be decoded.
	Logger *slog.Logger
	// OnBatch, if set, is called after each committed batch.
	OnBatch func(Progress)
	// Parallel is how many projections apply a batch at once, each in a
	// transaction (and a database connection) of its own. Default 2.
	Parallel int
	// BeforeBatch, if set, is called with each batch read before any
	// projection applies it, outside their transactions; an error fails
	// the batch. A replay uses it to add back the foreign keys it loads
	// without before an event that needs them; live runners leave it nil.
	BeforeBatch func(ctx context.Context, batch []Event) error
	// PauseFirst and PauseMax space the retries of a projection that
	// failed to apply a batch under Run: it is paused while the others go
	// on, and tried again after PauseFirst, then after twice as long each
	// time (±50%), up to PauseMax, until it succeeds. Defaults 1s and 5m.
	PauseFirst, PauseMax time.Duration
}

// Progress describes the runner after a batch.
type Progress struct {
	// Position is the position of the last event applied.
	Position events.Position
	// Events is how many events the batch held.
	Events int
	// Applied is the total applied since the runner started.
	Applied int64
	// Skipped is the total of events that could not be decoded.
	Skipped int64
}

// Runner feeds projections from the log, each from its own checkpoint.
type Runner struct {
	store       events.Store
	codec       *events.Codec
	db          DB
	projections []Projection
	opts        RunnerOptions
	// types holds, by projection, the event types it handles (nil: all);
	// decode, the types any projection handles (nil: all).
	types  []map[string]bool
	decode map[string]bool
	// filter is the read of a store that can filter: the types of decode
	// (sorted; nil: all), without metadata when no projection reads it.
	filter events.ReadFilter

	mu    sync.Mutex
	stats Progress
	// promoted records the Promoters already published by this runner.
	promoted map[string]bool

	// prefetch, when not nil, delivers the batch after prefetchAfter,
	// read while the previous batch was applied.
	prefetch      chan fetched
	prefetchAfter events.Position
	// batch is how many events the next read takes (see MaxBatchSize).
	batch int

	// pausing is set by Run: a projection that fails is paused rather
	// than failing the runner. paused holds them by index, and cps the
	// checkpoints read last; both under mu.
	pausing bool
	paused  map[int]*pause
	cps     []events.Position
}

// pause is the state of a paused projection.
type pause struct {
	err      error
	since    time.Time
	failures int
	retryAt  time.Time
	wait     *backoff.ExponentialBackOff
}

// ProjectionStatus is how one projection of a runner is doing, for
// /queue-runner-status and /metrics.
type ProjectionStatus struct {
	Name string `json:"name"`
	// Position is the projection's checkpoint as last read: it has applied
	// every event up to there.
	Position uint64 `json:"position"`
	// Paused is set while the projection is held back after a failure to
	// apply the events after Position; Error says why.
	Paused   bool       `json:"paused"`
	Error    string     `json:"error,omitempty"`
	Since    *time.Time `json:"pausedSince,omitempty"`
	Failures int        `json:"failures,omitempty"`
	RetryAt  *time.Time `json:"retryAt,omitempty"`
}

// NewRunner returns a runner for projections. Their names must be unique.
func NewRunner(store events.Store, codec *events.Codec, db DB, ps []Projection, opts RunnerOptions) (*Runner, error) {
	seen := map[string]bool{}
	for _, p := range ps {
		if seen[p.Name()] {
			return nil, fmt.Errorf("projection %q registered twice", p.Name())
		}
		seen[p.Name()] = true
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 5000
		if opts.MaxBatchSize <= 0 {
			opts.MaxBatchSize = ReplayBatchSize
		}
	}
	opts.MaxBatchSize = max(opts.MaxBatchSize, opts.BatchSize)
	if opts.Idle <= 0 {
		opts.Idle = time.Second
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 2
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.PauseFirst <= 0 {
		opts.PauseFirst = time.Second
	}
	if opts.PauseMax <= 0 {
		opts.PauseMax = 5 * time.Minute
	}
	r := &Runner{paused: map[int]*pause{},
		store: store, codec: codec, db: db, projections: ps, opts: opts, types: make([]map[string]bool, len(ps)), decode: map[string]bool{},
		batch: opts.BatchSize}
	r.filter.NoMetadata = true
	for i, p := range ps {
		if u, ok := p.(MetadataUser); !ok || u.UsesMetadata() {
			r.filter.NoMetadata = false
		}
		t, ok := p.(EventTyper)
		if !ok {
			r.decode = nil
			continue
		}
		r.types[i] = map[string]bool{}
		for _, typ := range t.EventTypes() {
			r.types[i][typ] = true
			if r.decode != nil {
				r.decode[typ] = true
			}
		}
	}
	if r.decode != nil {
		// Not nil even when empty: projections that handle no type read none.
		r.filter.Types = slices.AppendSeq([]string{}, maps.Keys(r.decode))
		slices.Sort(r.filter.Types)
	}
	return r, nil
}

// eventsFor returns the events of batch that projection i handles.
func (r *Runner) eventsFor(i int, batch []Event) []Event {
	if r.types[i] == nil {
		return batch
	}
	var out []Event
	for _, ev := range batch {
		if r.types[i][ev.Type] {
			out = append(out, ev)
		}
	}
	return out
}

// Stats returns the runner's progress so far.
func (r *Runner) Stats() Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Status reports each projection's checkpoint and whether it is paused.
func (r *Runner) Status() []ProjectionStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]ProjectionStatus, len(r.projections))
	for i, p := range r.projections {
		out[i].Name = p.Name()
		if i < len(r.cps) {
			out[i].Position = r.cps[i].Commit
		}
		if ps := r.paused[i]; ps != nil {
			since, at := ps.since, ps.retryAt
			out[i].Paused, out[i].Error, out[i].Since, out[i].Failures, out[i].RetryAt = true, ps.err.Error(), &since, ps.failures, &at
		}
	}
	return out
}

// Run applies events until ctx ends, then returns nil. A projection that
// fails to apply a batch is paused and retried with backoff while the
// others go on (see Status); a read that fails ends Run with the error.
func (r *Runner) Run(ctx context.Context) error {
	r.pausing = true
	defer func() { r.pausing = false }()
	var sub events.Subscription
	defer func() {
		if sub != nil {
			sub.Close()
		}
	}()
	for {
		_, moved, err := r.step(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if moved {
			continue
		}
		if err := r.promote(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if r.reachedUntil() {
			return nil
		}
		if sub == nil {
			// Used only as a wake-up: the events themselves are read in Step.
			sub, err = r.store.SubscribeAll(ctx, r.Stats().Position, events.Filter{})
			if err != nil {
				r.opts.Logger.Warn("projections: no wake-up subscription, polling", "err", err)
				sub = nil
			}
		}
		if err := r.wait(ctx, sub); err != nil {
			return nil
		}
	}
}

func (r *Runner) wait(ctx context.Context, sub events.Subscription) error {
	var wake <-chan events.Recorded
	if sub != nil {
		wake = sub.Events()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(r.opts.Idle):
	case _, ok := <-wake:
		if !ok {
			return nil
		}
		for drained := false; !drained; {
			select {
			case <-wake:
			default:
				drained = true
			}
		}
	}
	return nil
}

// CatchUp applies events until it reaches the head of the log as it was
// when CatchUp was called (or Until), and returns how many it applied.
func (r *Runner) CatchUp(ctx context.Context) (int64, error) {
	head, err := r.store.Head(ctx)
	if err != nil {
		return 0, err
	}
	var total int64
	for {
		n, moved, err := r.step(ctx)
		total += int64(n)
		if err != nil {
			return total, err
		}
		if !moved || r.reachedUntil() || !r.Stats().Position.Less(head) {
			return total, r.promote(ctx)
		}
	}
}

// promote publishes every Promoter not yet published by this runner,
// leaving out paused ones whose retry is not due. Under Run, one that
// fails is paused; one that succeeds is resumed (a paused projection whose
// retry is due has caught up by now, else step would have applied to it).
func (r *Runner) promote(ctx context.Context) error {
	for i, p := range r.projections {
		pr, ok := p.(Promoter)
		if !ok || r.promoted[CheckpointName(p)] || r.held(i) {
			continue
		}
		if err := r.db.InTx(ctx, func(tx Tx) error { return pr.Promote(ctx, tx) }); err != nil {
			err = fmt.Errorf("promote %s: %w", CheckpointName(p), err)
			if !r.pausing || ctx.Err() != nil {
				return err
			}
			r.pause(i, err)
			continue
		}
		r.resume(i)
		if r.promoted == nil {
			r.promoted = map[string]bool{}
		}
		r.promoted[CheckpointName(p)] = true
	}
	return nil
}

func (r *Runner) reachedUntil() bool {
	if r.opts.Until.IsStart() {
		return false
	}
	return !r.Stats().Position.Less(r.opts.Until)
}

// Step applies one batch and returns how many events it held (0 when
// there was nothing new, or when a read filtered on event types found none
// of them). The batch is read once; each projection applies it in a
// transaction of its own together with its checkpoint, up to Parallel of
// them at once.
func (r *Runner) Step(ctx context.Context) (int, error) {
	n, _, err := r.step(ctx)
	return n, err
}

// step is Step, also telling whether the checkpoints moved.
func (r *Runner) step(ctx context.Context) (int, bool, error) {
	cps, err := r.checkpoints(ctx)
	if err != nil {
		return 0, false, fmt.Errorf("apply batch: %w", err)
	}
	active := r.active()
	if len(active) == 0 {
		return 0, false, nil // every projection is paused
	}
	from := cps[active[0]]
	for _, i := range active[1:] {
		if cps[i].Less(from) {
			from = cps[i]
		}
	}
	var f fetched
	if r.prefetch != nil && r.prefetchAfter == from {
		f = <-r.prefetch
	}
	if f.err != nil || !from.Less(f.through) {
		// No prefetch, or one that found nothing when it ran: events may
		// have come since.
		f = r.read(ctx, from, r.batch)
	}
	r.prefetch = nil
	if f.err != nil {
		return 0, false, fmt.Errorf("apply batch: %w", f.err)
	}
	if f.full {
		r.batch = min(2*r.batch, r.opts.MaxBatchSize)
	} else {
		r.batch = r.opts.BatchSize
	}
	if !from.Less(f.through) {
		r.setProgress(from, 0, 0)
		return 0, false, f.skew
	}
	if f.full {
		// Read and decode the next batch while this one is applied.
		r.prefetchAfter = f.through
		r.prefetch = make(chan fetched, 1)
		go func(ch chan<- fetched, after events.Position, size int) { ch <- r.read(ctx, after, size) }(r.prefetch, r.prefetchAfter, r.batch)
	}
	if r.opts.BeforeBatch != nil {
		if err := r.opts.BeforeBatch(ctx, f.batch); err != nil {
			return 0, false, fmt.Errorf("apply batch: %w", err)
		}
	}
	// Each projection applies the batch on its own: one that fails does
	// not stop the others.
	var g errgroup.Group
	g.SetLimit(r.opts.Parallel)
	errs := make([]error, len(r.projections))
	for _, i := range active {
		if !cps[i].Less(f.through) {
			continue
		}
		g.Go(func() error { errs[i] = r.apply(ctx, i, from, f); return nil })
	}
	_ = g.Wait()
	if !r.pausing {
		if err := errors.Join(errs...); err != nil {
			return 0, false, fmt.Errorf("apply batch: %w", err)
		}
	}
	moved := false
	for _, i := range active {
		switch {
		case errs[i] != nil && ctx.Err() == nil:
			r.pause(i, errs[i])
		case errs[i] == nil:
			r.resume(i)
			moved = moved || cps[i].Less(f.through)
		}
	}
	if !moved {
		return 0, false, ctx.Err()
	}
	r.setProgress(f.through, len(f.batch), f.skipped)
	return len(f.batch), true, f.skew
}

// active returns the indexes of the projections to apply the next batch
// to: those not paused, and the paused ones whose retry is due.
func (r *Runner) active() []int {
	var out []int
	for i := range r.projections {
		if !r.held(i) {
			out = append(out, i)
		}
	}
	return out
}

// pause holds projection i back after it failed with err, until its next
// retry is due.
func (r *Runner) pause(i int, err error) {
	r.mu.Lock()
	ps := r.paused[i]
	if ps == nil {
		ps = &pause{since: time.Now(), wait: &backoff.ExponentialBackOff{InitialInterval: r.opts.PauseFirst,
			RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: r.opts.PauseMax}}
		ps.wait.Reset()
		r.paused[i] = ps
	}
	ps.err = err
	ps.failures++
	wait := ps.wait.NextBackOff()
	ps.retryAt = time.Now().Add(wait)
	var at events.Position
	if i < len(r.cps) {
		at = r.cps[i]
	}
	r.mu.Unlock()
	r.opts.Logger.Error("projection paused: it failed to apply the events after its checkpoint; the others go on",
		"projection", CheckpointName(r.projections[i]), "position", at.Commit, "failures", ps.failures, "retry_in", wait.Round(time.Millisecond), "err", err)
}

// held reports whether projection i is paused and its retry not yet due.
func (r *Runner) held(i int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	ps := r.paused[i]
	return ps != nil && time.Now().Before(ps.retryAt)
}

// resume ends the pause of projection i, if it was paused.
func (r *Runner) resume(i int) {
	r.mu.Lock()
	ps := r.paused[i]
	delete(r.paused, i)
	r.mu.Unlock()
	if ps != nil {
		r.opts.Logger.Info("projection resumed", "projection", CheckpointName(r.projections[i]), "failures", ps.failures, "paused_for", time.Since(ps.since).Round(time.Millisecond))
	}
}

// apply applies batch f, read after position from, to projection i in one
// transaction with its checkpoint. The checkpoint is locked first: another
// runner may have moved it since it was read, and the events it covers are
// then left out; if it is behind from (it cannot be, as checkpoints only
// move forward), the batch is left for a later read.
func (r *Runner) apply(ctx context.Context, i int, from events.Position, f fetched) error {
	p := r.projections[i]
	return r.db.InTx(ctx, func(tx Tx) error {
		cps, err := lockCheckpoints(ctx, tx, r.projections[i:i+1])
		if err != nil {
			return err
		}
		cp := cps[0]
		if !cp.Less(f.through) || cp.Less(from) {
			return nil
		}
		start := 0
		for start < len(f.batch) && !cp.Less(f.batch[start].Position) {
			start++
		}
		evs := r.eventsFor(i, f.batch[start:])
		if len(evs) > 0 {
			if err := p.Apply(ctx, tx, evs); err != nil {
				return fmt.Errorf("projection %s: %w", p.Name(), err)
			}
		}
		return saveCheckpoints(ctx, tx, []string{CheckpointName(p)}, []int64{int64(len(evs))}, f.through)
	})
}

// setProgress records a step in the runner's stats and reports it.
func (r *Runner) setProgress(last events.Position, n int, skipped int64) {
	r.mu.Lock()
	r.stats.Position = last
	r.stats.Events = n
	r.stats.Applied += int64(n)
	r.stats.Skipped += skipped
	st := r.stats
	r.mu.Unlock()
	if n > 0 && r.opts.OnBatch != nil {
		r.opts.OnBatch(st)
	}
}

// fetched is a batch read from the log and decoded.
type fetched struct {
	batch []Event
	// through is the position the read covered: the last event of the
	// batch, or past it when the store skipped events of other types.
	through events.Position
	// full is true when more may follow at once: the batch was cut at
	// BatchSize, or a filtered read moved (it may have stopped short of
	// the head).
	full    bool
	skipped int64
	err     error
	// skew, if set, is why the batch stops short: the event after it is
	// of a version newer than this binary knows.
	skew error
}

// read reads and decodes the batch of up to size events after position
// after, cut at Until.
// When the store can filter reads, it reads only events of the types the
// projections handle (if each declares them), and without their metadata
// if none reads it.
func (r *Runner) read(ctx context.Context, after events.Position, size int) fetched {
	var (
		recs    []events.Recorded
		through events.Position
		err     error
	)
	// typed is true when the read skips events of other types: it then
	// may cover more of the log than the events it returns.
	fr, canFilter := r.store.(events.FilteredReader)
	typed := canFilter && r.filter.Types != nil
	if canFilter {
		recs, through, err = fr.ReadAllFiltered(ctx, after, r.filter, size)
	} else {
		recs, err = r.store.ReadAll(ctx, after, size)
	}
	if err != nil {
		return fetched{err: err}
	}
	full := len(recs) == size || typed && after.Less(through)
	if !r.opts.Until.IsStart() {
		for i, rec := range recs {
			if r.opts.Until.Less(rec.Position) {
				recs, full = recs[:i], false
				break
			}
		}
		if r.opts.Until.Less(through) {
			through, full = r.opts.Until, false
		}
	}
	if !typed {
		// The read covered the events it returned.
		through = after
		if len(recs) > 0 {
			through = recs[len(recs)-1].Position
		}
	}
	f := fetched{batch: make([]Event, len(recs)), through: through, full: full}
	f.skipped = r.decodeInto(f.batch, recs)
	f.stopAtFutureVersion(after)
	return f
}

// ErrVersionSkew stops a runner at an event of a newer schema version than
// this binary knows: a newer writer appended it during a rolling upgrade.
// Skipping it would move the checkpoint past it for good; stopping leaves
// it to a runner of the newer version.
var ErrVersionSkew = errors.New("an event of a newer version than this binary knows: upgrade buildledger")

// stopAtFutureVersion cuts the batch before its first event of a future
// version, after is the position the read started from.
func (f *fetched) stopAtFutureVersion(after events.Position) {
	for i, e := range f.batch {
		if !errors.Is(e.DecodeErr, events.ErrFutureVersion) {
			continue
		}
		f.skew = fmt.Errorf("%w: %w", ErrVersionSkew, e.DecodeErr)
		f.batch, f.through, f.full, f.skipped = f.batch[:i], after, false, 0
		for _, kept := range f.batch {
			if kept.DecodeErr != nil {
				f.skipped++
			}
		}
		if i > 0 {
			f.through = f.batch[i-1].Position
		}
		return
	}
}

// minDecodeChunk is the fewest events a decoding goroutine takes.
const minDecodeChunk = 1000

// decodeInto fills batch with recs and their payloads, decoded on every
// core when there are many, and returns how many could not be decoded.
func (r *Runner) decodeInto(batch []Event, recs []events.Recorded) int64 {
	workers := max(1, min(runtime.GOMAXPROCS(0), len(recs)/minDecodeChunk))
	chunk := (len(recs) + workers - 1) / workers
	var (
		wg      sync.WaitGroup
		skipped atomic.Int64
	)
	for lo := 0; lo < len(recs); lo += chunk {
		hi := min(lo+chunk, len(recs))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				rec := recs[i]
				batch[i] = Event{Recorded: rec}
				if r.decode != nil && !r.decode[rec.Type] {
					continue // no projection handles it
				}
				batch[i].Payload, batch[i].DecodeErr = r.codec.Decode(rec)
				if batch[i].DecodeErr != nil {
					skipped.Add(1)
					r.opts.Logger.Warn("projections: skipping event that cannot be decoded",
						"id", rec.ID, "type", rec.Type, "stream", rec.Stream, "position", rec.Position.Commit, "err", batch[i].DecodeErr)
				}
			}
		}()
	}
	wg.Wait()
	return skipped.Load()
}
