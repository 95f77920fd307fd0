package evaluation_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/nix/nixtest"
	"buildledger/domain/jobset"
	"buildledger/domain/streams"
	"buildledger/events"
)

const gitRelease = `{ repo, salt }:
let busybox = ` + nixtest.Busybox + `;
  mk = name: derivation { inherit name salt; system = builtins.currentSystem; builder = "${busybox}/busybox"; args = [ "sh" "-c" "mkdir $out" ]; };
in { a = mk "bl-git-a"; b = mk ("bl-git-b-" + builtins.readFile ./version); }
`

// TestGitInput: a new commit gives a new evaluation with a new build for
// the job it changes; an unchanged repository gives a cached evaluation.
func TestGitInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	repo := t.TempDir()
	run(t, repo, "git", "init", "--quiet", "--initial-branch=main")
	require.NoError(t, os.WriteFile(filepath.Join(repo, "release.nix"), []byte(gitRelease), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(repo, "version"), []byte("1"), 0o644))
	run(t, repo, "git", "add", ".")
	run(t, repo, "git", "commit", "--quiet", "-m", "one")
	rev1 := run(t, repo, "git", "rev-parse", "HEAD")

	cfg := events.JobsetConfig{Type: 0, NixExprInput: "repo", NixExprPath: "release.nix", Enabled: 1, SchedulingShares: 100,
		Inputs: []events.JobsetInput{{Name: "repo", Type: "git", Value: "file://" + repo + " main"}, {Name: "salt", Type: "string", Value: e.salt}}}
	e.createJobset("git", cfg)
	first := e.evaluate("git", false)
	require.Equal(t, jobset.OutcomeFinished, first.Outcome, first.Error)
	require.Equal(t, 2, first.NewBuilds)

	cached := e.evaluate("git", false)
	require.Equal(t, jobset.OutcomeCached, cached.Outcome)

	require.NoError(t, os.WriteFile(filepath.Join(repo, "version"), []byte("2"), 0o644))
	run(t, repo, "git", "commit", "--quiet", "-am", "two")
	rev2 := run(t, repo, "git", "rev-parse", "HEAD")
	second := e.evaluate("git", false)
	require.Equal(t, jobset.OutcomeFinished, second.Outcome, second.Error)
	require.Equal(t, 1, second.NewBuilds, "only b changed")
	e.project()

	require.Equal(t, 2, e.count(`select count(*) from JobsetEvals`))
	require.Equal(t, rev1, e.str(`select revision from JobsetEvalInputs where eval = $1 and name = 'repo'`, first.EvalID))
	require.Equal(t, rev2, e.str(`select revision from JobsetEvalInputs where eval = $1 and name = 'repo'`, second.EvalID))
	require.Equal(t, "file://"+repo, e.str(`select uri from JobsetEvalInputs where eval = $1 and name = 'repo'`, second.EvalID))
	b1, b2 := e.builds(first.EvalID), e.builds(second.EvalID)
	require.Equal(t, b1["a"], b2["a"])
	require.NotEqual(t, b1["b"], b2["b"])
	require.Equal(t, 3, e.count(`select count(*) from Builds`))
}

const flakeNix = `{
  outputs = { self }:
    let mk = name: derivation { inherit name; system = "x86_64-linux"; builder = "${self}/busybox"; args = [ "sh" "-c" "mkdir $out" ]; salt = "SALT"; };
    in {
      hydraJobs = { hello = mk "bl-flake-hello"; tests.unit = mk "bl-flake-unit"; };
      checks.x86_64-linux.check = mk "bl-flake-check";
    };
}
`

// TestFlakeJobset evaluates a flake's hydraJobs and records the locked URL.
func TestFlakeJobset(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "flake.nix"), []byte(strings.ReplaceAll(flakeNix, "SALT", e.salt)), 0o644))
	nixtest.AddBusybox(t, dir)
	e.createJobset("flake", events.JobsetConfig{Type: 1, Flake: "path:" + dir, Enabled: 1, SchedulingShares: 100})
	sum := e.evaluate("flake", false)
	require.Equal(t, jobset.OutcomeFinished, sum.Outcome, sum.Error)
	e.project()
	b := e.builds(sum.EvalID)
	require.Len(t, b, 2)
	require.Contains(t, b, "hello")
	require.Contains(t, b, "tests.unit")
	flake := e.str(`select flake from JobsetEvals where id = $1`, sum.EvalID)
	require.True(t, strings.HasPrefix(flake, "path:"+dir), flake)
	require.Contains(t, flake, "narHash=")

	again := e.evaluate("flake", false)
	require.Equal(t, jobset.OutcomeCached, again.Outcome, "same locked flake")
}

// TestBuildInput: a jobset takes the latest successful build of another
// jobset's job as input, through a build or a sysbuild input.
func TestBuildInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.createJobset("producer", e.legacy("small.nix"))
	prod := e.evaluate("producer", false)
	require.Equal(t, jobset.OutcomeFinished, prod.Outcome, prod.Error)
	e.project()
	depBuild := e.builds(prod.EvalID)["dep"]

	consumer := e.legacy("uses-build.nix", events.JobsetInput{Name: "dep", Type: "build", Value: "p:producer:dep"})
	e.createJobset("consumer", consumer)
	none := e.evaluate("consumer", false)
	require.Equal(t, jobset.OutcomeFinished, none.Outcome, none.Error)
	require.Zero(t, none.Jobs, "no successful build yet: the input is left out")

	// Build dep for real and record it as a builder would.
	drvPath := e.str(`select drvPath from Builds where id = $1`, depBuild)
	out, err := exec.Command("nix-store", "--realise", drvPath).Output()
	require.NoError(t, err)
	outPath := strings.TrimSpace(string(out))
	ev, err := e.codec.Encode(&events.BuildFinished{BuildID: depBuild, Status: 0, StartTime: 1, StopTime: 2}, e.admin, e.rt.Clock().Now())
	require.NoError(t, err)
	_, err = e.store.Append(e.ctx, streams.Build(depBuild), events.Any, ev)
	require.NoError(t, err)
	e.project()

	sum := e.evaluate("consumer", false)
	require.Equal(t, jobset.OutcomeFinished, sum.Outcome, sum.Error)
	require.Equal(t, 1, sum.NewBuilds)
	e.project()
	require.Equal(t, 1, e.count(`select count(*) from JobsetEvalInputs where eval = $1 and name = 'dep' and type = 'build'
		and dependency = $2 and path = $3`, sum.EvalID, depBuild, outPath))
	consumerDrv := e.str(`select drvPath from Builds where id = $1`, e.builds(sum.EvalID)["consumer"])
	body, err := os.ReadFile(consumerDrv)
	require.NoError(t, err)
	require.Contains(t, string(body), outPath, "the consumer's derivation uses the producer's output")

	// A sysbuild input takes the latest success on the system the job's
	// current build is for: here the one system, so it is that build.
	e.createJobset("sysconsumer", e.legacy("uses-build.nix", events.JobsetInput{Name: "dep", Type: "sysbuild", Value: "p:producer:dep"}))
	sys := e.evaluate("sysconsumer", false)
	require.Equal(t, jobset.OutcomeFinished, sys.Outcome, sys.Error)
	e.project()
	require.Equal(t, 1, e.count(`select count(*) from JobsetEvalInputs where eval = $1 and name = 'dep' and type = 'sysbuild'
		and dependency = $2 and path = $3`, sys.EvalID, depBuild, outPath))
}

const deepGitRelease = `{ src, salt }:
let busybox = ` + nixtest.Busybox + `;
in { copy = derivation { name = "bl-deepgit"; inherit src salt; system = builtins.currentSystem;
  builder = "${busybox}/busybox"; args = [ "sh" "-c" "mkdir $out" ]; }; }
`

// TestDeepGitInput follows Hydra's input-types/deepgit.t: each change of
// a deep-cloned git input (a first commit, commits that deepen the
// history, an amended commit pushed over the old one) queues one build, and
// evaluating again at the same revision queues none.
func TestDeepGitInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	repo := t.TempDir()
	jobs := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(jobs, "release.nix"), []byte(deepGitRelease), 0o644))
	commit := func(file, content, msg string, extra ...string) {
		require.NoError(t, os.WriteFile(filepath.Join(repo, file), []byte(content), 0o644))
		run(t, repo, "git", "add", file)
		run(t, repo, "git", append([]string{"commit", "--quiet", "-m", msg}, extra...)...)
	}
	mutations := []func(){
		func() {
			run(t, repo, "git", "init", "--quiet", "--initial-branch=master")
			commit("foo", "", "Add foo")
			run(t, repo, "git", "tag", "-a", "-m", "First Tag.", "tag0")
		},
		func() {
			for i := range 3 {
				commit("foo", strconv.Itoa(i), "Increase depth "+strconv.Itoa(i))
			}
			commit("bar", "0", "Add bar with 0")
		},
		func() { commit("bar", "1", "Add bar with 1", "--amend") },
	}
	e.createJobset("deep", events.JobsetConfig{NixExprInput: "jobs", NixExprPath: "release.nix", Enabled: 1, SchedulingShares: 100,
		Inputs: []events.JobsetInput{{Name: "jobs", Type: "path", Value: jobs}, {Name: "src", Type: "git", Value: "file://" + repo + " master 1"},
			{Name: "salt", Type: "string", Value: e.salt}}})
	for i, mutate := range mutations {
		mutate()
		sum := e.evaluate("deep", false)
		require.Equal(t, jobset.OutcomeFinished, sum.Outcome, sum.Error)
		require.Equal(t, 1, sum.NewBuilds, "mutation %d", i)
		again := e.evaluate("deep", true)
		require.Zero(t, again.NewBuilds, "mutation %d, evaluated again: %s", i, again.Outcome)
		e.project()
		require.Equal(t, i+1, e.count(`select count(*) from Builds`), "mutation %d", i)
	}
}

// TestClearVCSCaches: a deep clone remembered before an admin clears the
// input caches (Hydra's clear-vcs-cache) is not used after it. The
// clearing is recorded by the command the web calls and read by the
// evaluation service from the log, as when they are two processes.
func TestClearVCSCaches(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	repo := t.TempDir()
	jobs := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(jobs, "release.nix"), []byte(deepGitRelease), 0o644))
	run(t, repo, "git", "init", "--quiet", "--initial-branch=master")
	require.NoError(t, os.WriteFile(filepath.Join(repo, "foo"), []byte("1"), 0o644))
	run(t, repo, "git", "add", "foo")
	run(t, repo, "git", "commit", "--quiet", "-m", "one")
	e.createJobset("deep", events.JobsetConfig{NixExprInput: "jobs", NixExprPath: "release.nix", Enabled: 1, SchedulingShares: 100,
		Inputs: []events.JobsetInput{{Name: "jobs", Type: "path", Value: jobs}, {Name: "src", Type: "git", Value: "file://" + repo + " master 1"},
			{Name: "salt", Type: "string", Value: e.salt}}})
	fetched := func(evalID int64) map[string]*events.InputFetched {
		out := map[string]*events.InputFetched{}
		for _, p := range e.streamEvents(streams.Eval(evalID)) {
			if in, ok := p.(*events.InputFetched); ok {
				out[in.Name] = in
			}
		}
		return out
	}
	first := e.evaluate("deep", false)
	require.Equal(t, jobset.OutcomeFinished, first.Outcome, first.Error)
	clone := fetched(first.EvalID)["src"].StorePath

	// Make the remembered deep clone point elsewhere (another valid store
	// path), written an hour ago: its use shows in what is fetched.
	entries, err := filepath.Glob(filepath.Join(e.cacheDir, "deep-clones", "*"))
	require.NoError(t, err)
	require.Len(t, entries, 1)
	planted := fetched(first.EvalID)["jobs"]
	require.NoError(t, os.WriteFile(entries[0], []byte(planted.StorePath+" "+planted.SHA256+"\n"), 0o600))
	hourAgo := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(entries[0], hourAgo, hourAgo))
	cached := e.evaluate("deep", true)
	require.Equal(t, planted.StorePath, fetched(cached.EvalID)["src"].StorePath, "the remembered clone is used")

	_, err = e.h.ClearVCSCaches(e.ctx, e.admin)
	require.NoError(t, err)
	after := e.evaluate("deep", true)
	require.Equal(t, jobset.OutcomeFinished, after.Outcome, after.Error)
	got := fetched(after.EvalID)["src"].StorePath
	require.NotEqual(t, planted.StorePath, got, "the clone remembered before the clearing is forgotten")
	_, err = os.Stat(got)
	require.NoError(t, err, "cloned again into the store (first clone %s)", clone)
	b, err := os.ReadFile(entries[0])
	require.NoError(t, err)
	require.Contains(t, string(b), got, "the new clone is remembered")
}
