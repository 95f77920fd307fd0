package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/events"
	"buildledger/projections"
)

// slowPromoter is a projection whose Promote waits until its context
// ends, as a promotion interrupted by a shutdown does.
type slowPromoter struct{ called chan struct{} }

func (slowPromoter) Name() string { return "slow_promoter" }
func (slowPromoter) Version() int { return 1 }
func (slowPromoter) Apply(context.Context, projections.Tx, []projections.Event) error {
	return nil
}
func (p slowPromoter) Promote(ctx context.Context, _ projections.Tx) error {
	close(p.called)
	<-ctx.Done()
	return ctx.Err()
}

// TestRunStopsCleanlyDuringPromote: a shutdown while the runner promotes
// a projection is a clean stop (Run returns nil), not an error.
func TestRunStopsCleanlyDuringPromote(t *testing.T) {
	pool := pgtest.NewPool(t)
	p := slowPromoter{called: make(chan struct{})}
	r, err := projections.NewRunner(pglog.New(pool, pglog.Options{}), events.NewCodec(), postgres.NewReadModelDB(pool),
		[]projections.Projection{p}, projections.RunnerOptions{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	select {
	case <-p.called:
	case <-time.After(30 * time.Second):
		t.Fatal("Promote was not called")
	}
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
}
