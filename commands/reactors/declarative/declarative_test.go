package declarative_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/binarycache"
	"buildledger/adapters/evaluator"
	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/commands"
	"buildledger/commands/evaluation"
	declreactor "buildledger/commands/reactors/declarative"
	"buildledger/domain/declarative"
	"buildledger/domain/jobset"
	"buildledger/domain/names"
	"buildledger/domain/password"
	"buildledger/domain/streams"
	"buildledger/events"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

const project = "d"

// env is a ledger on a fresh database with a declarative project "d"
// whose ".jobsets" generates its spec, and a directory standing for the
// store its `jobsets` builds write to. No projector runs: the read side
// knows no jobset, as when it lags behind the log.
type env struct {
	t     *testing.T
	ctx   context.Context
	store events.Store
	codec *events.Codec
	rt    *commands.Runtime
	h     *commands.Handlers
	alloc *commands.Allocator
	db    *evaluator.DB
	dir   string
	seq   int
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	store := pglog.New(pool, pglog.Options{})
	codec := events.NewCodec()
	rt := commands.NewRuntime(store, codec, commands.Options{Host: "reactortest"})
	alloc := commands.NewAllocator(rt, commands.AllocatorOptions{})
	e := &env{t: t, ctx: ctx, store: store, codec: codec, rt: rt, alloc: alloc, db: &evaluator.DB{Pool: pool},
		h: commands.NewHandlers(rt, alloc, postgres.NewVault(pool)), dir: t.TempDir()}
	admin := commands.NewMetadata(commands.UserActor("admin"), rt)
	hash, err := password.Hash("pw", password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	require.NoError(t, err)
	_, err = e.h.CreateUser(ctx, admin, commands.CreateUser{UserName: "alice", EmailAddress: "alice@example.org", PasswordHash: hash})
	require.NoError(t, err)
	_, err = e.h.CreateProject(ctx, admin, commands.CreateProject{Name: project, Config: events.ProjectConfig{DisplayName: "D",
		Owner: "alice", Enabled: true, DeclFile: "spec.json", DeclType: "git", DeclValue: "file:///srv/spec main"}})
	require.NoError(t, err)
	// ".jobsets" as an evaluation of a generated spec leaves it.
	gen := evaluation.GeneratedConfig(project, events.JobsetConfig{Enabled: jobset.Enabled, NixExprInput: "declInput",
		NixExprPath: "jobsets.nix", KeepNr: 3, SchedulingShares: 100}, "git", "file:///srv/spec main")
	_, err = e.h.UpdateJobset(ctx, events.Metadata{Actor: declarative.Actor(project)},
		commands.UpdateJobset{Project: project, Name: names.DeclarativeJobset, Config: gen})
	require.NoError(t, err)
	return e
}

func (e *env) reactor() *declreactor.Reactor {
	return declreactor.New(e.rt, e.codec, e.alloc, binarycache.StoreFiles{Dir: e.dir}, e.db, declreactor.Options{})
}

// start runs a reactor until the returned function stops it.
func (e *env) start() (stop func()) {
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- e.reactor().Run(ctx) }()
	return func() {
		cancel()
		require.NoError(e.t, <-done)
	}
}

// spec writes a spec declaring the named jobsets to a new output in the
// store directory and returns its path.
func (e *env) spec(jobsets ...string) string {
	e.t.Helper()
	m := map[string]any{}
	for _, name := range jobsets {
		m[name] = map[string]any{"nixexprinput": "src", "nixexprpath": "release.nix",
			"inputs": map[string]any{"src": map[string]any{"type": "git", "value": "file:///srv/src main"}}}
	}
	data, err := json.Marshal(m)
	require.NoError(e.t, err)
	return e.output("spec.json", data)
}

// output writes data as a new store output named name.
func (e *env) output(name string, data []byte) string {
	e.t.Helper()
	e.seq++
	p := filepath.Join(e.dir, fmt.Sprintf("%032d-%s", e.seq, name))
	require.NoError(e.t, os.WriteFile(p, data, 0o644))
	return p
}

// queue records build id of ".jobsets"'s job `jobsets`, whose output is
// out, as the evaluation service records it.
func (e *env) queue(id int64, out string) {
	e.t.Helper()
	ev, err := e.codec.Encode(&events.BuildQueued{BuildID: id, EvalID: 1, Project: project, Jobset: names.DeclarativeJobset,
		Job: declreactor.JobName, DrvPath: fmt.Sprintf("/nix/store/%032d-spec.drv", id), System: "x86_64-linux",
		Outputs: []events.Output{{Name: "out", Path: out}}}, events.Metadata{Actor: commands.ComponentActor("evaluator")}, time.Now())
	require.NoError(e.t, err)
	_, err = e.store.Append(e.ctx, streams.Build(id), events.NoStream, ev)
	require.NoError(e.t, err)
}

// finish records build id's success, as the queue runner does.
func (e *env) finish(id int64) {
	e.t.Helper()
	_, err := e.h.FinishBuild(e.ctx, events.Metadata{Actor: commands.ComponentActor("queue-runner")}, events.BuildFinished{BuildID: id})
	require.NoError(e.t, err)
}

func (e *env) state(name string) jobset.State {
	e.t.Helper()
	l, err := commands.Load(e.ctx, e.rt, streams.Jobset(project, name), commands.JobsetAggregate)
	require.NoError(e.t, err)
	return l.State
}

// waitFor waits until cond holds; the deadline only ends a stuck test.
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		require.True(e.t, time.Now().Before(deadline), "waiting for %s", what)
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) head() events.Position {
	e.t.Helper()
	p, err := e.store.Head(e.ctx)
	require.NoError(e.t, err)
	return p
}

// declarativeSince returns "type stream" of each event after pos the
// declarative source recorded.
func (e *env) declarativeSince(pos events.Position) []string {
	e.t.Helper()
	recs, err := e.store.ReadAll(e.ctx, pos, 10000)
	require.NoError(e.t, err)
	var out []string
	for _, r := range recs {
		if r.Metadata.Actor == declarative.Actor(project) {
			out = append(out, r.Type+" "+r.Stream)
		}
	}
	return out
}

// TestReactorAppliesTheLatestSpec: the reactor applies the spec of each
// `jobsets` build of ".jobsets" as it finishes, never one older than the
// last it applied; the next spec disables a jobset the previous one
// created even when the read side has not seen it yet; a restart applies
// the latest build once if it was not applied, and records nothing when
// it was.
func TestReactorAppliesTheLatestSpec(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	exists := func(name string) func() bool { return func() bool { return e.state(name).Exists } }

	stop := e.start()
	e.queue(1, e.spec("old"))
	e.queue(2, e.spec("new"))
	e.finish(2)
	e.waitFor("build 2's spec", exists("new"))
	// Build 1 finishes after build 2: its older list is not applied.
	e.finish(1)
	e.queue(3, e.spec("new", "newer"))
	e.finish(3)
	e.waitFor("build 3's spec", exists("newer"))
	require.False(t, e.state("old").Exists, "the older build's spec is never applied")

	// "newer" is in no read model (no projector runs): the log says it
	// was created, so a spec without it disables it.
	e.queue(4, e.spec("new"))
	e.finish(4)
	e.waitFor("build 4's spec", func() bool { return e.state("newer").Config.Enabled == jobset.Disabled })
	require.True(t, e.state("newer").Config.Hidden)
	require.Equal(t, jobset.Enabled, e.state("new").Config.Enabled)
	stop()

	// Build 5 finishes while no reactor runs: the next one applies it on
	// start, and only it.
	e.queue(5, e.spec("new", "fifth"))
	e.finish(5)
	before := e.head()
	stop = e.start()
	e.waitFor("build 5's spec on start", exists("fifth"))
	stop()
	require.Equal(t, []string{"JobsetCreated " + streams.Jobset(project, "fifth")}, e.declarativeSince(before))

	// A restart with everything applied records nothing: the first thing
	// the declarative source records after it is build 6's change.
	before = e.head()
	stop = e.start()
	defer stop()
	e.queue(6, e.spec("new", "fifth", "sixth"))
	e.finish(6)
	e.waitFor("build 6's spec", exists("sixth"))
	require.Equal(t, []string{"JobsetCreated " + streams.Jobset(project, "sixth")}, e.declarativeSince(before))
}

// TestReactorRefusesBadOutputs: an output that is not a spec file (not
// JSON, too big, a link, a directory, outside the store, a generator's
// configuration rather than jobsets) is refused with an error saying
// why, and changes nothing.
func TestReactorRefusesBadOutputs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.reactor()
	require.NoError(t, r.Apply(e.ctx, project, e.spec("a")))
	require.True(t, e.state("a").Exists)

	link := filepath.Join(e.dir, strings.Repeat("7", 32)+"-link.json")
	require.NoError(t, os.Symlink(e.spec("b"), link))
	dir := filepath.Join(e.dir, strings.Repeat("8", 32)+"-dir")
	require.NoError(t, os.Mkdir(dir, 0o755))
	big := append([]byte(`{"b": {"description": "`), make([]byte, declarative.MaxSpecBytes)...)
	for i := 23; i < len(big); i++ {
		big[i] = 'x'
	}
	big = append(big, `"}}`...)
	tests := []struct {
		name, path, err string
	}{
		{"not JSON", e.output("spec.json", []byte("b = {};")), "not a JSON object"},
		{"too big", e.output("spec.json", big), "more than the 4194304 allowed"},
		{"a link", link, "not a regular file"},
		{"a directory", dir, "not a regular file"},
		{"outside the store", "/etc/passwd", "permission denied"},
		{"a generator's configuration", e.output("spec.json", []byte(`{"enabled": 1, "nixexprinput": "src", "nixexprpath": "jobsets.nix",
			"inputs": {"src": {"type": "git", "value": "file:///srv/src main"}}}`)),
			"not an object of jobset specifications"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.head()
			err := r.Apply(e.ctx, project, tt.path)
			require.ErrorContains(t, err, tt.err)
			require.Equal(t, before, e.head(), "nothing recorded")
			require.False(t, e.state("b").Exists)
			require.Equal(t, jobset.Enabled, e.state("a").Config.Enabled)
		})
	}

	// A project whose spec is not generated takes no output.
	_, err := e.h.UpdateJobset(e.ctx, events.Metadata{Actor: declarative.Actor(project)},
		commands.UpdateJobset{Project: project, Name: names.DeclarativeJobset, Config: commands.GeneratorConfig()})
	require.NoError(t, err)
	require.True(t, errors.Is(r.Apply(e.ctx, project, e.spec("b")), declreactor.ErrNotGenerated))
	require.False(t, e.state("b").Exists)
}
