package outbox

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"buildledger/commands"
	"buildledger/domain/domainerr"
	"buildledger/domain/streams"
	"buildledger/events"
)

// The facts a notifier decides on are read from the streams as they stood
// at the position of the event it reacts to, not as they stand when it
// runs: a notifier catching up after a restart then decides what it would
// have decided live, and two events never both see a later fact (a build
// finished before its evaluation closed is announced once, at the
// evaluation's close).

// Build is what a build's stream says about it at a position.
type Build struct {
	events.BuildQueued
	Finished bool
	Status   int
	Cached   bool
}

// JobName is Hydra's showJobName: project:jobset:job.
func (b Build) JobName() string { return b.Project + ":" + b.Jobset + ":" + b.Job }

// Eval is what an evaluation's stream says about it at a position.
type Eval struct {
	ID       int64
	Finished bool
	Flake    string
	Inputs   []events.InputFetched
	// NewBuilds are the builds the evaluation created; KeptBuilds those
	// it kept from an earlier one (Hydra's cached builds).
	NewBuilds, KeptBuilds []int64
}

// Input returns the evaluation's input name (alternative 0).
func (e Eval) Input(name string) (events.InputFetched, bool) {
	for _, in := range e.Inputs {
		if in.Name == name && in.AltNr == 0 {
			return in, true
		}
	}
	return events.InputFetched{}, false
}

// ReadUpTo calls f with each decoded event of stream at or before pos:
// what the Load functions fold, for a notifier that needs other facts.
func ReadUpTo(ctx context.Context, rt *commands.Runtime, stream string, pos events.Position, f func(events.Payload)) error {
	return ReadAtUpTo(ctx, rt, stream, pos, func(_ events.Position, p events.Payload) { f(p) })
}

// ReadAtUpTo is ReadUpTo, also telling f where each event is in the log:
// for a notifier that merges two streams' facts in log order.
func ReadAtUpTo(ctx context.Context, rt *commands.Runtime, stream string, pos events.Position, f func(events.Position, events.Payload)) error {
	from := uint64(0)
	for {
		recs, err := rt.Store().ReadStream(ctx, stream, from, 1000)
		if errors.Is(err, events.ErrStreamNotFound) {
			return domainerr.NotFound("stream", stream)
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", stream, err)
		}
		for _, r := range recs {
			if pos.Less(r.Position) {
				return nil
			}
			if p, err := rt.Codec().Decode(r); err == nil {
				f(r.Position, p)
			}
			from = r.Revision + 1
		}
		if len(recs) < 1000 {
			return nil
		}
	}
}

// LoadBuild reads build id as it stood at pos.
func LoadBuild(ctx context.Context, rt *commands.Runtime, id int64, pos events.Position) (Build, error) {
	var b Build
	err := ReadUpTo(ctx, rt, streams.Build(id), pos, func(p events.Payload) {
		switch e := p.(type) {
		case *events.BuildQueued:
			b.BuildQueued = *e
		case *events.BuildCached:
			b.Finished, b.Cached, b.Status = true, true, 0
			if e.Failed {
				b.Status = 1
			}
			if e.FailedWithOutput {
				b.Status = 6
			}
		case *events.BuildFinished:
			b.Finished, b.Cached, b.Status = true, e.IsCachedBuild, e.Status
		case *events.BuildCancelled:
			b.Finished, b.Status = true, 4
		case *events.BuildRestarted:
			b.Finished, b.Cached, b.Status = false, false, 0
		}
	})
	if err == nil && b.BuildID == 0 {
		err = domainerr.NotFound("build", fmt.Sprint(id))
	}
	return b, err
}

// LoadEval reads evaluation id as it stood at pos.
func LoadEval(ctx context.Context, rt *commands.Runtime, id int64, pos events.Position) (Eval, error) {
	ev := Eval{ID: id}
	err := ReadUpTo(ctx, rt, streams.Eval(id), pos, func(p events.Payload) {
		switch e := p.(type) {
		case *events.InputFetched:
			ev.Inputs = append(ev.Inputs, *e)
		case *events.JobEvaluated:
			switch {
			case e.BuildID == 0:
			case e.IsNew:
				ev.NewBuilds = append(ev.NewBuilds, e.BuildID)
			default:
				ev.KeptBuilds = append(ev.KeptBuilds, e.BuildID)
			}
		case *events.EvaluationFinished:
			ev.Finished, ev.Flake = true, e.Flake
		}
	})
	return ev, err
}

// LoadJobset reads the configuration of a jobset as it stood at pos.
func LoadJobset(ctx context.Context, rt *commands.Runtime, project, jobset string, pos events.Position) (events.JobsetConfig, error) {
	var c events.JobsetConfig
	err := ReadUpTo(ctx, rt, streams.Jobset(project, jobset), pos, func(p events.Payload) {
		switch e := p.(type) {
		case *events.JobsetCreated:
			c = e.JobsetConfig
		case *events.JobsetUpdated:
			c = e.JobsetConfig
		}
	})
	return c, err
}

// ListedByTop tells whether e, a build failed by another build's step,
// was announced with that build: the scheduler appends the finish that
// lists it (BuildFinished.Dependents) before e, so it is in the log at
// pos when there is one. Hydra sends one build_finished for both.
func ListedByTop(ctx context.Context, rt *commands.Runtime, pos events.Position, e *events.BuildFinished) (bool, error) {
	var last *events.BuildFinished
	err := ReadUpTo(ctx, rt, streams.Build(e.PropagatedFrom), pos, func(p events.Payload) {
		if f, ok := p.(*events.BuildFinished); ok {
			last = f
		}
	})
	if err != nil || last == nil {
		return false, err
	}
	return slices.ContainsFunc(last.Dependents, func(d events.FailedDependent) bool { return d.BuildID == e.BuildID }), nil
}
