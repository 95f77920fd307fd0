package esdb_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/esdb"
	"buildledger/events"
	"buildledger/events/storetest"
)

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestResubscribeAfterFaults: the double drops the live subscription, then
// cuts every connection and refuses new ones for a second, while a writer
// keeps appending (retrying the same events until they succeed). The
// subscriber must see every event exactly once, in log order.
func TestResubscribeAfterFaults(t *testing.T) {
	logs := &syncBuffer{}
	s, srv := open(t, esdb.Options{RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	ctx := testCtx(t)
	sub, err := s.SubscribeAll(ctx, events.Start, events.Filter{})
	require.NoError(t, err)
	defer sub.Close()

	var ids []string
	write := func(batch int) {
		evs := []events.Event{storetest.Ev("T", batch), storetest.Ev("T", batch)}
		for {
			// A new stream per batch with NoStream makes retries idempotent.
			_, err := s.Append(ctx, fmt.Sprintf("fault-%d", batch), events.NoStream, evs...)
			if err == nil {
				break
			}
			require.NoError(t, ctx.Err(), "last append error: %v", err)
			time.Sleep(50 * time.Millisecond)
		}
		ids = append(ids, evs[0].ID, evs[1].ID)
	}
	var got []events.Recorded
	read := func(n int) {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for len(got) < n {
			select {
			case r, ok := <-sub.Events():
				require.True(t, ok, "subscription ended: %v", sub.Err())
				got = append(got, r)
			case <-timeout:
				t.Fatalf("got %d of %d events", len(got), n)
			}
		}
	}
	for i := 0; i < 20; i++ {
		write(i)
	}
	read(20)
	srv.DropSubscriptions()
	for i := 20; i < 40; i++ {
		write(i)
	}
	read(50)
	srv.RefuseConnections(time.Second)
	for i := 40; i < 60; i++ {
		write(i)
	}
	read(120)

	require.Len(t, got, len(ids))
	for i, r := range got {
		require.Equal(t, ids[i], r.ID, "event %d", i)
		if i > 0 {
			require.True(t, got[i-1].Position.Less(r.Position), "positions increase at %d", i)
		}
	}
	select {
	case r, ok := <-sub.Events():
		if ok {
			t.Fatalf("extra event %s", r.ID)
		}
	case <-time.After(300 * time.Millisecond):
	}
	assert.GreaterOrEqual(t, strings.Count(logs.String(), "resubscribed"), 2, "both faults made the adapter resubscribe:\n%s", logs)
}
