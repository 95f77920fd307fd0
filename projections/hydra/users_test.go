package hydra_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres"
	"buildledger/commands"
)

// TestPublicDashboard follows Users.publicDashboard through the commands
// that write it: a user makes their dashboard public, an unrelated change
// keeps it, they make it private again, and forgetting the user hides it.
func TestPublicDashboard(t *testing.T) {
	ctx := context.Background()
	sd := seed(t, 0)
	rt := commands.NewRuntime(sd.store, sd.codec, commands.Options{})
	h := commands.NewHandlers(rt, commands.NewAllocator(rt, commands.AllocatorOptions{}), postgres.NewVault(sd.pool))
	md := commands.NewMetadata(commands.UserActor("bench"), rt)
	yes, no := true, false
	name := "Bench B"
	steps := []struct {
		name string
		do   func() error
		want bool
	}{
		{"created private", func() error { return nil }, false},
		{"made public", func() error {
			_, err := h.UpdateUser(ctx, md, commands.UpdateUser{UserName: "bench", PublicDashboard: &yes})
			return err
		}, true},
		{"other fields keep it", func() error {
			_, err := h.UpdateUser(ctx, md, commands.UpdateUser{UserName: "bench", FullName: &name})
			return err
		}, true},
		{"made private", func() error {
			_, err := h.UpdateUser(ctx, md, commands.UpdateUser{UserName: "bench", PublicDashboard: &no})
			return err
		}, false},
		{"public again", func() error {
			_, err := h.UpdateUser(ctx, md, commands.UpdateUser{UserName: "bench", PublicDashboard: &yes})
			return err
		}, true},
		{"forgotten", func() error {
			_, err := h.ForgetUser(ctx, md, commands.ForgetUser{UserName: "bench"})
			return err
		}, false},
	}
	for _, s := range steps {
		require.NoError(t, s.do(), s.name)
		runLive(t, sd, 1)
		var got bool
		require.NoError(t, sd.pool.QueryRow(ctx, `select publicDashboard from Users where userName = 'bench'`).Scan(&got))
		require.Equal(t, s.want, got, s.name)
	}
}
