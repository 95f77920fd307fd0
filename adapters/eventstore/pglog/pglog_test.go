package pglog_test

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/events"
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
}
