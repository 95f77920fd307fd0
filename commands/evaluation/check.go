package evaluation

import (
	"context"
	"fmt"
	"time"

	"buildledger/commands"
	"buildledger/domain/domainerr"
	"buildledger/domain/streams"
	"buildledger/events"
)

// check records a check of js that found its inputs (hash) those of its
// latest evaluation, as Hydra's cached evaluation: no evaluation is
// opened. The log is never trimmed and a jobset is polled every few
// minutes, so a check appends an event only when it changes what the log
// says: it answers a pending request (whose trigger it clears), or
// follows a failed evaluation (whose fetch error it clears). Otherwise
// it goes to the Checks port only: a count and the time, which the read
// models' lastcheckedtime and the Trigger's due times read.
func (s *Service) check(ctx context.Context, js Jobset, hash string, start time.Time, sum Summary) (Summary, error) {
	now := s.rt.Clock().Now().Unix()
	sum.Outcome, sum.CachedFrom, sum.CheckedAt = OutcomeCached, js.LastEval, now
	if js.checkChangesLog() {
		md := commands.NewMetadata(s.opts.Actor, s.rt)
		md.Host = s.opts.Host
		res, err := commands.Execute(ctx, s.rt, streams.Jobset(js.Project, js.Name), JobsetAggregate, func(cur Jobset) ([]events.Payload, error) {
			switch {
			case !cur.Exists || cur.ID != js.ID:
				return nil, domainerr.NotFound("jobset", js.Project+":"+js.Name)
			case cur.Open != nil:
				return nil, fmt.Errorf("jobset %s:%s (eval %d): %w", js.Project, js.Name, cur.Open.EvalID, ErrBusy)
			case cur.LastEval != js.LastEval || !cur.checkChangesLog():
				// An evaluation or a check ended meanwhile: it said more.
				return nil, nil
			}
			return []events.Payload{&events.EvaluationCached{Project: js.Project, Jobset: js.Name, EvalID: js.LastEval,
				Hash: hash, Timestamp: now, StartTime: start.Unix()}}, nil
		}, md)
		if err != nil {
			return sum, err
		}
		if len(res.Events) > 0 {
			sum.Recorded = res.Position
		}
	}
	if s.ports.Checks != nil {
		if err := s.ports.Checks.RecordCheck(ctx, js.ID, now); err != nil {
			return sum, fmt.Errorf("record check of %s:%s: %w", js.Project, js.Name, err)
		}
	}
	return sum, nil
}

// checkChangesLog reports whether a check that finds the inputs unchanged
// changes what the jobset's events say: a request is pending, or the
// latest evaluation failed.
func (s Jobset) checkChangesLog() bool {
	return s.TriggerTime != 0 || s.Force || s.LastOutcome == OutcomeFailed
}
