package commands_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/commands"
	"buildledger/domain/domainerr"
	"buildledger/domain/streams"
	"buildledger/events"
)

// TestRenameProject renames a project with two jobsets against the real
// Postgres log: every stream moves in one append, the jobsets keep their
// ids, and the refusals (a taken, invalid or unchanged name, a running
// evaluation, a store without multi-stream appends) record nothing.
func TestRenameProject(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rt, store, h, admin := withAlice(t, commands.Options{})
	cfg := events.ProjectConfig{DisplayName: "P", Owner: "alice", Enabled: true}
	for _, p := range []string{"p", "taken"} {
		_, err := h.CreateProject(ctx, admin, commands.CreateProject{Name: p, Config: cfg})
		require.NoError(t, err)
	}
	_, err := h.SetProjectMembers(ctx, admin, commands.SetProjectMembers{Name: "p", Members: []string{"alice"}})
	require.NoError(t, err)
	ids := map[string]int64{}
	for _, j := range []string{"trunk", "staging", "gone"} {
		res, err := h.CreateJobset(ctx, admin, commands.CreateJobset{Project: "p", Name: j, Config: legacyJobset()})
		require.NoError(t, err)
		ids[j] = decodeJobsetCreated(t, rt, res.Events[0]).ID
	}
	_, err = h.DeleteJobset(ctx, admin, commands.DeleteJobset{Project: "p", Name: "gone"})
	require.NoError(t, err)
	head, err := store.Head(ctx)
	require.NoError(t, err)

	for _, tt := range []struct {
		name, to string
		err      error
	}{
		{"taken", "taken", domainerr.ErrAlreadyExists},
		{"invalid", "1p", domainerr.ErrInvalid},
		{"dotted", "p.q", domainerr.ErrInvalid},
		{"itself", "p", domainerr.ErrInvalid},
	} {
		_, err := h.RenameProject(ctx, admin, commands.RenameProject{Name: "p", NewName: tt.to, Config: cfg})
		require.ErrorIs(t, err, tt.err, tt.name)
	}
	_, err = h.RenameProject(ctx, admin, commands.RenameProject{Name: "nope", NewName: "q", Config: cfg})
	require.ErrorIs(t, err, domainerr.ErrNotFound)
	bad := cfg
	bad.Owner = "mallory"
	_, err = h.RenameProject(ctx, admin, commands.RenameProject{Name: "p", NewName: "q", Config: bad})
	require.ErrorIs(t, err, domainerr.ErrInvalid, "a new owner must exist")
	mem, _ := newRuntime(t, commands.Options{})
	_, err = commands.NewHandlers(mem, nil, nil).RenameProject(ctx, admin, commands.RenameProject{Name: "p", NewName: "q", Config: cfg})
	require.Error(t, err, "a store without multi-stream appends cannot rename")

	// A running evaluation holds the rename back.
	open, err := store.Append(ctx, streams.Jobset("p", "trunk"), events.Any, encode(t, rt, &events.EvaluationOpened{EvalID: 9, Project: "p", Jobset: "trunk"}))
	require.NoError(t, err)
	_, err = h.RenameProject(ctx, admin, commands.RenameProject{Name: "p", NewName: "q", Config: cfg})
	require.ErrorIs(t, err, domainerr.ErrConflict)
	_, err = store.Append(ctx, streams.Jobset("p", "trunk"), events.Exact(open.NextRevision), encode(t, rt, &events.EvaluationClosed{EvalID: 9, Project: "p", Jobset: "trunk"}))
	require.NoError(t, err)
	after, err := store.Head(ctx)
	require.NoError(t, err)
	recs, err := store.ReadAll(ctx, head, 100)
	require.NoError(t, err)
	require.Len(t, recs, 2, "refused renames record nothing")
	require.Equal(t, after, recs[1].Position)

	cfg.Description = "renamed"
	res, err := h.RenameProject(ctx, admin, commands.RenameProject{Name: "p", NewName: "q", Config: cfg})
	require.NoError(t, err)
	require.Equal(t, []string{"staging", "trunk"}, res.Jobsets, "the deleted jobset stays behind")

	recs, err = store.ReadAll(ctx, after, 100)
	require.NoError(t, err)
	var got []string
	for _, r := range recs {
		got = append(got, r.Type+" "+r.Stream)
		require.Equal(t, recs[0].Metadata.CorrelationID, r.Metadata.CorrelationID)
	}
	require.Equal(t, []string{
		"ProjectCreated project-q", "ProjectMembersChanged project-q",
		"JobsetCreated jobset-q.staging", "JobsetDeleted jobset-p.staging",
		"JobsetCreated jobset-q.trunk", "JobsetDeleted jobset-p.trunk",
		"ProjectDeleted project-p",
	}, got)
	for _, j := range []string{"trunk", "staging"} {
		l, err := commands.Load(ctx, rt, streams.Jobset("q", j), commands.JobsetAggregate)
		require.NoError(t, err)
		require.True(t, l.State.Exists)
		require.Equal(t, ids[j], l.State.ID, "%s keeps its id", j)
	}

	// The old name is free again, and its old jobsets are not live in a
	// new project of that name.
	_, err = h.CreateProject(ctx, admin, commands.CreateProject{Name: "p", Config: cfg})
	require.NoError(t, err)
	_, err = h.CreateJobset(ctx, admin, commands.CreateJobset{Project: "p", Name: "trunk", Config: legacyJobset()})
	require.NoError(t, err)
	_, err = h.RequestEvaluation(ctx, admin, commands.RequestEvaluation{Project: "q", Jobset: "trunk", Reason: "api"})
	require.NoError(t, err, "the moved jobset takes requests under its new name")

	// Renaming back to a name with jobset streams of its own (the new p's
	// trunk) is refused only because p exists; once it is deleted, q goes
	// back to p and trunk moves over that stream.
	_, err = h.RenameProject(ctx, admin, commands.RenameProject{Name: "q", NewName: "p", Config: cfg})
	require.ErrorIs(t, err, domainerr.ErrAlreadyExists)
	_, err = h.DeleteProject(ctx, admin, commands.DeleteProject{Name: "p"})
	require.NoError(t, err)
	res, err = h.RenameProject(ctx, admin, commands.RenameProject{Name: "q", NewName: "p", Config: cfg})
	require.NoError(t, err)
	require.Equal(t, []string{"staging", "trunk"}, res.Jobsets)
	l, err := commands.Load(ctx, rt, streams.Jobset("p", "trunk"), commands.JobsetAggregate)
	require.NoError(t, err)
	require.Equal(t, ids["trunk"], l.State.ID)
}

func encode(t *testing.T, rt *commands.Runtime, p events.Payload) events.Event {
	t.Helper()
	ev, err := rt.Codec().Encode(p, md(commands.UserActor("admin")), fixedNow)
	require.NoError(t, err)
	return ev
}

func decodeJobsetCreated(t *testing.T, rt *commands.Runtime, ev events.Event) *events.JobsetCreated {
	t.Helper()
	p, err := rt.Codec().Decode(events.Recorded{ID: ev.ID, Type: ev.Type, Version: ev.Version, Data: ev.Data})
	require.NoError(t, err)
	return p.(*events.JobsetCreated)
}
