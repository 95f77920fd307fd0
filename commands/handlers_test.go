package commands_test

import (
	"context"
	"encoding/json"
	"testing"

	"buildledger/commands"
	"buildledger/domain/domainerr"
	"buildledger/domain/password"
	"buildledger/events"

	"github.com/stretchr/testify/require"
)

var fastHash = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func legacyJobset() events.JobsetConfig {
	return events.JobsetConfig{Type: 0, NixExprInput: "src", NixExprPath: "release.nix", Enabled: 1,
		KeepNr: 3, CheckInterval: 300, SchedulingShares: 100,
		Inputs: []events.JobsetInput{{Name: "src", Type: "path", Value: "/tmp/src"}}}
}

// TestConfigurationFlow walks every configuration handler against a real
// Postgres log and checks the events they leave, metadata included.
func TestConfigurationFlow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rt, store, vault := newRuntimeVault(t, commands.Options{})
	h := commands.NewHandlers(rt, commands.NewAllocator(rt, commands.AllocatorOptions{}), vault)
	admin := md(commands.UserActor("admin"))

	hash, err := password.Hash("s3cret", fastHash)
	require.NoError(t, err)
	_, err = h.CreateProject(ctx, admin, commands.CreateProject{Name: "p", Config: events.ProjectConfig{DisplayName: "P", Owner: "alice"}})
	require.ErrorIs(t, err, domainerr.ErrInvalid, "owner must exist")

	_, err = h.CreateUser(ctx, admin, commands.CreateUser{UserName: "alice", EmailAddress: "alice@example.org", PasswordHash: hash, Roles: []string{"admin"}})
	require.NoError(t, err)
	_, err = h.CreateUser(ctx, admin, commands.CreateUser{UserName: "alice", EmailAddress: "alice@example.org", PasswordHash: hash})
	require.ErrorIs(t, err, domainerr.ErrAlreadyExists)
	_, err = h.CreateUser(ctx, admin, commands.CreateUser{UserName: "bob", EmailAddress: "bob@example.org", PasswordHash: hash})
	require.NoError(t, err)
	_, err = h.SetUserRoles(ctx, admin, commands.SetUserRoles{UserName: "bob", Roles: []string{"eval-jobset", "restart-jobs"}})
	require.NoError(t, err)
	_, err = h.SetUserRoles(ctx, admin, commands.SetUserRoles{UserName: "bob", Roles: []string{"wizard"}})
	require.ErrorIs(t, err, domainerr.ErrInvalid)
	_, err = h.UpdateUser(ctx, admin, commands.UpdateUser{UserName: "bob", FullName: ptr("Bob"), EmailAddress: ptr("bob@example.org")})
	require.NoError(t, err)
	_, err = h.UpdateUser(ctx, admin, commands.UpdateUser{UserName: "nobody", EmailAddress: ptr("n@example.org")})
	require.ErrorIs(t, err, domainerr.ErrNotFound)

	_, err = h.CreateProject(ctx, admin, commands.CreateProject{Name: "p", Config: events.ProjectConfig{DisplayName: "P", Owner: "alice", Enabled: true}})
	require.NoError(t, err)
	_, err = h.CreateProject(ctx, admin, commands.CreateProject{Name: "p", Config: events.ProjectConfig{DisplayName: "P", Owner: "alice"}})
	require.ErrorIs(t, err, domainerr.ErrAlreadyExists)
	_, err = h.UpdateProject(ctx, admin, commands.UpdateProject{Name: "p", Config: events.ProjectConfig{DisplayName: "P2", Owner: "carol"}})
	require.ErrorIs(t, err, domainerr.ErrInvalid, "new owner must exist")
	_, err = h.UpdateProject(ctx, admin, commands.UpdateProject{Name: "p", Config: events.ProjectConfig{DisplayName: "P2", Owner: "bob", Enabled: true}})
	require.NoError(t, err)
	_, err = h.SetProjectMembers(ctx, admin, commands.SetProjectMembers{Name: "p", Members: []string{"alice", "carol"}})
	require.ErrorIs(t, err, domainerr.ErrInvalid)
	_, err = h.SetProjectMembers(ctx, admin, commands.SetProjectMembers{Name: "p", Members: []string{"alice"}})
	require.NoError(t, err)
	_, err = h.UpdateProject(ctx, admin, commands.UpdateProject{Name: "no such", Config: events.ProjectConfig{DisplayName: "X", Owner: "bob"}})
	require.ErrorIs(t, err, domainerr.ErrNotFound)

	res, err := h.CreateJobset(ctx, admin, commands.CreateJobset{Project: "p", Name: "trunk", Config: legacyJobset()})
	require.NoError(t, err)
	var created events.JobsetCreated
	require.NoError(t, json.Unmarshal(res.Events[0].Data, &created))
	require.Equal(t, int64(1), created.ID)
	_, err = h.CreateJobset(ctx, admin, commands.CreateJobset{Project: "p", Name: "trunk", Config: legacyJobset()})
	require.ErrorIs(t, err, domainerr.ErrAlreadyExists)
	_, err = h.CreateJobset(ctx, admin, commands.CreateJobset{Project: "nope", Name: "trunk", Config: legacyJobset()})
	require.ErrorIs(t, err, domainerr.ErrNotFound)
	bad := legacyJobset()
	bad.SchedulingShares = 0
	_, err = h.CreateJobset(ctx, admin, commands.CreateJobset{Project: "p", Name: "other", Config: bad})
	require.ErrorIs(t, err, domainerr.ErrInvalid)

	upd := legacyJobset()
	upd.Inputs = append(upd.Inputs, events.JobsetInput{Name: "debug", Type: "boolean", Value: "true"})
	_, err = h.UpdateJobset(ctx, admin, commands.UpdateJobset{Project: "p", Name: "trunk", Config: upd})
	require.NoError(t, err)

	ren, err := h.RenameJobset(ctx, admin, commands.RenameJobset{Project: "p", Name: "trunk", NewName: "main"})
	require.NoError(t, err)
	require.Len(t, ren.Created.Events, 1)
	require.Len(t, ren.Deleted.Events, 1)
	recs, err := store.ReadStream(ctx, "jobset-p.main", 0, 10)
	require.NoError(t, err)
	var renamed events.JobsetCreated
	require.NoError(t, json.Unmarshal(recs[0].Data, &renamed))
	require.Equal(t, "trunk", renamed.RenamedFrom)
	require.Equal(t, int64(1), renamed.ID, "a rename keeps the id")
	require.Len(t, renamed.Inputs, 2, "and the configuration")
	recs, err = store.ReadStream(ctx, "jobset-p.trunk", 0, 10)
	require.NoError(t, err)
	require.Equal(t, "JobsetDeleted", recs[len(recs)-1].Type)
	require.Contains(t, string(recs[len(recs)-1].Data), `"renamedTo":"main"`)
	_, err = h.RenameJobset(ctx, admin, commands.RenameJobset{Project: "p", Name: "trunk", NewName: "x"})
	require.ErrorIs(t, err, domainerr.ErrNotFound)

	res, err = h.RequestEvaluation(ctx, md(commands.WebhookActor("github")), commands.RequestEvaluation{Project: "p", Jobset: "main", Reason: "push"})
	require.NoError(t, err)
	require.JSONEq(t, `{"project":"p","jobset":"main","reason":"push","at":1700000000}`, string(res.Events[0].Data))
	_, err = h.RequestEvaluation(ctx, admin, commands.RequestEvaluation{Project: "p", Jobset: "trunk", Reason: "ui"})
	require.ErrorIs(t, err, domainerr.ErrNotFound)
	off := upd
	off.Enabled = 0
	_, err = h.UpdateJobset(ctx, admin, commands.UpdateJobset{Project: "p", Name: "main", Config: off})
	require.NoError(t, err)
	_, err = h.RequestEvaluation(ctx, admin, commands.RequestEvaluation{Project: "p", Jobset: "main", Reason: "ui"})
	require.ErrorIs(t, err, domainerr.ErrConflict)

	// Deleting the project takes its jobsets with it; a new project of the
	// same name starts without them.
	_, err = h.DeleteProject(ctx, admin, commands.DeleteProject{Name: "p"})
	require.NoError(t, err)
	_, err = h.UpdateJobset(ctx, admin, commands.UpdateJobset{Project: "p", Name: "main", Config: upd})
	require.ErrorIs(t, err, domainerr.ErrNotFound)
	_, err = h.CreateProject(ctx, admin, commands.CreateProject{Name: "p", Config: events.ProjectConfig{DisplayName: "P", Owner: "alice"}})
	require.NoError(t, err)
	_, err = h.RequestEvaluation(ctx, admin, commands.RequestEvaluation{Project: "p", Jobset: "main", Reason: "ui"})
	require.ErrorIs(t, err, domainerr.ErrNotFound, "jobset of the old incarnation")
	res, err = h.CreateJobset(ctx, admin, commands.CreateJobset{Project: "p", Name: "main", Config: legacyJobset()})
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(res.Events[0].Data, &created))
	require.Equal(t, int64(2), created.ID)
	_, err = h.DeleteJobset(ctx, admin, commands.DeleteJobset{Project: "p", Name: "main"})
	require.NoError(t, err)
	_, err = h.DeleteJobset(ctx, admin, commands.DeleteJobset{Project: "p", Name: "main"})
	require.ErrorIs(t, err, domainerr.ErrNotFound)

	mc := events.MachineConfig{URI: "ssh://nix@b1", Systems: []string{"x86_64-linux"}, MaxJobs: 2, SpeedFactor: 1, Enabled: true}
	_, err = h.RegisterMachine(ctx, admin, commands.RegisterMachine{Name: "b1", Config: mc})
	require.NoError(t, err)
	_, err = h.RegisterMachine(ctx, admin, commands.RegisterMachine{Name: "b1", Config: mc})
	require.ErrorIs(t, err, domainerr.ErrAlreadyExists)
	mc.MaxJobs = 0
	_, err = h.UpdateMachine(ctx, admin, commands.UpdateMachine{Name: "b1", Config: mc})
	require.ErrorIs(t, err, domainerr.ErrInvalid)
	mc.MaxJobs = 4
	_, err = h.UpdateMachine(ctx, admin, commands.UpdateMachine{Name: "b1", Config: mc})
	require.NoError(t, err)
	_, err = h.RemoveMachine(ctx, admin, commands.RemoveMachine{Name: "b1"})
	require.NoError(t, err)
	_, err = h.RemoveMachine(ctx, admin, commands.RemoveMachine{Name: "b1"})
	require.ErrorIs(t, err, domainerr.ErrNotFound)

	_, err = h.DeleteUser(ctx, admin, commands.DeleteUser{UserName: "bob"})
	require.NoError(t, err)
	_, err = h.DeleteUser(ctx, admin, commands.DeleteUser{UserName: "bob"})
	require.ErrorIs(t, err, domainerr.ErrNotFound)

	// Every event carries who, why and where.
	all, err := store.ReadAll(ctx, events.Start, 1000)
	require.NoError(t, err)
	types := map[string]bool{}
	for _, r := range all {
		types[r.Type] = true
		require.NotEmpty(t, r.Metadata.Actor, "%s %s", r.Stream, r.Type)
		require.NotEmpty(t, r.Metadata.CorrelationID, "%s %s", r.Stream, r.Type)
		require.NotEmpty(t, r.Metadata.CausationID, "%s %s", r.Stream, r.Type)
		require.Equal(t, "testhost", r.Metadata.Host, "%s %s", r.Stream, r.Type)
		require.NotContains(t, string(r.Data), "s3cret")
		if r.Type == "EvaluationRequested" {
			require.Equal(t, "webhook:github", r.Metadata.Actor)
			require.Equal(t, "corr-webhook:github", r.Metadata.CorrelationID)
		}
	}
	for _, typ := range []string{"UserCreated", "UserRolesChanged", "UserUpdated", "UserDeleted", "ProjectCreated",
		"ProjectUpdated", "ProjectMembersChanged", "ProjectDeleted", "JobsetCreated", "JobsetUpdated", "JobsetDeleted",
		"EvaluationRequested", "MachineRegistered", "MachineUpdated", "MachineRemoved", "IDsReserved"} {
		require.True(t, types[typ], "no %s recorded", typ)
	}
}

// TestCreateJobsetRace creates one jobset from six goroutines at once:
// exactly one wins, the others see ErrAlreadyExists after their retry.
func TestCreateJobsetRace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, _, h, admin := withAlice(t, commands.Options{})
	_, err := h.CreateProject(ctx, admin, commands.CreateProject{Name: "p", Config: events.ProjectConfig{DisplayName: "P", Owner: "alice"}})
	require.NoError(t, err)

	const n = 6
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := h.CreateJobset(ctx, admin, commands.CreateJobset{Project: "p", Name: "j", Config: legacyJobset()})
			errs <- err
		}()
	}
	wins := 0
	for range n {
		err := <-errs
		if err == nil {
			wins++
			continue
		}
		require.ErrorIs(t, err, domainerr.ErrAlreadyExists)
	}
	require.Equal(t, 1, wins)
}

func ptr[T any](v T) *T { return &v }
