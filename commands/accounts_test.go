package commands_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/commands"
	"buildledger/domain/password"
)

// countingUse counts the writes of token use.
type countingUse struct{ writes []time.Time }

func (c *countingUse) TokenUsed(_ context.Context, _ string, at time.Time) error {
	c.writes = append(c.writes, at)
	return nil
}

// TestAccountsFollowTheLog: a cached account catches up with every event
// appended since, so a change holds at the next call.
func TestAccountsFollowTheLog(t *testing.T) {
	ctx := context.Background()
	rt, _, vault := newRuntimeVault(t, commands.Options{})
	h := commands.NewHandlers(rt, commands.NewAllocator(rt, commands.AllocatorOptions{}), vault)
	acc := commands.NewAccounts(rt, nil)
	admin := md(commands.UserActor("admin"))
	hash, err := password.Hash("s3cret", fastHash)
	require.NoError(t, err)

	st, err := acc.User(ctx, "bob")
	require.NoError(t, err)
	require.False(t, st.MayAuthenticate(), "no such user")
	_, err = h.CreateUser(ctx, admin, commands.CreateUser{UserName: "bob", EmailAddress: "bob@example.org", PasswordHash: hash})
	require.NoError(t, err)
	st, err = acc.User(ctx, "bob")
	require.NoError(t, err)
	require.True(t, st.MayAuthenticate())
	gen := st.Generation

	_, err = h.DisableUser(ctx, admin, "bob")
	require.NoError(t, err)
	st, err = acc.User(ctx, "bob")
	require.NoError(t, err)
	require.False(t, st.MayAuthenticate(), "disabled")
	require.Greater(t, st.Generation, gen)

	_, err = h.EnableUser(ctx, admin, "bob")
	require.NoError(t, err)
	gen = st.Generation
	_, err = h.RevokeUserSessions(ctx, admin, "bob")
	require.NoError(t, err)
	st, err = acc.User(ctx, "bob")
	require.NoError(t, err)
	require.True(t, st.MayAuthenticate(), "enabled")
	require.Greater(t, st.Generation, gen, "logged out everywhere")

	st, err = acc.User(ctx, "../etc")
	require.NoError(t, err)
	require.False(t, st.Exists, "a name no user can have")
	tok, err := acc.Token(ctx, "not-a-uuid")
	require.NoError(t, err)
	require.False(t, tok.Exists)
}

// TestTokenUseIsWrittenOnceAMinute: recording use costs one write per
// token a minute, not one per request.
func TestTokenUseIsWrittenOnceAMinute(t *testing.T) {
	now := fixedNow
	rt, _ := newRuntime(t, commands.Options{Clock: commands.ClockFunc(func() time.Time { return now })})
	use := &countingUse{}
	acc := commands.NewAccounts(rt, use)
	ctx := context.Background()
	steps := []struct {
		advance time.Duration
		id      string
		writes  int
	}{
		{0, "a", 1},
		{time.Second, "a", 1},
		{0, "b", 2},
		{58 * time.Second, "a", 2},
		{time.Second, "a", 3},
		{0, "b", 3},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		require.NoError(t, acc.TokenUsed(ctx, s.id))
		require.Len(t, use.writes, s.writes, "step %d", i)
	}
}
