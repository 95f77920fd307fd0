package analytics_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/events"
	"buildledger/events/storetest"
	"buildledger/projections"
	"buildledger/projections/analytics"
)

// seedHistory COPYs n events into the log: per build, BuildQueued,
// StepQueued, StepDispatched, BuildFinished, over 8 systems and 50 jobs,
// one event a second.
func seedHistory(b *testing.B, pool *pgxpool.Pool, n int) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := make([][]any, 0, 10_000)
	flush := func() {
		_, err := pool.CopyFrom(ctx, pgx.Identifier{"ledger", "events"},
			[]string{"position", "stream", "revision", "id", "type", "version", "data", "metadata", "recorded_at"}, pgx.CopyFromRows(rows))
		require.NoError(b, err)
		rows = rows[:0]
	}
	for i := 0; i < n; i++ {
		build := i / 4
		at := t0.Add(time.Duration(i) * time.Second)
		drv := fmt.Sprintf("/nix/store/%032d-job.drv", build)
		sys := fmt.Sprintf("system-%d", build%8)
		var stream, typ, data string
		rev := int64(0)
		switch i % 4 {
		case 0:
			stream, typ = fmt.Sprintf("build-%d", build), "BuildQueued"
			data = fmt.Sprintf(`{"buildId":%d,"evalId":1,"jobsetId":1,"project":"p","jobset":"j","job":"job%d","nixName":"x","drvPath":%q,"system":%q,"outputs":[],"meta":{},"globalPriority":0,"timestamp":%d}`,
				build, build%50, drv, sys, at.Unix())
		case 1:
			stream, typ = "step-"+strconv.Itoa(build), "StepQueued"
			data = fmt.Sprintf(`{"drvPath":%q,"system":%q,"outputs":[],"buildId":%d,"evalId":1}`, drv, sys, build)
		case 2:
			stream, typ, rev = "step-"+strconv.Itoa(build), "StepDispatched", 1
			data = fmt.Sprintf(`{"drvPath":%q,"buildId":%d,"machine":"m","attempt":1,"reason":{},"leaseUntil":0,"timestamp":%d}`, drv, build, at.Unix())
		case 3:
			stream, typ, rev = fmt.Sprintf("build-%d", build), "BuildFinished", 1
			data = fmt.Sprintf(`{"buildId":%d,"status":0,"startTime":%d,"stopTime":%d,"isCachedBuild":false}`, build, at.Unix()-60-int64(build%7), at.Unix())
		}
		rows = append(rows, []any{int64(i + 1), stream, rev, events.NewID(at), typ, int32(1), data, `{"actor":"component:bench"}`, at})
		if len(rows) == cap(rows) {
			flush()
		}
	}
	if len(rows) > 0 {
		flush()
	}
	_, err := pool.Exec(ctx, `update ledger.counter set position = $1`, n)
	require.NoError(b, err)
	_, err = pool.Exec(ctx, `analyze ledger.events`)
	require.NoError(b, err)
}

// BenchmarkRebuild rebuilds both example projections from a log of
// BUILDLEDGER_BENCH_EVENTS events, as `replay --projection` does (batches
// of 5,000), and reports events/s.
func BenchmarkRebuild(b *testing.B) {
	n := storetest.BenchEvents(b, 50_000)
	pool := pgtest.NewPool(b)
	seedHistory(b, pool, n)
	store := pglog.New(pool, pglog.Options{})
	db := postgres.NewReadModelDB(pool)
	ctx := context.Background()
	b.ResetTimer()
	var elapsed time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for _, stmt := range []string{
			`drop view if exists queue_wait_hourly, queue_wait_steps, build_duration_daily, build_duration_builds`,
			`drop table if exists queue_wait_hourly_v1, queue_wait_steps_v1, build_duration_daily_v1, build_duration_builds_v1`,
			`delete from projection_checkpoints where name in ('queue_wait.v1', 'build_duration.v1')`,
		} {
			_, err := pool.Exec(ctx, stmt)
			require.NoError(b, err)
		}
		r, err := projections.NewRunner(store, events.NewCodec(), db, []projections.Projection{analytics.QueueWait{}, analytics.BuildDuration{}}, projections.RunnerOptions{BatchSize: projections.ReplayBatchSize})
		require.NoError(b, err)
		b.StartTimer()
		start := time.Now()
		applied, err := r.CatchUp(ctx)
		elapsed += time.Since(start)
		require.NoError(b, err)
		require.EqualValues(b, n, applied)
	}
	b.ReportMetric(float64(n)*float64(b.N)/elapsed.Seconds(), "events/s")
	var builds int64
	require.NoError(b, pool.QueryRow(ctx, `select coalesce(sum(builds), 0) from build_duration_daily`).Scan(&builds))
	require.EqualValues(b, n/4, builds)
}
