package commands

import (
	"context"

	"buildledger/domain/project"
	"buildledger/domain/runcommand"
	"buildledger/domain/streams"
	"buildledger/events"
)

// CreateProject creates a project owned by an existing user.
type CreateProject struct {
	Name   string
	Config events.ProjectConfig
}

// CreateProject appends ProjectCreated to project-<name>.
func (h *Handlers) CreateProject(ctx context.Context, md events.Metadata, c CreateProject) (Result, error) {
	if err := project.ValidateName(c.Name); err != nil {
		return Result{}, err
	}
	if err := h.requireUser(ctx, "owner", c.Config.Owner); err != nil {
		return Result{}, err
	}
	if err := runcommand.CheckProject(h.rt.dynamicRunCommand, c.Config); err != nil {
		return Result{}, err
	}
	res, err := Execute(ctx, h.rt, streams.Project(c.Name), ProjectAggregate, func(s project.State) ([]events.Payload, error) {
		return project.Decide(s, project.Create(c))
	}, md)
	if err != nil {
		return res, err
	}
	// A declarative project's generator jobset follows its setting.
	return res, h.syncGenerator(ctx, md, c.Name)
}
