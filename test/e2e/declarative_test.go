package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/binarycache"
	"buildledger/adapters/evaluator"
	"buildledger/adapters/forge/forgetest"
	"buildledger/adapters/inputs"
	"buildledger/adapters/nix/nixtest"
	"buildledger/commands"
	"buildledger/commands/evaluation"
	declreactor "buildledger/commands/reactors/declarative"
	"buildledger/domain/declarative"
	"buildledger/domain/jobset"
	"buildledger/domain/streams"
	"buildledger/events"
)

// jobsetsNix is the generator of the pull-request project, as nixpkgs'
// and Hydra's own are: it reads the open pull requests (the githubpulls
// input) and its `jobsets` job writes one jobset per pull request,
// building the pull request's branch from its clone URL.
const jobsetsNix = `{ pulls, nonce, busybox, busyboxExpr, ... }:
let
  prs = builtins.fromJSON (builtins.readFile pulls);
  jobset = num: info: {
    enabled = 1;
    hidden = false;
    description = "PR ${num}: ${info.title}";
    nixexprinput = "src";
    nixexprpath = "release.nix";
    checkinterval = 0;
    schedulingshares = 100;
    keepnr = 1;
    enableemail = false;
    emailoverride = "";
    inputs = {
      src = { type = "git"; value = "${info.head.repo.clone_url} ${info.head.ref}"; emailresponsible = false; };
      nonce = { type = "string"; value = nonce; emailresponsible = false; };
      busybox = { type = "nix"; value = busyboxExpr; emailresponsible = false; };
    };
  };
  spec = builtins.listToAttrs (map (num: { name = "pr-${num}"; value = jobset num prs.${num}; }) (builtins.attrNames prs));
in
{
  jobsets = derivation {
    name = "spec.json";
    system = builtins.currentSystem;
    builder = "${busybox}/busybox";
    args = [ "sh" "-c" "printf '%s' \"$spec\" > $out" ];
    spec = builtins.toJSON spec;
    inherit nonce;
  };
}
`

// releaseNix is the jobset of a pull request: one job built from the
// pull request's branch.
const releaseNix = `{ src, nonce, busybox, ... }:
{
  message = derivation {
    name = "message";
    system = builtins.currentSystem;
    builder = "${busybox}/busybox";
    args = [ "sh" "-c" "cat ${src}/message > $out" ];
    inherit nonce;
  };
}
`

// TestPullRequestJobsets is issue 22's pull-request acceptance: a
// declarative project whose spec (in a local git repository) has
// ".jobsets" generate its jobsets from a githubpulls input pointed at
// the GitHub double. A pull request opened on the double gives a jobset,
// created by the reactor from the `jobsets` build, evaluated and built
// with Nix in its default sandbox; closing the pull request disables it.
// The owner's token reaches the double and never the log.
func TestPullRequestJobsets(t *testing.T) {
	requireTools(t, "git")
	t.Parallel()
	gh := forgetest.NewGitHubPullsDouble(t)
	token := "token e2e-secret-" + newNonce()
	gh.Tokens = map[string]string{"acme": token}
	e := newHarness(t, harnessOptions{forges: inputs.Forges{GitHubEndpoint: gh.URL(), GitHubTokens: map[string]string{"acme": token}}})
	e.seedAdmin()
	e.registerMachine("localhost", localhostMachine())

	// The spec repository, with the pull request's branch.
	repo := t.TempDir()
	pullRequestProject(t, e, repo, releaseNix)

	// The reactor, as up runs it.
	reactor := declreactor.New(e.rt, e.codec, commands.NewAllocator(e.rt, commands.AllocatorOptions{}),
		binarycache.StoreFiles{Dir: "/nix/store"}, &evaluator.DB{Pool: e.pool}, declreactor.Options{Logger: e.log})
	rctx, stopReactor := context.WithCancel(e.ctx)
	reactorDone := make(chan error, 1)
	go func() { reactorDone <- reactor.Run(rctx) }()
	defer func() {
		stopReactor()
		require.NoError(t, <-reactorDone)
	}()
	e.startQueue(queueOptions{})

	evaluate := func(name string) evaluation.Summary {
		t.Helper()
		sum, err := e.evals.Evaluate(e.ctx, commands.NewMetadata(commands.ComponentActor("evaluator"), e.rt),
			evaluation.Evaluate{Project: "prs", Jobset: name})
		require.NoError(t, err)
		require.Equal(t, jobset.OutcomeFinished, sum.Outcome, "evaluation of %s: %s %s", name, sum.Phase, sum.Error)
		require.Zero(t, sum.Errors, "no job of %s failed to evaluate", name)
		return sum
	}
	state := func(name string) jobset.State {
		t.Helper()
		l, err := commands.Load(e.ctx, e.rt, streams.Jobset("prs", name), commands.JobsetAggregate)
		require.NoError(t, err)
		return l.State
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(pipelineDeadline)
		for !cond() {
			require.True(t, time.Now().Before(deadline), "waiting for %s", what)
			time.Sleep(100 * time.Millisecond)
		}
	}

	gh.OpenPull("acme", "app", forgetest.PullRequest{Number: 1, Title: "Fix a typo", HeadRef: "fix-typo",
		HeadSHA: strings.Repeat("1", 40), HeadCloneURL: "file://" + repo, BaseRef: "main", TargetCloneURL: "file://" + repo, Author: "bob"})
	require.Equal(t, 1, evaluate(".jobsets").Builds, "the jobsets job")
	waitFor("the pull request's jobset", func() bool { return state("pr-1").Exists })
	pr := state("pr-1")
	require.Equal(t, "PR 1: Fix a typo", pr.Config.Description)
	require.Equal(t, jobset.Enabled, pr.Config.Enabled)
	evs, err := e.store.ReadStream(e.ctx, streams.Jobset("prs", "pr-1"), 0, 1)
	require.NoError(t, err)
	require.Equal(t, declarative.Actor("prs"), evs[0].Metadata.Actor)

	require.Equal(t, 1, evaluate("pr-1").Builds)
	e.waitBuilds(2, pipelineDeadline)
	require.Equal(t, []string{"jobsets 0", "message 0"},
		e.queryStrings(`select job || ' ' || buildstatus from Builds order by id`))
	outs := e.queryStrings(`select o.path from BuildOutputs o join Builds b on b.id = o.build where b.job = 'message'`)
	require.Len(t, outs, 1)
	built, err := os.ReadFile(outs[0])
	require.NoError(t, err)
	require.Equal(t, "built from pull request 1\n", string(built), "the pull request's branch was built")

	gh.ClosePull("acme", "app", 1)
	require.Equal(t, 1, evaluate(".jobsets").Builds, "the jobsets job, for the new list")
	waitFor("the closed pull request's jobset disabled", func() bool { return state("pr-1").Config.Enabled == jobset.Disabled })
	require.True(t, state("pr-1").Config.Hidden)
	e.waitBuilds(3, pipelineDeadline)

	// Every request carried the owner's token.
	require.NotEmpty(t, gh.Requests())
	for _, r := range gh.Requests() {
		require.Equal(t, token, r.Header.Get("Authorization"))
	}
	// A fetch the forge refuses is an evaluation error in the log.
	gh.Tokens["acme"] = "token rotated"
	gh.OpenPull("acme", "app", forgetest.PullRequest{Number: 2, Title: "Another", HeadRef: "fix-typo", HeadCloneURL: "file://" + repo})
	sum, err := e.evals.Evaluate(e.ctx, commands.NewMetadata(commands.ComponentActor("evaluator"), e.rt),
		evaluation.Evaluate{Project: "prs", Jobset: ".jobsets"})
	require.NoError(t, err)
	require.Equal(t, jobset.OutcomeFailed, sum.Outcome)
	require.Contains(t, sum.Error, "404")
	// The log holds the token nowhere.
	holding := func(s string) int {
		var n int
		require.NoError(t, e.pool.QueryRow(e.ctx, `select count(*) from ledger.events
			where strpos(data::text, $1) > 0 or strpos(metadata::text, $1) > 0 or strpos(stream, $1) > 0`, s).Scan(&n))
		return n
	}
	require.NotZero(t, holding("PR 1: Fix a typo"), "the scan finds what the log holds")
	require.Zero(t, holding(strings.TrimPrefix(token, "token ")), "events holding the forge token")
}

// pullRequestProject makes repo a git repository whose main branch holds
// a declarative spec (jobsets.nix from a githubpulls input on acme/app)
// and release, and whose branch fix-typo changes the message, and creates
// the declarative project prs on it. It returns fix-typo's commit.
func pullRequestProject(t *testing.T, e *harness, repo, release string) string {
	t.Helper()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %s: %s", strings.Join(args, " "), out)
		return strings.TrimSpace(string(out))
	}
	write := func(name, text string) {
		require.NoError(t, os.WriteFile(filepath.Join(repo, name), []byte(text), 0o644))
	}
	spec, err := json.Marshal(map[string]any{"enabled": 1, "hidden": false, "description": "pull requests",
		"nixexprinput": "declInput", "nixexprpath": "jobsets.nix", "checkinterval": 0, "schedulingshares": 100,
		"keepnr": 3, "enableemail": false, "emailoverride": "",
		"inputs": map[string]any{
			"pulls":       map[string]any{"type": "githubpulls", "value": "acme app"},
			"nonce":       map[string]any{"type": "string", "value": e.nonce},
			"busybox":     map[string]any{"type": "nix", "value": nixtest.Busybox},
			"busyboxExpr": map[string]any{"type": "string", "value": nixtest.Busybox},
		}})
	require.NoError(t, err)
	git("init", "--quiet", "--initial-branch=main")
	write("spec.json", string(spec))
	write("jobsets.nix", jobsetsNix)
	write("release.nix", release)
	write("message", "main\n")
	git("add", ".")
	git("commit", "--quiet", "-m", "spec")
	git("checkout", "--quiet", "-b", "fix-typo")
	write("message", "built from pull request 1\n")
	git("commit", "--quiet", "-am", "fix")
	head := git("rev-parse", "HEAD")
	git("checkout", "--quiet", "main")

	_, err = e.h.CreateProject(e.ctx, e.md(), commands.CreateProject{Name: "prs", Config: events.ProjectConfig{DisplayName: "Pull requests",
		Owner: "admin", Enabled: true, DeclFile: "spec.json", DeclType: "git", DeclValue: "file://" + repo + " main"}})
	require.NoError(t, err)
	return head
}
