// Package pgnotify sends Hydra's Postgres NOTIFY channels (#22), which
// tools written for Hydra LISTEN to: the ones its evaluator and queue
// runner send (build_queued, build_started, build_finished, step_started,
// step_finished, eval_started, eval_added, eval_cached, eval_failed,
// cached_build_finished, cached_build_queued, builds_added) and the ones
// its schema's triggers send (jobsets_added, jobsets_deleted,
// jobset_shares_changed, jobset_scheduling_changed, builds_deleted,
// builds_restarted, builds_cancelled, builds_bumped), with Hydra's
// payloads: fields separated by tabs, the trigger channels empty.
//
// It is a reactor, not a part of the read models' projection, because a
// notification is a side effect: a projection runs again on a replay or a
// rebuild of the read models, and a listener must never hear history
// again. The reactor follows the log from its own checkpoint (an
// outbox.Follower), which nothing but the reactor moves: started for the
// first time it begins at the log's head; restarted, it sends what
// happened while it was down and nothing before. Imported history
// (metadata importedFrom) is never announced.
//
// Hydra writes an evaluation's builds when the evaluation ends, so its
// listeners hear nothing of a build's progress before eval_added. Here
// steps run while their evaluation goes on: the build_started,
// step_started, step_finished and build_finished of a build whose
// evaluation is still open are held, and sent in log order after the
// evaluation's eval_added (never, for an evaluation that fails: its builds
// are withdrawn, and Hydra never had them).
//
// A notification is sent once the read models hold the event that causes
// it, as Hydra sends after the transaction that writes the row commits,
// so a listener that reads Hydra's tables on hearing it finds the row.
// Delivery is at least once: a crash after a send and before the
// checkpoint moves sends the events since the checkpoint again.
package pgnotify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"buildledger/commands"
	"buildledger/commands/reactors/outbox"
	"buildledger/domain/domainerr"
	"buildledger/domain/streams"
	"buildledger/events"
)

// Note is one notification.
type Note struct{ Channel, Payload string }

// Sender sends notifications to the listeners, in order.
type Sender interface {
	Notify(ctx context.Context, notes []Note) error
}

// ReadModels tells when the read models hold the log up to a position.
type ReadModels interface {
	Wait(ctx context.Context, pos events.Position) error
}

// Reactor sends Hydra's channels for the events it follows. Its methods
// run on one goroutine, as an outbox.Follower calls React.
type Reactor struct {
	rt   *commands.Runtime
	send Sender
	rm   ReadModels
	log  *slog.Logger
	// ended caches, by evaluation, whether it had ended (finished or
	// failed) at the event reacted to last. The events come in log
	// order, so an evaluation's entry only changes when its end comes.
	// evalOf caches the evaluation of the builds queued since the
	// reactor started, until they end.
	ended  map[int64]bool
	evalOf map[int64]int64
}

var _ outbox.Reactor = (*Reactor)(nil)

// New returns the reactor; rm may be nil when nothing reads the read
// models on hearing a notification (tests).
func New(rt *commands.Runtime, send Sender, rm ReadModels, log *slog.Logger) *Reactor {
	if log == nil {
		log = slog.Default()
	}
	return &Reactor{rt: rt, send: send, rm: rm, log: log, ended: map[int64]bool{}, evalOf: map[int64]int64{}}
}

// Name implements outbox.Reactor.
func (*Reactor) Name() string { return "pgnotify" }

// Filter implements outbox.Reactor.
func (*Reactor) Filter() events.Filter {
	return events.Filter{Types: []string{
		"JobsetCreated", "JobsetUpdated", "JobsetDeleted", "ProjectDeleted", "EvaluationRequested",
		"EvaluationStarted", "EvaluationFinished", "EvaluationCached", "EvaluationFailed",
		"BuildQueued", "BuildWithdrawn", "StepStarted", "StepFinished", "BuildFinished", "BuildCached",
		"BuildCancelled", "BuildRestarted", "BuildBumped",
	}}
}

// React implements outbox.Reactor.
func (r *Reactor) React(ctx context.Context, rec events.Recorded, p events.Payload) error {
	if rec.Metadata.ImportedFrom != "" {
		return nil
	}
	notes, err := r.notes(ctx, rec, p)
	if err != nil || len(notes) == 0 {
		return err
	}
	if r.rm != nil {
		if err := r.rm.Wait(ctx, rec.Position); err != nil {
			return err
		}
	}
	if err := r.send.Notify(ctx, notes); err != nil {
		return fmt.Errorf("notify %s: %w", notes[0].Channel, err)
	}
	return nil
}

func note(channel string, fields ...any) Note {
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = fmt.Sprint(f)
	}
	return Note{channel, strings.Join(parts, "\t")}
}

// maxPayload is where Hydra's queue runner splits a build_finished
// payload: Postgres refuses NOTIFY payloads of 8000 bytes or more.
const maxPayload = 7000

// buildFinished is Hydra's build_finished: the build, then the builds
// the same failed step finished (its Dependents), split over several
// notifications that each start with the build when the list is long.
// A dependent so listed gets none of its own, as in Hydra.
func (r *Reactor) buildFinished(ctx context.Context, rec events.Recorded, e *events.BuildFinished) ([]Note, error) {
	if e.PropagatedFrom != 0 {
		listed, err := outbox.ListedByTop(ctx, r.rt, rec.Position, e)
		if err != nil || listed {
			return nil, err
		}
	}
	head := strconv.FormatInt(e.BuildID, 10)
	payload := head
	var notes []Note
	for _, d := range e.Dependents {
		dep := strconv.FormatInt(d.BuildID, 10)
		if len(payload)+1+len(dep) > maxPayload {
			notes = append(notes, Note{"build_finished", payload})
			payload = head
		}
		payload += "\t" + dep
	}
	return append(notes, Note{"build_finished", payload}), nil
}

// trace is the id that ties an evaluation's eval_* notifications
// together (Hydra's is opaque too).
func trace(evalID int64) string { return strconv.FormatInt(evalID, 10) }

// notes returns the notifications of one event, in Hydra's order.
func (r *Reactor) notes(ctx context.Context, rec events.Recorded, p events.Payload) ([]Note, error) {
	switch e := p.(type) {
	case *events.JobsetCreated:
		return []Note{note("jobsets_added")}, nil
	case *events.JobsetUpdated:
		return r.jobsetUpdated(ctx, rec, e)
	case *events.JobsetDeleted:
		if e.RenamedTo != "" {
			return nil, nil // the row lives on under its new name
		}
		// The jobset's builds go with it.
		return []Note{note("jobsets_deleted"), note("builds_deleted")}, nil
	case *events.ProjectDeleted:
		return []Note{note("jobsets_deleted"), note("builds_deleted")}, nil
	case *events.EvaluationRequested:
		if e.At == 0 {
			return nil, nil
		}
		return []Note{note("jobset_scheduling_changed")}, nil
	case *events.EvaluationStarted:
		return []Note{note("eval_started", trace(e.EvalID), e.JobsetID)}, nil
	case *events.EvaluationFinished:
		r.ended[e.EvalID] = true
		return r.evalFinished(ctx, rec, e)
	case *events.EvaluationCached:
		id, err := r.jobsetID(ctx, rec, e.Project, e.Jobset)
		if err != nil {
			return nil, err
		}
		// A check has no evaluation of its own: its trace is its time.
		return []Note{note("eval_cached", "check."+strconv.FormatInt(e.Timestamp, 10), id, e.EvalID)}, nil
	case *events.EvaluationFailed:
		r.ended[e.EvalID] = true
		id, err := r.jobsetID(ctx, rec, e.Project, e.Jobset)
		if err != nil {
			return nil, err
		}
		return []Note{note("eval_failed", trace(e.EvalID), id)}, nil
	case *events.BuildQueued:
		r.evalOf[e.BuildID] = e.EvalID
		return []Note{note("build_queued", e.BuildID)}, nil
	case *events.BuildWithdrawn:
		delete(r.evalOf, e.BuildID)
		return []Note{note("builds_deleted")}, nil
	case *events.StepStarted, *events.StepFinished, *events.BuildFinished, *events.BuildCached:
		id := progressOf(p)
		held, err := r.held(ctx, rec, id)
		if rec.Type == "BuildFinished" || rec.Type == "BuildCached" {
			delete(r.evalOf, id) // a restart reads it again
		}
		if held || err != nil {
			return nil, err
		}
		return r.progress(ctx, rec, p)
	case *events.BuildCancelled:
		delete(r.evalOf, e.BuildID)
		return []Note{note("builds_cancelled")}, nil
	case *events.BuildRestarted:
		return []Note{note("builds_restarted")}, nil
	case *events.BuildBumped:
		return []Note{note("builds_bumped")}, nil
	}
	return nil, nil
}

// progressTypes are the events of a build's progress, which wait for
// its evaluation's eval_added.
var progressTypes = []string{"StepStarted", "StepFinished", "BuildFinished", "BuildCached"}

// progressOf returns the build an event of progressTypes is about.
func progressOf(p events.Payload) int64 {
	switch e := p.(type) {
	case *events.StepStarted:
		return e.BuildID
	case *events.StepFinished:
		return e.BuildID
	case *events.BuildFinished:
		return e.BuildID
	case *events.BuildCached:
		return e.BuildID
	}
	return 0
}

// progress returns the notifications of an event of progressTypes.
func (r *Reactor) progress(ctx context.Context, rec events.Recorded, p events.Payload) ([]Note, error) {
	switch e := p.(type) {
	case *events.StepStarted:
		return []Note{note("step_started", e.BuildID, e.StepNr), note("build_started", e.BuildID)}, nil
	case *events.StepFinished:
		loc, err := r.logLocation(ctx, rec, e)
		if err != nil {
			return nil, err
		}
		return []Note{note("step_finished", e.BuildID, e.StepNr, loc)}, nil
	case *events.BuildFinished:
		return r.buildFinished(ctx, rec, e)
	case *events.BuildCached:
		return []Note{note("build_finished", e.BuildID)}, nil
	}
	return nil, nil
}

// held tells whether the progress of build id at rec waits for the end
// of its evaluation: one that had not ended then.
func (r *Reactor) held(ctx context.Context, rec events.Recorded, id int64) (bool, error) {
	eval, ok := r.evalOf[id]
	if !ok {
		b, err := outbox.LoadBuild(ctx, r.rt, id, rec.Position)
		if errors.Is(err, domainerr.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		eval = b.EvalID
	}
	if eval == 0 {
		return false, nil // a build of no evaluation
	}
	ended, known := r.ended[eval]
	if !known {
		err := outbox.ReadUpTo(ctx, r.rt, streams.Eval(eval), rec.Position, func(p events.Payload) {
			switch p.(type) {
			case *events.EvaluationFinished, *events.EvaluationFailed:
				ended = true
			}
		})
		if errors.Is(err, domainerr.ErrNotFound) {
			ended, err = true, nil // an evaluation imported without its stream
		}
		if err != nil {
			return false, err
		}
		r.ended[eval] = ended
	}
	return !ended, nil
}

// heldProgress returns, in log order, the notifications held for the
// builds added (sorted), whose evaluation, begun after start, ends at
// rec.
func (r *Reactor) heldProgress(ctx context.Context, rec events.Recorded, start events.Position, added []int64) ([]Note, error) {
	var out []Note
	err := r.readBetween(ctx, start, rec.Position, func(x events.Recorded) error {
		if !slices.Contains(progressTypes, x.Type) {
			return nil
		}
		p, err := r.rt.Codec().Decode(x)
		if err != nil {
			return nil // a type this build does not know is no build's progress
		}
		if _, ok := slices.BinarySearch(added, progressOf(p)); !ok {
			return nil
		}
		notes, err := r.progress(ctx, x, p)
		out = append(out, notes...)
		return err
	})
	return out, err
}

// readBetween calls f with the events of progressTypes after from and
// before to, in log order: filtered where the log is kept when the store
// can, else by f.
func (r *Reactor) readBetween(ctx context.Context, from, to events.Position, f func(events.Recorded) error) error {
	const page = 1000
	read := func(after events.Position) ([]events.Recorded, events.Position, error) {
		recs, err := r.rt.Store().ReadAll(ctx, after, page)
		if len(recs) > 0 {
			return recs, recs[len(recs)-1].Position, err
		}
		return recs, after, err
	}
	if fr, ok := r.rt.Store().(events.FilteredReader); ok {
		read = func(after events.Position) ([]events.Recorded, events.Position, error) {
			return fr.ReadAllFiltered(ctx, after, events.ReadFilter{Types: progressTypes, NoMetadata: true}, page)
		}
	}
	// A filtered read covers up to page positions, and may return none
	// of them: it ends where its position stops moving.
	for after := from; after.Less(to); {
		recs, next, err := read(after)
		if err != nil {
			return fmt.Errorf("read the log after %d: %w", after.Commit, err)
		}
		for _, x := range recs {
			if !x.Position.Less(to) {
				return nil
			}
			if err := f(x); err != nil {
				return err
			}
		}
		if !after.Less(next) {
			return nil
		}
		after = next
	}
	return nil
}

// jobset is what a jobset's stream says at a position: its id, and its
// configuration before and after the last change.
type jobset struct {
	id        int64
	prev, cur events.JobsetConfig
}

func (r *Reactor) loadJobset(ctx context.Context, rec events.Recorded, project, name string) (jobset, error) {
	var js jobset
	err := outbox.ReadUpTo(ctx, r.rt, streams.Jobset(project, name), rec.Position, func(p events.Payload) {
		switch e := p.(type) {
		case *events.JobsetCreated:
			js.id, js.prev, js.cur = e.ID, e.JobsetConfig, e.JobsetConfig
		case *events.JobsetUpdated:
			js.prev, js.cur = js.cur, e.JobsetConfig
		}
	})
	if err == nil && js.id == 0 {
		err = domainerr.NotFound("jobset", project+":"+name)
	}
	return js, err
}

func (r *Reactor) jobsetID(ctx context.Context, rec events.Recorded, project, name string) (int64, error) {
	js, err := r.loadJobset(ctx, rec, project, name)
	return js.id, err
}

// jobsetUpdated sends what Hydra's row triggers on Jobsets send, in the
// order Postgres fires them (by trigger name).
func (r *Reactor) jobsetUpdated(ctx context.Context, rec events.Recorded, e *events.JobsetUpdated) ([]Note, error) {
	js, err := r.loadJobset(ctx, rec, e.Project, e.Name)
	if err != nil {
		return nil, err
	}
	var out []Note
	if js.prev.CheckInterval != js.cur.CheckInterval || js.prev.Enabled != js.cur.Enabled {
		out = append(out, note("jobset_scheduling_changed"))
	}
	if js.prev.SchedulingShares != js.cur.SchedulingShares {
		out = append(out, note("jobset_shares_changed"))
	}
	return out, nil
}

// evalFinished sends what Hydra's evaluator says of a finished
// evaluation: each build it kept from an earlier one, finished
// (cached_build_finished) or not (cached_build_queued), then eval_added,
// then, when it queued new builds, builds_added with the lowest of them;
// and then what was held of those builds' progress while it ran.
func (r *Reactor) evalFinished(ctx context.Context, rec events.Recorded, e *events.EvaluationFinished) ([]Note, error) {
	var kept, added []int64
	start := rec.Position
	err := outbox.ReadAtUpTo(ctx, r.rt, streams.Eval(e.EvalID), rec.Position, func(at events.Position, p events.Payload) {
		if at.Less(start) {
			start = at
		}
		if j, ok := p.(*events.JobEvaluated); ok && j.BuildID != 0 {
			if j.IsNew {
				added = append(added, j.BuildID)
			} else {
				kept = append(kept, j.BuildID)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(kept)
	kept = slices.Compact(kept)
	var out []Note
	for _, id := range kept {
		b, err := outbox.LoadBuild(ctx, r.rt, id, rec.Position)
		if err != nil {
			return nil, err
		}
		if b.Finished {
			out = append(out, note("cached_build_finished", e.EvalID, id))
		} else {
			out = append(out, note("cached_build_queued", e.EvalID, id))
		}
	}
	out = append(out, note("eval_added", trace(e.EvalID), e.JobsetID, e.EvalID))
	if len(added) == 0 {
		return out, nil
	}
	slices.Sort(added)
	out = append(out, note("builds_added", added[0]))
	held, err := r.heldProgress(ctx, rec, start, added)
	return append(out, held...), err
}

// logLocation is where the step's log was stored, or "-", Hydra's "no
// log file".
func (r *Reactor) logLocation(ctx context.Context, rec events.Recorded, e *events.StepFinished) (string, error) {
	loc := "-"
	err := outbox.ReadUpTo(ctx, r.rt, streams.Step(e.DrvPath), rec.Position, func(p events.Payload) {
		if l, ok := p.(*events.StepLogStored); ok && l.BuildID == e.BuildID && l.StepNr == e.StepNr && l.Attempt == e.Attempt {
			loc = l.Location
		}
	})
	return loc, err
}
