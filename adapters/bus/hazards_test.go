package bus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/bus"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/commands"
)

// The two watermill-sql hazards of shared/reference/eventsourcing.md
// (section 0, item 5), checked on the bus as it is configured.

// counter counts deliveries per derivation.
type counter struct {
	mu   sync.Mutex
	seen map[string]int
}

func (c *counter) add(drv string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]int{}
	}
	c.seen[drv]++
}

func (c *counter) get(drv string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen[drv]
}

// TestPostgresBatchLargerThanOne is hazard (a): with the queue schema a
// handler that misses the ack deadline in the middle of a fetched batch
// got the whole batch acked, losing the rest. Here twelve commands wait
// before the handler subscribes, so more than one is there to fetch; the
// handler of the third overruns the ack deadline once. Every command is
// delivered, the overrun one again, none is lost or cut.
func TestPostgresBatchLargerThanOne(t *testing.T) {
	pool := pgtest.NewPool(t)
	opts := quiet
	opts.AckDeadline = 500 * time.Millisecond
	b, err := bus.NewPostgres(context.Background(), pool, opts)
	require.NoError(t, err)
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var sent []commands.BuildStep
	for i := range 12 {
		c := step(fmt.Sprintf("batch%02d", i))
		sent = append(sent, c)
		require.NoError(t, b.SendBuildStep(ctx, c))
	}
	slow := sent[2].DrvPath
	got := &counter{}
	var mu sync.Mutex
	var received []commands.BuildStep
	b.Handle(func(hctx context.Context, c commands.BuildStep) error {
		got.add(c.DrvPath)
		mu.Lock()
		received = append(received, c)
		mu.Unlock()
		if c.DrvPath == slow && got.get(slow) == 1 {
			<-hctx.Done() // past the ack deadline
			return hctx.Err()
		}
		return nil
	})
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	require.Eventually(t, func() bool {
		for _, c := range sent {
			if got.get(c.DrvPath) == 0 {
				return false
			}
		}
		return got.get(slow) >= 2
	}, 60*time.Second, 50*time.Millisecond, "every command delivered, the overrun one again")
	cancel()
	require.NoError(t, <-done)
	mu.Lock()
	defer mu.Unlock()
	for _, c := range sent {
		require.Contains(t, received, c, "the command travels whole")
	}
}

// TestPostgresLongTransaction is hazard (b): the default schema delivers
// a message only once every transaction older than it has ended
// (pg_snapshot_xmin), and transaction ids are the cluster's, so a long
// write transaction anywhere, on another topic's table or in another
// schema, holds back every command sent after it began. The test holds
// one open while a command is sent on another topic's bus (whose own
// transaction stays open too, as a slow handler's would), checks the
// command is held back, then ends it: the command comes, and so does one
// sent in the long transaction's shadow on the other topic; nothing is
// skipped because its transaction committed late. buildledger keeps its
// write transactions short (the bus handler only records StepStarted;
// the build runs after it returns), which is what bounds the delay.
func TestPostgresLongTransaction(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	steps, err := bus.NewPostgres(ctx, pool, quiet)
	require.NoError(t, err)
	defer steps.Close()
	other := quiet
	other.Topic = "other_topic"
	otherBus, err := bus.NewPostgres(ctx, pool, other)
	require.NoError(t, err)
	defer otherBus.Close()

	got := &counter{}
	steps.Handle(func(_ context.Context, c commands.BuildStep) error { got.add(c.DrvPath); return nil })
	otherBus.Handle(func(_ context.Context, c commands.BuildStep) error { got.add(c.DrvPath); return nil })
	done := make(chan error, 2)
	go func() { done <- steps.Run(ctx) }()
	go func() { done <- otherBus.Run(ctx) }()
	<-steps.Ready()
	<-otherBus.Ready()

	before := step("before")
	require.NoError(t, steps.SendBuildStep(ctx, before))
	require.Eventually(t, func() bool { return got.get(before.DrvPath) == 1 }, 30*time.Second, 20*time.Millisecond)

	// A long write transaction: a row of the other topic's table, not yet
	// committed.
	long, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer long.Rollback(ctx) //nolint:errcheck // committed below
	_, err = long.Exec(ctx, `insert into bus."watermill_other_topic" (uuid, payload, metadata, transaction_id)
		values (gen_random_uuid()::text, $1, '{}', pg_current_xact_id())`, mustJSON(t, step("shadow")))
	require.NoError(t, err)

	held := step("held")
	require.NoError(t, steps.SendBuildStep(ctx, held))
	// Ten poll intervals: the command is there, and held back.
	time.Sleep(2 * time.Second)
	require.Zero(t, got.get(held.DrvPath), "delivered under an older open transaction: watermill-sql no longer gates on xmin, revisit eventsourcing.md")

	require.NoError(t, long.Commit(ctx))
	require.Eventually(t, func() bool { return got.get(held.DrvPath) == 1 && got.get(step("shadow").DrvPath) == 1 },
		30*time.Second, 20*time.Millisecond, "both come once the long transaction ends; none is skipped")
	cancel()
	require.NoError(t, <-done)
	require.NoError(t, <-done)
}

func mustJSON(t *testing.T, c commands.BuildStep) string {
	t.Helper()
	b, err := json.Marshal(c)
	require.NoError(t, err)
	return string(b)
}
