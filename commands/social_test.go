package commands_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/commands"
	"buildledger/domain/domainerr"
	"buildledger/domain/streams"
	"buildledger/events"
)

// TestAddNewsSkipsImportedIDs: a news id an item imported from Hydra took
// (appended without reserving ids) is skipped, not refused.
func TestAddNewsSkipsImportedIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rt, store, vault := newRuntimeVault(t, commands.Options{})
	h := commands.NewHandlers(rt, commands.NewAllocator(rt, commands.AllocatorOptions{}), vault)
	admin := md(commands.UserActor("admin"))
	codec := events.NewCodec()
	env, err := codec.Encode(&events.NewsItemAdded{ID: 1, Contents: "imported", CreateTime: 1, Author: "alice"}, events.Metadata{Actor: "import"}, time.Unix(1, 0))
	require.NoError(t, err)
	_, err = store.Append(ctx, streams.News(1), events.NoStream, env)
	require.NoError(t, err)

	id, _, err := h.AddNews(ctx, admin, commands.AddNews{Contents: "posted", Author: "admin"})
	require.NoError(t, err)
	require.Equal(t, int64(2), id)
	_, err = h.RemoveNews(ctx, admin, 1)
	require.NoError(t, err)
	_, err = h.RemoveNews(ctx, admin, 1)
	require.ErrorIs(t, err, domainerr.ErrNotFound)
	_, err = h.RemoveNews(ctx, admin, 0)
	require.ErrorIs(t, err, domainerr.ErrNotFound)
}
