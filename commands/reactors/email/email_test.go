package email_test

import (
	"context"
	"io"
	"mime/quotedprintable"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/inputs"
	"buildledger/adapters/notify/smtpsend"
	"buildledger/adapters/notify/smtptest"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/commands"
	"buildledger/commands/reactors/email"
	"buildledger/commands/reactors/outbox"
	"buildledger/domain/password"
	"buildledger/domain/streams"
	"buildledger/events"
	"buildledger/projections"
	"buildledger/projections/hydra"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// gitRepo makes a git repository with a commit by t and one by Carol,
// and returns it with the two revisions.
func gitRepo(t *testing.T) (repo, rev1, rev2 string) {
	repo = t.TempDir()
	git := func(author string, args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME="+author, "GIT_AUTHOR_EMAIL="+strings.ToLower(author)+"@example.org",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
		return strings.TrimSpace(string(out))
	}
	git("T", "init", "-q", "-b", "main")
	for i, author := range []string{"T", "Carol"} {
		require.NoError(t, os.WriteFile(filepath.Join(repo, "README"), []byte{byte('a' + i)}, 0o644))
		git(author, "add", "README")
		git(author, "commit", "-q", "-m", "change")
		rev := git(author, "rev-parse", "HEAD")
		if i == 0 {
			rev1 = rev
		} else {
			rev2 = rev
		}
	}
	return repo, rev1, rev2
}

// TestMailOnStatusChangeOnly: with enableemail on the jobset, the first
// failure, the fix and an evaluation error are mailed through a real SMTP
// server with Hydra's subjects, to emailoverride and to the owner; a
// second failure in a row, an aborted build and the same evaluation
// error again, seen by a restarted notifier, are not. The fix also goes
// to the author of the commit to the "email responsible" input since the
// previous build (emailresponsible), and every mail of it names her.
func TestMailOnStatusChangeOnly(t *testing.T) {
	ctx := context.Background()
	smtp := smtptest.Start(t)
	repo, rev1, rev2 := gitRepo(t)
	uri := "file://" + repo
	pool := pgtest.NewPool(t)
	store := pglog.New(pool, pglog.Options{})
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	rt := commands.NewRuntime(store, events.NewCodec(), commands.Options{Host: "test",
		Clock: commands.ClockFunc(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })})
	vault := postgres.NewVault(pool)
	h := commands.NewHandlers(rt, commands.NewAllocator(rt, commands.AllocatorOptions{}), vault)
	md := events.Metadata{Actor: "user:admin"}
	hash, err := password.Hash("a password", password.Params{Time: 1, Memory: 8 << 10, Threads: 1, KeyLen: 32, SaltLen: 16})
	require.NoError(t, err)
	_, err = h.CreateUser(ctx, md, commands.CreateUser{UserName: "alice", FullName: "Alice", EmailAddress: "alice@example.org", PasswordHash: hash, Roles: []string{"admin"}})
	require.NoError(t, err)
	yes := true
	_, err = h.UpdateUser(ctx, md, commands.UpdateUser{UserName: "alice", EmailOnError: &yes})
	require.NoError(t, err)
	_, err = h.CreateProject(ctx, md, commands.CreateProject{Name: "p", Config: events.ProjectConfig{Owner: "alice", Enabled: true, DisplayName: "p"}})
	require.NoError(t, err)
	_, err = h.CreateJobset(ctx, md, commands.CreateJobset{Project: "p", Name: "j", Config: events.JobsetConfig{NixExprInput: "src",
		NixExprPath: "release.nix", Inputs: []events.JobsetInput{{Name: "src", Type: "git", Value: uri, EmailResponsible: true}},
		Enabled: 1, EnableEmail: true, EmailOverride: "dev@example.org, ops@example.org", CheckInterval: 0, SchedulingShares: 1}})
	require.NoError(t, err)
	js, err := commands.Load(ctx, rt, streams.Jobset("p", "j"), commands.JobsetAggregate)
	require.NoError(t, err)
	jobsetID := js.State.ID

	put := func(stream string, ps ...events.Payload) {
		for _, p := range ps {
			ev, err := rt.Codec().Encode(p, events.Metadata{Actor: "component:test"}, now)
			require.NoError(t, err)
			_, err = store.Append(ctx, stream, events.Any, ev)
			require.NoError(t, err)
		}
	}
	build := func(id int64, status int, rev string) {
		eval := id
		put(streams.Eval(eval), &events.EvaluationStarted{EvalID: eval, Project: "p", Jobset: "j", JobsetID: jobsetID},
			&events.InputFetched{EvalID: eval, Name: "src", Type: "git", URI: uri, Revision: rev})
		put(streams.Build(id), &events.BuildQueued{BuildID: id, EvalID: eval, JobsetID: jobsetID, Project: "p", Jobset: "j", Job: "hello",
			NixName: "hello", DrvPath: "/nix/store/aaa-hello.drv", System: "x86_64-linux"})
		put(streams.Eval(eval), &events.JobEvaluated{EvalID: eval, Job: "hello", BuildID: id, IsNew: true},
			&events.EvaluationFinished{EvalID: eval, Project: "p", Jobset: "j", JobsetID: jobsetID, NrBuilds: 1, NrJobs: 1, NrNewBuilds: 1})
		put(streams.Jobset("p", "j"), &events.EvaluationClosed{EvalID: eval, Project: "p", Jobset: "j", Outcome: "finished"})
		put(streams.Build(id), &events.BuildFinished{BuildID: id, Status: status, StartTime: now.Unix(), StopTime: now.Unix() + 1})
	}
	evalError := func(eval int64, msg string) {
		put(streams.Eval(eval), &events.EvaluationStarted{EvalID: eval, Project: "p", Jobset: "j", JobsetID: jobsetID},
			&events.EvaluationFailed{EvalID: eval, Project: "p", Jobset: "j", Phase: "evaluate", Error: msg})
		put(streams.Jobset("p", "j"), &events.EvaluationClosed{EvalID: eval, Project: "p", Jobset: "j", Outcome: "failed"})
	}

	box := outbox.New(rt, postgres.NewOutbox(pool), nil)
	lookup := postgres.NewNotifyLookup(pool)
	// catchUp runs a new notifier (a restarted process) once the read
	// models hold the log.
	catchUp := func() {
		runner, err := projections.NewRunner(store, rt.Codec(), postgres.NewReadModelDB(pool), []projections.Projection{hydra.Projection{Keys: vault}}, projections.RunnerOptions{})
		require.NoError(t, err)
		_, err = runner.CatchUp(ctx)
		require.NoError(t, err)
		commits := &inputs.Fetcher{CacheDir: t.TempDir(), Roots: []string{repo}}
		reactor := email.New(rt, box, lookup, commits, email.Config{BaseURL: "https://hydra.example.org"}, nil)
		require.NoError(t, outbox.NewFollower(rt, postgres.NewOutbox(pool), reactor, nil).CatchUp(ctx))
	}
	catchUp()

	build(1, 1, rev1) // first failure: mailed
	build(2, 1, rev1) // still failing: not mailed
	build(3, 3, rev1) // aborted: not mailed
	build(4, 0, rev2) // fixed, after Carol's commit: mailed, to Carol too
	evalError(5, "error: attribute 'hello' missing")
	catchUp()
	evalError(6, "error: attribute 'hello' missing") // the same error, after a restart: not mailed
	evalError(7, "error: syntax error")              // another error: mailed
	catchUp()

	worker := outbox.NewWorker(rt, postgres.NewOutbox(pool), map[string]outbox.Sender{"email": &smtpsend.Sender{Server: smtp.Addr,
		From: "hydra@example.org", Instance: "https://hydra.example.org", Now: time.Now}}, outbox.WorkerOptions{})
	_, err = worker.DeliverDue(ctx)
	require.NoError(t, err)

	type got struct{ to, subject, project string }
	var mails []got
	for _, m := range smtp.Messages(t) {
		mails = append(mails, got{m.Header.Get("To"), m.Header.Get("Subject"), m.Header.Get("X-Hydra-Project")})
		require.Equal(t, `"Hydra Build Daemon" <hydra@example.org>`, m.Header.Get("From"))
		require.Equal(t, "https://hydra.example.org", m.Header.Get("X-Hydra-Instance"))
		body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
		require.NoError(t, err)
		require.NotEmpty(t, body)
		if strings.HasPrefix(m.Header.Get("Subject"), "Success") {
			require.Contains(t, string(body), "1 commit, by Carol <carol@example.org>")
		}
	}
	require.ElementsMatch(t, []got{
		{"dev@example.org", "Failed: Hydra job p:j:hello on x86_64-linux", "p"},
		{"ops@example.org", "Failed: Hydra job p:j:hello on x86_64-linux", "p"},
		{"dev@example.org", "Success: Hydra job p:j:hello on x86_64-linux", "p"},
		{"ops@example.org", "Success: Hydra job p:j:hello on x86_64-linux", "p"},
		{"carol@example.org", "Success: Hydra job p:j:hello on x86_64-linux", "p"},
		{"alice@example.org", "Hydra p:j evaluation error", "p"},
		{"alice@example.org", "Hydra p:j evaluation error", "p"},
	}, mails)

	// The log names no recipient.
	recs, err := store.ReadAll(ctx, events.Position{}, 10000)
	require.NoError(t, err)
	for _, r := range recs {
		if r.Type == "NotificationQueued" {
			require.NotContains(t, string(r.Data), "example.org")
		}
	}
}
