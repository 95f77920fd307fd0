package commands

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"buildledger/domain/domainerr"
	"buildledger/domain/jobset"
	"buildledger/domain/project"
	"buildledger/domain/streams"
	"buildledger/events"
)

// RenameProject gives a project a new name and configuration, as Hydra's
// PUT does: its jobsets move with it, keeping their ids, so their
// evaluations and builds stay theirs. A new owner must be an existing
// user.
type RenameProject struct {
	Name    string
	NewName string
	Config  events.ProjectConfig
}

// RenameProjectResult tells where a project rename landed.
type RenameProjectResult struct {
	// Jobsets names the jobsets that moved, sorted.
	Jobsets []string
	// Position is the log position of the rename's last event.
	Position events.Position
}

// renamingStore is what a project rename needs of the event store: to
// find a project's jobsets in the log, and to append to all their
// streams at once.
type renamingStore interface {
	events.FilteredReader
	events.MultiAppender
}

// errNoMultiAppend refuses a project rename on a store that cannot
// append to many streams at once (EventStoreDB).
var errNoMultiAppend = errors.New("renaming a project needs an event store with multi-stream appends (the Postgres log)")

// RenameProject appends, all in one multi-stream append:
// ProjectCreated{RenamedFrom} (and the members) to the new project's
// stream, JobsetCreated{RenamedFromProject} to each jobset's new stream
// and JobsetDeleted{RenamedToProject} to its old one, then
// ProjectDeleted{RenamedTo} to the old project's stream. Either all of
// it is recorded or none, so there is no half-renamed project to resume:
// a crash before the append leaves the old name whole, one after it the
// new one. Each stream is appended at the revision the decision read, so
// a concurrent change of the project or a jobset (an evaluation opened,
// a configuration saved) makes the rename decide again.
//
// The jobsets are those the log says were created under the old name and
// are live (jobset.Live), read from the log's JobsetCreated events rather
// than a read model that may lag. A jobset whose evaluation is running is
// not moved under it: the rename is refused (ErrConflict) until it ends.
// A declarative project may be renamed by hand, as in Hydra: its jobsets
// move unchanged, so the spec's ownership of them is not bypassed.
func (h *Handlers) RenameProject(ctx context.Context, md events.Metadata, c RenameProject) (RenameProjectResult, error) {
	if err := projectAddr(c.Name); err != nil {
		return RenameProjectResult{}, err
	}
	if err := project.ValidateName(c.NewName); err != nil {
		return RenameProjectResult{}, err
	}
	store, ok := h.rt.store.(renamingStore)
	if !ok {
		return RenameProjectResult{}, errNoMultiAppend
	}
	md, err := h.rt.complete(md)
	if err != nil {
		return RenameProjectResult{}, err
	}
	for attempt := 1; ; attempt++ {
		appends, moved, err := h.decideRename(ctx, store, md, c)
		if err != nil {
			return RenameProjectResult{}, err
		}
		res, err := store.AppendMulti(ctx, appends)
		if err == nil {
			out := RenameProjectResult{Jobsets: moved, Position: res[len(res)-1].Position}
			// A declarative project's generator jobset follows its
			// setting, as after UpdateProject.
			return out, h.syncGenerator(ctx, md, c.NewName)
		}
		if !errors.Is(err, events.ErrWrongRevision) {
			return RenameProjectResult{}, fmt.Errorf("rename project %s to %s: %w", c.Name, c.NewName, err)
		}
		if attempt >= h.rt.maxAttempts {
			return RenameProjectResult{}, fmt.Errorf("rename project %s to %s after %d attempts: %w: %w", c.Name, c.NewName, attempt, ErrContention, err)
		}
		if err := h.rt.sleep(ctx, attempt); err != nil {
			return RenameProjectResult{}, fmt.Errorf("rename project %s: %w", c.Name, err)
		}
	}
}

// decideRename reads the streams a rename touches and returns the
// appends that carry it out, and the jobsets that move.
func (h *Handlers) decideRename(ctx context.Context, store events.FilteredReader, md events.Metadata, c RenameProject) ([]events.StreamAppend, []string, error) {
	from, err := Load(ctx, h.rt, streams.Project(c.Name), ProjectAggregate)
	if err != nil {
		return nil, nil, err
	}
	target, err := Load(ctx, h.rt, streams.Project(c.NewName), ProjectAggregate)
	if err != nil {
		return nil, nil, err
	}
	if from.State.Exists && c.Config.Owner != from.State.Config.Owner {
		if err := h.requireUser(ctx, "owner", c.Config.Owner); err != nil {
			return nil, nil, err
		}
	}
	created, deleted, err := project.Rename(from.State, target.State, c.Name, c.NewName, c.Config)
	if err != nil {
		return nil, nil, err
	}
	names, err := jobsetsEverCreated(ctx, store, c.Name)
	if err != nil {
		return nil, nil, err
	}
	now := h.rt.clock.Now()
	encode := func(stream string, expect events.Revision, ps ...events.Payload) (events.StreamAppend, error) {
		a := events.StreamAppend{Stream: stream, Expect: expect}
		for _, p := range ps {
			ev, err := h.rt.codec.Encode(p, md, now)
			if err != nil {
				return a, fmt.Errorf("rename project %s: %w", c.Name, err)
			}
			a.Events = append(a.Events, ev)
		}
		return a, nil
	}
	// The new project's events come first in the log, so that the
	// jobsets created after them are live in it (jobset.Live).
	first, err := encode(streams.Project(c.NewName), target.Expected(), created...)
	if err != nil {
		return nil, nil, err
	}
	appends := []events.StreamAppend{first}
	var moved []string
	for _, name := range names {
		old, err := Load(ctx, h.rt, streams.Jobset(c.Name, name), JobsetAggregate)
		if err != nil {
			return nil, nil, err
		}
		if !jobset.Live(old.State, from.State) {
			continue
		}
		if old.State.Open != nil {
			return nil, nil, domainerr.Conflict("jobset %s:%s is being evaluated (evaluation %d); rename the project when it ends",
				c.Name, name, old.State.Open.EvalID)
		}
		to, err := Load(ctx, h.rt, streams.Jobset(c.NewName, name), JobsetAggregate)
		if err != nil {
			return nil, nil, err
		}
		jc, jd, err := jobset.Move(old.State, from.State, c.NewName)
		if err != nil {
			return nil, nil, err
		}
		a, err := encode(streams.Jobset(c.NewName, name), to.Expected(), jc)
		if err != nil {
			return nil, nil, err
		}
		b, err := encode(streams.Jobset(c.Name, name), old.Expected(), jd)
		if err != nil {
			return nil, nil, err
		}
		appends = append(appends, a, b)
		moved = append(moved, name)
	}
	last, err := encode(streams.Project(c.Name), from.Expected(), deleted...)
	if err != nil {
		return nil, nil, err
	}
	return append(appends, last), moved, nil
}

// jobsetsEverCreated returns the names of the jobsets ever created in a
// project of that name, sorted, from the log's JobsetCreated events (the
// log keeps them indexed by type).
func jobsetsEverCreated(ctx context.Context, store events.FilteredReader, projectName string) ([]string, error) {
	prefix := streams.Jobset(projectName, "")
	filter := events.ReadFilter{Types: []string{events.JobsetCreated{}.EventType()}, NoMetadata: true}
	seen := map[string]bool{}
	for after := events.Start; ; {
		recs, next, err := store.ReadAllFiltered(ctx, after, filter, readPage)
		if err != nil {
			return nil, fmt.Errorf("find the jobsets of project %s: %w", projectName, err)
		}
		for _, r := range recs {
			if _, name, ok := streams.ParseJobset(r.Stream); ok && strings.HasPrefix(r.Stream, prefix) {
				seen[name] = true
			}
		}
		if len(recs) < readPage {
			break
		}
		after = next
	}
	out := make([]string, 0, len(seen))
	for name := range seen {
		out = append(out, name)
	}
	slices.Sort(out)
	return out, nil
}
