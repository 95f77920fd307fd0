package pglog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/events"
	"buildledger/events/storetest"
)

// BenchmarkAppend measures append throughput on the Postgres log: one
// writer appending batches, and 8 concurrent writers on different streams
// with batches and with single events. Each op is one event; events/s is
// reported.
func BenchmarkAppend(b *testing.B) {
	cases := []struct {
		name    string
		writers int
		batch   int
	}{
		{"single-writer-batch100", 1, 100},
		{"8-writers-batch100", 8, 100},
		{"8-writers-batch1", 8, 1},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			store := pglog.New(pgtest.NewPool(b), pglog.Options{})
			ctx := context.Background()
			perWriter := (b.N + tc.writers - 1) / tc.writers
			batches := make([][][]events.Event, tc.writers)
			for w := range batches {
				for left := perWriter; left > 0; left -= tc.batch {
					n := min(tc.batch, left)
					evs := make([]events.Event, n)
					for i := range evs {
						evs[i] = storetest.Ev("BenchEvent", i)
					}
					batches[w] = append(batches[w], evs)
				}
			}
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for w := 0; w < tc.writers; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for i, evs := range batches[w] {
						if _, err := store.Append(ctx, fmt.Sprintf("bench-%d-%d", w, i%50), events.Any, evs...); err != nil {
							b.Error(err)
							return
						}
					}
				}(w)
			}
			wg.Wait()
			b.StopTimer()
			total := perWriter * tc.writers
			b.ReportMetric(float64(total)/time.Since(start).Seconds(), "events/s")
			head, err := store.Head(ctx)
			require.NoError(b, err)
			require.Equal(b, uint64(total), head.Commit, "every event landed, gapless")
		})
	}
}

// BenchmarkAppendMulti measures the multi-stream append an evaluation
// uses: groups of 500 new streams of one build-sized event each.
func BenchmarkAppendMulti(b *testing.B) {
	store := pglog.New(pgtest.NewPool(b), pglog.Options{})
	ctx := context.Background()
	data := fmt.Sprintf(`{"drvPath":"/nix/store/%032d-pkg.drv","pad":%q}`, 0, strings.Repeat("x", 700))
	const group = 500
	b.ResetTimer()
	start := time.Now()
	for done := 0; done < b.N; done += group {
		appends := make([]events.StreamAppend, min(group, b.N-done))
		for i := range appends {
			ev := storetest.Ev("BuildQueued", done+i)
			ev.Data = json.RawMessage(data)
			appends[i] = events.StreamAppend{Stream: fmt.Sprintf("build-%d", done+i), Expect: events.NoStream, Events: []events.Event{ev}}
		}
		_, err := store.AppendMulti(ctx, appends)
		require.NoError(b, err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}
