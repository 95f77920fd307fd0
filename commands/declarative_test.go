package commands_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/commands"
	"buildledger/domain/declarative"
	"buildledger/domain/domainerr"
	"buildledger/domain/jobset"
	"buildledger/domain/streams"
	"buildledger/events"
)

// TestDeclarativeProject: a declarative project gets its generator
// jobset, its spec's jobsets are created, updated and disabled with the
// declarative source as actor, and no one else may edit them.
func TestDeclarativeProject(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rt, store, h, admin := withAlice(t, commands.Options{})
	decl := events.ProjectConfig{DisplayName: "D", Owner: "alice", Enabled: true, DeclFile: "spec.json", DeclType: "path", DeclValue: "/srv/spec"}
	_, err := h.CreateProject(ctx, admin, commands.CreateProject{Name: "d", Config: decl})
	require.NoError(t, err)

	gen := load(t, rt, "d", ".jobsets")
	require.True(t, gen.Exists, "the generator is created with the project")
	require.NotZero(t, gen.LastRequest, "and asked to evaluate")
	evs, err := store.ReadStream(ctx, streams.Jobset("d", ".jobsets"), 0, 10)
	require.NoError(t, err)
	require.Equal(t, declarative.Actor("d"), evs[0].Metadata.Actor)

	a, b := legacyJobset(), legacyJobset()
	b.Description = "b"
	done, err := h.ApplyDeclarativeSpec(ctx, admin, commands.ApplyDeclarativeSpec{Project: "d",
		Jobsets: map[string]events.JobsetConfig{"a": a, "b": b}})
	require.NoError(t, err)
	require.Len(t, done, 2)
	evs, err = store.ReadStream(ctx, streams.Jobset("d", "a"), 0, 10)
	require.NoError(t, err)
	require.Equal(t, declarative.Actor("d"), evs[0].Metadata.Actor, "the spec's source is the actor, not who asked")

	for _, tc := range []struct {
		name string
		do   func() error
	}{
		{"update", func() error {
			_, err := h.UpdateJobset(ctx, admin, commands.UpdateJobset{Project: "d", Name: "a", Config: b})
			return err
		}},
		{"create", func() error {
			_, err := h.CreateJobset(ctx, admin, commands.CreateJobset{Project: "d", Name: "c", Config: a})
			return err
		}},
		{"delete", func() error {
			_, err := h.DeleteJobset(ctx, admin, commands.DeleteJobset{Project: "d", Name: "a"})
			return err
		}},
		{"rename", func() error {
			_, err := h.RenameJobset(ctx, admin, commands.RenameJobset{Project: "d", Name: "a", NewName: "z"})
			return err
		}},
		{"edit the generator", func() error {
			_, err := h.UpdateJobset(ctx, admin, commands.UpdateJobset{Project: "d", Name: ".jobsets", Config: a})
			return err
		}},
		{"another project's source", func() error {
			_, err := h.UpdateJobset(ctx, md(declarative.Actor("e")), commands.UpdateJobset{Project: "d", Name: "a", Config: b})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { require.ErrorIs(t, tc.do(), domainerr.ErrForbidden) })
	}

	// The spec changes a and drops b.
	a.Description = "changed"
	done, err = h.ApplyDeclarativeSpec(ctx, admin, commands.ApplyDeclarativeSpec{Project: "d", Known: []string{".jobsets", "a", "b"},
		Jobsets: map[string]events.JobsetConfig{"a": a}})
	require.NoError(t, err)
	require.Equal(t, []declarative.Kind{declarative.Update, declarative.Disable}, []declarative.Kind{done[0].Kind, done[1].Kind})
	require.Equal(t, "changed", load(t, rt, "d", "a").Config.Description)
	gone := load(t, rt, "d", "b")
	require.True(t, gone.Exists, "disabled, not deleted: its history stays")
	require.Equal(t, jobset.Disabled, gone.Config.Enabled)
	require.True(t, gone.Config.Hidden)

	_, err = h.ApplyDeclarativeSpec(ctx, admin, commands.ApplyDeclarativeSpec{Project: "d", MaxJobsets: 1,
		Jobsets: map[string]events.JobsetConfig{"a": a, "x": a}})
	require.ErrorIs(t, err, domainerr.ErrInvalid, "a spec beyond the cap changes nothing")
	require.False(t, load(t, rt, "d", "x").Exists)

	// A project that stops being declarative loses its generator, and its
	// jobsets are editable again.
	decl.DeclFile, decl.DeclType, decl.DeclValue = "", "", ""
	_, err = h.UpdateProject(ctx, admin, commands.UpdateProject{Name: "d", Config: decl})
	require.NoError(t, err)
	require.False(t, load(t, rt, "d", ".jobsets").Exists)
	_, err = h.UpdateJobset(ctx, admin, commands.UpdateJobset{Project: "d", Name: "a", Config: b})
	require.NoError(t, err)
	_, err = h.ApplyDeclarativeSpec(ctx, admin, commands.ApplyDeclarativeSpec{Project: "d", Jobsets: map[string]events.JobsetConfig{"a": a}})
	require.Error(t, err, "only a declarative project takes a spec")
}

func load(t *testing.T, rt *commands.Runtime, p, j string) jobset.State {
	t.Helper()
	l, err := commands.Load(context.Background(), rt, streams.Jobset(p, j), commands.JobsetAggregate)
	require.NoError(t, err)
	return l.State
}
