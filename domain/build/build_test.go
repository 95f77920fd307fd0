package build_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/domain/build"
	"buildledger/domain/domainerr"
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
	queued := fold(events.BuildQueued{BuildID: 7})
	finished := fold(events.BuildQueued{BuildID: 7}, &events.BuildFinished{BuildID: 7, Status: 1})
	cancelled := fold(events.BuildQueued{BuildID: 7}, events.BuildCancelled{BuildID: 7})
	restarted := fold(events.BuildQueued{BuildID: 7}, events.BuildFinished{BuildID: 7, Status: 1}, events.BuildRestarted{BuildID: 7})
	kept := fold(events.BuildQueued{BuildID: 7}, events.BuildKept{BuildID: 7, Keep: true})
	bumped := fold(events.BuildQueued{BuildID: 7}, events.BuildBumped{BuildID: 7, GlobalPriority: 500})
	withdrawn := fold(events.BuildQueued{BuildID: 7}, &events.BuildWithdrawn{BuildID: 7, EvalID: 1})
	tests := []struct {
		name  string
		s     build.State
		cmd   build.Command
		want  []events.Payload
		errIs error
	}{
		{"restart missing", build.State{}, build.Restart{ID: 7}, nil, domainerr.ErrNotFound},
		{"cancel withdrawn", withdrawn, build.Cancel{ID: 7}, nil, domainerr.ErrNotFound},
		{"restart queued", queued, build.Restart{ID: 7}, nil, domainerr.ErrConflict},
		{"restart finished", finished, build.Restart{ID: 7}, []events.Payload{events.BuildRestarted{BuildID: 7, Timestamp: 100}}, nil},
		{"restart cancelled", cancelled, build.Restart{ID: 7}, []events.Payload{events.BuildRestarted{BuildID: 7, Timestamp: 100}}, nil},
		{"cancel queued", queued, build.Cancel{ID: 7}, []events.Payload{events.BuildCancelled{BuildID: 7, Timestamp: 100}}, nil},
		{"cancel restarted", restarted, build.Cancel{ID: 7}, []events.Payload{events.BuildCancelled{BuildID: 7, Timestamp: 100}}, nil},
		{"cancel finished", finished, build.Cancel{ID: 7}, nil, domainerr.ErrConflict},
		{"bump queued", queued, build.Bump{ID: 7, Priority: 100}, []events.Payload{events.BuildBumped{BuildID: 7, GlobalPriority: 100}}, nil},
		{"bump lower", bumped, build.Bump{ID: 7, Priority: 100}, nil, nil},
		{"bump finished", finished, build.Bump{ID: 7, Priority: 100}, nil, domainerr.ErrConflict},
		{"keep", finished, build.Keep{ID: 7, Keep: true}, []events.Payload{events.BuildKept{BuildID: 7, Keep: true}}, nil},
		{"keep again", kept, build.Keep{ID: 7, Keep: true}, nil, nil},
		{"unkeep", kept, build.Keep{ID: 7}, []events.Payload{events.BuildKept{BuildID: 7}}, nil},
		{"keep missing", build.State{}, build.Keep{ID: 7, Keep: true}, nil, domainerr.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := build.Decide(tt.s, tt.cmd, 100)
			if tt.errIs != nil {
				require.ErrorIs(t, err, tt.errIs)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}
