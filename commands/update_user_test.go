package commands_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/commands"
	"buildledger/domain/password"
	"buildledger/events"
)

// TestUpdateUserPublicDashboard: the user's choice is recorded in
// UserUpdated, kept by updates that leave it out, and asking for what is
// already set records nothing.
func TestUpdateUserPublicDashboard(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rt, _, vault := newRuntimeVault(t, commands.Options{})
	h := commands.NewHandlers(rt, commands.NewAllocator(rt, commands.AllocatorOptions{}), vault)
	hash, err := password.Hash("s3cret", fastHash)
	require.NoError(t, err)
	_, err = h.CreateUser(ctx, md(commands.UserActor("admin")), commands.CreateUser{UserName: "bob", EmailAddress: "bob@example.org", PasswordHash: hash})
	require.NoError(t, err)
	bob := md(commands.UserActor("bob"))
	yes, no := true, false
	steps := []struct {
		name   string
		cmd    commands.UpdateUser
		events int
		public bool
	}{
		{"made public", commands.UpdateUser{UserName: "bob", PublicDashboard: &yes}, 1, true},
		{"public again is no change", commands.UpdateUser{UserName: "bob", PublicDashboard: &yes}, 0, true},
		{"another field keeps it", commands.UpdateUser{UserName: "bob", EmailOnError: &yes}, 1, true},
		{"made private", commands.UpdateUser{UserName: "bob", PublicDashboard: &no}, 1, false},
	}
	for _, s := range steps {
		res, err := h.UpdateUser(ctx, bob, s.cmd)
		require.NoError(t, err, s.name)
		require.Len(t, res.Events, s.events, s.name)
		if s.events == 0 {
			continue
		}
		var ev events.UserUpdated
		require.NoError(t, json.Unmarshal(res.Events[0].Data, &ev))
		require.Equal(t, s.public, ev.PublicDashboard, s.name)
	}
}
