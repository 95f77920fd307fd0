package evaluation_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/evaluator"
	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/inputs"
	"buildledger/adapters/nix/drv"
	"buildledger/adapters/nix/eval"
	"buildledger/adapters/nix/nixtest"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/commands"
	"buildledger/commands/evaluation"
	"buildledger/domain/password"
	"buildledger/domain/streams"
	"buildledger/events"
	"buildledger/projections"
	"buildledger/projections/hydra"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

const testHost = "evaltest"

// env is a ledger on a fresh database with an evaluation service wired
// to the real adapters.
type env struct {
	t     testing.TB
	ctx   context.Context
	pool  *pgxpool.Pool
	store events.Store
	codec *events.Codec
	rt    *commands.Runtime
	h     *commands.Handlers
	alloc *commands.Allocator
	svc   *evaluation.Service
	ports evaluation.Ports
	// cacheDir is the input fetcher's Fetcher.CacheDir.
	cacheDir string
	salt     string
	admin    events.Metadata
	// evaluator is the metadata of the evaluations the tests run, as
	// the Trigger's: the Service fills in the correlation id.
	evaluator events.Metadata
}

type envOptions struct {
	evalWorkers    int
	evalTimeout    time.Duration
	maxAppendBytes int
	recordChunk    int
	maxJobs        int
	// evalPaths are directories evaluation may read besides busybox's.
	evalPaths []string
	// nix, if set, wraps the Nix evaluator.
	nix func(evaluation.Evaluator) evaluation.Evaluator
	// clock, if set, is the runtime's clock.
	clock commands.Clock
	// store, if set, wraps the event store the service appends to.
	store func(events.Store) events.Store
}

func requireNix(t testing.TB) {
	t.Helper()
	for _, bin := range []string{"nix-instantiate", "nix-store", "git"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skip(bin + " not on PATH")
		}
	}
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	requireNix(t)
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	var store events.Store = pglog.New(pool, pglog.Options{})
	if o.store != nil {
		store = o.store(store)
	}
	codec := events.NewCodec()
	rt := commands.NewRuntime(store, codec, commands.Options{Host: testHost, Clock: o.clock})
	alloc := commands.NewAllocator(rt, commands.AllocatorOptions{})
	if o.evalTimeout == 0 {
		o.evalTimeout = time.Minute
	}
	if o.recordChunk == 0 {
		o.recordChunk = 2
	}
	if o.maxAppendBytes == 0 {
		// Small, so that the tests exercise split appends.
		o.maxAppendBytes = 4 << 10
	}
	db := &evaluator.DB{Pool: pool}
	// The tests take inputs from testdata and from temporary directories.
	fetcher := &inputs.Fetcher{CacheDir: filepath.Join(t.TempDir(), "git"), Roots: []string{jobsDir(t), os.TempDir()}}
	ports := evaluation.Ports{
		Inputs:  &evaluator.Inputs{Fetcher: fetcher, Builds: db},
		Specs:   fetcher,
		Jobsets: db,
		Caches:  fetcher,
		Nix: &evaluator.Nix{Timeout: o.evalTimeout, Backend: eval.BackendInstantiate, Workers: o.evalWorkers,
			AllowedPaths: append([]string{nixtest.BusyboxDir()}, o.evalPaths...)},
		Graph:  &evaluator.Graph{Store: &drv.Store{}},
		Status: db,
		Checks: &evaluator.Checks{Pool: pool},
	}
	if o.nix != nil {
		ports.Nix = o.nix(ports.Nix)
	}
	e := &env{t: t, ctx: ctx, pool: pool, store: store, codec: codec, rt: rt, alloc: alloc, ports: ports, cacheDir: fetcher.CacheDir,
		h:         commands.NewHandlers(rt, alloc, postgres.NewVault(pool)),
		salt:      fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano()),
		admin:     commands.NewMetadata(commands.UserActor("admin"), rt),
		evaluator: events.Metadata{Actor: commands.ComponentActor("evaluator")}}
	// Small chunks, so that the tests record jobs while Nix runs.
	e.svc = evaluation.New(rt, codec, alloc, ports, evaluation.Options{Host: testHost, MaxAppendBytes: o.maxAppendBytes, RecordChunk: o.recordChunk,
		MaxJobs: o.maxJobs})
	hash, err := password.Hash("pw", password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	require.NoError(t, err)
	_, err = e.h.CreateUser(ctx, e.admin, commands.CreateUser{UserName: "alice", EmailAddress: "alice@example.org", PasswordHash: hash})
	require.NoError(t, err)
	_, err = e.h.CreateProject(ctx, e.admin, commands.CreateProject{Name: "p",
		Config: events.ProjectConfig{DisplayName: "P", Owner: "alice", Enabled: true}})
	require.NoError(t, err)
	return e
}

func jobsDir(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs("testdata/jobs")
	require.NoError(t, err)
	return dir
}

// legacy returns the configuration of a legacy jobset evaluating file from
// the test jobs directory, with the env's salt and extra inputs.
func (e *env) legacy(file string, extra ...events.JobsetInput) events.JobsetConfig {
	in := append([]events.JobsetInput{
		{Name: "src", Type: "path", Value: jobsDir(e.t)},
		{Name: "salt", Type: "string", Value: e.salt},
	}, extra...)
	return events.JobsetConfig{Type: 0, NixExprInput: "src", NixExprPath: file, Enabled: 1, KeepNr: 3,
		CheckInterval: 0, SchedulingShares: 100, Inputs: in}
}

func (e *env) createJobset(name string, cfg events.JobsetConfig) {
	e.t.Helper()
	_, err := e.h.CreateJobset(e.ctx, e.admin, commands.CreateJobset{Project: "p", Name: name, Config: cfg})
	require.NoError(e.t, err)
}

func (e *env) updateJobset(name string, cfg events.JobsetConfig) {
	e.t.Helper()
	_, err := e.h.UpdateJobset(e.ctx, e.admin, commands.UpdateJobset{Project: "p", Name: name, Config: cfg})
	require.NoError(e.t, err)
}

func (e *env) evaluate(jobset string, force bool) evaluation.Summary {
	e.t.Helper()
	sum, err := e.svc.Evaluate(e.ctx, e.evaluator, evaluation.Evaluate{Project: "p", Jobset: jobset, Force: force})
	require.NoError(e.t, err)
	return sum
}

// project brings the Hydra tables up to date with the log.
func (e *env) project() {
	e.t.Helper()
	r, err := projections.NewRunner(e.store, e.codec, postgres.NewReadModelDB(e.pool),
		[]projections.Projection{hydra.Projection{Keys: postgres.NewVault(e.pool)}}, projections.RunnerOptions{})
	require.NoError(e.t, err)
	_, err = r.CatchUp(e.ctx)
	require.NoError(e.t, err)
}

// count returns the result of a count(*) query.
// eventTypes counts the log's events by type.
func (e *env) eventTypes() map[string]int {
	e.t.Helper()
	recs, err := e.store.ReadAll(e.ctx, events.Start, 100000)
	require.NoError(e.t, err)
	n := map[string]int{}
	for _, r := range recs {
		n[r.Type]++
	}
	return n
}

func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	require.NoError(e.t, e.pool.QueryRow(e.ctx, q, args...).Scan(&n))
	return n
}

// str returns a single nullable text column.
func (e *env) str(q string, args ...any) string {
	e.t.Helper()
	var s *string
	require.NoError(e.t, e.pool.QueryRow(e.ctx, q, args...).Scan(&s))
	if s == nil {
		return ""
	}
	return *s
}

// builds returns job → build id of an evaluation's members.
func (e *env) builds(evalID int64) map[string]int64 {
	e.t.Helper()
	rows, err := e.pool.Query(e.ctx, `select b.job, b.id from JobsetEvalMembers m join Builds b on b.id = m.build where m.eval = $1`, evalID)
	require.NoError(e.t, err)
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var job string
		var id int64
		require.NoError(e.t, rows.Scan(&job, &id))
		out[job] = id
	}
	require.NoError(e.t, rows.Err())
	return out
}

// streamEvents decodes every event of a stream.
func (e *env) streamEvents(stream string) []events.Payload {
	e.t.Helper()
	recs, err := e.store.ReadStream(e.ctx, stream, 0, 100000)
	require.NoError(e.t, err)
	out := make([]events.Payload, len(recs))
	for i, r := range recs {
		out[i], err = e.codec.Decode(r)
		require.NoError(e.t, err)
	}
	return out
}

// stepQueued returns the StepQueued event of drvPath's stream.
func (e *env) stepQueued(drvPath string) *events.StepQueued {
	e.t.Helper()
	for _, p := range e.streamEvents(streams.Step(drvPath)) {
		if s, ok := p.(*events.StepQueued); ok {
			return s
		}
	}
	e.t.Fatalf("no StepQueued for %s", drvPath)
	return nil
}

func run(t testing.TB, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s %s: %s", name, strings.Join(args, " "), out)
	return strings.TrimSpace(string(out))
}

func mustJSON(t testing.TB, v any) string {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}
