package commands

import (
	"context"

	"buildledger/domain/project"
	"buildledger/domain/streams"
	"buildledger/events"
)

// DeleteProject deletes a project and, implicitly, its jobsets: no
// JobsetDeleted is appended per jobset; projections cascade ProjectDeleted
// and the jobset aggregate treats jobsets of an earlier project
// incarnation as gone (jobset.Live).
type DeleteProject struct {
	Name string
}

// DeleteProject appends ProjectDeleted to project-<name>.
func (h *Handlers) DeleteProject(ctx context.Context, md events.Metadata, c DeleteProject) (Result, error) {
	if err := projectAddr(c.Name); err != nil {
		return Result{}, err
	}
	return Execute(ctx, h.rt, streams.Project(c.Name), ProjectAggregate, func(s project.State) ([]events.Payload, error) {
		return project.Decide(s, project.Delete(c))
	}, md)
}
