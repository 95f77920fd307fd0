package commands

import (
	"context"
	"errors"

	"buildledger/domain/declarative"
	"buildledger/domain/ids"
	"buildledger/domain/jobset"
	"buildledger/domain/runcommand"
	"buildledger/domain/streams"
	"buildledger/events"
)

// errNoAllocator refuses CreateJobset on Handlers made without an id
// allocator.
var errNoAllocator = errors.New("jobsets need an id allocator, and none is configured")

// CreateJobset creates a jobset in an existing project; its numeric id
// is allocated from ids-jobset.
type CreateJobset struct {
	Project string
	Name    string
	Config  events.JobsetConfig
}

// CreateJobset appends JobsetCreated to jobset-<project>.<name>. The id is
// allocated once, after the command has been validated, so a refused
// command costs no id (a conflict-retried one keeps its id).
func (h *Handlers) CreateJobset(ctx context.Context, md events.Metadata, c CreateJobset) (Result, error) {
	if err := projectAddr(c.Project); err != nil {
		return Result{}, err
	}
	if err := jobset.ValidateName(c.Name); err != nil {
		return Result{}, err
	}
	var id int64
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
		cmd := jobset.Create{Project: c.Project, Name: c.Name, ID: max(id, 1), Config: c.Config}
		if _, err := jobset.Decide(s, p, cmd, h.rt.clock.Now()); err != nil {
			return nil, err
		}
		if id == 0 {
			if h.ids == nil {
				return nil, errNoAllocator
			}
			if id, err = h.ids.Next(ctx, ids.KindJobset, 1); err != nil {
				return nil, err
			}
		}
		cmd.ID = id
		return jobset.Decide(s, p, cmd, h.rt.clock.Now())
	}, md)
}
