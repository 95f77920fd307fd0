package commands

import (
	"context"

	"buildledger/domain/declarative"
	"buildledger/domain/jobset"
	"buildledger/domain/streams"
	"buildledger/events"
)

// DeleteJobset deletes a jobset.
type DeleteJobset struct {
	Project string
	Name    string
}

// DeleteJobset appends JobsetDeleted to jobset-<project>.<name>.
func (h *Handlers) DeleteJobset(ctx context.Context, md events.Metadata, c DeleteJobset) (Result, error) {
	if err := jobsetAddr(c.Project, c.Name); err != nil {
		return Result{}, err
	}
	return Execute(ctx, h.rt, streams.Jobset(c.Project, c.Name), JobsetAggregate, func(s jobset.State) ([]events.Payload, error) {
		p, err := h.loadProject(ctx, c.Project)
		if err != nil {
			return nil, err
		}
		if err := declarative.MayEdit(p, md.Actor); err != nil {
			return nil, err
		}
		return jobset.Decide(s, p, jobset.Delete{Project: c.Project, Name: c.Name}, h.rt.clock.Now())
	}, md)
}
