package adhoc_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/domain/adhoc"
	"buildledger/domain/domainerr"
)

// TestCaps: a user at the queued-builds cap, and a session past its
// bytes, are refused as busy with a message saying what to do; 0 is no
// cap.
func TestCaps(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"under the queue cap", adhoc.CheckQueued("alice", 2, 3), ""},
		{"at the queue cap", adhoc.CheckQueued("alice", 3, 3), "alice has 3 ad-hoc builds queued"},
		{"no queue cap", adhoc.CheckQueued("alice", 1e6, 0), ""},
		{"within the session bytes", adhoc.CheckSessionBytes(10, 10), ""},
		{"past the session bytes", adhoc.CheckSessionBytes(11, 10), "more than 10 bytes"},
		{"no session cap", adhoc.CheckSessionBytes(1<<40, 0), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == "" {
				require.NoError(t, tt.err)
				return
			}
			require.ErrorIs(t, tt.err, domainerr.ErrBusy)
			require.ErrorContains(t, tt.err, tt.want)
		})
	}
}
