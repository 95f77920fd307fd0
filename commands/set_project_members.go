package commands

import (
	"context"

	"buildledger/domain/project"
	"buildledger/domain/streams"
	"buildledger/events"
)

// SetProjectMembers replaces a project's members; each must be an
// existing user.
type SetProjectMembers struct {
	Name    string
	Members []string
}

// SetProjectMembers appends ProjectMembersChanged to project-<name>, or
// nothing if the members are unchanged.
func (h *Handlers) SetProjectMembers(ctx context.Context, md events.Metadata, c SetProjectMembers) (Result, error) {
	if err := projectAddr(c.Name); err != nil {
		return Result{}, err
	}
	for _, m := range c.Members {
		if err := h.requireUser(ctx, "members", m); err != nil {
			return Result{}, err
		}
	}
	return Execute(ctx, h.rt, streams.Project(c.Name), ProjectAggregate, func(s project.State) ([]events.Payload, error) {
		return project.Decide(s, project.SetMembers(c))
	}, md)
}
