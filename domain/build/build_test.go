package build_test

import (
	"testing"

	"buildledger/domain/build"
	"buildledger/domain/domainerr"
	"buildledger/domain/domaintest"
	"buildledger/events"
)

func fold(ps ...events.Payload) build.State {
	var s build.State
	for _, p := range ps {
		s = build.Evolve(s, p)
	}
	return s
}

func TestDecide(t *testing.T) {
	queued := fold(&events.BuildQueued{BuildID: 7})
	finished := fold(&events.BuildQueued{BuildID: 7}, &events.BuildFinished{BuildID: 7, Status: 1})
	cancelled := fold(&events.BuildQueued{BuildID: 7}, &events.BuildCancelled{BuildID: 7})
	restarted := fold(&events.BuildQueued{BuildID: 7}, &events.BuildFinished{BuildID: 7, Status: 1}, &events.BuildRestarted{BuildID: 7})
	kept := fold(&events.BuildQueued{BuildID: 7}, &events.BuildKept{BuildID: 7, Keep: true})
	bumped := fold(&events.BuildQueued{BuildID: 7}, &events.BuildBumped{BuildID: 7, GlobalPriority: 500})
	withdrawn := fold(&events.BuildQueued{BuildID: 7}, &events.BuildWithdrawn{BuildID: 7, EvalID: 1})
	decide := func(s build.State, c build.Command) ([]events.Payload, error) { return build.Decide(s, c, 100) }
	domaintest.Decide(t, decide, []domaintest.Case[build.State, build.Command]{
		{Name: "restart missing", State: build.State{}, Cmd: build.Restart{ID: 7}, Err: domainerr.ErrNotFound},
		{Name: "cancel withdrawn", State: withdrawn, Cmd: build.Cancel{ID: 7}, Err: domainerr.ErrNotFound},
		{Name: "restart queued", State: queued, Cmd: build.Restart{ID: 7}, Err: domainerr.ErrConflict},
		{Name: "restart finished", State: finished, Cmd: build.Restart{ID: 7}, Want: []events.Payload{&events.BuildRestarted{BuildID: 7, Timestamp: 100}}},
		{Name: "restart cancelled", State: cancelled, Cmd: build.Restart{ID: 7}, Want: []events.Payload{&events.BuildRestarted{BuildID: 7, Timestamp: 100}}},
		{Name: "cancel queued", State: queued, Cmd: build.Cancel{ID: 7}, Want: []events.Payload{&events.BuildCancelled{BuildID: 7, Timestamp: 100}}},
		{Name: "cancel restarted", State: restarted, Cmd: build.Cancel{ID: 7}, Want: []events.Payload{&events.BuildCancelled{BuildID: 7, Timestamp: 100}}},
		{Name: "cancel finished", State: finished, Cmd: build.Cancel{ID: 7}, Err: domainerr.ErrConflict},
		{Name: "bump queued", State: queued, Cmd: build.Bump{ID: 7, Priority: 100}, Want: []events.Payload{&events.BuildBumped{BuildID: 7, GlobalPriority: 100}}},
		{Name: "bump lower", State: bumped, Cmd: build.Bump{ID: 7, Priority: 100}},
		{Name: "bump finished", State: finished, Cmd: build.Bump{ID: 7, Priority: 100}, Err: domainerr.ErrConflict},
		{Name: "keep", State: finished, Cmd: build.Keep{ID: 7, Keep: true}, Want: []events.Payload{&events.BuildKept{BuildID: 7, Keep: true}}},
		{Name: "keep again", State: kept, Cmd: build.Keep{ID: 7, Keep: true}},
		{Name: "unkeep", State: kept, Cmd: build.Keep{ID: 7}, Want: []events.Payload{&events.BuildKept{BuildID: 7}}},
		{Name: "keep missing", State: build.State{}, Cmd: build.Keep{ID: 7, Keep: true}, Err: domainerr.ErrNotFound},
	})
}
