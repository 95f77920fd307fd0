package commands_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/commands"
	"buildledger/domain/apitoken"
	"buildledger/domain/domainerr"
	"buildledger/domain/streams"
)

// TestAPITokens: a token is created with an id of the handler's choosing
// on its own stream, revoked once, and only by its user.
func TestAPITokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rt, store := newRuntime(t, commands.Options{})
	h := commands.NewHandlers(rt, nil, nil)
	acc := commands.NewAccounts(rt, nil)
	bob := md(commands.UserActor("bob"))

	id, err := h.CreateAPIToken(ctx, bob, apitoken.Create{User: "bob", Name: "ci", TokenHash: "h"})
	require.NoError(t, err)
	tok, err := acc.Token(ctx, id)
	require.NoError(t, err)
	require.Equal(t, apitoken.State{Exists: true, ID: id, User: "bob", Name: "ci", Scope: apitoken.DefaultScope, TokenHash: "h"}, tok)

	require.ErrorIs(t, h.RevokeAPIToken(ctx, bob, "eve", id), domainerr.ErrNotFound, "another user's token")
	require.ErrorIs(t, h.RevokeAPIToken(ctx, bob, "bob", "../x"), domainerr.ErrNotFound, "an id no token has")
	require.NoError(t, h.RevokeAPIToken(ctx, bob, "bob", id))
	require.NoError(t, h.RevokeAPIToken(ctx, bob, "bob", id), "revoking twice does nothing")
	recs, err := store.ReadStream(ctx, streams.APIToken(id), 0, 0)
	require.NoError(t, err)
	require.Len(t, recs, 2)
	tok, err = acc.Token(ctx, id)
	require.NoError(t, err)
	require.True(t, tok.Revoked)
}
