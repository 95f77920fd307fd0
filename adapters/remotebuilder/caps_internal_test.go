package remotebuilder

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/nix/serve"
	"buildledger/domain/domainerr"
)

// counter is a QueueCounter with a fixed answer.
type counter int

func (c counter) QueuedBuilds(context.Context, string, string) (int, error) { return int(c), nil }

// TestSessionBytesCap: once a session has copied in more than
// MaxSessionBytes, the next path is refused before the store is asked
// anything (the Service has no store here: reaching it would panic).
func TestSessionBytesCap(t *testing.T) {
	b := &backend{s: New(Config{MaxSessionBytes: 100}), user: "alice", copied: 90}
	err := b.AddPath(context.Background(), serve.PathInfo{Path: "/nix/store/00000000000000000000000000000000-big"}, bytes.NewReader(make([]byte, 20)))
	require.ErrorIs(t, err, domainerr.ErrBusy)
	require.ErrorContains(t, err, "more than 100 bytes")
}

// TestQueuedCap: a user with MaxQueued unfinished ad-hoc builds is
// refused before anything is read or recorded (no store, no handlers).
func TestQueuedCap(t *testing.T) {
	s := New(Config{Queue: counter(5), MaxQueued: 5})
	_, err := s.Submit(context.Background(), Submission{User: "alice", DrvPath: "/nix/store/00000000000000000000000000000000-x.drv"})
	require.ErrorIs(t, err, domainerr.ErrBusy)
	require.ErrorContains(t, err, "alice has 5 ad-hoc builds queued")
}
