package esdbtest_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/esdb/esdbtest"
)

// These tests drive the double with the real client directly, to pin the
// protocol behaviour the adapter relies on.

func client(t *testing.T, srv *esdbtest.Server) *esdb.Client {
	cfg, err := esdb.ParseConnectionString(srv.ConnString())
	require.NoError(t, err)
	cfg.Logger = esdb.NoopLogging()
	c, err := esdb.NewClient(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func ev(typ string) esdb.EventData {
	return esdb.EventData{EventID: uuid.New(), EventType: typ, ContentType: esdb.ContentTypeJson, Data: []byte(`{}`)}
}

func readAll(t *testing.T, c *esdb.Client, opts esdb.ReadAllOptions, n uint64) []*esdb.RecordedEvent {
	rs, err := c.ReadAll(context.Background(), opts, n)
	require.NoError(t, err)
	defer rs.Close()
	var out []*esdb.RecordedEvent
	for {
		e, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		out = append(out, e.OriginalEvent())
	}
}

func TestReadsAndWrongVersion(t *testing.T) {
	srv := esdbtest.Start(t, esdbtest.Options{SystemEvents: -1})
	c := client(t, srv)
	ctx := context.Background()
	wr, err := c.AppendToStream(ctx, "s", esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, ev("A"), ev("B"), ev("C"))
	require.NoError(t, err)
	assert.Equal(t, uint64(2), wr.NextExpectedVersion)
	_, err = c.AppendToStream(ctx, "s", esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(1)}, ev("D"))
	var e *esdb.Error
	require.True(t, errors.As(err, &e))
	assert.Equal(t, esdb.ErrorCodeWrongExpectedVersion, e.Code())
	assert.Contains(t, err.Error(), "expecting '1' but got '2'")

	all := readAll(t, c, esdb.ReadAllOptions{Direction: esdb.Forwards, From: esdb.Start{}}, 10)
	require.Len(t, all, 3)
	assert.Equal(t, wr.CommitPosition, all[2].Position.Commit)
	assert.Equal(t, wr.PreparePosition, all[2].Position.Prepare)
	assert.False(t, all[0].CreatedDate.IsZero())
	assert.Equal(t, "application/json", all[0].ContentType)
	from := readAll(t, c, esdb.ReadAllOptions{Direction: esdb.Forwards, From: all[1].Position}, 10)
	require.Len(t, from, 2, "forwards from a position includes it")
	back := readAll(t, c, esdb.ReadAllOptions{Direction: esdb.Backwards, From: all[1].Position}, 10)
	require.Len(t, back, 1, "backwards from a position excludes it")
	assert.Equal(t, "A", back[0].EventType)

	rs, err := c.ReadStream(ctx, "missing", esdb.ReadStreamOptions{}, 1)
	require.NoError(t, err)
	_, err = rs.Recv()
	require.True(t, errors.As(err, &e))
	assert.Equal(t, esdb.ErrorCodeResourceNotFound, e.Code())
	rs.Close()
}

func TestFilteredSubscription(t *testing.T) {
	srv := esdbtest.Start(t, esdbtest.Options{})
	c := client(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := 0; i < 40; i++ {
		_, err := c.AppendToStream(ctx, "noise", esdb.AppendToStreamOptions{}, ev("N"))
		require.NoError(t, err)
	}
	_, err := c.AppendToStream(ctx, "want-1", esdb.AppendToStreamOptions{}, ev("W"))
	require.NoError(t, err)
	sub, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: esdb.Start{},
		Filter: &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{"want-"}}, MaxSearchWindow: 8})
	require.NoError(t, err)
	defer sub.Close()
	var checkpoints, seen int
	caughtUp := false
	for !caughtUp {
		m := sub.Recv()
		require.Nil(t, m.SubscriptionDropped)
		switch {
		case m.CheckPointReached != nil:
			checkpoints++
		case m.EventAppeared != nil:
			seen++
			assert.Equal(t, "want-1", m.EventAppeared.OriginalEvent().StreamID)
		case m.CaughtUp != nil:
			caughtUp = true
		}
	}
	assert.Equal(t, 1, seen)
	assert.GreaterOrEqual(t, checkpoints, 5, "a checkpoint every 8 events scanned")

	_, err = c.AppendToStream(ctx, "want-2", esdb.AppendToStreamOptions{}, ev("W"))
	require.NoError(t, err)
	for {
		m := sub.Recv()
		require.Nil(t, m.SubscriptionDropped)
		if m.EventAppeared != nil {
			assert.Equal(t, "want-2", m.EventAppeared.OriginalEvent().StreamID, "live event")
			break
		}
	}
	srv.DropSubscriptions()
	for {
		m := sub.Recv()
		if m.SubscriptionDropped != nil {
			assert.Contains(t, m.SubscriptionDropped.Error.Error(), "dropped")
			break
		}
	}
}
