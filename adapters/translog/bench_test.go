package translog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/adapters/translog"
	"buildledger/events"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// BenchmarkAppendWithFollower is pglog's BenchmarkAppend (8 writers,
// batches of 100) with the tree's follower syncing all along, as up runs
// it: the appends' cost of the transparency log. The tree must hold every
// event at the end.
func BenchmarkAppendWithFollower(b *testing.B) {
	pool := pgtest.NewPool(b)
	store := pglog.New(pool, pglog.Options{})
	tree := translog.NewTree(pool)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const writers, batch = 8, 100
	perWriter := (b.N + writers - 1) / writers
	follower := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			if _, err := tree.Sync(ctx); err != nil && ctx.Err() == nil {
				follower <- err
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		follower <- nil
	}()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i, left := 0, perWriter; left > 0; i, left = i+1, left-batch {
				evs := make([]events.Event, min(batch, left))
				for j := range evs {
					evs[j] = events.Event{ID: events.NewID(time.Now()), Type: "BenchEvent", Version: 1, Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, j))}
				}
				if _, err := store.Append(ctx, fmt.Sprintf("bench-%d-%d", w, i%50), events.Any, evs...); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(perWriter*writers)/time.Since(start).Seconds(), "events/s")
	cancel()
	require.NoError(b, <-follower)
	tr, err := tree.Sync(context.Background())
	require.NoError(b, err)
	require.EqualValues(b, perWriter*writers, tr.N)
}

// BenchmarkSync measures how fast the follower adds events to the tree
// (one op is one event), from a log written beforehand.
func BenchmarkSync(b *testing.B) {
	pool := pgtest.NewPool(b)
	store := pglog.New(pool, pglog.Options{})
	ctx := context.Background()
	for done := 0; done < b.N; done += 500 {
		evs := make([]events.Event, min(500, b.N-done))
		for j := range evs {
			evs[j] = events.Event{ID: events.NewID(time.Now()), Type: "BenchEvent", Version: 1, Data: json.RawMessage(`{}`)}
		}
		_, err := store.Append(ctx, fmt.Sprintf("s-%d", done/500%20), events.Any, evs...)
		require.NoError(b, err)
	}
	tree := translog.NewTree(pool)
	b.ResetTimer()
	start := time.Now()
	tr, err := tree.Sync(ctx)
	b.StopTimer()
	require.NoError(b, err)
	require.EqualValues(b, b.N, tr.N)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}
