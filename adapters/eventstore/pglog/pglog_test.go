package pglog_test

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/events"
	"buildledger/events/audit"
	"buildledger/events/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) events.Store {
		return pglog.New(pgtest.NewPool(t), pglog.Options{})
	})
}

func TestAppendMulti(t *testing.T) {
	ctx := context.Background()
	s := pglog.New(pgtest.NewPool(t), pglog.Options{})
	res, err := s.AppendMulti(ctx, []events.StreamAppend{
		{Stream: "m-a", Expect: events.NoStream, Events: []events.Event{storetest.Ev("T", 1), storetest.Ev("T", 2)}},
		{Stream: "m-b", Expect: events.Any, Events: []events.Event{storetest.Ev("T", 3)}},
	})
	require.NoError(t, err)
	require.Equal(t, []events.AppendResult{{NextRevision: 1, Position: events.At(2)}, {NextRevision: 0, Position: events.At(3)}}, res)

	_, err = s.AppendMulti(ctx, []events.StreamAppend{
		{Stream: "m-c", Expect: events.NoStream, Events: []events.Event{storetest.Ev("T", 4)}},
		{Stream: "m-a", Expect: events.NoStream, Events: []events.Event{storetest.Ev("T", 5)}},
	})
	require.ErrorIs(t, err, events.ErrWrongRevision)
	_, err = s.ReadStream(ctx, "m-c", 0, 0)
	require.ErrorIs(t, err, events.ErrStreamNotFound, "all or nothing: the good append was rolled back")
	head, err := s.Head(ctx)
	require.NoError(t, err)
	require.Equal(t, events.At(3), head, "positions stay gapless after a rolled-back multi-append")

	// A stream twice in one call: its second append follows its first.
	res, err = s.AppendMulti(ctx, []events.StreamAppend{
		{Stream: "m-x", Expect: events.NoStream, Events: []events.Event{storetest.Ev("T", 6), storetest.Ev("T", 7)}},
		{Stream: "m-y", Expect: events.Any, Events: []events.Event{storetest.Ev("T", 8)}},
		{Stream: "m-x", Expect: events.Exact(1), Events: []events.Event{storetest.Ev("T", 9)}},
	})
	require.NoError(t, err)
	require.Equal(t, []events.AppendResult{{NextRevision: 1, Position: events.At(5)}, {NextRevision: 0, Position: events.At(6)}, {NextRevision: 2, Position: events.At(7)}}, res)
	recs, err := s.ReadStream(ctx, "m-x", 0, 0)
	require.NoError(t, err)
	require.Len(t, recs, 3)
	require.Equal(t, uint64(7), recs[2].Position.Commit)
}

// TestAppendAfterAnotherWriter has two stores (two processes) take turns on
// the same streams: each one's remembered tip is stale when its turn comes,
// so the log refuses the sealed append, the store reads the tip again and
// re-seals. Every append lands, and the hash chain holds.
func TestAppendAfterAnotherWriter(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	writers := []*pglog.Store{pglog.New(pool, pglog.Options{}), pglog.New(pool, pglog.Options{})}
	n := 0
	for round := 0; round < 3; round++ {
		for _, w := range writers {
			n++
			_, err := w.Append(ctx, "shared", events.Any, storetest.Ev("T", n), storetest.Ev("T", n+100))
			require.NoError(t, err, "round %d", round)
			_, err = w.AppendMulti(ctx, []events.StreamAppend{
				{Stream: "multi", Expect: events.Any, Events: []events.Event{storetest.Ev("T", n+200)}},
				{Stream: "multi", Expect: events.Any, Events: []events.Event{storetest.Ev("T", n+300)}},
			})
			require.NoError(t, err, "round %d", round)
		}
	}
	for stream, want := range map[string]int{"shared": 12, "multi": 12} {
		recs, err := writers[0].ReadStream(ctx, stream, 0, 0)
		require.NoError(t, err)
		require.Len(t, recs, want, stream)
	}
	res, err := audit.VerifyLog(ctx, writers[0], audit.VerifyOptions{})
	require.NoError(t, err)
	require.Nil(t, res.Break, "the chain holds across writers")
	require.EqualValues(t, 24, res.Events)
}

func TestRecorded(t *testing.T) {
	ctx := context.Background()
	s := pglog.New(pgtest.NewPool(t), pglog.Options{})
	a, b := storetest.Ev("T", 1), storetest.Ev("T", 2)
	_, err := s.Append(ctx, "r-a", events.NoStream, a)
	require.NoError(t, err)
	got, err := s.Recorded(ctx, []string{a.ID, b.ID})
	require.NoError(t, err)
	require.Equal(t, map[string]bool{a.ID: true}, got)
	got, err = s.Recorded(ctx, nil)
	require.NoError(t, err)
	require.Empty(t, got)
}
