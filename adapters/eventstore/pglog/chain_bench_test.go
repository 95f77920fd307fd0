package pglog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/events"
	"buildledger/events/audit"
	"buildledger/events/storetest"
)

// seedChain writes n sealed events straight into the log
// (pgtest.SeedLog): 1,000 streams of build-like events, sealed with
// events.Seal exactly as an append seals them.
func seedChain(b testing.TB, pool *pgxpool.Pool, n int) {
	const streams = 1000
	tips := make([]string, streams)
	revs := make([]int64, streams)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pgtest.SeedLog(b, pool, n, func(i int) []any {
		s := i % streams
		stream := fmt.Sprintf("build-%d", s)
		ev := events.Event{ID: events.NewID(t0.Add(time.Duration(i) * time.Millisecond)), Type: "StepFinished", Version: 1,
			Data:     json.RawMessage(fmt.Sprintf(`{"drvPath":"/nix/store/%032d-x.drv","buildId":%d,"attempt":1,"status":0,"startTime":1,"stopTime":2}`, i, s)),
			Metadata: events.Metadata{Actor: "component:builder", Host: "bench"}}
		md := events.Seal(ev, stream, uint64(revs[s]), tips[s])
		raw, err := json.Marshal(md)
		require.NoError(b, err)
		row := []any{int64(i + 1), stream, revs[s], ev.ID, ev.Type, int32(1), string(ev.Data), string(raw), t0.Add(time.Duration(i) * time.Millisecond)}
		tips[s], revs[s] = md.Hash, revs[s]+1
		return row
	})
}

// BenchmarkAuditVerify walks and verifies the whole hash chain of a log of
// BUILDLEDGER_BENCH_EVENTS events, as `buildledger audit verify` does:
// streamed (ReadChain, the default), and in pages with one and with two
// pages read at once (--readers 1 and 2). readchain is the streamed read
// alone, without verifying.
func BenchmarkAuditVerify(b *testing.B) {
	n := storetest.BenchEvents(b, 50_000)
	pool := pgtest.NewPool(b)
	seedChain(b, pool, n)
	store := pglog.New(pool, pglog.Options{})
	ctx := context.Background()
	b.Run("readchain", func(b *testing.B) {
		start := time.Now()
		for i := 0; i < b.N; i++ {
			read := 0
			require.NoError(b, store.ReadChain(ctx, events.Start, func(links []events.ChainLink) error {
				read += len(links)
				return nil
			}))
			require.Equal(b, n, read)
		}
		b.ReportMetric(float64(n)*float64(b.N)/time.Since(start).Seconds(), "events/s")
	})
	b.Run("stream", func(b *testing.B) { benchVerify(b, ctx, store, n, 0) })
	for _, readers := range []int{1, 2} {
		b.Run(fmt.Sprintf("readers%d", readers), func(b *testing.B) { benchVerify(b, ctx, store, n, readers) })
	}
}

func benchVerify(b *testing.B, ctx context.Context, store *pglog.Store, n, readers int) {
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		res, err := audit.VerifyLog(ctx, store, audit.VerifyOptions{Readers: readers})
		require.NoError(b, err)
		require.Nil(b, res.Break)
		require.EqualValues(b, n, res.Events)
	}
	b.ReportMetric(float64(n)*float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkAppendSealed is the append path with the hash chain: 100-event
// appends to 50 streams (compare BenchmarkAppend).
func BenchmarkAppendSealed(b *testing.B) {
	store := pglog.New(pgtest.NewPool(b), pglog.Options{})
	ctx := context.Background()
	evs := make([]events.Event, 100)
	b.ResetTimer()
	start := time.Now()
	total := 0
	for i := 0; total < b.N; i++ {
		for j := range evs {
			evs[j] = events.Event{ID: events.NewID(time.Now()), Type: "T", Version: 1, Data: json.RawMessage(`{"n":1}`), Metadata: events.Metadata{Actor: "component:bench"}}
		}
		_, err := store.Append(ctx, fmt.Sprintf("s-%d", i%50), events.Any, evs...)
		require.NoError(b, err)
		total += len(evs)
	}
	b.ReportMetric(float64(total)/time.Since(start).Seconds(), "events/s")
}
