package projections_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/events"
	"buildledger/projections"
)

// TestPipeline: held statements reach Postgres in order, before any read
// or COPY, also past the pipeline's bound; a failing one is reported
// with the events that queued the statements, and the pipeline then
// refuses everything.
func TestPipeline(t *testing.T) {
	ctx := context.Background()
	db := postgres.NewReadModelDB(pgtest.NewPool(t))
	at := func(id string) projections.Event {
		return projections.Event{Recorded: events.Recorded{ID: id, Type: "BuildBumped", Stream: "build-1"}}
	}
	count := func(tx projections.Tx) int {
		var n int
		require.NoError(t, tx.QueryRow(ctx, `select count(*) from t`).Scan(&n))
		return n
	}
	tests := []struct {
		name string
		// aborts tells that the case leaves the transaction failed.
		aborts bool
		run    func(t *testing.T, p *projections.Pipeline)
	}{
		{"a read sees the writes held before it", false, func(t *testing.T, p *projections.Pipeline) {
			for i := range 3 {
				require.NoError(t, p.Exec(ctx, `insert into t values ($1)`, i))
			}
			require.Equal(t, 3, count(p))
		}},
		{"a COPY comes after the writes held before it", true, func(t *testing.T, p *projections.Pipeline) {
			require.NoError(t, p.Exec(ctx, `insert into t values (1)`))
			require.Error(t, p.CopyFrom(ctx, "t", []string{"n"}, [][]any{{1}}), "the held insert must come first")
		}},
		{"more statements than one send holds", false, func(t *testing.T, p *projections.Pipeline) {
			for i := range 2500 {
				require.NoError(t, p.Exec(ctx, `insert into t values ($1)`, i))
			}
			require.NoError(t, p.Flush(ctx))
			require.Equal(t, 2500, count(p))
		}},
		{"a failure names the events and ends the pipeline", true, func(t *testing.T, p *projections.Pipeline) {
			p.At(at("first"))
			require.NoError(t, p.Exec(ctx, `insert into t values (1)`))
			p.At(at("second"))
			require.NoError(t, p.Exec(ctx, `insert into t values (1)`))
			err := p.Flush(ctx)
			require.ErrorContains(t, err, "event first")
			require.ErrorContains(t, err, "event second")
			require.ErrorContains(t, err, "insert into t")
			require.ErrorIs(t, p.Exec(ctx, `select 1`), err)
			_, qerr := p.Query(ctx, `select 1`)
			require.ErrorIs(t, qerr, err)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := db.InTx(ctx, func(tx projections.Tx) error {
				require.NoError(t, tx.Exec(ctx, `create temp table t (n int primary key) on commit drop`))
				tc.run(t, projections.NewPipeline(tx))
				return nil
			})
			if !tc.aborts {
				require.NoError(t, err)
			}
		})
	}
}
