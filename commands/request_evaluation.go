package commands

import (
	"context"

	"buildledger/domain/jobset"
	"buildledger/domain/streams"
	"buildledger/events"
)

// RequestEvaluation asks for an evaluation of an enabled jobset. Reason
// is "api", "cli", "push", "schedule", "ui" or "webhook".
type RequestEvaluation struct {
	Project string
	Jobset  string
	Reason  string
	Force   bool
}

// RequestEvaluation appends EvaluationRequested (At = the runtime clock)
// to jobset-<project>.<jobset>. A missing jobset is ErrNotFound, a
// disabled one ErrConflict.
func (h *Handlers) RequestEvaluation(ctx context.Context, md events.Metadata, c RequestEvaluation) (Result, error) {
	if err := jobsetAddr(c.Project, c.Jobset); err != nil {
		return Result{}, err
	}
	return Execute(ctx, h.rt, streams.Jobset(c.Project, c.Jobset), JobsetAggregate, func(s jobset.State) ([]events.Payload, error) {
		p, err := h.loadProject(ctx, c.Project)
		if err != nil {
			return nil, err
		}
		cmd := jobset.RequestEvaluation{Project: c.Project, Name: c.Jobset, Reason: c.Reason, Force: c.Force}
		return jobset.Decide(s, p, cmd, h.rt.clock.Now())
	}, md)
}
