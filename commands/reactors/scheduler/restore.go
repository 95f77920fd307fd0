package scheduler

import (
	"context"
	"errors"
	"fmt"

	buildstate "buildledger/domain/build"
	"buildledger/domain/status"
	"buildledger/domain/step"
	"buildledger/domain/streams"
	"buildledger/events"
)

// restore reads back from their streams the builds and steps Model.Evict
// forgot that the event r (decoded as p) is about to need: a step queued
// again, and a build restarted with the steps of its closure. Only events
// before r count, so a cold start restores as the live fold did.
func (s *Scheduler) restore(ctx context.Context, r events.Recorded, p events.Payload) error {
	switch e := p.(type) {
	case *events.StepQueued:
		if r.Revision == 0 || s.model.HasStep(e.DrvPath) {
			return nil
		}
		h, _, err := s.stepHistory(ctx, e.DrvPath, r.Position, 0)
		if err != nil {
			return err
		}
		s.model.RestoreStep(h.StepHistory)
	case *events.BuildRestarted:
		if s.model.HasBuild(e.BuildID) {
			return nil
		}
		return s.restoreBuild(ctx, e.BuildID, r.Position)
	}
	return nil
}

// restoreBuild restores build id and the steps of its closure the model
// does not hold, inputs first, and counts the BuildSteps numbers its
// history used: one per dispatch for it, per attempt of its that ended
// before a dispatch, and per failure it inherited.
func (s *Scheduler) restoreBuild(ctx context.Context, id int64, before events.Position) error {
	ps, err := s.history(ctx, streams.Build(id), before)
	if err != nil {
		return err
	}
	var q *events.BuildQueued
	var st buildstate.State
	nr := 0
	for _, p := range ps {
		switch e := p.(type) {
		case *events.BuildQueued:
			q = e
		case *events.BuildFinished:
			if e.Status == int(status.DepFailed) && e.PropagatedFrom != 0 && e.FailedDrv != "" {
				nr++
			}
		}
		st = buildstate.Evolve(st, p)
	}
	if q == nil || !st.Finished {
		return nil
	}
	seen := map[string]bool{}
	var visit func(drv string) error
	visit = func(drv string) error {
		if seen[drv] {
			return nil
		}
		seen[drv] = true
		h, used, err := s.stepHistory(ctx, drv, before, id)
		if err != nil || h.Queued == nil {
			return err
		}
		nr += used
		for _, in := range h.inputs {
			if err := visit(in); err != nil {
				return err
			}
		}
		s.model.RestoreStep(h.StepHistory)
		return nil
	}
	if err := visit(q.DrvPath); err != nil {
		return err
	}
	s.model.RestoreBuild(q, st, nr)
	return nil
}

// stepRecord is a step's history with every input its StepQueued events
// named.
type stepRecord struct {
	StepHistory
	inputs []string
}

// stepHistory folds the events of drv's stream before the position
// before. used counts the BuildSteps numbers its attempts took for build
// forBuild (0: none).
func (s *Scheduler) stepHistory(ctx context.Context, drv string, before events.Position, forBuild int64) (stepRecord, int, error) {
	ps, err := s.history(ctx, streams.Step(drv), before)
	if err != nil {
		return stepRecord{}, 0, err
	}
	var h stepRecord
	used := 0
	for _, p := range ps {
		switch e := p.(type) {
		case *events.StepQueued:
			if h.Queued == nil {
				h.Queued = e
			}
			h.inputs = append(h.inputs, e.InputDrvs...)
		case *events.StepDispatched:
			if forBuild != 0 && e.BuildID == forBuild {
				used++
			}
		case *events.StepFinished:
			if forBuild != 0 && e.BuildID == forBuild && h.State.Phase == step.Queued {
				used++
			}
			if c := status.Code(e.Status); c == status.Success || c == status.FailedWithOutput {
				h.ReleaseName = e.ReleaseName
			}
		}
		h.State = step.Evolve(h.State, p)
	}
	return h, used, nil
}

// history reads and decodes the events of stream recorded before the
// position before. A stream that does not exist has none.
func (s *Scheduler) history(ctx context.Context, stream string, before events.Position) ([]events.Payload, error) {
	var out []events.Payload
	for from := uint64(0); ; {
		recs, err := s.rt.Store().ReadStream(ctx, stream, from, 1000)
		if errors.Is(err, events.ErrStreamNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("scheduler: restore %s: %w", stream, err)
		}
		for _, r := range recs {
			if !r.Position.Less(before) {
				return out, nil
			}
			p, err := s.codec.Decode(r)
			if err != nil {
				s.log.Warn("scheduler: skipping event", "type", r.Type, "stream", r.Stream, "err", err)
				continue
			}
			out = append(out, p)
		}
		if len(recs) < 1000 {
			return out, nil
		}
		from = recs[len(recs)-1].Revision + 1
	}
}
