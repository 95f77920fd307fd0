package hydra_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/commands"
	"buildledger/events"
	"buildledger/events/storetest"
	"buildledger/projections"
	"buildledger/projections/hydra"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// history is a synthetic ledger: evaluations of 1,000 builds each, then
// every build runs one step and finishes. Each build costs 5 events.
type history struct {
	jobsetID int64
	builds   int
	perEval  int
}

func (h history) payloads(yield func(events.Payload)) {
	now := int64(1_700_000_000)
	for first := 1; first <= h.builds; first += h.perEval {
		eval := int64(first/h.perEval + 1)
		last := min(first+h.perEval-1, h.builds)
		yield(events.EvaluationStarted{EvalID: eval, Project: "p", Jobset: "j", JobsetID: h.jobsetID, StartTime: now})
		for id := first; id <= last; id++ {
			yield(events.BuildQueued{BuildID: int64(id), EvalID: eval, JobsetID: h.jobsetID, Project: "p", Jobset: "j",
				Job: fmt.Sprintf("job%d", id), NixName: "pkg-1.0", DrvPath: drv(id), System: "x86_64-linux",
				Outputs: []events.Output{{Name: "out", Path: out(id)}}, Meta: events.JobMeta{Timeout: 36000, MaxSilent: 7200, SchedulingPriority: 100}, Timestamp: now})
		}
		for id := first; id <= last; id++ {
			yield(events.JobEvaluated{EvalID: eval, Job: fmt.Sprintf("job%d", id), BuildID: int64(id), IsNew: true})
		}
		yield(events.EvaluationFinished{EvalID: eval, Project: "p", Jobset: "j", JobsetID: h.jobsetID, Hash: fmt.Sprint(eval),
			Timestamp: now, NrBuilds: last - first + 1, HasNewBuilds: true})
		for id := first; id <= last; id++ {
			yield(events.StepStarted{DrvPath: drv(id), BuildID: int64(id), StepNr: 1, Machine: "m1", Attempt: 1, StartTime: now})
		}
		for id := first; id <= last; id++ {
			yield(events.StepFinished{DrvPath: drv(id), BuildID: int64(id), StepNr: 1, Machine: "m1", Attempt: 1, Status: 0,
				StartTime: now, StopTime: now + 10, TimesBuilt: 1, Outputs: []events.Output{{Name: "out", Path: out(id)}}})
		}
		for id := first; id <= last; id++ {
			yield(events.BuildFinished{BuildID: int64(id), Status: 0, StartTime: now, StopTime: now + 10, Size: 1024, ClosureSize: 4096})
		}
	}
}

// drv and out are store paths shaped like real ones: a hash of 32
// random-looking characters. Zero-padded numbers instead made the trigram
// index of Builds.drvPath four times cheaper to build than real paths do
// (2,000,000 rows: 19 s against 68 s), since they share most trigrams.
func drv(id int) string { return storePath(id, "drv", "pkg-1.0.drv") }
func out(id int) string { return storePath(id, "out", "pkg-1.0") }

func storePath(id int, kind, name string) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s-%d", kind, id))
	return "/nix/store/" + nixbase32.EncodeToString(h[:20]) + "-" + name
}

// seeded is a database whose log holds a user, a project, a jobset and a
// synthetic history of builds in that jobset.
type seeded struct {
	pool  *pgxpool.Pool
	store *pglog.Store
	codec *events.Codec
	hist  history
	head  events.Position
}

// seed records the jobset and builds builds, 1,000 per evaluation.
func seed(tb testing.TB, builds int) seeded {
	ctx := context.Background()
	pool := pgtest.NewPool(tb)
	store := pglog.New(pool, pglog.Options{})
	codec := events.NewCodec()
	rt := commands.NewRuntime(store, codec, commands.Options{})
	h := commands.NewHandlers(rt, commands.NewAllocator(rt, commands.AllocatorOptions{}), postgres.NewVault(pool))
	md := commands.NewMetadata(commands.UserActor("bench"), rt)
	_, err := h.CreateUser(ctx, md, commands.CreateUser{UserName: "bench", EmailAddress: "b@example.org", PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"})
	require.NoError(tb, err)
	_, err = h.CreateProject(ctx, md, commands.CreateProject{Name: "p", Config: events.ProjectConfig{DisplayName: "P", Owner: "bench", Enabled: true}})
	require.NoError(tb, err)
	res, err := h.CreateJobset(ctx, md, commands.CreateJobset{Project: "p", Name: "j", Config: events.JobsetConfig{
		NixExprInput: "src", NixExprPath: "release.nix", Enabled: 1, KeepNr: 3, CheckInterval: 300, SchedulingShares: 100,
		Inputs: []events.JobsetInput{{Name: "src", Type: "path", Value: "/tmp"}}}})
	require.NoError(tb, err)
	created, err := codec.Decode(events.Recorded{ID: res.Events[0].ID, Type: res.Events[0].Type, Version: res.Events[0].Version, Data: res.Events[0].Data})
	require.NoError(tb, err)

	hist := history{jobsetID: created.(*events.JobsetCreated).ID, builds: builds, perEval: 1000}
	var batch []events.Event
	chunk := 0
	flush := func() {
		if len(batch) == 0 {
			return
		}
		_, err := store.Append(ctx, fmt.Sprintf("bench-%d", chunk), events.NoStream, batch...)
		require.NoError(tb, err)
		chunk++
		batch = batch[:0]
	}
	now := time.Now()
	hist.payloads(func(p events.Payload) {
		ev, err := codec.Encode(p, md, now)
		require.NoError(tb, err)
		batch = append(batch, ev)
		if len(batch) == 1000 {
			flush()
		}
	})
	flush()
	head, err := store.Head(ctx)
	require.NoError(tb, err)
	return seeded{pool: pool, store: store, codec: codec, hist: hist, head: head}
}

// BenchmarkReplay measures replay of a synthetic history into Hydra's
// tables, and a plain COPY of the same final rows into the same tables in
// the same run; it reports events/s and the ratio of the two times. The
// replay runs as `buildledger replay` does, with the default batch size.
func BenchmarkReplay(b *testing.B) {
	ctx := context.Background()
	sd := seed(b, storetest.BenchEvents(b, 100_000)/5)
	pool, store, codec, hist, head := sd.pool, sd.store, sd.codec, sd.hist, sd.head
	schemas := postgres.NewSchemas(pool)
	pgtest.SettleLog(b, pool)

	b.ResetTimer()
	var replayTime, copyTime time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		res, err := projections.Replay(ctx, store, codec, schemas, []projections.Projection{hydra.Projection{Keys: postgres.NewVault(pool)}},
			projections.ReplayOptions{Target: fmt.Sprintf("bench_replay_%d", i), Until: head})
		require.NoError(b, err)
		replayTime += time.Since(start)
		require.Equal(b, int64(head.Commit), res.Applied)

		b.StopTimer()
		var builds int
		require.NoError(b, pool.QueryRow(ctx, fmt.Sprintf("select count(*) from bench_replay_%d.builds where finished = 1", i)).Scan(&builds))
		require.Equal(b, hist.builds, builds)
		copyTime += copyBaseline(b, ctx, pool, schemas, fmt.Sprintf("bench_copy_%d", i), hist)
		// Neither schema is read again: dropping them spares the next
		// run autovacuum's pass over their fresh rows.
		require.NoError(b, schemas.Drop(ctx, fmt.Sprintf("bench_replay_%d", i)))
		require.NoError(b, schemas.Drop(ctx, fmt.Sprintf("bench_copy_%d", i)))
		b.StartTimer()
	}
	b.StopTimer()
	perSec := float64(head.Commit) * float64(b.N) / replayTime.Seconds()
	b.ReportMetric(perSec, "events/s")
	b.ReportMetric(replayTime.Seconds()/copyTime.Seconds(), "x-copy")
	b.ReportMetric(float64(head.Commit), "events")
}

// copyBaseline COPYs the rows the replay produces into a fresh schema's
// tables and returns how long the COPYs took.
func copyBaseline(b *testing.B, ctx context.Context, pool interface {
	Begin(context.Context) (pgx.Tx, error)
}, schemas *postgres.Schemas, schema string, h history) time.Duration {
	_, release, err := schemas.Create(ctx, schema)
	require.NoError(b, err)
	release()
	now := int64(1_700_000_000)
	var builds, outputs, members, steps, stepOutputs, evals [][]any
	for first := 1; first <= h.builds; first += h.perEval {
		eval := int64(first/h.perEval + 1)
		last := min(first+h.perEval-1, h.builds)
		evals = append(evals, []any{eval, h.jobsetID, now, 0, 0, 1, fmt.Sprint(eval), last - first + 1})
		for id := first; id <= last; id++ {
			builds = append(builds, []any{int64(id), 1, now, h.jobsetID, fmt.Sprintf("job%d", id), "pkg-1.0", drv(id), "x86_64-linux",
				7200, 36000, 0, 1, 100, 0, 0, now, now + 10, 0, 0, int64(1024), int64(4096), now + 10})
			outputs = append(outputs, []any{int64(id), "out", out(id)})
			members = append(members, []any{eval, int64(id), 1})
			steps = append(steps, []any{int64(id), 1, 0, drv(id), 0, 0, now, now + 10, "m1", 1, false})
			stepOutputs = append(stepOutputs, []any{int64(id), 1, "out", out(id)})
		}
	}
	tx, err := pool.Begin(ctx)
	require.NoError(b, err)
	defer tx.Rollback(ctx)
	_, err = tx.Exec(ctx, fmt.Sprintf(`insert into %[1]s.users (username, emailaddress, password) values ('bench', '', '');
		insert into %[1]s.projects (name, displayname, owner) values ('p', 'P', 'bench');
		insert into %[1]s.jobsets (name, id, project, nixexprinput, nixexprpath, emailoverride) values ('j', %[2]d, 'p', 'src', 'release.nix', '')`,
		schema, h.jobsetID))
	require.NoError(b, err)
	start := time.Now()
	copyInto := func(table string, cols []string, rows [][]any) {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{schema, table}, cols, pgx.CopyFromRows(rows))
		require.NoError(b, err, table)
	}
	copyInto("jobsetevals", []string{"id", "jobset_id", "timestamp", "checkouttime", "evaltime", "hasnewbuilds", "hash", "nrbuilds"}, evals)
	copyInto("builds", []string{"id", "finished", "timestamp", "jobset_id", "job", "nixname", "drvpath", "system", "maxsilent", "timeout",
		"ischannel", "iscurrent", "priority", "globalpriority", "keep", "starttime", "stoptime", "iscachedbuild", "buildstatus", "size", "closuresize", "notificationpendingsince"}, builds)
	copyInto("buildoutputs", []string{"build", "name", "path"}, outputs)
	copyInto("jobsetevalmembers", []string{"eval", "build", "isnew"}, members)
	copyInto("buildsteps", []string{"build", "stepnr", "type", "drvpath", "busy", "status", "starttime", "stoptime", "machine", "timesbuilt", "isnondeterministic"}, steps)
	copyInto("buildstepoutputs", []string{"build", "stepnr", "name", "path"}, stepOutputs)
	require.NoError(b, tx.Commit(ctx))
	return time.Since(start)
}
