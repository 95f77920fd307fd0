package commands

import (
	"context"

	"buildledger/domain/project"
	"buildledger/domain/runcommand"
	"buildledger/domain/streams"
	"buildledger/events"
)

// UpdateProject replaces a project's configuration; a new owner must be
// an existing user.
type UpdateProject struct {
	Name   string
	Config events.ProjectConfig
}

// UpdateProject appends ProjectUpdated to project-<name>, or nothing if
// the configuration is unchanged.
func (h *Handlers) UpdateProject(ctx context.Context, md events.Metadata, c UpdateProject) (Result, error) {
	if err := projectAddr(c.Name); err != nil {
		return Result{}, err
	}
	if err := runcommand.CheckProject(h.rt.dynamicRunCommand, c.Config); err != nil {
		return Result{}, err
	}
	res, err := Execute(ctx, h.rt, streams.Project(c.Name), ProjectAggregate, func(s project.State) ([]events.Payload, error) {
		if s.Exists && c.Config.Owner != s.Config.Owner {
			if err := h.requireUser(ctx, "owner", c.Config.Owner); err != nil {
				return nil, err
			}
		}
		return project.Decide(s, project.Update(c))
	}, md)
	if err != nil {
		return res, err
	}
	// A declarative project's generator jobset follows its setting.
	return res, h.syncGenerator(ctx, md, c.Name)
}
