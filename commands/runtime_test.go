package commands_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"buildledger/commands"
	"buildledger/domain/ids"
	"buildledger/events"

	"github.com/stretchr/testify/require"
)

// counter folds the number of IDsReserved events of a stream.
var counter = commands.Aggregate[int]{Name: "counter", Evolve: func(n int, p events.Payload) int {
	if _, ok := p.(*events.IDsReserved); ok {
		return n + 1
	}
	return n
}}

func reserveOne(n int) ([]events.Payload, error) {
	return []events.Payload{events.IDsReserved{Kind: "test", First: int64(n + 1), Count: 1}}, nil
}

func TestStoreRefusesSecondWriterAtSameRevision(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rt, store := newRuntime(t, commands.Options{})
	_, err := commands.Execute(ctx, rt, "ids-test", counter, reserveOne, md("a"))
	require.NoError(t, err)
	l, err := commands.Load(ctx, rt, "ids-test", counter)
	require.NoError(t, err)
	require.Equal(t, events.Exact(0), l.Expected())

	codec := events.NewCodec()
	var wins, conflicts int
	for i := range 2 {
		ev, err := codec.Encode(events.IDsReserved{Kind: "test", First: 2, Count: int64(i + 1)}, md("w"), fixedNow)
		require.NoError(t, err)
		_, err = store.Append(ctx, "ids-test", l.Expected(), ev)
		switch {
		case err == nil:
			wins++
		default:
			require.ErrorIs(t, err, events.ErrWrongRevision)
			conflicts++
		}
	}
	require.Equal(t, 1, wins)
	require.Equal(t, 1, conflicts)
}

// TestExecuteRetriesAfterConflict makes a second writer append between
// the first writer's load and append: the first writer's append fails at
// the store, it reloads, decides again, and both effects land.
func TestExecuteRetriesAfterConflict(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rt, store := newRuntime(t, commands.Options{})
	calls := 0
	res, err := commands.Execute(ctx, rt, "ids-test", counter, func(n int) ([]events.Payload, error) {
		calls++
		if calls == 1 {
			other, err := commands.Execute(ctx, rt, "ids-test", counter, reserveOne, md("b"))
			require.NoError(t, err)
			require.Equal(t, 1, other.Attempts)
		}
		return reserveOne(n)
	}, md("a"))
	require.NoError(t, err)
	require.Equal(t, 2, res.Attempts)
	require.Equal(t, uint64(1), res.NextRevision)

	recs, err := store.ReadStream(ctx, "ids-test", 0, 10)
	require.NoError(t, err)
	require.Len(t, recs, 2)
	require.Equal(t, "b", recs[0].Metadata.Actor)
	require.Equal(t, "a", recs[1].Metadata.Actor)
	var second events.IDsReserved
	require.NoError(t, json.Unmarshal(recs[1].Data, &second))
	require.Equal(t, int64(2), second.First, "the retry decided on the other writer's event")
}

func TestExecuteConcurrentWritersAllLand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rt, _ := newRuntime(t, commands.Options{MaxAttempts: 100})
	const writers = 8
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Go(func() {
			_, err := commands.Execute(ctx, rt, "ids-test", counter, reserveOne, md("w"))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	l, err := commands.Load(ctx, rt, "ids-test", counter)
	require.NoError(t, err)
	require.Equal(t, writers, l.State)
}

func TestExecuteGivesUpUnderContention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rt, _ := newRuntime(t, commands.Options{MaxAttempts: 3})
	calls := 0
	_, err := commands.Execute(ctx, rt, "ids-test", counter, func(n int) ([]events.Payload, error) {
		calls++
		_, err := commands.Execute(ctx, rt, "ids-test", counter, reserveOne, md("b"))
		require.NoError(t, err)
		return reserveOne(n)
	}, md("a"))
	require.ErrorIs(t, err, commands.ErrContention)
	require.ErrorIs(t, err, events.ErrWrongRevision)
	require.Equal(t, 3, calls)
}

func TestExecuteRequiresActor(t *testing.T) {
	t.Parallel()
	rt, _ := newRuntime(t, commands.Options{})
	_, err := commands.Execute(context.Background(), rt, "ids-test", counter, reserveOne, events.Metadata{})
	require.ErrorIs(t, err, commands.ErrNoActor)
}

func TestExecuteNothingToDo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rt, store := newRuntime(t, commands.Options{})
	res, err := commands.Execute(ctx, rt, "ids-test", counter, func(int) ([]events.Payload, error) { return nil, nil }, md("a"))
	require.NoError(t, err)
	require.Empty(t, res.Events)
	_, err = store.ReadStream(ctx, "ids-test", 0, 10)
	require.ErrorIs(t, err, events.ErrStreamNotFound)
}

func TestLoadSkipsUnknownTypes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rt, store := newRuntime(t, commands.Options{})
	ev := events.Event{ID: events.NewID(fixedNow), Type: "FromTheFuture", Version: 1, Data: json.RawMessage(`{}`), Metadata: md("x")}
	_, err := store.Append(ctx, "ids-test", events.NoStream, ev)
	require.NoError(t, err)
	res, err := commands.Execute(ctx, rt, "ids-test", counter, reserveOne, md("a"))
	require.NoError(t, err)
	require.Equal(t, uint64(1), res.NextRevision, "appended after the unknown event")
	l, err := commands.Load(ctx, rt, "ids-test", counter)
	require.NoError(t, err)
	require.Equal(t, 1, l.State)
	require.Equal(t, uint64(1), l.Revision)
}

func TestLoadPagesLongStreams(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rt, store := newRuntime(t, commands.Options{})
	codec := events.NewCodec()
	const n = 2500
	batch := make([]events.Event, 0, 500)
	for i := range n {
		ev, err := codec.Encode(events.IDsReserved{Kind: ids.KindBuild, First: int64(i + 1), Count: 1}, md("x"), fixedNow)
		require.NoError(t, err)
		batch = append(batch, ev)
		if len(batch) == cap(batch) {
			_, err := store.Append(ctx, "ids-build", events.Any, batch...)
			require.NoError(t, err)
			batch = batch[:0]
		}
	}
	l, err := commands.Load(ctx, rt, "ids-build", commands.IDsAggregate)
	require.NoError(t, err)
	require.Equal(t, int64(n+1), l.State.Next)
	require.Equal(t, uint64(n-1), l.Revision)
}
