package verify_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/domain/domainerr"
	"buildledger/domain/verify"
	"buildledger/events"
)

func TestSampled(t *testing.T) {
	n, hits := 10000, 0
	for i := range n {
		d := fmt.Sprintf("/nix/store/%032d-x.drv", i)
		require.Equal(t, verify.Sampled(d, 0.3), verify.Sampled(d, 0.3), "deterministic")
		require.True(t, verify.Sampled(d, 1))
		require.False(t, verify.Sampled(d, 0))
		if verify.Sampled(d, 0.3) {
			hits++
			require.True(t, verify.Sampled(d, 0.6), "a larger fraction keeps the smaller one's sample")
		}
	}
	require.InDelta(t, 0.3, float64(hits)/float64(n), 0.03)
}

func TestLifecycle(t *testing.T) {
	const drv = "/nix/store/aaaa-x.drv"
	outs := []events.VerifiedOutput{{Name: "out", Path: "/nix/store/bbbb-x", NarHash: "sha256:1"}}
	dispatch := func(attempt int) *events.VerificationDispatched {
		return &events.VerificationDispatched{DrvPath: drv, Machine: "b", Attempt: attempt, Outputs: outs}
	}
	end := func(attempt int) *events.VerificationEnded {
		return &events.VerificationEnded{DrvPath: drv, Machine: "b", Attempt: attempt}
	}
	var s verify.State
	_, err := verify.End(s, nil, end(1))
	require.ErrorIs(t, err, domainerr.ErrConflict, "nothing dispatched")
	_, err = verify.Dispatch(s, dispatch(2))
	require.ErrorIs(t, err, domainerr.ErrConflict, "not the next attempt")
	_, err = verify.Dispatch(s, &events.VerificationDispatched{DrvPath: drv, Attempt: 1})
	require.ErrorIs(t, err, domainerr.ErrInvalid)

	ps, err := verify.Dispatch(s, dispatch(1))
	require.NoError(t, err)
	s = verify.Evolve(s, ps[0])
	_, err = verify.Dispatch(s, dispatch(1))
	require.ErrorIs(t, err, domainerr.ErrConflict, "the same decision twice")

	// The lease ran out: attempt 2 supersedes attempt 1, whose late
	// result is refused.
	ps, err = verify.Dispatch(s, dispatch(2))
	require.NoError(t, err)
	s = verify.Evolve(s, ps[0])
	_, err = verify.End(s, nil, end(1))
	require.ErrorIs(t, err, domainerr.ErrConflict)

	ps, err = verify.End(s, []events.OutputVerified{{DrvPath: drv, Output: "out", Matches: true}}, end(2))
	require.NoError(t, err)
	require.Len(t, ps, 2)
	for _, p := range ps {
		s = verify.Evolve(s, p)
	}
	_, err = verify.End(s, nil, end(2))
	require.ErrorIs(t, err, domainerr.ErrConflict, "a duplicate delivery records nothing")

	s = verify.State{Attempt: verify.MaxAttempts}
	_, err = verify.Dispatch(s, dispatch(verify.MaxAttempts+1))
	require.ErrorIs(t, err, domainerr.ErrConflict, "given up")
}
