package pglog_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/events"
	"buildledger/events/storetest"
)

// TestRestartMidSubscription restarts the database under a live store
// (review finding M5: the restart used to end every subscription with
// SQLSTATE 57P01): the subscription stays open and delivers what is
// appended after the restart, an append on the store's stale connections
// succeeds, and the same append tried again after the restart (as after
// a lost reply) returns its first result and records nothing twice.
func TestRestartMidSubscription(t *testing.T) {
	ctx := context.Background()
	c, url := pgtest.OwnCluster(t)
	pool, err := postgres.Open(ctx, url)
	require.NoError(t, err)
	defer pool.Close()
	s := pglog.New(pool, pglog.Options{Retry: postgres.Retry{First: 10 * time.Millisecond}})
	sub, err := s.SubscribeAll(ctx, events.Start, events.Filter{})
	require.NoError(t, err)
	defer sub.Close()

	first := []events.Event{storetest.Ev("T", 1), storetest.Ev("T", 2)}
	res, err := s.Append(ctx, "fault-a", events.NoStream, first...)
	require.NoError(t, err)
	for range first {
		<-sub.Events()
	}

	require.NoError(t, c.Restart(ctx))

	again, err := s.Append(ctx, "fault-a", events.NoStream, first...)
	require.NoError(t, err, "a retried append is answered from the log")
	require.Equal(t, res, again)
	_, err = s.Append(ctx, "fault-b", events.NoStream, storetest.Ev("T", 3))
	require.NoError(t, err)
	r, ok := <-sub.Events()
	require.True(t, ok, "the subscription outlived the restart: %v", sub.Err())
	require.Equal(t, "fault-b", r.Stream)
	head, err := s.Head(ctx)
	require.NoError(t, err)
	require.Equal(t, events.At(3), head, "nothing was recorded twice")
}
