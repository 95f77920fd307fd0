package remotebuilder_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/commands"
	"buildledger/domain/adhoc"
	"buildledger/domain/domainerr"
	"buildledger/domain/streams"
	"buildledger/domain/user"
	"buildledger/events"
)

// TestAdhocProjectOwner: the first submission creates the ad-hoc project
// owned by the configured owner, who must be an enabled administrator
// (the owner may change every user's shares); no user named admin is
// needed. A project created beforehand needs no owner check at all. A
// refused submission appends nothing.
func TestAdhocProjectOwner(t *testing.T) {
	for _, tt := range []struct {
		name    string
		owner   string // the server's --adhoc-owner
		users   map[string][]string
		precede string // creates the project first, owned by this user
		want    string // the project's owner, or "" when refused
		refusal string
	}{
		{name: "no admin user, default owner", users: map[string][]string{"alice": {user.RoleSubmitBuilds}},
			refusal: `its owner "admin" does not exist: start the server with --adhoc-owner NAME`},
		{name: "another administrator", owner: "ops", users: map[string][]string{"ops": {user.RoleAdmin}, "alice": {user.RoleSubmitBuilds}},
			want: "ops"},
		{name: "the owner must be an administrator", owner: "alice", users: map[string][]string{"alice": {user.RoleSubmitBuilds}},
			refusal: `"alice" is not an administrator`},
		{name: "the submitter may not own it", owner: "alice", users: map[string][]string{"alice": {user.RoleSubmitBuilds}, "root": {user.RoleAdmin}},
			refusal: `"alice" is not an administrator`},
		{name: "created beforehand", owner: "nobody", users: map[string][]string{"alice": {user.RoleSubmitBuilds}, "carol": nil},
			precede: "carol", want: "carol"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			pool := pgtest.NewPool(t)
			store := pglog.New(pool, pglog.Options{})
			rt := commands.NewRuntime(store, events.NewCodec(), commands.Options{})
			h := commands.NewHandlers(rt, commands.NewAllocator(rt, commands.AllocatorOptions{}), postgres.NewVault(pool))
			md := events.Metadata{Actor: "component:test"}
			for name, roles := range tt.users {
				_, err := h.CreateUser(ctx, md, commands.CreateUser{UserName: name, Type: user.TypeGitHub, EmailAddress: name + "@localhost", Roles: roles})
				require.NoError(t, err)
			}
			if tt.precede != "" {
				_, err := h.CreateProject(ctx, md, commands.CreateProject{Name: adhoc.Project, Config: adhoc.ProjectConfig(tt.precede)})
				require.NoError(t, err)
			}
			head, err := store.Head(ctx)
			require.NoError(t, err)
			d := "/nix/store/" + "00000000000000000000000000000000" + "-x.drv"
			o := []events.Output{{Name: "out", Path: "/nix/store/00000000000000000000000000000000-x"}}
			_, err = h.SubmitAdhocBuild(ctx, events.Metadata{Actor: commands.UserActor("alice")}, commands.SubmitAdhocBuild{
				UserName: "alice", Via: adhoc.ViaSSH, DrvPath: d, System: "x86_64-linux", Outputs: o, Owner: tt.owner,
				Steps: []events.StepQueued{{DrvPath: d, System: "x86_64-linux", Outputs: o}}, Paths: []string{d}})
			if tt.refusal != "" {
				require.ErrorIs(t, err, domainerr.ErrInvalid)
				require.ErrorContains(t, err, tt.refusal)
				after, err := store.Head(ctx)
				require.NoError(t, err)
				require.Equal(t, head, after, "a refused submission appends nothing")
				return
			}
			require.NoError(t, err)
			p, err := commands.Load(ctx, rt, streams.Project(adhoc.Project), commands.ProjectAggregate)
			require.NoError(t, err)
			require.Equal(t, tt.want, p.State.Config.Owner)
		})
	}
}
