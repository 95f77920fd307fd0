package evaluation

import (
	"context"
	"errors"
	"fmt"

	"buildledger/commands"
	"buildledger/domain/jobset"
	"buildledger/domain/streams"
	"buildledger/events"
)

// InterruptedMessage is the error recorded for an evaluation closed by
// Recover.
const InterruptedMessage = "evaluation interrupted (the evaluator stopped before it finished)"

// Recover is the command to close the open evaluation of jobset Jobset
// of Project that an evaluator left behind.
type Recover struct {
	Project, Jobset string
}

// Recover closes the open evaluation of cmd's jobset, if any: one whose
// EvaluationOpened has no EvaluationClosed, left by an evaluator that
// stopped. If its eval stream already ended (Finished, Cached or Failed)
// the jobset's stream is closed to match; otherwise the new builds its
// stream names (JobEvaluated) are withdrawn and EvaluationFailed with
// InterruptedMessage is appended, which drops whatever the read models
// staged for it, and the evaluation is closed as interrupted, which keeps
// the jobset's pending request. It returns the id of the closed evaluation, 0 if
// none was open. Call it only when no evaluator is still working on that
// evaluation.
func (s *Service) Recover(ctx context.Context, md events.Metadata, cmd Recover) (int64, error) {
	project, name := cmd.Project, cmd.Jobset
	md, err := s.metadata(md)
	if err != nil {
		return 0, err
	}
	stream := streams.Jobset(project, name)
	l, err := commands.Load(ctx, s.rt, stream, commands.JobsetAggregate)
	if err != nil {
		return 0, err
	}
	open := l.State.Open
	if open == nil {
		return 0, nil
	}
	closed, recorded, err := s.terminal(ctx, open)
	if err != nil {
		return 0, err
	}
	if closed == nil {
		r := &run{s: s, md: md, evalID: open.EvalID}
		rec := &recorder{r: r, queued: recorded}
		if err := rec.withdrawAll(ctx, "the evaluation was interrupted"); err != nil {
			return 0, err
		}
		ts := s.rt.Clock().Now().Unix()
		w := &streamWriter{stream: streams.Eval(open.EvalID), expect: events.Any}
		err := s.appendChunked(ctx, w, md, &events.EvaluationFailed{EvalID: open.EvalID, Project: project, Jobset: name,
			Phase: "eval", Error: InterruptedMessage, Interrupted: true, Timestamp: ts})
		if err != nil {
			return 0, err
		}
		closed = &events.EvaluationClosed{EvalID: open.EvalID, Project: project, Jobset: name, Outcome: jobset.OutcomeFailed,
			Interrupted: true, Timestamp: ts}
	}
	_, err = commands.Execute(ctx, s.rt, stream, commands.JobsetAggregate, func(js jobset.State) ([]events.Payload, error) {
		return jobset.CloseInterrupted(js, closed)
	}, md)
	if err != nil {
		return 0, err
	}
	return open.EvalID, nil
}

// terminal reads the eval stream of open and returns the EvaluationClosed
// matching its last event if that ended the evaluation, else nil and the
// new builds the stream names.
func (s *Service) terminal(ctx context.Context, open *events.EvaluationOpened) (*events.EvaluationClosed, map[int64]bool, error) {
	stream := streams.Eval(open.EvalID)
	var last events.Recorded
	recorded := map[int64]bool{}
	for from := uint64(0); ; {
		recs, err := s.rt.Store().ReadStream(ctx, stream, from, 1000)
		if errors.Is(err, events.ErrStreamNotFound) {
			return nil, nil, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", stream, err)
		}
		for _, rec := range recs {
			if rec.Type != "JobEvaluated" {
				continue
			}
			p, err := s.codec.Decode(rec)
			if err != nil {
				return nil, nil, err
			}
			if j := p.(*events.JobEvaluated); j.IsNew {
				recorded[j.BuildID] = true
			}
		}
		if len(recs) > 0 {
			last = recs[len(recs)-1]
			from = last.Revision + 1
		}
		if len(recs) < 1000 {
			break
		}
	}
	c := &events.EvaluationClosed{EvalID: open.EvalID, Project: open.Project, Jobset: open.Jobset}
	switch last.Type {
	case "EvaluationFinished", "EvaluationCached", "EvaluationFailed":
	default:
		return nil, recorded, nil
	}
	p, err := s.codec.Decode(last)
	if err != nil {
		return nil, nil, err
	}
	switch e := p.(type) {
	case *events.EvaluationFinished:
		c.Outcome, c.Hash, c.Flake, c.HasNewBuilds, c.NrBuilds, c.Timestamp = jobset.OutcomeFinished, e.Hash, e.Flake, e.HasNewBuilds, e.NrBuilds, e.Timestamp
	case *events.EvaluationCached:
		c.Outcome, c.Hash, c.CachedFrom, c.Timestamp = jobset.OutcomeCached, e.Hash, e.EvalID, e.Timestamp
	case *events.EvaluationFailed:
		c.Outcome, c.Timestamp = jobset.OutcomeFailed, e.Timestamp
	}
	return c, nil, nil
}
