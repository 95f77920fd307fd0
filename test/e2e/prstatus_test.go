package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/binarycache"
	"buildledger/adapters/evaluator"
	"buildledger/adapters/forge/forgetest"
	"buildledger/adapters/inputs"
	"buildledger/adapters/notify/httpsend"
	"buildledger/adapters/postgres"
	"buildledger/commands"
	"buildledger/commands/evaluation"
	declreactor "buildledger/commands/reactors/declarative"
	"buildledger/commands/reactors/forgestatus"
	"buildledger/commands/reactors/outbox"
	"buildledger/domain/hydraconf"
	"buildledger/domain/jobset"
	"buildledger/domain/streams"
)

// releaseWithFailureNix is a pull request's jobset: one job that builds
// and one that fails.
const releaseWithFailureNix = `{ src, nonce, busybox, ... }:
{
  message = derivation {
    name = "message";
    system = builtins.currentSystem;
    builder = "${busybox}/busybox";
    args = [ "sh" "-c" "cat ${src}/message > $out" ];
    inherit nonce;
  };
  broken = derivation {
    name = "broken";
    system = builtins.currentSystem;
    builder = "${busybox}/busybox";
    args = [ "sh" "-c" "echo broken on purpose; exit 1" ];
    inherit nonce;
  };
}
`

// TestPullRequestCommitStatuses is issue 22's commit-status acceptance:
// with GitHub status configured (<githubstatus> over the jobsets of
// pull requests, the owner's token in <github_authorization>), a pull
// request opened on the GitHub double gives a jobset (githubpulls and
// the generated declarative spec), which is evaluated and built with Nix;
// the statuses double, checking every request against GitHub's published
// description, sees pending then success for the job that builds and
// pending then failure for the one that fails, on the pull request's
// commit, with Hydra's context string. The notifier and the delivery
// worker run as up runs them.
func TestPullRequestCommitStatuses(t *testing.T) {
	requireTools(t, "git")
	t.Parallel()
	gh := forgetest.NewGitHubPullsDouble(t)
	token := "token e2e-secret-" + newNonce()
	gh.Tokens = map[string]string{"acme": token}
	statuses := forgetest.NewStatusDouble(t, forgetest.GitHub, "Authorization", token)
	e := newHarness(t, harnessOptions{forges: inputs.Forges{GitHubEndpoint: gh.URL(), GitHubTokens: map[string]string{"acme": token}}})
	e.seedAdmin()
	e.registerMachine("localhost", localhostMachine())

	// The repository, at .../acme/app as GitHub's would be: the status
	// goes to the last two parts of the input's URI.
	repo := filepath.Join(t.TempDir(), "acme", "app")
	require.NoError(t, os.MkdirAll(repo, 0o755))
	head := pullRequestProject(t, e, repo, releaseWithFailureNix)

	// hydra.conf, as an operator writes it.
	root, err := hydraconf.Parse("hydra.conf", func(string) ([]byte, error) {
		return []byte("<githubstatus>\n  jobs = prs:pr-.*:.*\n  inputs = src\n</githubstatus>\n" +
			"<github_authorization>\n  acme = " + token + "\n</github_authorization>\n"), nil
	})
	require.NoError(t, err)
	conf, err := hydraconf.Interpret(root)
	require.NoError(t, err)
	cfg, err := forgestatus.ConfigFrom(conf.Kept, "https://hydra.example.org")
	require.NoError(t, err)

	// The declarative reactor, the notifier and the delivery worker, as
	// up runs them.
	ctx, stop := context.WithCancel(e.ctx)
	var done []chan error
	run := func(f func(context.Context) error) {
		ch := make(chan error, 1)
		done = append(done, ch)
		go func() { ch <- f(ctx) }()
	}
	defer func() {
		stop()
		for _, ch := range done {
			require.NoError(t, <-ch)
		}
	}()
	run(declreactor.New(e.rt, e.codec, commands.NewAllocator(e.rt, commands.AllocatorOptions{}),
		binarycache.StoreFiles{Dir: "/nix/store"}, &evaluator.DB{Pool: e.pool}, declreactor.Options{Logger: e.log}).Run)
	store := postgres.NewOutbox(e.pool)
	worker := outbox.NewWorker(e.rt, store, map[string]outbox.Sender{"githubstatus": &httpsend.Sender{Client: statuses.Client(),
		Secrets: map[string]string{"github_authorization/acme": token}}}, outbox.WorkerOptions{Interval: 100 * time.Millisecond, Logger: e.log})
	box := outbox.New(e.rt, store, worker.Wake)
	follower := outbox.NewFollower(e.rt, store, forgestatus.New(e.rt, box, postgres.NewNotifyLookup(e.pool), cfg, e.log), e.log)
	require.NoError(t, follower.CatchUp(e.ctx)) // the first start: at the log's head
	run(follower.Run)
	run(worker.Run)
	e.startQueue(queueOptions{})

	evaluate := func(name string) {
		t.Helper()
		sum, err := e.evals.Evaluate(e.ctx, commands.NewMetadata(commands.ComponentActor("evaluator"), e.rt),
			evaluation.Evaluate{Project: "prs", Jobset: name})
		require.NoError(t, err)
		require.Equal(t, jobset.OutcomeFinished, sum.Outcome, "evaluation of %s: %s %s", name, sum.Phase, sum.Error)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(pipelineDeadline)
		for !cond() {
			require.True(t, time.Now().Before(deadline), "waiting for %s", what)
			time.Sleep(100 * time.Millisecond)
		}
	}

	// A push to a pull request: the forge lists it, the spec's
	// evaluation makes its jobset.
	gh.OpenPull("acme", "app", forgetest.PullRequest{Number: 1, Title: "Fix a typo", HeadRef: "fix-typo",
		HeadSHA: head, HeadCloneURL: "file://" + repo, BaseRef: "main", TargetCloneURL: "file://" + repo, Author: "bob"})
	evaluate(".jobsets")
	waitFor("the pull request's jobset", func() bool {
		l, err := commands.Load(e.ctx, e.rt, streams.Jobset("prs", "pr-1"), commands.JobsetAggregate)
		require.NoError(t, err)
		return l.State.Exists
	})
	evaluate("pr-1")
	e.waitBuilds(3, pipelineDeadline)
	require.Equal(t, []string{"jobsets 0", "broken 1", "message 0"},
		e.queryStrings(`select job || ' ' || buildstatus from Builds order by job = 'jobsets' desc, job`))
	builds := map[string]string{}
	for _, row := range e.queryStrings(`select job || ' ' || id from Builds where job <> 'jobsets'`) {
		job, id, _ := strings.Cut(row, " ")
		builds[job] = id
	}

	// What the statuses double saw, per context, in order.
	seen := func() map[string][]string {
		out := map[string][]string{}
		for _, r := range statuses.Accepted() {
			require.Equal(t, "/repos/acme/app/statuses/"+head, r.Path, "the pull request's commit")
			ctxName := r.Body["context"].(string)
			out[ctxName] = append(out[ctxName], r.Body["state"].(string))
		}
		return out
	}
	final := func(states []string) bool {
		return len(states) > 0 && states[len(states)-1] != "pending"
	}
	message := "continuous-integration/hydra:prs:pr-1:message:" + builds["message"]
	broken := "continuous-integration/hydra:prs:pr-1:broken:" + builds["broken"]
	waitFor("the final statuses", func() bool { s := seen(); return final(s[message]) && final(s[broken]) })
	require.Empty(t, statuses.Refused(), "every request follows GitHub's description and carries the token")
	got := seen()
	require.Len(t, got, 2, "the jobsets job of the spec gets no status: <githubstatus> matches prs:pr-.*")
	for name, want := range map[string]string{message: "success", broken: "failure"} {
		states := got[name]
		require.Equal(t, "pending", states[0], "%s starts pending", name)
		require.Equal(t, want, states[len(states)-1], name)
		for _, s := range states[:len(states)-1] {
			require.Equal(t, "pending", s, "%s: %v", name, states)
		}
	}
	for _, r := range statuses.Accepted() {
		c := r.Body["context"].(string)
		require.Equal(t, "https://hydra.example.org/build/"+c[strings.LastIndex(c, ":")+1:], r.Body["target_url"])
	}
}
