package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"buildledger/adapters/binarycache"
	"buildledger/adapters/builder"
	"buildledger/adapters/bus"
	"buildledger/adapters/evaluator"
	"buildledger/adapters/eventstore/esdb"
	"buildledger/adapters/eventstore/esdb/esdbtest"
	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/inputs"
	"buildledger/adapters/logstore"
	"buildledger/adapters/nix/drv"
	"buildledger/adapters/nix/nixtest"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/commands"
	"buildledger/commands/evaluation"
	"buildledger/commands/reactors/scheduler"
	"buildledger/domain/jobset"
	"buildledger/domain/password"
	"buildledger/events"
	"buildledger/projections"
	"buildledger/projections/analytics"
	"buildledger/projections/hydra"
	"buildledger/projections/insights"
	"buildledger/projections/ledger"
	"buildledger/projections/provenance"
	"buildledger/projections/tokens"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// nixStoreArgs go to every nix-store command of the worker: no
// substituters (no network).
var nixStoreArgs = []string{"--option", "substituters", ""}

// project and jobset names of the tests.
const (
	projectName = "e2e"
	jobsetName  = "jobs"
)

// requireTools skips the test when a tool it needs is missing, loudly,
// or fails it when CI is "true".
func requireTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required for the end-to-end tests and CI=true: %v", tool, err)
			}
			t.Skipf("SKIPPED: %s is not installed (%v); the end-to-end tests need it", tool, err)
		}
	}
}

// requireSshd is requireTools for sshd, which is usually not on PATH.
func requireSshd(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/usr/sbin/sshd"); err != nil {
		requireTools(t, "sshd")
	}
}

// readModels is every projection "up" runs, in its order.
func readModels(keys hydra.UserKeys) []projections.Projection {
	return []projections.Projection{hydra.Projection{Keys: keys}, ledger.Projection{}, tokens.Projection{}, insights.Projection{},
		analytics.QueueWait{}, analytics.BuildDuration{}, provenance.Projection{}}
}

// harnessOptions choose the event store and the queue runner's knobs.
type harnessOptions struct {
	// esdb puts the log in the EventStoreDB protocol test double; the
	// read models and checkpoints stay in Postgres.
	esdb bool
	// sched are the scheduler's knobs; zero fields get the tests'
	// defaults (short retries and leases, a 64 KiB log limit).
	sched scheduler.Config
	// verifyFraction is the jobset's share of outputs to rebuild for
	// reproducibility.
	verifyFraction float64
	// forges configures the pull-request and refs inputs.
	forges inputs.Forges
}

// harness is the ledger wired as "buildledger up" wires it: Postgres read
// models, an event store, the command runtime, the evaluation service, a
// projector running live, and queue runners (scheduler + bus + builder
// worker) the tests start and stop.
type harness struct {
	t        *testing.T
	ctx      context.Context
	pool     *pgxpool.Pool
	store    events.Store
	codec    *events.Codec
	rt       *commands.Runtime
	h        *commands.Handlers
	evals    *evaluation.Service
	runner   *projections.Runner
	logs     *logstore.Store
	cache    *binarycache.FileWriter
	cacheDir string
	pubKey   string
	spool    string
	sched    scheduler.Config
	verify   float64
	// nonce is passed to the jobset so its derivations are new.
	nonce string
	log   *slog.Logger
	// stopProjector stops the live projector (once).
	stopProjector func()
}

var nonceSeq atomic.Int64

// newNonce returns a 16-character string unique to this run.
func newNonce() string {
	return fmt.Sprintf("%010d%06d", time.Now().UnixNano()%1e10, (int64(os.Getpid())*1000+nonceSeq.Add(1))%1e6)
}

// localHarness is the harness of a parallel test, with the jobset of
// nixFile seeded and the machine's own store registered as the builder
// "localhost".
func localHarness(t *testing.T, o harnessOptions, nixFile string) *harness {
	t.Helper()
	t.Parallel()
	e := newHarness(t, o)
	e.seed(nixFile)
	e.registerMachine("localhost", localhostMachine())
	return e
}

func newHarness(t *testing.T, o harnessOptions) *harness {
	t.Helper()
	requireTools(t, "nix-store", "nix-instantiate", "nix")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	pool := pgtest.NewPool(t)
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var store events.Store = pglog.New(pool, pglog.Options{})
	if o.esdb {
		srv := esdbtest.Start(t, esdbtest.Options{})
		s, err := esdb.Open(ctx, srv.ConnString(), esdb.Options{Logger: log})
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		store = s
	}
	codec := events.NewCodec()
	rt := commands.NewRuntime(store, codec, commands.Options{Host: "e2e", Logger: log})
	alloc := commands.NewAllocator(rt, commands.AllocatorOptions{})
	home := t.TempDir()
	logs, err := logstore.New(filepath.Join(home, "logs"), logstore.Options{FlushInterval: 50 * time.Millisecond, Logger: log})
	require.NoError(t, err)
	sk, pk, err := binarycache.GenerateKey("e2e-cache-1")
	require.NoError(t, err)
	cacheDir := filepath.Join(home, "cache")
	cache, err := binarycache.NewFileWriter(cacheDir, binarycache.FileWriterOptions{SecretKeys: []signature.SecretKey{sk}, Logger: log})
	require.NoError(t, err)
	testdata, err := filepath.Abs("testdata")
	require.NoError(t, err)
	db := &evaluator.DB{Pool: pool}
	// Jobsets come from testdata and from temporary directories; the
	// busybox input reads busybox's directory.
	fetcher := &inputs.Fetcher{CacheDir: filepath.Join(home, "git"), Roots: []string{testdata, os.TempDir()}, Forges: o.forges}
	ports := evaluation.Ports{
		Inputs:  &evaluator.Inputs{Fetcher: fetcher, Builds: db},
		Specs:   fetcher,
		Jobsets: db,
		Nix: &evaluator.Nix{Timeout: 2 * time.Minute, Workers: 2, GCRootsDir: filepath.Join(home, "gcroots"),
			AllowedPaths: []string{nixtest.BusyboxDir()}},
		Graph:  &evaluator.Graph{Store: &drv.Store{}},
		Status: db,
	}
	runner, err := projections.NewRunner(store, codec, postgres.NewReadModelDB(pool), readModels(postgres.NewVault(pool)),
		projections.RunnerOptions{Idle: 100 * time.Millisecond, Logger: log})
	require.NoError(t, err)
	cfg := o.sched
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = 1
	}
	if cfg.RetryBackoff == 0 {
		cfg.RetryBackoff = 1
	}
	if cfg.DispatchLease == 0 {
		cfg.DispatchLease = 20
	}
	if cfg.RunningGrace == 0 {
		cfg.RunningGrace = 1
	}
	if cfg.ActionRetry == 0 {
		cfg.ActionRetry = 2
	}
	if cfg.MaxLogSize == 0 {
		cfg.MaxLogSize = 64 << 10
	}
	if cfg.CriticalPathEvery == 0 {
		cfg.CriticalPathEvery = 1
	}
	spool := filepath.Join(home, "spool")
	require.NoError(t, os.MkdirAll(spool, 0o755))
	e := &harness{t: t, ctx: ctx, pool: pool, store: store, codec: codec, rt: rt, h: commands.NewHandlers(rt, alloc, postgres.NewVault(pool)),
		evals:  evaluation.New(rt, codec, alloc, ports, evaluation.Options{Host: "e2e", Logger: log}),
		runner: runner, logs: logs, cache: cache, cacheDir: cacheDir, pubKey: pk.String(), spool: spool,
		sched: cfg, verify: o.verifyFraction, nonce: newNonce(), log: log}

	done := make(chan error, 1)
	pctx, stop := context.WithCancel(ctx)
	go func() { done <- runner.Run(pctx) }()
	var once sync.Once
	e.stopProjector = func() {
		once.Do(func() {
			stop()
			require.NoError(t, <-done, "projector")
		})
	}
	t.Cleanup(e.stopProjector)
	return e
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// md is the metadata of the test's own commands.
func (e *harness) md() events.Metadata {
	return commands.NewMetadata(commands.UserActor("admin"), e.rt)
}

// seed creates the admin user, the project and a legacy jobset evaluating
// file from testdata with the run's nonce.
func (e *harness) seed(file string) {
	src, err := filepath.Abs("testdata")
	require.NoError(e.t, err)
	e.seedFrom(src, file)
}

// seedFrom is seed with file in the directory src.
func (e *harness) seedFrom(src, file string) {
	t := e.t
	e.seedAdmin()
	_, err := e.h.CreateProject(e.ctx, e.md(), commands.CreateProject{Name: projectName,
		Config: events.ProjectConfig{DisplayName: "End to end", Owner: "admin", Enabled: true}})
	require.NoError(t, err)
	_, err = e.h.CreateJobset(e.ctx, e.md(), commands.CreateJobset{Project: projectName, Name: jobsetName, Config: events.JobsetConfig{
		Type: 0, NixExprInput: "src", NixExprPath: file, Enabled: 1, KeepNr: 3, CheckInterval: 0, SchedulingShares: 100,
		VerifyFraction: e.verify, Inputs: []events.JobsetInput{{Name: "src", Type: "path", Value: src}, {Name: "nonce", Type: "string", Value: e.nonce},
			{Name: "busybox", Type: "nix", Value: nixtest.Busybox}}}})
	require.NoError(t, err)
}

// seedAdmin creates the user admin, with the role admin.
func (e *harness) seedAdmin() {
	e.t.Helper()
	hash, err := password.Hash("e2e-password", password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	require.NoError(e.t, err)
	_, err = e.h.CreateUser(e.ctx, e.md(), commands.CreateUser{UserName: "admin", FullName: "Admin", EmailAddress: "admin@example.org",
		PasswordHash: hash, Roles: []string{"admin"}})
	require.NoError(e.t, err)
}

// registerMachine registers a build machine.
func (e *harness) registerMachine(name string, cfg events.MachineConfig) {
	e.t.Helper()
	_, err := e.h.RegisterMachine(e.ctx, e.md(), commands.RegisterMachine{Name: name, Config: cfg})
	require.NoError(e.t, err)
}

// localhostMachine is the local builder as "up" registers it, building in
// the machine's own store.
func localhostMachine() events.MachineConfig {
	return events.MachineConfig{URI: "localhost", Systems: []string{hostSystem(), "builtin"}, MaxJobs: 4, SpeedFactor: 1, Enabled: true,
		SupportedFeatures: []string{"benchmark", "big-parallel", "nixos-test"}}
}

// hostSystem is the Nix system of this machine.
func hostSystem() string {
	out, err := exec.Command("nix-instantiate", "--eval", "--expr", "builtins.currentSystem", "--json").Output()
	var system string
	if err != nil || json.Unmarshal(out, &system) != nil || system == "" {
		return "x86_64-linux"
	}
	return system
}

// evaluate runs one evaluation of the jobset and requires it to finish.
func (e *harness) evaluate() evaluation.Summary {
	e.t.Helper()
	sum, err := e.evals.Evaluate(e.ctx, commands.NewMetadata(commands.ComponentActor("evaluator"), e.rt), evaluation.Evaluate{Project: projectName, Jobset: jobsetName})
	require.NoError(e.t, err)
	require.Equal(e.t, jobset.OutcomeFinished, sum.Outcome, "evaluation: %s %s", sum.Phase, sum.Error)
	require.Zero(e.t, sum.Errors, "no job failed to evaluate")
	return sum
}

// queueOptions configure one queue-runner instance.
type queueOptions struct {
	// store, if set, is the event store this instance writes through (a
	// killable one in the crash test); default the harness's.
	store events.Store
	// wrap, if set, wraps the bus the scheduler sends through.
	wrap func(commands.BuildStepSender) commands.BuildStepSender
	// knownHosts is the worker's known_hosts file.
	knownHosts string
	// cache, if set, is where the worker uploads; default the
	// harness's file:// cache.
	cache binarycache.Destination
}

// queue is one running queue runner: the scheduler, the GoChannel bus and
// a builder worker, as "up" runs them.
type queue struct {
	sched  *scheduler.Scheduler
	worker *builder.Worker
	cancel context.CancelFunc
	done   chan error
}

// startQueue starts a queue runner. It is stopped at the end of the test
// if the test did not stop it.
func (e *harness) startQueue(o queueOptions) *queue {
	e.t.Helper()
	store := o.store
	if store == nil {
		store = e.store
	}
	rt := commands.NewRuntime(store, e.codec, commands.Options{Host: "e2e-queue", Logger: e.log})
	var cache binarycache.Destination = e.cache
	if o.cache != nil {
		cache = o.cache
	}
	worker, err := builder.New(builder.Config{Runtime: rt, Logs: e.logs, Cache: cache, SpoolDir: e.spool,
		NixStoreArgs: nixStoreArgs, KnownHostsFile: o.knownHosts, Logger: e.log})
	require.NoError(e.t, err)
	b := bus.NewGoChannel(bus.Options{Logger: e.log})
	var sender commands.BuildStepSender = b
	if o.wrap != nil {
		sender = o.wrap(b)
	}
	sched := scheduler.New(rt, e.codec, sender, scheduler.Options{Config: e.sched, Interval: 100 * time.Millisecond, Logger: e.log})
	ctx, cancel := context.WithCancel(e.ctx)
	q := &queue{sched: sched, worker: worker, cancel: cancel, done: make(chan error, 1)}
	b.Handle(worker.Handle)
	go func() {
		defer b.Close()
		g, ctx := errgroup.WithContext(ctx)
		g.Go(func() error { return b.Run(ctx) })
		select {
		case <-b.Ready():
			g.Go(func() error { return sched.Run(ctx) })
		case <-ctx.Done():
		}
		q.done <- g.Wait()
	}()
	e.t.Cleanup(func() { q.stop(e.t) })
	return q
}

// stop stops the queue runner as a shutdown would: the scheduler and bus
// end, and the worker aborts its running steps (recorded with status 3).
// Stopping twice is a no-op.
func (q *queue) stop(t *testing.T) {
	if q.cancel == nil {
		return
	}
	q.cancel()
	q.cancel = nil
	err := <-q.done
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("queue runner: %v", err)
	}
	require.NoError(t, q.worker.Close())
}

// waitBuilds polls the read models until want builds exist and all are
// finished, failing after the deadline with what is still queued.
func (e *harness) waitBuilds(want int, within time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		var total, finished int
		require.NoError(e.t, e.pool.QueryRow(e.ctx, `select count(*), count(*) filter (where finished = 1) from builds`).Scan(&total, &finished))
		if total == want && finished == want {
			e.settle()
			return
		}
		if time.Now().After(deadline) {
			rows := e.queryStrings(`select job || ' ' || coalesce(string_agg(s.drvpath || ' busy=' || s.busy || ' status=' || coalesce(s.status::text, '-'), '; '), '')
				from builds b left join buildsteps s on s.build = b.id where b.finished = 0 group by b.id, job order by b.id`)
			e.t.Fatalf("after %s: %d of %d builds finished (%d expected); unfinished: %v", within, finished, total, want, rows)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// settle waits until the projector applied the head of the log.
func (e *harness) settle() {
	e.t.Helper()
	head, err := e.store.Head(e.ctx)
	require.NoError(e.t, err)
	deadline := time.Now().Add(30 * time.Second)
	for e.runner.Stats().Position.Less(head) {
		require.True(e.t, time.Now().Before(deadline), "projector stuck at %v, head %v", e.runner.Stats().Position, head)
		time.Sleep(20 * time.Millisecond)
	}
}

// queryStrings runs a query returning one text column.
func (e *harness) queryStrings(sql string, args ...any) []string {
	e.t.Helper()
	rows, err := e.pool.Query(e.ctx, sql, args...)
	require.NoError(e.t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		require.NoError(e.t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(e.t, rows.Err())
	return out
}
