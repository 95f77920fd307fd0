package build_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/domain/build"
	"buildledger/domain/domainerr"
	"buildledger/events"
)

func TestFinish(t *testing.T) {
	f := events.BuildFinished{BuildID: 7, Status: 2, PropagatedFrom: 5, FailedDrv: "/nix/store/x-a.drv"}
	_, err := build.Finish(build.State{}, f)
	require.ErrorIs(t, err, domainerr.ErrNotFound)
	queued := fold(events.BuildQueued{BuildID: 7})
	got, err := build.Finish(queued, f)
	require.NoError(t, err)
	require.Equal(t, []events.Payload{f}, got)
	finished := build.Evolve(queued, f)
	_, err = build.Finish(finished, f)
	require.ErrorIs(t, err, domainerr.ErrConflict)
	restarted := build.Evolve(finished, events.BuildRestarted{BuildID: 7})
	_, err = build.Finish(restarted, f)
	require.NoError(t, err)
}
