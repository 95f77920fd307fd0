package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/binarycache"
	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/logstore"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/adapters/postgres/queries"
	"buildledger/commands"
	"buildledger/commands/reactors/email"
	"buildledger/commands/reactors/outbox"
	"buildledger/domain/password"
	"buildledger/domain/streams"
	"buildledger/events"
	"buildledger/projections"
	adhocproj "buildledger/projections/adhoc"
	"buildledger/projections/hydra"
	"buildledger/projections/insights"
	"buildledger/projections/notifications"
	tokenproj "buildledger/projections/tokens"
	"buildledger/web"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// now is the test clock: every handler and command sees this time.
var now = time.Unix(1700000000, 0)

const testPassword = "password1"

var fastHash = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// env is a full stack: Postgres log, commands, hydra projection, queries
// and the web handler on an httptest server.
type env struct {
	t        *testing.T
	ctx      context.Context
	pool     *pgxpool.Pool
	store    events.Store
	codec    *events.Codec
	runner   *projections.Runner
	h        *commands.Handlers
	srv      *httptest.Server
	logs     *logstore.Store
	storeDir string
	// waiting writes the log of build 3's running step; it is never
	// closed, as the builder keeps it open while the step runs.
	waiting *logstore.Writer
	// stalled stops the synchronous projector, as a projector that
	// stopped or fell behind would.
	stalled bool
	// cluster is set with envOpts.ownCluster.
	cluster *postgres.Cluster
}

// users of the seed, each with one role (or none), and the project
// owner and member.
var seedUsers = map[string][]string{
	"admin":     {"admin"},
	"creator":   {"create-projects"},
	"restarter": {"restart-jobs"},
	"bumper":    {"bump-to-front"},
	"canceller": {"cancel-build"},
	"evaluator": {"eval-jobset"},
	"owner":     nil,
	"member":    nil,
	"nobody":    nil,
}

type envOpts struct {
	private bool
	// live serves the handler as is with a projector goroutine running
	// Runner.Run (as in production) instead of catching up synchronously
	// after every request.
	live bool
	cfg  func(*web.Config)
	// ownCluster puts the database on a cluster of the test's own
	// (env.cluster), which the test may stop and start.
	ownCluster bool
	// insights runs the insights projection and serves its pages.
	insights bool
	// mail queues mail (password resets) in the notification outbox.
	mail bool
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	ctx := context.Background()
	var cluster *postgres.Cluster
	newPool := pgtest.NewPool
	if o.ownCluster {
		newPool = func(t testing.TB) *pgxpool.Pool {
			c, url := pgtest.OwnCluster(t)
			p, err := postgres.Open(ctx, url)
			require.NoError(t, err)
			t.Cleanup(p.Close)
			cluster = c
			return p
		}
	}
	pool := newPool(t)
	store := pglog.New(pool, pglog.Options{})
	codec := events.NewCodec()
	rt := commands.NewRuntime(store, codec, commands.Options{Clock: commands.ClockFunc(func() time.Time { return now }), Host: "test"})
	h := commands.NewHandlers(rt, commands.NewAllocator(rt, commands.AllocatorOptions{}), postgres.NewVault(pool))
	projs := []projections.Projection{hydra.Projection{Keys: postgres.NewVault(pool)}, tokenproj.Projection{}, notifications.Projection{}, adhocproj.Projection{}}
	if o.insights {
		projs = append(projs, insights.Projection{})
	}
	runner, err := projections.NewRunner(store, codec, postgres.NewReadModelDB(pool), projs, projections.RunnerOptions{})
	require.NoError(t, err)
	logs, err := logstore.New(filepath.Join(t.TempDir(), "logs"), logstore.Options{FlushInterval: 20 * time.Millisecond, PollInterval: 20 * time.Millisecond})
	require.NoError(t, err)
	e := &env{t: t, ctx: ctx, pool: pool, store: store, codec: codec, runner: runner, h: h,
		logs: logs, storeDir: t.TempDir(), cluster: cluster}
	cfg := web.Config{Queries: queries.New(pool), Notifications: queries.New(pool), Transient: postgres.IsTransient, Commands: h, Builds: h, Tokens: h, Events: store,
		Accounts:   commands.NewAccounts(rt, postgres.NewVault(pool)),
		SessionKey: bytes.Repeat([]byte("k"), 32), Private: o.private, Logs: logs, StoreDir: e.storeDir,
		Outputs:      binarycache.StoreFiles{Dir: e.storeDir},
		GitHubSecret: "gh-secret", GiteaSecret: "gitea-secret", Deliveries: postgres.NewDeliveries(pool), LoginAttempts: 1000, Clock: func() time.Time { return now }}
	if o.live {
		cfg.Settle = e.settle
	}
	if o.insights {
		cfg.Insights = insights.Reader{DB: postgres.NewReadModelDB(pool)}
	}
	if o.mail {
		cfg.Mail = email.Direct{Box: outbox.New(rt, postgres.NewOutbox(pool), nil)}
	}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	handler, err := web.New(cfg)
	require.NoError(t, err)
	if o.live {
		e.srv = httptest.NewServer(handler)
		t.Cleanup(e.srv.Close)
		e.seed()
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- runner.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			require.NoError(t, <-done, "projector")
		})
		return e
	}
	// Projections run synchronously after every request in tests.
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler.ServeHTTP(w, r)
		if !e.stalled {
			e.catchUp()
		}
	}))
	t.Cleanup(e.srv.Close)
	e.seed()
	return e
}

// settle waits until the projector has applied the log's head.
func (e *env) settle(ctx context.Context) error {
	head, err := e.store.Head(ctx)
	if err != nil {
		return err
	}
	for e.runner.Stats().Position.Commit < head.Commit {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

func (e *env) md() events.Metadata { return events.Metadata{Actor: "user:admin"} }

func (e *env) catchUp() {
	_, err := e.runner.CatchUp(e.ctx)
	require.NoError(e.t, err)
}

// appendEvents appends payloads to stream as the test component.
func (e *env) appendEvents(stream string, ps ...events.Payload) {
	e.t.Helper()
	var evs []events.Event
	for _, p := range ps {
		ev, err := e.codec.Encode(p, events.Metadata{Actor: "component:test"}, now)
		require.NoError(e.t, err)
		evs = append(evs, ev)
	}
	_, err := e.store.Append(e.ctx, stream, events.Any, evs...)
	require.NoError(e.t, err)
}

func drv(name string) string {
	return "/nix/store/" + strings.Repeat("a", 31) + string(name[0]) + "-" + name + ".drv"
}
func out(name string) string {
	return "/nix/store/" + strings.Repeat("b", 31) + string(name[0]) + "-" + name
}

// seed creates the users, project p (owner "owner", member "member"),
// jobset p:j and two evaluations:
//
//	eval 1: 1 hello ok, 2 broken failed, 3 waiting queued, 4 gone ok
//	eval 2: 5 hello failed (new build), 2 broken (same), 3 waiting (same), 6 fresh queued
func (e *env) seed() {
	t := e.t
	hash, err := password.Hash(testPassword, fastHash)
	require.NoError(t, err)
	for name, roles := range seedUsers {
		_, err := e.h.CreateUser(e.ctx, e.md(), commands.CreateUser{UserName: name, EmailAddress: name + "@example.org",
			FullName: strings.ToUpper(name), PasswordHash: hash, Roles: roles})
		require.NoError(t, err)
	}
	_, err = e.h.CreateProject(e.ctx, e.md(), commands.CreateProject{Name: "p", Config: events.ProjectConfig{
		DisplayName: "Project P", Description: "the test project", Owner: "owner", Enabled: true}})
	require.NoError(t, err)
	_, err = e.h.SetProjectMembers(e.ctx, e.md(), commands.SetProjectMembers{Name: "p", Members: []string{"member"}})
	require.NoError(t, err)
	_, err = e.h.CreateJobset(e.ctx, e.md(), commands.CreateJobset{Project: "p", Name: "j", Config: events.JobsetConfig{
		Type: 0, NixExprInput: "src", NixExprPath: "release.nix", Enabled: 1, KeepNr: 3, CheckInterval: 300,
		SchedulingShares: 100, Inputs: []events.JobsetInput{{Name: "src", Type: "git", Value: "https://github.com/acme/widget.git"}}}})
	require.NoError(t, err)
	e.catchUp()
	var jobsetID int64
	require.NoError(t, e.pool.QueryRow(e.ctx, `select id from jobsets where name = 'j'`).Scan(&jobsetID))

	ts := now.Unix() - 3600
	queue := func(id, eval int64, job string) {
		e.appendEvents(streams.Build(id), events.BuildQueued{BuildID: id, EvalID: eval, JobsetID: jobsetID, Project: "p",
			Jobset: "j", Job: job, NixName: job + "-1.0", DrvPath: drv(job + "-" + string(rune('0'+id))), System: "x86_64-linux",
			Outputs: []events.Output{{Name: "out", Path: out(job + "-" + string(rune('0'+id)))}}, Timestamp: ts})
	}
	finish := func(id int64, status int) {
		e.appendEvents(streams.Build(id), events.BuildFinished{BuildID: id, Status: status, StartTime: ts + 10, StopTime: ts + 70})
	}
	evaluate := func(eval int64, members map[int64]string, isNew map[int64]bool) {
		e.appendEvents(streams.Eval(eval), events.EvaluationStarted{EvalID: eval, Project: "p", Jobset: "j", JobsetID: jobsetID, StartTime: ts})
		var ps []events.Payload
		ps = append(ps, events.InputFetched{EvalID: eval, Name: "src", Type: "git", URI: "https://github.com/acme/widget.git", Revision: "abc123"})
		// In the order of the build ids, so that the events pages are
		// the same from run to run.
		for _, id := range slices.Sorted(maps.Keys(members)) {
			job := members[id]
			ps = append(ps, events.JobEvaluated{EvalID: eval, Job: job, System: "x86_64-linux", BuildID: id, IsNew: isNew[id],
				DrvPath: drv(job + "-" + string(rune('0'+id)))})
		}
		if eval == 2 {
			ps = append(ps, events.JobEvaluationFailed{EvalID: eval, Job: "bad", Error: "error: undefined variable 'oops'"})
		}
		ps = append(ps, events.EvaluationFinished{EvalID: eval, Project: "p", Jobset: "j", JobsetID: jobsetID, Hash: "h" + string(rune('0'+eval)),
			Timestamp: ts + eval*100, NrBuilds: len(members), HasNewBuilds: true})
		e.appendEvents(streams.Eval(eval), ps...)
	}
	queue(1, 1, "hello")
	queue(2, 1, "broken")
	queue(3, 1, "waiting")
	queue(4, 1, "gone")
	finish(1, 0)
	finish(2, 1)
	finish(4, 0)
	evaluate(1, map[int64]string{1: "hello", 2: "broken", 3: "waiting", 4: "gone"}, map[int64]bool{1: true, 2: true, 3: true, 4: true})
	queue(5, 2, "hello")
	queue(6, 2, "fresh")
	finish(5, 1)
	evaluate(2, map[int64]string{5: "hello", 2: "broken", 3: "waiting", 6: "fresh"}, map[int64]bool{5: true, 6: true})

	// Build 1: a product (a file in the fake store), a metric and a step.
	prod := filepath.Join(e.storeDir, "cccccccccccccccccccccccccccccccc-hello-doc")
	require.NoError(t, os.MkdirAll(filepath.Join(prod, "share"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(prod, "share", "index.html"), []byte("<h1>manual</h1>"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(prod, "hello.tar.gz"), []byte("tarball"), 0o644))
	// Links a build may ship: to the whole store, where another output
	// holds a file, and to the host.
	other := filepath.Join(e.storeDir, "dddddddddddddddddddddddddddddddd-other")
	require.NoError(t, os.MkdirAll(other, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(other, "secret.txt"), []byte("other project's file"), 0o644))
	require.NoError(t, os.Symlink(e.storeDir, filepath.Join(prod, "store")))
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(prod, "share", "passwd")))
	require.NoError(t, os.WriteFile(filepath.Join(e.logs.Dir(), "..", "secret.txt"), []byte("secret"), 0o644))
	e.appendEvents(streams.Build(1),
		events.ProductScraped{BuildID: 1, ProductNr: 1, Type: "doc", Subtype: "manual", Path: prod, Name: "manual", DefaultPath: "share"},
		events.ProductScraped{BuildID: 1, ProductNr: 2, Type: "file", Subtype: "source-dist", Path: filepath.Join(prod, "hello.tar.gz"), Name: "hello.tar.gz", FileSize: 7},
		events.ProductScraped{BuildID: 1, ProductNr: 3, Type: "file", Subtype: "evil", Path: "/etc/passwd", Name: "passwd"},
		events.ProductScraped{BuildID: 1, ProductNr: 4, Type: "doc", Subtype: "store", Path: filepath.Join(prod, "store"), Name: "store"},
		events.MetricScraped{BuildID: 1, Name: "lines", Unit: "count", Value: 42})
	e.appendEvents(streams.Step(drv("hello-1")),
		events.StepStarted{DrvPath: drv("hello-1"), BuildID: 1, StepNr: 1, Machine: "builder1", Attempt: 1, System: "x86_64-linux", StartTime: ts + 10},
		events.StepFinished{DrvPath: drv("hello-1"), BuildID: 1, StepNr: 1, Machine: "builder1", Attempt: 1, Status: 0, StartTime: ts + 10, StopTime: ts + 70})
	e.appendEvents(streams.Step(drv("waiting-3")),
		events.StepStarted{DrvPath: drv("waiting-3"), BuildID: 3, StepNr: 1, Machine: "builder1", Attempt: 1, System: "x86_64-linux", StartTime: ts + 10})
	e.catchUp()

	// Ledger tables no projection of this environment fills: attempts
	// with their logs, written by the log store's writer as the builder
	// writes them, and the graph. The running attempt has no recorded
	// log yet, as in the ledger projection until the step ends.
	hello := e.writeLog(drv("hello-1"), 1, "building hello\nline 2\ndone\n")
	broken := e.writeLog(drv("broken-2"), 1, "log of broken\n")
	e.waiting, err = e.logs.Create(drv("waiting-3"), 1)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = e.waiting.Close() })
	_, _ = e.waiting.Write([]byte("still building\n"))
	e.waiting.Flush()
	for _, q := range []string{
		`insert into step_attempts (drv_path, attempt, build_id, step_nr, machine, status, start_time, log_location) values
		  ('` + drv("hello-1") + `', 1, 1, 1, 'builder1', 0, 1, '` + hello + `'),
		  ('` + drv("broken-2") + `', 1, 2, 1, 'builder1', 1, 1, '` + broken + `'),
		  ('` + drv("waiting-3") + `', 1, 3, 1, 'builder1', null, 1, null),
		  ('` + drv("gone-4") + `', 1, 4, 1, 'builder1', 0, 1, '../secret.txt')`,
		`insert into build_graph_edges (eval_id, drv_path, input_drv) values
		  (2, '` + drv("hello-5") + `', '` + drv("lib-9") + `'),
		  (2, '` + drv("fresh-6") + `', '` + drv("lib-9") + `')`,
		`insert into steps (drv_path, system, status, busy, first_queued_at) values
		  ('` + drv("lib-9") + `', 'x86_64-linux', 1, 0, now()),
		  ('` + drv("hello-5") + `', 'x86_64-linux', 2, 0, now()),
		  ('` + drv("fresh-6") + `', 'x86_64-linux', null, 0, now())`,
	} {
		_, err := e.pool.Exec(e.ctx, q)
		require.NoError(t, err)
	}
}

// writeLog writes and closes the log of attempt of drvPath through the log
// store and returns its location.
func (e *env) writeLog(drvPath string, attempt int, text string) string {
	e.t.Helper()
	w, err := e.logs.Create(drvPath, attempt)
	require.NoError(e.t, err)
	_, _ = w.Write([]byte(text))
	info, err := w.Close()
	require.NoError(e.t, err)
	return info.Location
}

// client is a user agent with its own cookie jar.
type client struct {
	e     *env
	http  *http.Client
	token string
}

func (e *env) anon() *client {
	jar, _ := cookiejar.New(nil)
	return &client{e: e, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// as returns a client signed in as user (through POST /login).
func (e *env) as(user string) *client {
	c := e.anon()
	if user == "" {
		return c
	}
	res := c.do("POST", "/login", map[string]string{"username": user, "password": testPassword})
	require.Equal(e.t, http.StatusFound, res.code, "login %s: %s", user, res.body)
	return c
}

type response struct {
	code   int
	body   string
	header http.Header
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal([]byte(r.body), v), "body: %s", r.body)
}

// do sends a JSON request (body nil for none) with Accept JSON and a
// same-origin Origin header.
func (c *client) do(method, path string, body any, hdr ...string) response {
	c.e.t.Helper()
	var rd io.Reader
	if body != nil {
		if s, ok := body.(string); ok {
			rd = strings.NewReader(s)
		} else {
			b, err := json.Marshal(body)
			require.NoError(c.e.t, err)
			rd = bytes.NewReader(b)
		}
	}
	req, err := http.NewRequest(method, c.e.srv.URL+path, rd)
	require.NoError(c.e.t, err)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Origin", c.e.srv.URL)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	res, err := c.http.Do(req)
	require.NoError(c.e.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(c.e.t, err)
	return response{code: res.StatusCode, body: string(b), header: res.Header}
}
