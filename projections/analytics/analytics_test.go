package analytics_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/events"
	"buildledger/projections"
	"buildledger/projections/analytics"
	"buildledger/test/projtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

type entry struct {
	at     time.Duration // after t0
	stream string
	p      events.Payload
}

// record appends the history and pins every event's recording time, as
// if it had been recorded then.
func record(t *testing.T, pool *pgxpool.Pool, store *pglog.Store, h []entry) {
	t.Helper()
	codec := events.NewCodec()
	ctx := context.Background()
	for _, e := range h {
		ev, err := codec.Encode(e.p, events.Metadata{Actor: "component:test"}, t0.Add(e.at))
		require.NoError(t, err)
		res, err := store.Append(ctx, e.stream, events.Any, ev)
		require.NoError(t, err)
		pgtest.Rewrite(t, pool, `update ledger.events set recorded_at = $2 where position = $1`, int64(res.Position.Commit), t0.Add(e.at))
	}
}

func history() []entry {
	q := func(drv, sys string) *events.StepQueued {
		return &events.StepQueued{DrvPath: drv, System: sys, BuildID: 1, EvalID: 1}
	}
	d := func(drv string, attempt int) *events.StepDispatched {
		return &events.StepDispatched{DrvPath: drv, BuildID: 1, Machine: "m", Attempt: attempt}
	}
	bq := func(id int64, job string) *events.BuildQueued {
		return &events.BuildQueued{BuildID: id, EvalID: 1, Project: "p", Jobset: "j", Job: job, System: "x86_64-linux", DrvPath: fmt.Sprintf("/nix/store/%d.drv", id)}
	}
	bf := func(id int64, status int, start, stop time.Duration, cached bool) *events.BuildFinished {
		return &events.BuildFinished{BuildID: id, Status: status, StartTime: t0.Add(start).Unix(), StopTime: t0.Add(stop).Unix(), IsCachedBuild: cached}
	}
	m := time.Minute
	return []entry{
		{0, "step-a", q("a", "x86_64-linux")},
		{0, "step-b", q("b", "x86_64-linux")},
		{0, "step-c", q("c", "aarch64-linux")},
		{2 * m, "step-a", d("a", 1)},               // waited 120 s, hour 10:00
		{5 * m, "step-b", d("b", 1)},               // waited 300 s, hour 10:00
		{6 * m, "step-b", d("b", 2)},               // a second attempt: not a new wait
		{30 * m, "step-a", q("a", "x86_64-linux")}, // re-queued: first queueing counts
		{70 * m, "step-c", d("c", 1)},              // waited 4200 s, hour 11:00
		{75 * m, "step-z", d("z", 1)},              // never queued: ignored
		{0, "build-1", bq(1, "hello")},
		{0, "build-2", bq(2, "hello")},
		{0, "build-3", bq(3, "hello")},
		{0, "build-4", bq(4, "world")},
		{0, "build-5", bq(5, "world")},
		{10 * m, "build-1", bf(1, 0, 0, 10*m, false)},                                // 600 s on day 20
		{20 * m, "build-2", bf(2, 0, 5*m, 20*m, false)},                              // 900 s on day 20
		{24*time.Hour + m, "build-3", bf(3, 0, 24*time.Hour, 24*time.Hour+m, false)}, // 60 s on day 21
		{30 * m, "build-4", bf(4, 1, 0, 30*m, false)},                                // failed: not counted
		{40 * m, "build-5", bf(5, 0, 0, 40*m, true)},                                 // cached: not counted
	}
}

func rows(t *testing.T, pool *pgxpool.Pool, sql string) []string {
	t.Helper()
	rs, err := pool.Query(context.Background(), sql)
	require.NoError(t, err)
	defer rs.Close()
	var out []string
	for rs.Next() {
		vals, err := rs.Values()
		require.NoError(t, err)
		out = append(out, strings.TrimSpace(fmt.Sprintln(vals...)))
	}
	require.NoError(t, rs.Err())
	return out
}

func TestRebuildFromRecordedHistory(t *testing.T) {
	for _, batch := range []int{1, 3, 1000} {
		t.Run(fmt.Sprintf("batch%d", batch), func(t *testing.T) {
			env := projtest.New(t)
			pool := env.Pool
			record(t, pool, env.Store, history())
			r := env.Runner(t, projections.RunnerOptions{BatchSize: batch}, analytics.QueueWait{}, analytics.BuildDuration{})
			_, err := r.CatchUp(context.Background())
			require.NoError(t, err)

			require.Equal(t, []string{
				"aarch64-linux 2026-11-20 11:00:00 +0000 UTC 1 4200 4200",
				"x86_64-linux 2026-11-20 10:00:00 +0000 UTC 2 420 300",
			}, rows(t, pool, `select system, hour at time zone 'UTC', steps, total_wait_s::float8, max_wait_s::float8 from queue_wait_hourly order by system, hour`))
			require.Equal(t, []string{
				"p j hello 2026-11-20 00:00:00 +0000 UTC 2 1500 600 900",
				"p j hello 2026-11-21 00:00:00 +0000 UTC 1 60 60 60",
			}, rows(t, pool, `select project, jobset, job, day, builds, total_s, min_s, max_s from build_duration_daily order by job, day`))
		})
	}
}
