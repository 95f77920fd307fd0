package build

import (
	"strconv"

	"buildledger/domain/domainerr"
	"buildledger/events"
)

// Finish decides BuildFinished f (written by the scheduler) for a build in
// state s: only for a queued, unfinished build. A second finish, say from a
// duplicate StepFinished, is refused with ErrConflict,
// so a build ends exactly once per time it is queued or restarted.
func Finish(s State, f events.BuildFinished) ([]events.Payload, error) {
	if !s.Exists {
		return nil, domainerr.NotFound("build", strconv.FormatInt(f.BuildID, 10))
	}
	if s.Finished {
		return nil, domainerr.Conflict("build %d has already finished", f.BuildID)
	}
	return []events.Payload{f}, nil
}
