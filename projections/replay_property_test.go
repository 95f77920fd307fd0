package projections_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/commands"
	"buildledger/domain/streams"
	"buildledger/events"
	"buildledger/projections"
	"buildledger/projections/hydra"
	"buildledger/projections/insights"
	"buildledger/projections/ledger"
	"buildledger/projections/provenance"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func readModels(keys hydra.UserKeys) []projections.Projection {
	return []projections.Projection{hydra.Projection{Keys: keys}, ledger.Projection{}, insights.Projection{}, provenance.Projection{}}
}

// errInjected is the fault the flaky database throws.
var errInjected = errors.New("injected fault: projector killed")

// flakyDB fails a transaction at a random statement with probability p
// per statement: the projector dies mid-batch, and its transaction rolls
// back with the checkpoint.
type flakyDB struct {
	projections.DB
	mu    sync.Mutex // the runner applies projections concurrently
	rng   *rand.Rand
	p     float64
	fired int
}

func (f *flakyDB) InTx(ctx context.Context, fn func(projections.Tx) error) error {
	return f.DB.InTx(ctx, func(tx projections.Tx) error { return fn(&flakyTx{Tx: tx, db: f}) })
}

type flakyTx struct {
	projections.Tx
	db *flakyDB
}

func (t *flakyTx) fault() error {
	t.db.mu.Lock()
	defer t.db.mu.Unlock()
	if t.db.rng.Float64() < t.db.p {
		t.db.fired++
		return errInjected
	}
	return nil
}

func (t *flakyTx) Exec(ctx context.Context, sql string, args ...any) error {
	if err := t.fault(); err != nil {
		return err
	}
	return t.Tx.Exec(ctx, sql, args...)
}

func (t *flakyTx) ExecAll(ctx context.Context, stmts []projections.Statement) error {
	if err := t.fault(); err != nil {
		return err
	}
	return t.Tx.ExecAll(ctx, stmts)
}

func (t *flakyTx) CopyFrom(ctx context.Context, table string, cols []string, rows [][]any) error {
	if err := t.fault(); err != nil {
		return err
	}
	return t.Tx.CopyFrom(ctx, table, cols, rows)
}

// TestLiveEqualsReplay drives random command sequences through the real
// command handlers (and synthetic build events), projects them live with
// a projector that is killed at random points and restarted, then
// rebuilds everything with replay, in small batches so that the replay
// meets the sequence's deletions after loading rows without foreign keys:
// the two must be equal row for row.
func TestLiveEqualsReplay(t *testing.T) {
	// The seeds between them write every one of these tables.
	covered := []string{"step_attempts", "output_observations", "insight_flaky_steps", "insight_nonrepro_outputs", "insight_eval_times",
		"provenance_statements"}
	wrote := map[string]int{}
	for seed := int64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			ctx := context.Background()
			pool := pgtest.NewPool(t)
			store := pglog.New(pool, pglog.Options{})
			codec := events.NewCodec()
			rng := rand.New(rand.NewSource(seed))
			// The faults and batch sizes draw from their own source: how
			// many statements a faulted batch ran depends on the order
			// in which the runner's concurrent projections got to them,
			// and must not change the commands the seed gives.
			faults := rand.New(rand.NewSource(-seed))
			rt := commands.NewRuntime(store, codec, commands.Options{})
			h := commands.NewHandlers(rt, commands.NewAllocator(rt, commands.AllocatorOptions{}), postgres.NewVault(pool))
			g := &generator{rng: rng, h: h, rt: rt, store: store, codec: codec}

			db := &flakyDB{DB: postgres.NewReadModelDB(pool), rng: faults, p: 0.02}
			newRunner := func() *projections.Runner {
				r, err := projections.NewRunner(store, codec, db, readModels(postgres.NewVault(pool)), projections.RunnerOptions{BatchSize: 1 + faults.Intn(40)})
				require.NoError(t, err)
				return r
			}
			runner := newRunner()
			for round := 0; round < 25; round++ {
				for i := 0; i < 10; i++ {
					g.step(ctx, t)
				}
				// The live projector runs a few batches; a fault kills it and
				// a fresh one takes over from the committed checkpoint.
				for b := 0; b < faults.Intn(4); b++ {
					if _, err := runner.Step(ctx); err != nil {
						require.ErrorIs(t, err, errInjected)
						runner = newRunner()
					}
				}
			}
			db.p = 0
			_, err := newRunner().CatchUp(ctx)
			require.NoError(t, err)
			require.Greater(t, db.fired, 0, "faults were injected")
			live := pgtest.Dump(t, pool, "public")
			require.NotEmpty(t, live["builds"], "the sequence produced builds")
			require.NotEmpty(t, live["jobsets"], "the sequence produced jobsets")
			for _, table := range covered {
				wrote[table] += len(live[table])
			}

			require.Greater(t, g.deletions, 0, "the sequence deleted projects or jobsets")
			require.Greater(t, g.renames, 0, "the sequence renamed projects")

			// Small batches: the deletions come after the replay's first.
			// One event a batch is how the projections were written; the
			// whole log in one batch folds the most into each statement.
			for _, size := range []int{1 + faults.Intn(40), 1, 1 << 20} {
				res, err := projections.Replay(ctx, store, codec, postgres.NewSchemas(pool), readModels(postgres.NewVault(pool)),
					projections.ReplayOptions{Target: fmt.Sprintf("replay_check_%d", size), BatchSize: size})
				require.NoError(t, err)
				require.True(t, res.Swapped)
				// A fresh pool: no connection of it has seen the old schema.
				fresh, err := pgxpool.NewWithConfig(ctx, pool.Config())
				require.NoError(t, err)
				replayed := pgtest.Dump(t, fresh, "public")
				var inBackup int
				require.NoError(t, fresh.QueryRow(ctx, fmt.Sprintf("select count(*) from %s.builds", res.Backup)).Scan(&inBackup))
				require.Equal(t, len(live["builds"]), inBackup, "the old read models are kept under %s", res.Backup)
				for table, rows := range live {
					require.Equal(t, rows, replayed[table], "table %s differs between live and a replay in batches of %d", table, size)
				}
				require.Equal(t, len(live), len(replayed))
				require.Equal(t, indexes(t, fresh, res.Backup), indexes(t, fresh, "public"), "the replay built again every index it deferred")
				fresh.Close()
			}
		})
	}
	for _, table := range covered {
		require.NotZero(t, wrote[table], "the sequences wrote %s", table)
	}
}

// indexes lists the indexes of schema's tables with their definitions,
// the schema's name taken out.
func indexes(t *testing.T, pool *pgxpool.Pool, schema string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `select tablename || ' ' || indexname || ' ' || replace(indexdef, ' ON ' || schemaname || '.', ' ON ')
		from pg_indexes where schemaname = $1 order by 1`, schema)
	require.NoError(t, err)
	defs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.NotEmpty(t, defs)
	return defs
}

// generator issues random commands, valid or not, and random build
// histories for the jobsets that exist.
type generator struct {
	rng     *rand.Rand
	h       *commands.Handlers
	rt      *commands.Runtime
	store   events.Store
	codec   *events.Codec
	users   []string
	jobsets []jobsetRef
	builds  []int64
	// paths are each build's derivation and output.
	paths map[int64][2]string
	// ended are the attempts that finished: the step's stream refuses
	// their StepStarted and StepFinished since (commands.CompleteStep).
	ended  map[string]bool
	nextID int64
	evals  int64
	// deletions counts the projects and jobsets deleted.
	deletions int
	// renames counts the projects renamed.
	renames int
}

type jobsetRef struct {
	project, name string
	id            int64
}

var names = []string{"alpha", "beta", "gamma", "delta"}

// narHashes are two NAR hashes an output may be uploaded with.
var narHashes = []string{"sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s", "sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"}

func (g *generator) pick(xs []string) string { return xs[g.rng.Intn(len(xs))] }

func (g *generator) md() events.Metadata {
	return commands.NewMetadata(commands.UserActor("tester"), g.rt)
}

func (g *generator) step(ctx context.Context, t *testing.T) {
	t.Helper()
	var err error
	switch g.rng.Intn(12) {
	case 0, 1:
		name := g.pick(names)
		_, err = g.h.CreateUser(ctx, g.md(), commands.CreateUser{UserName: name, EmailAddress: name + "@example.org",
			PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo", Roles: []string{g.pick([]string{"admin", "restart-jobs"})}})
		if err == nil {
			g.users = append(g.users, name)
		}
	case 2:
		if len(g.users) == 0 {
			return
		}
		_, err = g.h.CreateProject(ctx, g.md(), commands.CreateProject{Name: "p" + g.pick(names),
			Config: events.ProjectConfig{DisplayName: "Project " + g.pick(names), Owner: g.pick(g.users), Enabled: true, Description: g.pick(names)}})
	case 3:
		if len(g.users) == 0 {
			return
		}
		_, err = g.h.UpdateProject(ctx, g.md(), commands.UpdateProject{Name: "p" + g.pick(names),
			Config: events.ProjectConfig{DisplayName: "Renamed " + g.pick(names), Owner: g.pick(g.users), Enabled: g.rng.Intn(2) == 0, Hidden: g.rng.Intn(2) == 0}})
	case 4, 5:
		p, j := "p"+g.pick(names), "j"+g.pick(names)
		var res commands.Result
		res, err = g.h.CreateJobset(ctx, g.md(), commands.CreateJobset{Project: p, Name: j, Config: g.jobsetConfig()})
		if err == nil {
			for _, e := range res.Events {
				c, derr := g.codec.Decode(events.Recorded{ID: e.ID, Type: e.Type, Version: e.Version, Data: e.Data})
				require.NoError(t, derr)
				if c, ok := c.(*events.JobsetCreated); ok {
					g.jobsets = append(g.jobsets, jobsetRef{p, j, c.ID})
				}
			}
		}
	case 6:
		_, err = g.h.UpdateJobset(ctx, g.md(), commands.UpdateJobset{Project: "p" + g.pick(names), Name: "j" + g.pick(names), Config: g.jobsetConfig()})
	case 7:
		if g.rng.Intn(2) == 0 || len(g.users) == 0 {
			_, err = g.h.RenameJobset(ctx, g.md(), commands.RenameJobset{Project: "p" + g.pick(names), Name: "j" + g.pick(names), NewName: "j" + g.pick(names)})
			break
		}
		from, to := "p"+g.pick(names), "p"+g.pick(names)
		if g.rng.Intn(2) == 0 {
			// Random names mostly hit a missing project or a taken name
			// once the few names are in use; aim at a rename that works.
			from, to = g.projectName(ctx, t, true), g.projectName(ctx, t, false)
		}
		_, err = g.h.RenameProject(ctx, g.md(), commands.RenameProject{Name: from, NewName: to,
			Config: events.ProjectConfig{DisplayName: "Moved " + g.pick(names), Owner: g.pick(g.users), Enabled: true}})
		if err == nil {
			g.renames++
			for i := range g.jobsets {
				if g.jobsets[i].project == from {
					g.jobsets[i].project = to
				}
			}
		}
	case 8:
		if len(g.users) > 0 {
			_, err = g.h.SetProjectMembers(ctx, g.md(), commands.SetProjectMembers{Name: "p" + g.pick(names), Members: []string{g.pick(g.users)}})
		}
	case 9:
		// Builds keep coming for the jobsets deleted here: their rows
		// must be dropped.
		switch g.rng.Intn(8) {
		case 0, 1:
			_, err = g.h.DeleteJobset(ctx, g.md(), commands.DeleteJobset{Project: "p" + g.pick(names), Name: "j" + g.pick(names)})
		case 2:
			_, err = g.h.DeleteProject(ctx, g.md(), commands.DeleteProject{Name: "p" + g.pick(names)})
		default:
			return
		}
		if err == nil {
			g.deletions++
		}
	default:
		g.buildHistory(ctx, t)
	}
	_ = err // invalid commands are part of the sequence: they must change nothing
}

// projectName returns a random project name whose project exists, or
// does not, as live says; a random name when none qualifies.
func (g *generator) projectName(ctx context.Context, t *testing.T, live bool) string {
	t.Helper()
	for _, i := range g.rng.Perm(len(names)) {
		name := "p" + names[i]
		l, err := commands.Load(ctx, g.rt, streams.Project(name), commands.ProjectAggregate)
		require.NoError(t, err)
		if l.State.Exists == live {
			return name
		}
	}
	return "p" + g.pick(names)
}

func (g *generator) jobsetConfig() events.JobsetConfig {
	return events.JobsetConfig{Type: 0, NixExprInput: "src", NixExprPath: "release.nix", Enabled: 1, KeepNr: 3,
		CheckInterval: 60 * g.rng.Intn(10), SchedulingShares: 1 + g.rng.Intn(200), EmailOverride: "",
		Inputs: []events.JobsetInput{{Name: "src", Type: "git", Value: "https://example.org/" + g.pick(names) + ".git"}}}
}

// buildHistory appends an evaluation of a random jobset with a few builds,
// and then finishes some builds of earlier evaluations.
func (g *generator) buildHistory(ctx context.Context, t *testing.T) {
	if len(g.jobsets) == 0 {
		return
	}
	js := g.jobsets[g.rng.Intn(len(g.jobsets))]
	g.evals++
	eval := g.evals
	now := time.Unix(1_700_000_000+eval*100, 0)
	g.append(ctx, t, streams.Eval(eval), events.EvaluationStarted{EvalID: eval, Project: js.project, Jobset: js.name, JobsetID: js.id, StartTime: now.Unix()})
	n := 1 + g.rng.Intn(4)
	var ids []int64
	for i := 0; i < n; i++ {
		g.nextID++
		id := g.nextID
		ids = append(ids, id)
		drv := fmt.Sprintf("/nix/store/%032d-job%d.drv", id, i)
		out := fmt.Sprintf("/nix/store/%032d-job%d", id, i)
		if g.paths == nil {
			g.paths = map[int64][2]string{}
		}
		g.paths[id] = [2]string{drv, out}
		g.append(ctx, t, streams.Build(id), events.BuildQueued{BuildID: id, EvalID: eval, JobsetID: js.id, Project: js.project, Jobset: js.name,
			Job: fmt.Sprintf("job%d", i), NixName: "job", DrvPath: drv, System: "x86_64-linux",
			Outputs: []events.Output{{Name: "out", Path: out}}, Meta: events.JobMeta{Timeout: 36000, MaxSilent: 7200, SchedulingPriority: 100}, Timestamp: now.Unix()})
		g.append(ctx, t, streams.Step(drv), events.StepQueued{DrvPath: drv, System: "x86_64-linux", BuildID: id, EvalID: eval,
			Outputs: []events.Output{{Name: "out", Path: out}}, InputDrvs: []string{fmt.Sprintf("/nix/store/%032d-dep.drv", g.rng.Intn(5))}})
	}
	failing := g.rng.Intn(3) == 0
	for i, id := range ids {
		job := events.JobEvaluated{EvalID: eval, Job: fmt.Sprintf("job%d", i), BuildID: id, IsNew: true, System: "x86_64-linux"}
		g.append(ctx, t, streams.Eval(eval), job)
	}
	if failing {
		g.append(ctx, t, streams.Eval(eval), events.JobEvaluationFailed{EvalID: eval, Job: "broken", Error: "attribute missing"})
	}
	if g.rng.Intn(5) == 0 {
		g.append(ctx, t, streams.Eval(eval), events.EvaluationFailed{EvalID: eval, Project: js.project, Jobset: js.name, Phase: "eval", Error: "syntax error", Timestamp: now.Unix()})
	} else {
		g.append(ctx, t, streams.Eval(eval), events.EvaluationFinished{EvalID: eval, Project: js.project, Jobset: js.name, JobsetID: js.id,
			Hash: fmt.Sprint(eval), Timestamp: now.Unix(), NrBuilds: n, NrNewBuilds: n, HasNewBuilds: true})
	}
	g.builds = append(g.builds, ids...)
	if g.rng.Intn(4) == 0 {
		// A request, then a check that found the inputs unchanged, on the
		// jobset's stream with no evaluation of its own: it answers the
		// request only if it began after it.
		stream, at := streams.Jobset(js.project, js.name), now.Unix()+10
		g.append(ctx, t, stream, events.EvaluationRequested{Project: js.project, Jobset: js.name, Reason: "push", At: at})
		g.append(ctx, t, stream, events.EvaluationCached{Project: js.project, Jobset: js.name, EvalID: eval, Hash: fmt.Sprint(eval),
			Timestamp: at + 20, StartTime: at - 5 + 10*int64(g.rng.Intn(2))})
	}
	// Progress some earlier builds: a step's attempts on two machines,
	// in any order, so that a batch holds several statements on one
	// step and one attempt (projections/ledger writes them in rounds).
	for k := 0; k < 6 && len(g.builds) > 0; k++ {
		// Mostly the first builds: their steps then see several attempts,
		// failed and not, and outputs with two hashes.
		id := g.builds[g.rng.Intn(min(len(g.builds), 3+g.rng.Intn(len(g.builds))))]
		drv, out := g.paths[id][0], g.paths[id][1]
		attempt, machine := 1+g.rng.Intn(2), g.pick([]string{"m1", "m2"})
		var p events.Payload
		stream := streams.Step(drv)
		ended := fmt.Sprintf("%s/%d", drv, attempt)
		switch g.rng.Intn(10) {
		case 0:
			if g.ended[ended] {
				continue
			}
			p = events.StepStarted{DrvPath: drv, BuildID: id, StepNr: int(g.rng.Intn(3)) + 1, Machine: machine, Attempt: attempt, StartTime: now.Unix()}
		case 1:
			if g.ended[ended] {
				continue
			}
			if g.ended == nil {
				g.ended = map[string]bool{}
			}
			g.ended[ended] = true
			p = events.StepFinished{DrvPath: drv, BuildID: id, StepNr: 1, Machine: machine, Attempt: attempt, Status: g.rng.Intn(2),
				StartTime: now.Unix() + int64(g.rng.Intn(2)), StopTime: now.Unix() + 5, Outputs: []events.Output{{Name: "out", Path: out}}}
		case 2:
			stream, p = streams.Build(id), events.BuildFinished{BuildID: id, Status: g.rng.Intn(3), StartTime: now.Unix(), StopTime: now.Unix() + 9, ReleaseName: "rel"}
		case 3:
			stream, p = streams.Build(id), events.BuildRestarted{BuildID: id, Timestamp: now.Unix()}
		case 4:
			stream, p = streams.Build(id), events.BuildCancelled{BuildID: id, Timestamp: now.Unix()}
		case 5:
			p = events.StepDispatched{DrvPath: drv, BuildID: id, Machine: machine, Attempt: attempt, LeaseUntil: now.Unix() + 60,
				Reason: events.DispatchReason{GlobalPriority: g.rng.Intn(3), ShareUsed: 0.5, Candidates: 1 + g.rng.Intn(3), LowestBuildID: id}}
		case 6:
			p = events.StepLogStored{DrvPath: drv, BuildID: id, StepNr: 1, Attempt: attempt, Location: fmt.Sprintf("%s/%d", drv, attempt),
				Size: int64(g.rng.Intn(100)), SHA256: "ab"}
		case 7:
			p = events.OutputUploaded{DrvPath: drv, BuildID: id, OutputName: "out", Path: out, NarHash: g.pick(narHashes), NarSize: 9}
		case 8:
			p = events.StepRetryScheduled{DrvPath: drv, Attempt: attempt, RetryAt: now.Unix() + 30, Reason: "aborted"}
		case 9:
			p = events.StepQueued{DrvPath: drv, System: "x86_64-linux", BuildID: id, EvalID: eval, Outputs: []events.Output{{Name: "out", Path: out}}}
		}
		g.append(ctx, t, stream, p)
	}
}

func (g *generator) append(ctx context.Context, t *testing.T, stream string, p events.Payload) {
	t.Helper()
	ev, err := g.codec.Encode(p, g.md(), time.Now())
	require.NoError(t, err)
	_, err = g.store.Append(ctx, stream, events.Any, ev)
	require.NoError(t, err, "append %s to %s", p.EventType(), stream)
}
