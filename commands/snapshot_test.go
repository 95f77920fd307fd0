package commands_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/commands"
	"buildledger/domain/jobset"
	"buildledger/domain/password"
	"buildledger/domain/project"
	"buildledger/domain/streams"
	"buildledger/events"
)

// snapshotEnv is one log with two runtimes over it: plain folds every
// stream from the start, snap keeps snapshots every `every` events.
type snapshotEnv struct {
	ctx         context.Context
	pool        *pgxpool.Pool
	store       events.Store
	plain, snap *commands.Runtime
	h           *commands.Handlers
}

func newSnapshotEnv(t testing.TB, every int) *snapshotEnv {
	pool := pgtest.NewPool(t)
	store := pglog.New(pool, pglog.Options{})
	clock := commands.ClockFunc(func() time.Time { return fixedNow })
	e := &snapshotEnv{ctx: context.Background(), pool: pool, store: store,
		plain: commands.NewRuntime(store, events.NewCodec(), commands.Options{Clock: clock}),
		snap: commands.NewRuntime(store, events.NewCodec(), commands.Options{Clock: clock,
			Snapshots: postgres.NewSnapshots(pool), SnapshotEvery: every})}
	e.h = commands.NewHandlers(e.snap, commands.NewAllocator(e.snap, commands.AllocatorOptions{}), postgres.NewVault(pool))
	return e
}

// loadBoth loads stream with both runtimes and requires the same result.
func loadBoth[S any](t *testing.T, e *snapshotEnv, stream string, agg commands.Aggregate[S]) commands.Loaded[S] {
	t.Helper()
	want, err := commands.Load(e.ctx, e.plain, stream, agg)
	require.NoError(t, err)
	got, err := commands.Load(e.ctx, e.snap, stream, agg)
	require.NoError(t, err)
	require.Equal(t, want, got, "%s from a snapshot", agg.Name)
	return got
}

// TestSnapshotsAreACache: loads through snapshots give the states a fold
// from the start gives, and so the same decisions; deleting the
// snapshots, or spoiling one, changes nothing but the time spent.
func TestSnapshotsAreACache(t *testing.T) {
	t.Parallel()
	e := newSnapshotEnv(t, 10)
	admin := md(commands.UserActor("admin"))
	hash, err := password.Hash("s3cret", fastHash)
	require.NoError(t, err)
	_, err = e.h.CreateUser(e.ctx, admin, commands.CreateUser{UserName: "alice", EmailAddress: "alice@example.org", PasswordHash: hash})
	require.NoError(t, err)
	_, err = e.h.CreateProject(e.ctx, admin, commands.CreateProject{Name: "p",
		Config: events.ProjectConfig{DisplayName: "P", Owner: "alice", Enabled: true}})
	require.NoError(t, err)
	cfg := events.JobsetConfig{Type: jobset.TypeLegacy, NixExprInput: "src", NixExprPath: "release.nix", Enabled: 1,
		CheckInterval: 300, SchedulingShares: 100, Inputs: []events.JobsetInput{{Name: "src", Type: "git", Value: "https://example.org/x.git"}}}
	_, err = e.h.CreateJobset(e.ctx, admin, commands.CreateJobset{Project: "p", Name: "j", Config: cfg})
	require.NoError(t, err)
	stream := streams.Jobset("p", "j")
	codec := events.NewCodec()
	open := int64(0)
	for i := range 57 {
		if i%7 == 6 || i == 56 {
			// The evaluator's events, as it appends them: the last one
			// leaves an evaluation open.
			var p events.Payload = &events.EvaluationOpened{EvalID: int64(i), Project: "p", Jobset: "j", StartTime: int64(i), Host: "h"}
			if open != 0 {
				p = &events.EvaluationClosed{EvalID: open, Project: "p", Jobset: "j", Outcome: "finished", Hash: fmt.Sprint(i), Timestamp: int64(i)}
				open = 0
			} else {
				open = int64(i)
			}
			ev, err := codec.Encode(p, admin, fixedNow)
			require.NoError(t, err)
			_, err = e.store.Append(e.ctx, stream, events.Any, ev)
			require.NoError(t, err)
			continue
		}
		if i%3 == 0 {
			cfg.Description = fmt.Sprint("version ", i)
			_, err = e.h.UpdateJobset(e.ctx, admin, commands.UpdateJobset{Project: "p", Name: "j", Config: cfg})
		} else {
			_, err = e.h.RequestEvaluation(e.ctx, admin, commands.RequestEvaluation{Project: "p", Jobset: "j", Reason: "push", Force: i%5 == 0})
		}
		require.NoError(t, err)
	}
	var n int
	require.NoError(t, e.pool.QueryRow(e.ctx, `select count(*) from commandstate.snapshots where stream = $1`, stream).Scan(&n))
	require.Equal(t, 1, n, "the handlers' loads left a snapshot")

	check := func(t *testing.T) {
		l := loadBoth(t, e, stream, commands.JobsetAggregate)
		require.Equal(t, uint64(57), l.Revision)
		require.NotNil(t, l.State.Open)
		// The same decision: an update that changes nothing appends
		// nothing, one that does is appended at the same revision.
		for _, rt := range []*commands.Runtime{e.plain, e.snap} {
			res, err := commands.Execute(e.ctx, rt, stream, commands.JobsetAggregate, func(s jobset.State) ([]events.Payload, error) {
				return jobset.Decide(s, projectState(t, e), jobset.Update{Project: "p", Name: "j", Config: cfg}, fixedNow)
			}, admin)
			require.NoError(t, err)
			require.Empty(t, res.Events)
			require.Equal(t, l.Revision, res.NextRevision)
		}
	}
	t.Run("from snapshots", check)
	_, err = e.pool.Exec(e.ctx, `update commandstate.snapshots set state = '\x7b2258223a'::bytea`)
	require.NoError(t, err)
	t.Run("spoilt snapshots", check)
	_, err = e.pool.Exec(e.ctx, `delete from commandstate.snapshots`)
	require.NoError(t, err)
	t.Run("without snapshots", check)
}

func projectState(t *testing.T, e *snapshotEnv) project.State {
	t.Helper()
	l, err := commands.Load(e.ctx, e.plain, streams.Project("p"), commands.ProjectAggregate)
	require.NoError(t, err)
	return l.State
}

// BenchmarkLoadJobsetStream loads a jobset stream of 10,000 events (a
// jobset evaluated or asked for often for a long time) from the start and
// from a snapshot taken 100 events before its end (SnapshotEvery is
// larger, so none is taken at the end).
func BenchmarkLoadJobsetStream(b *testing.B) {
	const n = 10_000
	e := newSnapshotEnv(b, n-100)
	codec := events.NewCodec()
	stream := streams.Jobset("p", "j")
	cfg := events.JobsetConfig{Type: jobset.TypeLegacy, NixExprInput: "src", NixExprPath: "release.nix", Enabled: 1,
		CheckInterval: 300, SchedulingShares: 100, Inputs: []events.JobsetInput{{Name: "src", Type: "git", Value: "https://example.org/x.git"}}}
	batch := []events.Event{}
	add := func(p events.Payload) {
		ev, err := codec.Encode(p, md("user:admin"), fixedNow)
		require.NoError(b, err)
		batch = append(batch, ev)
		if len(batch) == 100 {
			_, err := e.store.Append(e.ctx, stream, events.Any, batch...)
			require.NoError(b, err)
			batch = batch[:0]
		}
	}
	add(events.JobsetCreated{Project: "p", Name: "j", ID: 1, JobsetConfig: cfg})
	for i := 1; i < n; i++ {
		if i == n-100 {
			// The snapshot is taken here: 100 events follow it.
			_, err := commands.Load(e.ctx, e.snap, stream, commands.JobsetAggregate)
			require.NoError(b, err)
		}
		switch i % 3 {
		case 0:
			add(events.EvaluationRequested{Project: "p", Jobset: "j", Reason: "push", At: int64(i)})
		case 1:
			add(events.EvaluationOpened{EvalID: int64(i), Project: "p", Jobset: "j", StartTime: int64(i)})
		case 2:
			add(events.EvaluationClosed{EvalID: int64(i - 1), Project: "p", Jobset: "j", Outcome: "finished", Hash: fmt.Sprint(i), Timestamp: int64(i)})
		}
	}
	require.Empty(b, batch)
	for _, c := range []struct {
		name string
		rt   *commands.Runtime
	}{{"from the start", e.plain}, {"from a snapshot", e.snap}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				l, err := commands.Load(e.ctx, c.rt, stream, commands.JobsetAggregate)
				require.NoError(b, err)
				require.Equal(b, uint64(n-1), l.Revision)
			}
		})
	}
}
