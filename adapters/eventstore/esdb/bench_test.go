package esdb_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/esdb"
	"buildledger/events"
	"buildledger/events/storetest"
)

// BenchmarkAppend100 appends batches of 100 events through the adapter
// to the test double; the figure measures the adapter, the client and
// gRPC on loopback, not a real server's disk.
func BenchmarkAppend100(b *testing.B) {
	s, _ := open(b, esdb.Options{})
	ctx := testCtx(b)
	batch := make([]events.Event, 100)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		for j := range batch {
			batch[j] = storetest.Ev("T", j)
		}
		if _, err := s.Append(ctx, fmt.Sprintf("bench-%d", i%50), events.Any, batch...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/time.Since(start).Seconds(), "events/s")
}

// BenchmarkCatchUp reads 10,000 events from the start through a
// subscription.
func BenchmarkCatchUp(b *testing.B) {
	const n = 10000
	s, _ := open(b, esdb.Options{})
	ctx := testCtx(b)
	for i := 0; i < n/100; i++ {
		batch := make([]events.Event, 100)
		for j := range batch {
			batch[j] = storetest.Ev("T", j)
		}
		_, err := s.Append(ctx, fmt.Sprintf("catchup-%d", i%10), events.Any, batch...)
		require.NoError(b, err)
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		sub, err := s.SubscribeAll(ctx, events.Start, events.Filter{})
		require.NoError(b, err)
		for got := 0; got < n; got++ {
			if _, ok := <-sub.Events(); !ok {
				b.Fatalf("subscription ended: %v", sub.Err())
			}
		}
		sub.Close()
	}
	b.ReportMetric(float64(b.N*n)/time.Since(start).Seconds(), "events/s")
}
