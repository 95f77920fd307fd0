package postgres_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/commands/reactors"
	"buildledger/events"
)

// TestReactorSnapshots: a snapshot reads back as saved, one per reactor
// name; a later save replaces it even at an earlier position (a snapshot
// of another log must be replaceable); a name never saved has none.
func TestReactorSnapshots(t *testing.T) {
	ctx := context.Background()
	store := postgres.NewReactorSnapshots(pgtest.NewPool(t))

	_, err := store.LoadSnapshot(ctx, "scheduler")
	require.ErrorIs(t, err, reactors.ErrNoSnapshot)

	later := reactors.Snapshot{Version: 1, Position: events.Position{Commit: 1 << 40, Prepare: 1<<40 + 7}, Stream: "build-1",
		Revision: 3, EventID: "0190aaaa-0000-7000-8000-000000000001", State: []byte(`{"steps":[]}`)}
	require.NoError(t, store.SaveSnapshot(ctx, "scheduler", later))
	require.NoError(t, store.SaveSnapshot(ctx, "other", reactors.Snapshot{Version: 9, Stream: "x", EventID: "y", State: []byte("z")}))
	got, err := store.LoadSnapshot(ctx, "scheduler")
	require.NoError(t, err)
	require.Equal(t, later, got)

	earlier := reactors.Snapshot{Version: 2, Position: events.At(5), Stream: "step-a", Revision: 0,
		EventID: "0190bbbb-0000-7000-8000-000000000002", State: []byte(`{}`)}
	require.NoError(t, store.SaveSnapshot(ctx, "scheduler", earlier))
	got, err = store.LoadSnapshot(ctx, "scheduler")
	require.NoError(t, err)
	require.Equal(t, earlier, got)

	got, err = store.LoadSnapshot(ctx, "other")
	require.NoError(t, err)
	require.Equal(t, 9, got.Version)
}
