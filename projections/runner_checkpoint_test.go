package projections_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/events"
	"buildledger/projections"
)

// counting is a projection that only counts what it is given.
func counting(name string, seen *int) projections.PerEvent {
	return projections.PerEvent{ProjectionName: name, ProjectionVersion: 1,
		Handle: func(context.Context, projections.Tx, projections.Event) error { *seen++; return nil }}
}

// TestCheckpointsOfSeveralProjections: projections starting from
// different checkpoints each get the events after their own, and every
// checkpoint ends at the head with the count of events it applied.
func TestCheckpointsOfSeveralProjections(t *testing.T) {
	for _, batch := range []int{1, 3, 100} {
		t.Run(fmt.Sprintf("batch%d", batch), func(t *testing.T) {
			ctx := context.Background()
			pool := pgtest.NewPool(t)
			store := pglog.New(pool, pglog.Options{})
			codec := events.NewCodec()
			appendN := func(n int) {
				for i := 0; i < n; i++ {
					ev, err := codec.Encode(events.BuildBumped{BuildID: int64(i), GlobalPriority: 1}, events.Metadata{Actor: "component:test"}, time.Now())
					require.NoError(t, err)
					_, err = store.Append(ctx, fmt.Sprintf("build-%d", i), events.Any, ev)
					require.NoError(t, err)
				}
			}
			db := postgres.NewReadModelDB(pool)
			var early, late int
			appendN(4)
			r, err := projections.NewRunner(store, codec, db, []projections.Projection{counting("early", &early)}, projections.RunnerOptions{BatchSize: batch})
			require.NoError(t, err)
			_, err = r.CatchUp(ctx)
			require.NoError(t, err)

			appendN(5)
			ps := []projections.Projection{counting("early", &early), counting("late", &late)}
			r, err = projections.NewRunner(store, codec, db, ps, projections.RunnerOptions{BatchSize: batch})
			require.NoError(t, err)
			_, err = r.CatchUp(ctx)
			require.NoError(t, err)
			require.Equal(t, []int{9, 9}, []int{early, late})

			cps, err := projections.Checkpoints(ctx, db, ps)
			require.NoError(t, err)
			require.Equal(t, map[string]events.Position{"early": events.At(9), "late": events.At(9)}, cps)
			var applied []int64
			rows, err := pool.Query(ctx, `select events_applied from projection_checkpoints where name in ('early.v1', 'late.v1') order by name`)
			require.NoError(t, err)
			for rows.Next() {
				var n int64
				require.NoError(t, rows.Scan(&n))
				applied = append(applied, n)
			}
			require.NoError(t, rows.Err())
			require.Equal(t, []int64{9, 9}, applied)
		})
	}
}
