package forgestatus_test

import (
	"context"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/forge/forgetest"
	"buildledger/adapters/notify/httpsend"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/commands"
	"buildledger/commands/reactors/forgestatus"
	"buildledger/commands/reactors/outbox"
	"buildledger/domain/hydraconf"
	"buildledger/domain/streams"
	"buildledger/events"
	"buildledger/projections"
	"buildledger/projections/hydra"
	"buildledger/projections/notifications"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

const rev = "0123456789abcdef0123456789abcdef01234567"

type env struct {
	t     *testing.T
	pool  *pgxpool.Pool
	store *pglog.Store
	rt    *commands.Runtime
	box   *postgres.Outbox
	mu    sync.Mutex
	now   time.Time
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, pool: pgtest.NewPool(t), now: time.Unix(1_700_000_000, 0)}
	e.store = pglog.New(e.pool, pglog.Options{})
	e.rt = commands.NewRuntime(e.store, events.NewCodec(), commands.Options{Host: "test",
		Clock: commands.ClockFunc(func() time.Time { e.mu.Lock(); defer e.mu.Unlock(); return e.now })})
	e.box = postgres.NewOutbox(e.pool)
	return e
}

// github wires the GitHub status double as most tests here do: a
// notifier following the log into the outbox (with members, when the
// test needs the evaluations that hold a build), and a worker sending to
// the double with the token of the first <githubstatus> section.
func (e *env) github(members forgestatus.Members) (*forgetest.StatusDouble, *outbox.Follower, *outbox.Worker) {
	double := forgetest.NewStatusDouble(e.t, forgetest.GitHub, "Authorization", "token s3cret")
	box := outbox.New(e.rt, e.box, nil)
	f := outbox.NewFollower(e.rt, e.box, forgestatus.New(e.rt, box, members, githubConfig(e.t), nil), nil)
	w := outbox.NewWorker(e.rt, e.box, map[string]outbox.Sender{"githubstatus": &httpsend.Sender{Client: double.Client(),
		Secrets: map[string]string{"githubstatus/0": "token s3cret"}}}, outbox.WorkerOptions{})
	return double, f, w
}

func (e *env) advance(d time.Duration) { e.mu.Lock(); e.now = e.now.Add(d); e.mu.Unlock() }

func (e *env) append(stream string, ps ...events.Payload) {
	e.t.Helper()
	for _, p := range ps {
		ev, err := e.rt.Codec().Encode(p, events.Metadata{Actor: "component:test"}, e.now)
		require.NoError(e.t, err)
		_, err = e.store.Append(context.Background(), stream, events.Any, ev)
		require.NoError(e.t, err)
	}
}

// evaluate records a legacy jobset p:j with a git input on GitHub, and
// an evaluation of it with one new build of job hello.
func (e *env) evaluate(status int) {
	e.append(streams.Jobset("p", "j"), &events.JobsetCreated{Project: "p", Name: "j", ID: 1, JobsetConfig: events.JobsetConfig{
		Inputs: []events.JobsetInput{{Name: "src", Type: "git", Value: "https://github.com/owner/repo.git", EmailResponsible: true}}}})
	e.append(streams.Eval(1), &events.EvaluationStarted{EvalID: 1, Project: "p", Jobset: "j", JobsetID: 1},
		&events.InputFetched{EvalID: 1, Name: "src", Type: "git", URI: "https://github.com/owner/repo.git", Revision: rev},
		&events.JobEvaluated{EvalID: 1, Job: "hello", BuildID: 1, IsNew: true, DrvPath: "/nix/store/aaa-hello.drv", System: "x86_64-linux"})
	e.append(streams.Build(1), &events.BuildQueued{BuildID: 1, EvalID: 1, JobsetID: 1, Project: "p", Jobset: "j", Job: "hello",
		DrvPath: "/nix/store/aaa-hello.drv", System: "x86_64-linux"})
	e.append(streams.Eval(1), &events.EvaluationFinished{EvalID: 1, Project: "p", Jobset: "j", JobsetID: 1})
	e.append(streams.Step("/nix/store/aaa-hello.drv"), &events.StepStarted{DrvPath: "/nix/store/aaa-hello.drv", BuildID: 1, StepNr: 1})
	e.append(streams.Build(1), &events.BuildFinished{BuildID: 1, Status: status})
}

func githubConfig(t *testing.T) forgestatus.Config {
	root, err := hydraconf.Parse("hydra.conf", func(string) ([]byte, error) {
		return []byte("<githubstatus>\n  jobs = p:j:.*\n  inputs = src\n</githubstatus>\n"), nil
	})
	require.NoError(t, err)
	c, err := hydraconf.Interpret(root)
	require.NoError(t, err)
	cfg, err := forgestatus.ConfigFrom(c.Kept, "https://hydra.example.org")
	require.NoError(t, err)
	return cfg
}

// TestGitHubStatusArrivesOnceThroughFaults: the double answers the first
// status 500, then hangs, then accepts it: the status arrives once, every
// attempt is an event, and the build's three statuses (queued, started,
// finished) follow in order with Hydra's context string and states. A
// replay of the read models afterwards, and a restart of the notifier and
// the worker, send nothing more.
func TestGitHubStatusArrivesOnceThroughFaults(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	double := forgetest.NewStatusDouble(t, forgetest.GitHub, "Authorization", "token s3cret")
	double.Inject(forgetest.Fail500, forgetest.Hang)
	box := outbox.New(e.rt, e.box, nil)
	follower := func() *outbox.Follower {
		return outbox.NewFollower(e.rt, e.box, forgestatus.New(e.rt, box, nil, githubConfig(t), nil), nil)
	}
	worker := func() *outbox.Worker {
		return outbox.NewWorker(e.rt, e.box, map[string]outbox.Sender{"githubstatus": &httpsend.Sender{Client: double.Client(),
			Secrets: map[string]string{"github_authorization/owner": "token s3cret"}}}, outbox.WorkerOptions{Timeout: 300 * time.Millisecond})
	}
	require.NoError(t, follower().CatchUp(ctx)) // the first start: the checkpoint is the (empty) head
	e.evaluate(0)
	require.NoError(t, follower().CatchUp(ctx))

	w := worker()
	for range 5 {
		_, err := w.DeliverDue(ctx)
		require.NoError(t, err)
		e.advance(time.Minute)
	}
	require.Empty(t, double.Refused())
	got := double.Accepted()
	require.Len(t, got, 3)
	var states []string
	for _, r := range got {
		require.Equal(t, "api.github.com", r.Host)
		require.Equal(t, "/repos/owner/repo/statuses/"+rev, r.Path)
		require.Equal(t, "continuous-integration/hydra:p:j:hello:1", r.Body["context"])
		require.Equal(t, "https://hydra.example.org/build/1", r.Body["target_url"])
		require.Equal(t, "Hydra build #1 of p:j:hello", r.Body["description"])
		states = append(states, r.Body["state"].(string))
	}
	require.Equal(t, []string{"pending", "pending", "success"}, states)
	require.Equal(t, 5, len(double.Requests()), "500, timeout, then the three statuses")

	runner, err := projections.NewRunner(e.store, e.rt.Codec(), postgres.NewReadModelDB(e.pool), []projections.Projection{notifications.Projection{}}, projections.RunnerOptions{})
	require.NoError(t, err)
	_, err = runner.CatchUp(ctx)
	require.NoError(t, err)
	var attempts []string
	rows, err := e.pool.Query(ctx, `select n.channel || ' ' || a.attempt || ' ' || a.delivered from notification_attempts a join notifications n using (key)
		order by n.queued_at, n.channel, a.attempt`)
	require.NoError(t, err)
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		attempts = append(attempts, s)
	}
	require.NoError(t, rows.Err())
	require.ElementsMatch(t, []string{"build_queued 1 false", "build_queued 2 false", "build_queued 3 true",
		"build_started 1 true", "build_finished 1 true"}, attempts)

	_, err = projections.Replay(ctx, e.store, e.rt.Codec(), postgres.NewSchemas(e.pool), []projections.Projection{notifications.Projection{}},
		projections.ReplayOptions{Target: "replay_test"})
	require.NoError(t, err)
	require.NoError(t, follower().CatchUp(ctx))
	e.advance(time.Hour)
	_, err = worker().DeliverDue(ctx)
	require.NoError(t, err)
	require.Equal(t, 5, len(double.Requests()), "a replay and a restart send nothing")
}

// TestGitHubFailureState: a failing build ends in failure, an aborted
// one in error, as Hydra's toGithubState says.
func TestGitHubFailureState(t *testing.T) {
	for status, want := range map[int]string{1: "failure", 2: "failure", 3: "error", 6: "failure"} {
		ctx := context.Background()
		e := newEnv(t)
		double, f, w := e.github(nil)
		require.NoError(t, f.CatchUp(ctx))
		e.evaluate(status)
		require.NoError(t, f.CatchUp(ctx))
		_, err := w.DeliverDue(ctx)
		require.NoError(t, err)
		got := double.Accepted()
		require.Len(t, got, 3)
		require.Equal(t, want, got[2].Body["state"], "status %d", status)
	}
}

// TestBuildFinishedWhileItsEvaluationRan: a build that ran and finished
// before its evaluation ended (the scheduler runs an open evaluation's
// steps) gets pending, then its final state, at the evaluation's end, as
// on Hydra, where it would have been queued then and finished later.
func TestBuildFinishedWhileItsEvaluationRan(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	double, f, w := e.github(nil)
	require.NoError(t, f.CatchUp(ctx))
	e.append(streams.Jobset("p", "j"), &events.JobsetCreated{Project: "p", Name: "j", ID: 1, JobsetConfig: events.JobsetConfig{
		Inputs: []events.JobsetInput{{Name: "src", Type: "git", Value: "https://github.com/owner/repo.git"}}}})
	e.append(streams.Eval(1), &events.EvaluationStarted{EvalID: 1, Project: "p", Jobset: "j", JobsetID: 1},
		&events.InputFetched{EvalID: 1, Name: "src", Type: "git", URI: "https://github.com/owner/repo.git", Revision: rev},
		&events.JobEvaluated{EvalID: 1, Job: "hello", BuildID: 1, IsNew: true, DrvPath: "/nix/store/aaa-hello.drv", System: "x86_64-linux"})
	e.append(streams.Build(1), &events.BuildQueued{BuildID: 1, EvalID: 1, JobsetID: 1, Project: "p", Jobset: "j", Job: "hello",
		DrvPath: "/nix/store/aaa-hello.drv", System: "x86_64-linux"})
	e.append(streams.Step("/nix/store/aaa-hello.drv"), &events.StepStarted{DrvPath: "/nix/store/aaa-hello.drv", BuildID: 1, StepNr: 1})
	e.append(streams.Build(1), &events.BuildFinished{BuildID: 1, Status: 1})
	deliver := func() {
		for range 3 {
			require.NoError(t, f.CatchUp(ctx))
			_, err := w.DeliverDue(ctx)
			require.NoError(t, err)
			e.advance(time.Minute)
		}
	}
	deliver()
	require.Empty(t, double.Accepted(), "nothing while the evaluation is open")

	e.append(streams.Eval(1), &events.EvaluationFinished{EvalID: 1, Project: "p", Jobset: "j", JobsetID: 1})
	deliver()
	var states []string
	for _, r := range double.Accepted() {
		states = append(states, r.Body["state"].(string))
	}
	require.Equal(t, []string{"pending", "failure"}, states)
}

// TestOtherForges: Gitea, GitLab and Bitbucket statuses reach their
// doubles, valid against each forge's description, with Hydra's states,
// contexts and credentials.
func TestOtherForges(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	root, err := hydraconf.Parse("hydra.conf", func(string) ([]byte, error) {
		return []byte("<gitea_authorization>\n  tea = teatoken\n</gitea_authorization>\n<gitlab_authorization>\n  42 = labtoken\n</gitlab_authorization>\n" +
			"enable_bitbucket_status = 1\n<bitbucket>\n  username = u\n  password = pw\n</bitbucket>\n"), nil
	})
	require.NoError(t, err)
	c, err := hydraconf.Interpret(root)
	require.NoError(t, err)
	cfg, err := forgestatus.ConfigFrom(c.Kept, "https://hydra.example.org")
	require.NoError(t, err)

	gitea := forgetest.NewStatusDouble(t, forgetest.Gitea, "Authorization", "token teatoken")
	gitlab := forgetest.NewStatusDouble(t, forgetest.GitLab, "Private-Token", "labtoken")
	bitbucket := forgetest.NewStatusDouble(t, forgetest.BitBucket, "Authorization", "Basic dTpwdw==")
	secrets := map[string]string{"gitea_authorization/tea": "teatoken", "gitlab_authorization/42": "labtoken", "bitbucket": "u:pw"}
	box := outbox.New(e.rt, e.box, nil)
	f := outbox.NewFollower(e.rt, e.box, forgestatus.New(e.rt, box, nil, cfg, nil), nil)
	require.NoError(t, f.CatchUp(ctx))

	e.append(streams.Jobset("p", "j"), &events.JobsetCreated{Project: "p", Name: "j", ID: 1, JobsetConfig: events.JobsetConfig{
		Inputs: []events.JobsetInput{{Name: "src", Type: "git", Value: "https://gitea.example.org/tea/repo.git"},
			{Name: "lab", Type: "git", Value: "https://gitlab.example.org/g/repo.git"},
			{Name: "bb", Type: "git", Value: "https://bitbucket.org/team/repo", EmailResponsible: true}}}})
	e.append(streams.Eval(1), &events.EvaluationStarted{EvalID: 1, Project: "p", Jobset: "j", JobsetID: 1},
		&events.InputFetched{EvalID: 1, Name: "src", Type: "git", URI: "https://gitea.example.org/tea/repo.git", Revision: rev},
		&events.InputFetched{EvalID: 1, Name: "gitea_status_repo", Type: "string", Value: "src"},
		&events.InputFetched{EvalID: 1, Name: "gitea_repo_owner", Type: "string", Value: "tea"},
		&events.InputFetched{EvalID: 1, Name: "gitea_repo_name", Type: "string", Value: "repo"},
		&events.InputFetched{EvalID: 1, Name: "lab", Type: "git", URI: "https://gitlab.example.org/g/repo.git", Revision: rev},
		&events.InputFetched{EvalID: 1, Name: "gitlab_status_repo", Type: "string", Value: "lab"},
		&events.InputFetched{EvalID: 1, Name: "gitlab_project_id", Type: "string", Value: "42"},
		&events.InputFetched{EvalID: 1, Name: "bb", Type: "git", URI: "https://bitbucket.org/team/repo", Revision: rev},
		&events.JobEvaluated{EvalID: 1, Job: "hello", BuildID: 1, IsNew: true, DrvPath: "/nix/store/aaa-hello.drv"})
	e.append(streams.Build(1), &events.BuildQueued{BuildID: 1, EvalID: 1, JobsetID: 1, Project: "p", Jobset: "j", Job: "hello",
		DrvPath: "/nix/store/aaa-hello.drv", System: "x86_64-linux"})
	e.append(streams.Eval(1), &events.EvaluationFinished{EvalID: 1, Project: "p", Jobset: "j", JobsetID: 1})
	e.append(streams.Step("/nix/store/aaa-hello.drv"), &events.StepStarted{DrvPath: "/nix/store/aaa-hello.drv", BuildID: 1, StepNr: 1})
	e.append(streams.Build(1), &events.BuildFinished{BuildID: 1, Status: 1})
	require.NoError(t, f.CatchUp(ctx))

	// One client reaches the double the URL's host names.
	doubles := map[string]*forgetest.StatusDouble{"gitea.example.org": gitea, "gitlab.example.org": gitlab, "api.bitbucket.org": bitbucket}
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return doubles[r.URL.Hostname()].Client().Transport.RoundTrip(r)
	})}
	sender := &httpsend.Sender{Client: client, Secrets: secrets}
	_, err = outbox.NewWorker(e.rt, e.box, map[string]outbox.Sender{"gitea": sender, "gitlab": sender, "bitbucket": sender},
		outbox.WorkerOptions{}).DeliverDue(ctx)
	require.NoError(t, err)

	states := func(d *forgetest.StatusDouble, field string) []string {
		require.Empty(t, d.Refused())
		var out []string
		for _, r := range d.Accepted() {
			out = append(out, r.Body["state"].(string)+" "+r.Body[field].(string))
		}
		return out
	}
	require.Equal(t, []string{"pending Hydra hello", "failure Hydra hello"}, states(gitea, "context"), "Gitea has no started status")
	require.Equal(t, []string{"pending Hydra hello", "running Hydra hello", "failed Hydra hello"}, states(gitlab, "name"))
	require.Equal(t, []string{"INPROGRESS p:j:hello", "INPROGRESS p:j:hello", "FAILED p:j:hello"}, states(bitbucket, "name"))
	require.Equal(t, "/api/v1/repos/tea/repo/statuses/"+rev, gitea.Accepted()[0].Path)
	require.Equal(t, "/api/v4/projects/42/statuses/"+rev, gitlab.Accepted()[0].Path)
	require.Equal(t, "/2.0/repositories/team/repo/commit/"+rev+"/statuses/build", bitbucket.Accepted()[0].Path)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestCachedBuildStatuses: as Hydra's GithubStatus, an evaluation that
// keeps a queued build from an earlier one sends pending to its own
// commit (cached_build_queued), one that keeps a finished build sends
// its final state (cached_build_finished); the build's start and finish
// go to the commits of every evaluation that held it by then.
func TestCachedBuildStatuses(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	double, f, w := e.github(postgres.NewNotifyLookup(e.pool))
	require.NoError(t, f.CatchUp(ctx))

	const drv = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello.drv"
	revs := map[int64]string{1: "1111111111111111111111111111111111111111", 2: "2222222222222222222222222222222222222222",
		3: "3333333333333333333333333333333333333333"}
	e.append(streams.Project("p"), &events.ProjectCreated{Name: "p", ProjectConfig: events.ProjectConfig{DisplayName: "p", Owner: "admin", Enabled: true}})
	e.append(streams.Jobset("p", "j"), &events.JobsetCreated{Project: "p", Name: "j", ID: 1, JobsetConfig: events.JobsetConfig{
		NixExprInput: "src", NixExprPath: "release.nix", Enabled: 1, SchedulingShares: 100,
		Inputs: []events.JobsetInput{{Name: "src", Type: "git", Value: "https://github.com/owner/repo.git"}}}})
	evaluate := func(eval int64, isNew bool) {
		e.append(streams.Eval(eval), &events.EvaluationStarted{EvalID: eval, Project: "p", Jobset: "j", JobsetID: 1},
			&events.InputFetched{EvalID: eval, Name: "src", Type: "git", URI: "https://github.com/owner/repo.git", Revision: revs[eval]},
			&events.JobEvaluated{EvalID: eval, Job: "hello", BuildID: 1, IsNew: isNew, DrvPath: drv, System: "x86_64-linux"})
		if isNew {
			e.append(streams.Build(1), &events.BuildQueued{BuildID: 1, EvalID: eval, JobsetID: 1, Project: "p", Jobset: "j", Job: "hello",
				DrvPath: drv, System: "x86_64-linux"})
		}
		e.append(streams.Eval(eval), &events.EvaluationFinished{EvalID: eval, Project: "p", Jobset: "j", JobsetID: 1})
	}
	evaluate(1, true)
	evaluate(2, false)
	e.append(streams.Step(drv), &events.StepStarted{DrvPath: drv, BuildID: 1, StepNr: 1, StartTime: 10})
	e.append(streams.Build(1), &events.BuildFinished{BuildID: 1, Status: 0, StartTime: 10, StopTime: 20})
	evaluate(3, false)

	runner, err := projections.NewRunner(e.store, e.rt.Codec(), postgres.NewReadModelDB(e.pool),
		[]projections.Projection{hydra.Projection{Keys: postgres.NewVault(e.pool)}}, projections.RunnerOptions{})
	require.NoError(t, err)
	_, err = runner.CatchUp(ctx)
	require.NoError(t, err)
	require.NoError(t, f.CatchUp(ctx))
	_, err = w.DeliverDue(ctx)
	require.NoError(t, err)

	require.Empty(t, double.Refused())
	got := map[string][]string{}
	for _, r := range double.Accepted() {
		require.Equal(t, "continuous-integration/hydra:p:j:hello:1", r.Body["context"])
		rev := r.Path[len("/repos/owner/repo/statuses/"):]
		got[rev[:1]] = append(got[rev[:1]], r.Body["state"].(string))
	}
	require.Equal(t, map[string][]string{
		"1": {"pending", "pending", "success"}, // queued, started, finished
		"2": {"pending", "pending", "success"}, // cached_build_queued, started, finished
		"3": {"success"},                       // cached_build_finished
	}, got)
}
