package analytics_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

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

// seedHistory writes n events straight into the log (pgtest.SeedLog): per
// build, BuildQueued, StepQueued, StepDispatched, BuildFinished, over 8
// systems and 50 jobs, one event a second.
func seedHistory(b *testing.B, pool *pgxpool.Pool, n int) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pgtest.SeedLog(b, pool, n, func(i int) []any {
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
		return []any{int64(i + 1), stream, rev, events.NewID(at), typ, int32(1), data, `{"actor":"component:bench"}`, at}
	})
}

// BenchmarkRebuild rebuilds both example projections from a log of
// BUILDLEDGER_BENCH_EVENTS events, as `replay --projection` does (batches
// of projections.ReplayBatchSize), and reports events/s.
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
