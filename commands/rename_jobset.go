package commands

import (
	"context"
	"errors"
	"fmt"

	"buildledger/domain/declarative"
	"buildledger/domain/domainerr"
	"buildledger/domain/jobset"
	"buildledger/domain/streams"
	"buildledger/events"
)

// RenameJobset gives a jobset a new name within its project, keeping its
// id and configuration.
type RenameJobset struct {
	Project string
	Name    string
	NewName string
}

// RenameResult tells what a rename appended on each stream.
type RenameResult struct {
	Created Result
	Deleted Result
}

// RenameJobset appends JobsetCreated{RenamedFrom} to the new stream, then
// JobsetDeleted{RenamedTo} to the old one. The two appends are not
// atomic: the new name is taken first so that a lost race leaves the old
// jobset untouched. If the old jobset disappears between the two appends
// (deleted concurrently), the rename still stands and Deleted is empty.
// A configuration change made to the old jobset between the two appends
// is not carried over.
func (h *Handlers) RenameJobset(ctx context.Context, md events.Metadata, c RenameJobset) (RenameResult, error) {
	if err := jobsetAddr(c.Project, c.Name); err != nil {
		return RenameResult{}, err
	}
	md, err := h.rt.complete(md)
	if err != nil {
		return RenameResult{}, err
	}
	var del jobset.Delete
	created, err := Execute(ctx, h.rt, streams.Jobset(c.Project, c.NewName), JobsetAggregate, func(target jobset.State) ([]events.Payload, error) {
		if err := jobset.ValidateName(c.NewName); err != nil {
			return nil, err
		}
		p, err := h.loadProject(ctx, c.Project)
		if err != nil {
			return nil, err
		}
		if err := declarative.MayEdit(p, md.Actor); err != nil {
			return nil, err
		}
		from, err := Load(ctx, h.rt, streams.Jobset(c.Project, c.Name), JobsetAggregate)
		if err != nil {
			return nil, err
		}
		create, d, err := jobset.CheckRename(from.State, target, p, c.NewName)
		if err != nil {
			return nil, err
		}
		del = d
		return jobset.Decide(target, p, create, h.rt.clock.Now())
	}, md)
	if err != nil {
		return RenameResult{}, err
	}
	deleted, err := Execute(ctx, h.rt, streams.Jobset(c.Project, c.Name), JobsetAggregate, func(s jobset.State) ([]events.Payload, error) {
		p, err := h.loadProject(ctx, c.Project)
		if err != nil {
			return nil, err
		}
		return jobset.Decide(s, p, del, h.rt.clock.Now())
	}, md)
	if errors.Is(err, domainerr.ErrNotFound) {
		return RenameResult{Created: created}, nil
	}
	if err != nil {
		return RenameResult{Created: created}, fmt.Errorf("rename jobset %s:%s to %s: new name taken, old one not deleted: %w", c.Project, c.Name, c.NewName, err)
	}
	return RenameResult{Created: created, Deleted: deleted}, nil
}
