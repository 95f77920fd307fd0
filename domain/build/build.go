// Package build is the Build aggregate as far as user actions need it:
// its state, folded from the build-<id> stream, and the rules for
// restarting, cancelling, bumping and keeping a build.
package build

import (
	"strconv"

	"buildledger/domain/domainerr"
	"buildledger/events"
)

// State is a build as its stream tells it.
type State struct {
	// Exists is true once BuildQueued was recorded.
	Exists         bool
	ID             int64
	Finished       bool
	Status         int
	Keep           bool
	GlobalPriority int
}

// Evolve folds one event of the build's stream into s. It accepts
// payloads as values or pointers; other event types leave s unchanged.
func Evolve(s State, p events.Payload) State {
	switch e := deref(p).(type) {
	case events.BuildQueued:
		return State{Exists: true, ID: e.BuildID, GlobalPriority: e.GlobalPriority}
	case events.BuildCached:
		s.Finished = true
		if e.Failed {
			s.Status = 1
		}
	case events.BuildFinished:
		s.Finished, s.Status = true, e.Status
	case events.BuildCancelled:
		s.Finished, s.Status = true, 4
	case events.BuildRestarted:
		s.Finished, s.Status = false, 0
	case events.BuildBumped:
		s.GlobalPriority = e.GlobalPriority
	case events.BuildKept:
		s.Keep = e.Keep
	case events.BuildWithdrawn:
		return State{}
	}
	return s
}

func deref(p events.Payload) events.Payload {
	switch e := p.(type) {
	case *events.BuildQueued:
		return *e
	case *events.BuildCached:
		return *e
	case *events.BuildFinished:
		return *e
	case *events.BuildCancelled:
		return *e
	case *events.BuildRestarted:
		return *e
	case *events.BuildBumped:
		return *e
	case *events.BuildKept:
		return *e
	case *events.BuildWithdrawn:
		return *e
	}
	return p
}

// Command is one of Restart, Cancel, Bump, Keep.
type Command interface{ buildCommand() }

// Restart puts a finished build back in the queue.
type Restart struct{ ID int64 }

// Cancel cancels an unfinished build.
type Cancel struct {
	ID     int64
	Reason string
}

// Bump gives an unfinished build the global priority Priority (Hydra
// uses the current Unix time, so the latest bump wins).
type Bump struct {
	ID       int64
	Priority int
}

// Keep sets or clears the keep flag.
type Keep struct {
	ID   int64
	Keep bool
}

func (Restart) buildCommand() {}
func (Cancel) buildCommand()  {}
func (Bump) buildCommand()    {}
func (Keep) buildCommand()    {}

// Decide returns the events cmd causes on a build in state s at Unix time
// now. A missing build is ErrNotFound; restarting an unfinished build or
// cancelling or bumping a finished one is ErrConflict.
// Keeping a build already in that state decides nothing.
func Decide(s State, cmd Command, now int64) ([]events.Payload, error) {
	var id int64
	switch c := cmd.(type) {
	case Restart:
		id = c.ID
	case Cancel:
		id = c.ID
	case Bump:
		id = c.ID
	case Keep:
		id = c.ID
	}
	if !s.Exists {
		return nil, domainerr.NotFound("build", strconv.FormatInt(id, 10))
	}
	switch c := cmd.(type) {
	case Restart:
		if !s.Finished {
			return nil, domainerr.Conflict("build %d has not finished", id)
		}
		return []events.Payload{events.BuildRestarted{BuildID: id, Timestamp: now}}, nil
	case Cancel:
		if s.Finished {
			return nil, domainerr.Conflict("build %d has already finished", id)
		}
		return []events.Payload{events.BuildCancelled{BuildID: id, Reason: c.Reason, Timestamp: now}}, nil
	case Bump:
		if s.Finished {
			return nil, domainerr.Conflict("build %d has already finished", id)
		}
		if c.Priority <= s.GlobalPriority {
			return nil, nil
		}
		return []events.Payload{events.BuildBumped{BuildID: id, GlobalPriority: c.Priority}}, nil
	case Keep:
		if c.Keep == s.Keep {
			return nil, nil
		}
		return []events.Payload{events.BuildKept{BuildID: id, Keep: c.Keep}}, nil
	}
	return nil, domainerr.Invalid("command", "unknown build command %T", cmd)
}
