package web

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	testify "github.com/stretchr/testify/require"

	"buildledger/adapters/logstore"
)

// TestWatcherFallsBehind: a watcher that does not read while the log
// grows is dropped by the follower once its buffer is full, reads what it
// missed from the log store, and joins again: it still gets the whole
// log, in order, once.
func TestWatcherFallsBehind(t *testing.T) {
	store, err := logstore.New(t.TempDir(), logstore.Options{FlushInterval: time.Hour, PollInterval: time.Millisecond})
	testify.NoError(t, err)
	w, err := store.Create("/nix/store/"+fmt.Sprintf("%032d", 1)+"-slow.drv", 1)
	testify.NoError(t, err)
	ctx := context.Background()
	running := func(context.Context) (LogRef, error) { return LogRef{Running: true, Location: w.Location()}, nil }
	s := newLogStreams(store, 10, 10)
	slow, err := s.watch(ctx, w.Location(), running)
	testify.NoError(t, err)
	defer slow.Close()
	fast, err := s.watch(ctx, w.Location(), running)
	testify.NoError(t, err)
	defer fast.Close()

	var want bytes.Buffer
	for i := range 4 * streamChunks {
		line := fmt.Sprintf("line %d\n", i)
		_, err := w.Write([]byte(line))
		testify.NoError(t, err)
		w.Flush()
		want.WriteString(line)
		// Once the fast watcher has the line, the follower handed it
		// out as a chunk of its own.
		got := make([]byte, len(line))
		_, err = io.ReadFull(fast, got)
		testify.NoError(t, err)
		testify.Equal(t, line, string(got))
	}
	s.mu.Lock()
	testify.Len(t, s.followers, 1, "one follower for both")
	for _, f := range s.followers {
		testify.Len(t, f.watchers, 1, "the slow watcher was dropped")
	}
	s.mu.Unlock()
	_, err = w.Close()
	testify.NoError(t, err)
	got, err := io.ReadAll(slow)
	testify.NoError(t, err)
	testify.Equal(t, want.String(), string(got))
	rest, err := io.ReadAll(fast)
	testify.NoError(t, err)
	testify.Empty(t, rest)
}
