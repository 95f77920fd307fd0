package commands

import (
	"context"

	"buildledger/domain/declarative"
	"buildledger/domain/jobset"
	"buildledger/domain/runcommand"
	"buildledger/domain/streams"
	"buildledger/events"
)

// UpdateJobset replaces a jobset's configuration, inputs included.
type UpdateJobset struct {
	Project string
	Name    string
	Config  events.JobsetConfig
}

// UpdateJobset appends JobsetUpdated to jobset-<project>.<name>, or
// nothing if the configuration is unchanged.
func (h *Handlers) UpdateJobset(ctx context.Context, md events.Metadata, c UpdateJobset) (Result, error) {
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
		if err := runcommand.CheckJobset(h.rt.dynamicRunCommand, p.Config, c.Config); err != nil {
			return nil, err
		}
		return jobset.Decide(s, p, jobset.Update(c), h.rt.clock.Now())
	}, md)
}
