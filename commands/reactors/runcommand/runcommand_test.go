package runcommand_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/logstore"
	"buildledger/adapters/nix/eval"
	"buildledger/adapters/notify/runcmd"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/commands"
	"buildledger/commands/reactors/outbox"
	"buildledger/commands/reactors/runcommand"
	"buildledger/domain/hydraconf"
	"buildledger/domain/password"
	domain "buildledger/domain/runcommand"
	"buildledger/domain/step"
	"buildledger/domain/streams"
	"buildledger/events"
	"buildledger/projections"
	"buildledger/projections/hydra"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// counting wraps the real runner and counts the commands it runs.
type counting struct {
	r  *runcmd.Runner
	mu sync.Mutex
	n  int
}

func (c *counting) Run(ctx context.Context, uuid, command string, j []byte) (events.RunCommandFinished, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.r.Run(ctx, uuid, command, j)
}

func (c *counting) count() int { c.mu.Lock(); defer c.mu.Unlock(); return c.n }

// env is a log, an outbox, a project p with jobset j, the real runner
// and the RunCommand notifier of a hydra.conf.
type env struct {
	t      *testing.T
	pool   *pgxpool.Pool
	store  *pglog.Store
	rt     *commands.Runtime
	h      *commands.Handlers
	ob     *postgres.Outbox
	logs   *logstore.Store
	runner *counting
	jobset int64
	next   int64
}

func newEnv(t *testing.T, dynamic bool) *env {
	ctx := context.Background()
	e := &env{t: t, pool: pgtest.NewPool(t)}
	e.store = pglog.New(e.pool, pglog.Options{})
	e.rt = commands.NewRuntime(e.store, events.NewCodec(), commands.Options{Host: "test", DynamicRunCommand: dynamic})
	e.h = commands.NewHandlers(e.rt, commands.NewAllocator(e.rt, commands.AllocatorOptions{}), postgres.NewVault(e.pool))
	e.ob = postgres.NewOutbox(e.pool)
	md := events.Metadata{Actor: commands.UserActor("admin")}
	hash, err := password.Hash("pw", password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	require.NoError(t, err)
	_, err = e.h.CreateUser(ctx, md, commands.CreateUser{UserName: "alice", EmailAddress: "a@example.org", PasswordHash: hash})
	require.NoError(t, err)
	_, err = e.h.CreateProject(ctx, md, commands.CreateProject{Name: "p", Config: events.ProjectConfig{DisplayName: "p", Owner: "alice", Enabled: true}})
	require.NoError(t, err)
	_, err = e.h.CreateJobset(ctx, md, commands.CreateJobset{Project: "p", Name: "j", Config: events.JobsetConfig{Type: 1, Flake: "github:o/r", Enabled: 1, SchedulingShares: 1}})
	require.NoError(t, err)
	recs, err := e.store.ReadStream(ctx, streams.Jobset("p", "j"), 0, 10)
	require.NoError(t, err)
	p, err := e.rt.Codec().Decode(recs[0])
	require.NoError(t, err)
	e.jobset = p.(*events.JobsetCreated).ID

	var id eval.Identity
	if os.Geteuid() == 0 {
		id, err = eval.LookupIdentity("buildledger-run", "")
		require.NoError(t, err, "test/install-deps.sh creates buildledger-run")
	}
	e.logs, err = logstore.New(t.TempDir(), logstore.Options{})
	require.NoError(t, err)
	r, err := runcmd.NewRunner(id, t.TempDir(), e.logs)
	require.NoError(t, err)
	r.Timeout = time.Second
	e.runner = &counting{r: r}
	return e
}

func (e *env) put(stream string, p events.Payload) {
	ev, err := e.rt.Codec().Encode(p, events.Metadata{Actor: "component:test"}, time.Now())
	require.NoError(e.t, err)
	_, err = e.store.Append(context.Background(), stream, events.Any, ev)
	require.NoError(e.t, err)
}

// build queues and finishes a build of job with status and output out.
func (e *env) build(job string, status int, out string) int64 {
	e.next++
	id := e.next
	e.put(streams.Build(id), &events.BuildQueued{BuildID: id, EvalID: 1, JobsetID: e.jobset, Project: "p", Jobset: "j", Job: job,
		NixName: "n", DrvPath: "/nix/store/aaaa-" + job + ".drv", System: "x86_64-linux", Timestamp: 1000 + id,
		Outputs: []events.Output{{Name: "out", Path: out}}, Meta: events.JobMeta{Description: "An example meta property."}})
	e.put(streams.Build(id), &events.MetricScraped{BuildID: id, Name: "lineCoverage", Unit: "%", Value: 18})
	e.put(streams.Build(id), &events.ProductScraped{BuildID: id, ProductNr: 1, Type: "nix-build", Path: out, Name: "n"})
	e.put(streams.Build(id), &events.BuildFinished{BuildID: id, Status: status, StartTime: 2000, StopTime: 2001})
	return id
}

func (e *env) notifier(conf string) (*outbox.Follower, *outbox.Worker) {
	blk, err := hydraconf.Parse("hydra.conf", func(string) ([]byte, error) { return []byte(conf), nil })
	require.NoError(e.t, err)
	hc, err := hydraconf.Interpret(blk)
	require.NoError(e.t, err)
	cfg, err := runcommand.ConfigFrom(hc.Kept)
	require.NoError(e.t, err)
	box := outbox.New(e.rt, e.ob, nil)
	f := outbox.NewFollower(e.rt, e.ob, runcommand.New(e.rt, box, cfg, nil), nil)
	w := outbox.NewWorker(e.rt, e.ob, map[string]outbox.Sender{runcommand.Plugin: runcommand.NewSender(e.rt, e.runner, time.Second)},
		outbox.WorkerOptions{})
	return f, w
}

func (e *env) deliver(f *outbox.Follower, w *outbox.Worker) {
	require.NoError(e.t, f.CatchUp(context.Background()))
	_, err := w.DeliverDue(context.Background())
	require.NoError(e.t, err)
}

func (e *env) readLog(uuid string) string {
	rc, err := e.logs.Open(logstore.Location(domain.LogName(uuid), 0))
	require.NoError(e.t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(e.t, err)
	return string(b)
}

// row is one RunCommandLogs row.
type row struct {
	UUID, Matcher, Command string
	Build                  int64
	Start, End             *int64
	Errno, Exit, Signal    *int
	Core                   *bool
}

func (e *env) rows() []row {
	rows, err := e.pool.Query(context.Background(), `select uuid::text, job_matcher, command, build_id, start_time, end_time,
		error_number, exit_code, signal, core_dumped from RunCommandLogs order by id`)
	require.NoError(e.t, err)
	defer rows.Close()
	var out []row
	for rows.Next() {
		var r row
		require.NoError(e.t, rows.Scan(&r.UUID, &r.Matcher, &r.Command, &r.Build, &r.Start, &r.End, &r.Errno, &r.Exit, &r.Signal, &r.Core))
		out = append(out, r)
	}
	require.NoError(e.t, rows.Err())
	return out
}

func (e *env) project() {
	runner, err := projections.NewRunner(e.store, e.rt.Codec(), postgres.NewReadModelDB(e.pool),
		[]projections.Projection{hydra.Projection{Keys: postgres.NewVault(e.pool)}}, projections.RunnerOptions{})
	require.NoError(e.t, err)
	_, err = runner.CatchUp(context.Background())
	require.NoError(e.t, err)
}

func intp(n int) *int { return &n }

// TestStaticCommands follows Hydra's basic.t, json.t and errno.t: each
// matching <runcommand> runs once per finished build with $HYDRA_JSON,
// failures and time-outs are recorded with Hydra's columns, a section
// for another job runs nothing, and a replay of the read models runs
// nothing again.
func TestStaticCommands(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, false)
	f, w := e.notifier(`
<runcommand>
  command = cat "$HYDRA_JSON"
</runcommand>
<runcommand>
  job = p:j:metrics
  command = exit 7;
</runcommand>
<runcommand>
  job = p:*:metrics
  command = sleep 600
</runcommand>
<runcommand>
  job = p:j:other
  command = echo other
</runcommand>
<runcommand>
  command = invalid-command-this-does-not-exist
  events = buildStarted
</runcommand>
`)
	require.NoError(t, f.CatchUp(ctx))
	id := e.build("metrics", 0, "/nix/store/bbbb-out")
	e.deliver(f, w)
	require.Equal(t, 3, e.runner.count())
	e.project()

	rows := e.rows()
	require.Len(t, rows, 3)
	by := map[string]row{}
	for _, r := range rows {
		require.Equal(t, id, r.Build)
		require.NotNil(t, r.Start)
		require.NotNil(t, r.End)
		by[r.Command] = r
	}
	ok := by[`cat "$HYDRA_JSON"`]
	require.Equal(t, "*:*:*", ok.Matcher, "an unspecified job matcher is *:*:*")
	require.Equal(t, intp(0), ok.Exit)
	require.Nil(t, ok.Signal)
	var j map[string]any
	require.NoError(t, json.Unmarshal([]byte(e.readLog(ok.UUID)), &j))
	require.Equal(t, map[string]any{"event": "buildFinished", "build": float64(id), "finished": true, "timestamp": float64(1000 + id),
		"project": "p", "jobset": "j", "job": "metrics", "drvPath": "/nix/store/aaaa-metrics.drv", "startTime": float64(2000),
		"stopTime": float64(2001), "buildStatus": float64(0), "nixName": "n", "system": "x86_64-linux", "homepage": nil,
		"description": "An example meta property.", "license": nil,
		"outputs":  []any{map[string]any{"name": "out", "path": "/nix/store/bbbb-out"}},
		"products": []any{map[string]any{"productNr": float64(1), "type": "nix-build", "subtype": "", "fileSize": nil, "sha256hash": nil, "path": "/nix/store/bbbb-out", "name": "n", "defaultPath": ""}},
		"metrics":  []any{map[string]any{"name": "lineCoverage", "unit": "%", "value": float64(18)}},
	}, j, "Hydra's makeJsonPayload keys")

	failed := by["exit 7;"]
	require.Equal(t, []any{"p:j:metrics", intp(7), (*int)(nil)}, []any{failed.Matcher, failed.Exit, failed.Signal})
	slow := by["sleep 600"]
	require.Equal(t, []any{(*int)(nil), intp(int(syscall.SIGKILL))}, []any{slow.Exit, slow.Signal}, "killed at the time limit")
	require.NotNil(t, slow.Core)

	// Hydra's RunCommandLogs is rebuilt from the log, and nothing runs.
	res, err := projections.Replay(ctx, e.store, e.rt.Codec(), postgres.NewSchemas(e.pool),
		[]projections.Projection{hydra.Projection{Keys: postgres.NewVault(e.pool)}}, projections.ReplayOptions{Target: "replay_runcommand"})
	require.NoError(t, err)
	require.True(t, res.Swapped)
	require.Equal(t, rows, e.rows())
	// A notifier restarted from its checkpoint, and its worker, run
	// nothing that ran.
	f2, w2 := e.notifier(`<runcommand>
  command = cat "$HYDRA_JSON"
</runcommand>`)
	e.deliver(f2, w2)
	require.Equal(t, 3, e.runner.count(), "nothing runs twice")
}

// TestInterruptedRunIsNotRepeated: a run whose start is recorded but
// whose end is not (the server died while it ran) is recorded as
// interrupted and not started again.
func TestInterruptedRunIsNotRepeated(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, false)
	f, w := e.notifier("<runcommand>\ncommand = true\n</runcommand>")
	require.NoError(t, f.CatchUp(ctx))
	e.build("metrics", 0, "/nix/store/bbbb-out")
	require.NoError(t, f.CatchUp(ctx))
	items, err := e.ob.Claim(ctx, time.Now(), time.Millisecond, 10)
	require.NoError(t, err)
	require.Len(t, items, 1)
	uuid, err := domain.UUID(items[0].Key)
	require.NoError(t, err)
	_, err = e.h.StartRunCommand(ctx, events.Metadata{Actor: "component:runcommand"},
		events.RunCommandStarted{UUID: uuid, Key: items[0].Key, JobMatcher: "*:*:*", BuildID: 1, Command: "true", StartTime: 1})
	require.NoError(t, err)
	require.NoError(t, e.ob.Reschedule(ctx, items[0].Key, time.Now()))

	_, err = w.DeliverDue(ctx)
	require.NoError(t, err)
	require.Zero(t, e.runner.count())
	st, err := e.h.RunCommand(ctx, uuid)
	require.NoError(t, err)
	require.True(t, st.Finished)
	n, err := e.h.Notification(ctx, items[0].Key)
	require.NoError(t, err)
	require.True(t, n.Delivered)
}

// TestDynamicHooks follows Hydra's dynamic RunCommand: a successful
// runCommandHook.* job runs its own output only when hydra.conf, the
// project and the jobset all enable it.
func TestDynamicHooks(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for d := dir; d != os.TempDir(); d = filepath.Dir(d) {
		require.NoError(t, os.Chmod(d, 0o755))
	}
	hook := filepath.Join(dir, "hook")
	require.NoError(t, os.WriteFile(hook, []byte("#!/bin/sh\necho hook ran for \"$HYDRA_JSON\"\n"), 0o755))
	admin := events.Metadata{Actor: commands.UserActor("admin")}
	enableProject := func(e *env) {
		_, err := e.h.UpdateProject(ctx, admin, commands.UpdateProject{Name: "p", Config: events.ProjectConfig{DisplayName: "p", Owner: "alice", Enabled: true, EnableDynamicRunCommand: true}})
		require.NoError(t, err)
	}
	enableJobset := func(e *env) {
		_, err := e.h.UpdateJobset(ctx, admin, commands.UpdateJobset{Project: "p", Name: "j",
			Config: events.JobsetConfig{Type: 1, Flake: "github:o/r", Enabled: 1, SchedulingShares: 1, EnableDynamicRunCommand: true}})
		require.NoError(t, err)
	}
	for _, tc := range []struct {
		name            string
		server          bool
		project, jobset bool
		status          int
		job             string
		runs            int
	}{
		{"server off", false, false, false, 0, "runCommandHook.example", 0},
		{"project off", true, false, false, 0, "runCommandHook.example", 0},
		{"jobset off", true, true, false, 0, "runCommandHook.example", 0},
		{"all on", true, true, true, 0, "runCommandHook.example", 1},
		{"failed build", true, true, true, 1, "runCommandHook.example", 0},
		{"not a hook", true, true, true, 0, "example", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.server)
			if tc.project {
				enableProject(e)
			}
			if tc.jobset {
				enableJobset(e)
			}
			conf := ""
			if tc.server {
				conf = "<dynamicruncommand>\nenable = 1\n</dynamicruncommand>"
			}
			f, w := e.notifier(conf)
			require.NoError(t, f.CatchUp(ctx))
			e.build(tc.job, tc.status, hook)
			e.deliver(f, w)
			require.Equal(t, tc.runs, e.runner.count())
			if tc.runs == 0 {
				return
			}
			e.project()
			rows := e.rows()
			require.Len(t, rows, 1)
			require.Equal(t, []any{"DynamicRunCommand(runCommandHook.example)", hook, intp(0)}, []any{rows[0].Matcher, rows[0].Command, rows[0].Exit})
			require.Contains(t, e.readLog(rows[0].UUID), "hook ran for /")
		})
	}
}

// TestBuiltBuildsProducts: a build its step ran for has the products and
// metrics the builder recorded with that step (commands.CompleteStep puts
// them on the step's stream, not the build's), a rebuild's replacing the
// earlier run's, and another job of the same derivation that step
// finished has them too, as has a job credited with a run of its
// derivation as that build's dependency: the payload's are the
// BuildProducts and BuildMetrics rows the Hydra projection writes.
func TestBuiltBuildsProducts(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, false)
	f, w := e.notifier("<runcommand>\n  command = cat \"$HYDRA_JSON\"\n</runcommand>\n")
	require.NoError(t, f.CatchUp(ctx))
	md := events.Metadata{Actor: commands.ComponentActor("test")}
	const drv, out = "/nix/store/cccc-built.drv", "/nix/store/dddd-built"
	e.next++
	id := e.next
	e.put(streams.Build(id), &events.BuildQueued{BuildID: id, EvalID: 1, JobsetID: e.jobset, Project: "p", Jobset: "j", Job: "built",
		NixName: "n", DrvPath: drv, System: "x86_64-linux", Timestamp: 1000, Outputs: []events.Output{{Name: "out", Path: out}}})
	e.put(streams.Step(drv), &events.StepQueued{DrvPath: drv, System: "x86_64-linux", Outputs: []events.Output{{Name: "out", Path: out}}, BuildID: id, EvalID: 1})

	// run records attempt of the step for the build, ending with status
	// st, with a metric of value v and a product of each name, and the
	// build's finish, through the commands the scheduler and the builder
	// use; then the notifier runs and the payload it gave is returned.
	run := func(attempt, st int, v float64, names ...string) map[string]any {
		now := int64(2000 + 100*attempt)
		var products []events.ProductScraped
		for i, name := range names {
			products = append(products, events.ProductScraped{BuildID: id, ProductNr: i + 1, Type: "file", Subtype: "doc", Path: out + "/" + name, Name: name})
		}
		_, err := e.h.DispatchStep(ctx, md, events.StepDispatched{DrvPath: drv, BuildID: id, Machine: "m", Attempt: attempt, LeaseUntil: now + 60, Timestamp: now})
		require.NoError(t, err)
		_, err = e.h.StartStep(ctx, md, events.StepStarted{DrvPath: drv, BuildID: id, StepNr: attempt, Machine: "m", Attempt: attempt, StartTime: now})
		require.NoError(t, err)
		_, err = e.h.CompleteStep(ctx, md, commands.StepOutcome{
			Products: products,
			Metrics:  []events.MetricScraped{{BuildID: id, Name: "size", Value: v}},
			Finished: events.StepFinished{DrvPath: drv, BuildID: id, StepNr: attempt, Machine: "m", Attempt: attempt, Status: st, StartTime: now, StopTime: now + 1,
				Outputs: []events.Output{{Name: "out", Path: out}}}})
		require.NoError(t, err)
		_, err = e.h.FinishBuild(ctx, md, events.BuildFinished{BuildID: id, Status: st, StartTime: now, StopTime: now + 1})
		require.NoError(t, err)
		e.deliver(f, w)
		e.project()
		rows := e.rows()
		require.Len(t, rows, attempt)
		var j map[string]any
		require.NoError(t, json.Unmarshal([]byte(e.readLog(rows[attempt-1].UUID)), &j))
		return j
	}
	// tables returns the build's BuildProducts names and BuildMetrics values.
	tables := func() ([]any, []any) {
		e.project()
		var names, values []any
		require.NoError(t, e.pool.QueryRow(ctx, `select coalesce(array_agg(name order by productnr), '{}') from BuildProducts where build = $1`, id).Scan(&names))
		require.NoError(t, e.pool.QueryRow(ctx, `select coalesce(array_agg(value order by name), '{}') from BuildMetrics where build = $1`, id).Scan(&values))
		return names, values
	}
	productNames := func(j map[string]any) []any {
		var out []any
		for _, p := range j["products"].([]any) {
			out = append(out, p.(map[string]any)["name"])
		}
		return out
	}
	metricValues := func(j map[string]any) []any {
		var out []any
		for _, m := range j["metrics"].([]any) {
			out = append(out, m.(map[string]any)["value"])
		}
		return out
	}

	first := run(1, 1, 1, "first", "first-2")
	require.Equal(t, float64(1), first["buildStatus"])
	require.Equal(t, []any{"first", "first-2"}, productNames(first))
	require.Equal(t, []any{float64(1)}, metricValues(first))
	names, values := tables()
	require.Equal(t, []any{"first", "first-2"}, names, "the payload's products are the build's rows")
	require.Equal(t, []any{float64(1)}, values)

	_, err := e.h.RestartBuild(ctx, md, id)
	require.NoError(t, err)
	_, err = e.h.RequeueStep(ctx, md, events.StepRetryScheduled{DrvPath: drv, Attempt: 1, Reason: step.ReasonRestart}, 2150)
	require.NoError(t, err)
	second := run(2, 0, 2, "second")
	require.Equal(t, float64(0), second["buildStatus"])
	require.Equal(t, "second", productNames(second)[0], "the rebuild's product 1 replaced the first run's")
	require.Equal(t, []any{float64(2)}, metricValues(second))
	names, values = tables()
	require.Equal(t, names, productNames(second), "the payload's products are the build's rows")
	require.Equal(t, values, metricValues(second))

	// Another job of the derivation, finished by the step that ran for
	// the first build, has its products and metrics.
	e.next++
	twin := e.next
	e.put(streams.Build(twin), &events.BuildQueued{BuildID: twin, EvalID: 1, JobsetID: e.jobset, Project: "p", Jobset: "j", Job: "twin",
		NixName: "n", DrvPath: drv, System: "x86_64-linux", Timestamp: 1000, Outputs: []events.Output{{Name: "out", Path: out}}})
	_, err = e.h.FinishBuild(ctx, md, events.BuildFinished{BuildID: twin, StartTime: 2201, StopTime: 2201, IsCachedBuild: true, ProductsOf: id})
	require.NoError(t, err)
	e.deliver(f, w)
	e.project()
	rows := e.rows()
	require.Len(t, rows, 3)
	var j map[string]any
	require.NoError(t, json.Unmarshal([]byte(e.readLog(rows[2].UUID)), &j))
	require.Equal(t, float64(twin), j["build"])
	require.Equal(t, names, productNames(j), "the first build's products")
	require.Equal(t, values, metricValues(j))
	var twinNames []any
	require.NoError(t, e.pool.QueryRow(ctx, `select array_agg(name order by productnr) from BuildProducts where build = $1`, twin).Scan(&twinNames))
	require.Equal(t, names, twinNames, "the payload's products are the twin's rows")

	// A job credited with its derivation's run as the first build's
	// dependency gets what that run's outputs declared, which the builder
	// recorded with the attempt's StepFinished as no build's.
	const libDrv, libOut = "/nix/store/eeee-lib.drv", "/nix/store/ffff-lib"
	e.put(streams.Step(libDrv), &events.StepQueued{DrvPath: libDrv, System: "x86_64-linux", Outputs: []events.Output{{Name: "out", Path: libOut}}, BuildID: id, EvalID: 1})
	_, err = e.h.DispatchStep(ctx, md, events.StepDispatched{DrvPath: libDrv, BuildID: id, Machine: "m", Attempt: 1, LeaseUntil: 2400, Timestamp: 2300})
	require.NoError(t, err)
	_, err = e.h.StartStep(ctx, md, events.StepStarted{DrvPath: libDrv, BuildID: id, StepNr: 3, Machine: "m", Attempt: 1, StartTime: 2300})
	require.NoError(t, err)
	_, err = e.h.CompleteStep(ctx, md, commands.StepOutcome{Finished: events.StepFinished{DrvPath: libDrv, BuildID: id, StepNr: 3, Machine: "m", Attempt: 1,
		StartTime: 2300, StopTime: 2301, Outputs: []events.Output{{Name: "out", Path: libOut}},
		Products: []events.ProductScraped{{ProductNr: 1, Type: "file", Subtype: "iso", Path: libOut + "/lib.iso", Name: "lib.iso"}},
		Metrics:  []events.MetricScraped{{Name: "isoSize", Value: 7}}}})
	require.NoError(t, err)
	e.next++
	lib := e.next
	e.put(streams.Build(lib), &events.BuildQueued{BuildID: lib, EvalID: 1, JobsetID: e.jobset, Project: "p", Jobset: "j", Job: "lib",
		NixName: "lib", DrvPath: libDrv, System: "x86_64-linux", Timestamp: 1000, Outputs: []events.Output{{Name: "out", Path: libOut}}})
	_, err = e.h.FinishCreditedBuild(ctx, md, events.BuildFinished{BuildID: lib, StartTime: 2300, StopTime: 2301},
		[]events.ProductScraped{{BuildID: lib, ProductNr: 1, Type: "file", Subtype: "iso", Path: libOut + "/lib.iso", Name: "lib.iso"}},
		[]events.MetricScraped{{BuildID: lib, Name: "isoSize", Value: 7}})
	require.NoError(t, err)
	e.deliver(f, w)
	e.project()
	rows = e.rows()
	require.Len(t, rows, 4)
	j = nil
	require.NoError(t, json.Unmarshal([]byte(e.readLog(rows[3].UUID)), &j))
	require.Equal(t, float64(lib), j["build"])
	require.Equal(t, []any{"lib.iso"}, productNames(j))
	require.Equal(t, []any{float64(7)}, metricValues(j))
	var libNames, libValues []any
	require.NoError(t, e.pool.QueryRow(ctx, `select array_agg(name order by productnr) from BuildProducts where build = $1`, lib).Scan(&libNames))
	require.NoError(t, e.pool.QueryRow(ctx, `select array_agg(value order by name) from BuildMetrics where build = $1`, lib).Scan(&libValues))
	require.Equal(t, productNames(j), libNames, "the payload's products are the credited job's rows")
	require.Equal(t, metricValues(j), libValues)
	after, afterValues := tables()
	require.Equal(t, names, after, "the build the dependency ran for keeps its own products")
	require.Equal(t, values, afterValues)
}
