package evaluation

import (
	"context"
	"fmt"
	"time"

	"buildledger/commands"
	"buildledger/domain/jobset"
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
func (s *Service) check(ctx context.Context, md events.Metadata, js jobset.State, hash string, start time.Time, sum Summary) (Summary, error) {
	now := s.rt.Clock().Now().Unix()
	sum.Outcome, sum.CachedFrom, sum.CheckedAt = jobset.OutcomeCached, js.LastEval, now
	if js.CheckChangesLog() {
		c := jobset.RecordCheck{ID: js.ID, LastEval: js.LastEval, Hash: hash, StartTime: start.Unix(), Timestamp: now}
		res, err := commands.Execute(ctx, s.rt, streams.Jobset(js.Project, js.Name), commands.JobsetAggregate, func(cur jobset.State) ([]events.Payload, error) {
			return jobset.Check(cur, c)
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
