package evaluation_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/commands"
	"buildledger/commands/evaluation"
	"buildledger/domain/declarative"
	"buildledger/domain/jobset"
	"buildledger/domain/streams"
	"buildledger/events"
)

// TestDeclarativeProjectFromGit: a declarative project whose spec.json
// is in a local git repository gets the jobsets it declares when its
// ".jobsets" is evaluated; a changed spec updates them, and a jobset the
// spec drops is disabled and hidden. Every change names the declarative
// source as actor.
func TestDeclarativeProjectFromGit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	repo := t.TempDir()
	run(t, repo, "git", "init", "--quiet", "--initial-branch=main")
	spec := func(desc string, withB bool) {
		js := map[string]any{"a": map[string]any{"description": desc, "nixexprinput": "src", "nixexprpath": "release.nix",
			"checkinterval": 0, "inputs": map[string]any{"src": map[string]any{"type": "git", "value": "file://" + repo + " main"}}}}
		if withB {
			js["b"] = map[string]any{"enabled": 1, "hidden": false, "nixexprinput": "src", "nixexprpath": "other.nix", "keepnr": 1,
				"inputs": map[string]any{"src": map[string]any{"type": "git", "value": "file://" + repo + " main", "emailresponsible": false}}}
		}
		require.NoError(t, os.WriteFile(filepath.Join(repo, "spec.json"), []byte(mustJSON(t, js)), 0o644))
		run(t, repo, "git", "add", ".")
		run(t, repo, "git", "commit", "--quiet", "-m", desc)
	}
	spec("first", true)
	_, err := e.h.CreateProject(e.ctx, e.admin, commands.CreateProject{Name: "d", Config: events.ProjectConfig{DisplayName: "D",
		Owner: "alice", Enabled: true, DeclFile: "spec.json", DeclType: "git", DeclValue: "file://" + repo + " main"}})
	require.NoError(t, err)

	state := func(name string) jobset.State {
		l, err := commands.Load(e.ctx, e.rt, streams.Jobset("d", name), commands.JobsetAggregate)
		require.NoError(t, err)
		return l.State
	}
	evaluate := func() {
		t.Helper()
		sum, err := e.svc.Evaluate(e.ctx, e.evaluator, evaluation.Evaluate{Project: "d", Jobset: ".jobsets"})
		require.NoError(t, err)
		require.Equal(t, jobset.OutcomeCached, sum.Outcome, "a static spec is applied without an evaluation: %s", sum.Error)
		e.project()
	}
	evaluate()
	require.Equal(t, "first", state("a").Config.Description)
	require.Equal(t, "other.nix", state("b").Config.NixExprPath)
	evs, err := e.store.ReadStream(e.ctx, streams.Jobset("d", "a"), 0, 1)
	require.NoError(t, err)
	require.Equal(t, declarative.Actor("d"), evs[0].Metadata.Actor)
	require.Equal(t, 3, e.count(`select count(*) from Jobsets where project = 'd'`), ".jobsets, a and b")

	spec("second", true)
	evaluate()
	require.Equal(t, "second", state("a").Config.Description)

	spec("third", false)
	evaluate()
	b := state("b")
	require.True(t, b.Exists)
	require.Equal(t, jobset.Disabled, b.Config.Enabled)
	require.True(t, b.Config.Hidden)
	require.Equal(t, 1, e.count(`select count(*) from Jobsets where project = 'd' and name = 'b' and enabled = 0 and hidden = 1`))
	a := state("a")
	require.Equal(t, "third", a.Config.Description)
	require.Equal(t, jobset.Enabled, a.Config.Enabled)

	// A spec input that does not hold a valid spec is an evaluation
	// error of ".jobsets", and changes no jobset.
	require.NoError(t, os.WriteFile(filepath.Join(repo, "spec.json"), []byte(`{"a": {"nixexprpath": "../../etc/passwd"}}`), 0o644))
	run(t, repo, "git", "commit", "--quiet", "-am", "bad")
	sum, err := e.svc.Evaluate(e.ctx, e.evaluator, evaluation.Evaluate{Project: "d", Jobset: ".jobsets"})
	require.NoError(t, err)
	require.Equal(t, jobset.OutcomeFailed, sum.Outcome)
	require.Contains(t, sum.Error, "nixExprPath")
	require.Equal(t, "third", state("a").Config.Description)

	// A spec file that is a link out of the input is not read.
	require.NoError(t, os.Remove(filepath.Join(repo, "spec.json")))
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(repo, "spec.json")))
	run(t, repo, "git", "add", "-A")
	run(t, repo, "git", "commit", "--quiet", "-m", "link")
	sum, err = e.svc.Evaluate(e.ctx, e.evaluator, evaluation.Evaluate{Project: "d", Jobset: ".jobsets"})
	require.NoError(t, err)
	require.Equal(t, jobset.OutcomeFailed, sum.Outcome)
	require.Contains(t, sum.Error, "couldn't read declarative specification file")
}

// TestDeclarativeGeneratedBackToStatic: a project whose spec generated
// its jobsets and is then a static one again leaves ".jobsets" with the
// generator's configuration no more (Hydra's initial one), so that it is
// not evaluated and no `jobsets` build still running is applied; the
// static spec's jobsets are created.
func TestDeclarativeGeneratedBackToStatic(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	repo := t.TempDir()
	run(t, repo, "git", "init", "--quiet", "--initial-branch=main")
	commit := func(spec any) {
		require.NoError(t, os.WriteFile(filepath.Join(repo, "spec.json"), []byte(mustJSON(t, spec)), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(repo, "jobsets.nix"), []byte("{ declInput, projectName }: { }\n"), 0o644))
		run(t, repo, "git", "add", ".")
		run(t, repo, "git", "commit", "--quiet", "-m", "spec")
	}
	commit(map[string]any{"enabled": 1, "hidden": false, "nixexprinput": "declInput", "nixexprpath": "jobsets.nix",
		"checkinterval": 60, "inputs": map[string]any{}})
	_, err := e.h.CreateProject(e.ctx, e.admin, commands.CreateProject{Name: "g", Config: events.ProjectConfig{DisplayName: "G",
		Owner: "alice", Enabled: true, DeclFile: "spec.json", DeclType: "git", DeclValue: "file://" + repo + " main"}})
	require.NoError(t, err)
	generator := func() events.JobsetConfig {
		l, err := commands.Load(e.ctx, e.rt, streams.Jobset("g", ".jobsets"), commands.JobsetAggregate)
		require.NoError(t, err)
		return l.State.Config
	}
	sum, err := e.svc.Evaluate(e.ctx, e.evaluator, evaluation.Evaluate{Project: "g", Jobset: ".jobsets"})
	require.NoError(t, err)
	require.Equal(t, jobset.OutcomeFinished, sum.Outcome, "the generator is evaluated: %s", sum.Error)
	require.Equal(t, "jobsets.nix", generator().NixExprPath)
	require.Equal(t, 60, generator().CheckInterval)

	commit(map[string]any{"a": map[string]any{"nixexprinput": "src", "nixexprpath": "release.nix",
		"inputs": map[string]any{"src": map[string]any{"type": "git", "value": "file://" + repo + " main"}}}})
	sum, err = e.svc.Evaluate(e.ctx, e.evaluator, evaluation.Evaluate{Project: "g", Jobset: ".jobsets"})
	require.NoError(t, err)
	require.Equal(t, jobset.OutcomeCached, sum.Outcome, "a static spec is applied: %s", sum.Error)
	want, err := jobset.Normalize(".jobsets", commands.GeneratorConfig())
	require.NoError(t, err)
	require.Equal(t, want, generator())
	l, err := commands.Load(e.ctx, e.rt, streams.Jobset("g", "a"), commands.JobsetAggregate)
	require.NoError(t, err)
	require.True(t, l.State.Exists)
}
