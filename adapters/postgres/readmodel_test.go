package postgres_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/projections"
)

// TestExecAll runs statements sent together: in order, each seeing the
// effects of those before it; a failing one stops the rest, is named in
// the error, and fails the transaction.
func TestExecAll(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	db := postgres.NewReadModelDB(pool)
	_, err := pool.Exec(ctx, `create table execall (n int primary key, v text)`)
	require.NoError(t, err)

	require.NoError(t, db.InTx(ctx, func(tx projections.Tx) error {
		return tx.ExecAll(ctx, []projections.Statement{
			{SQL: `insert into execall (n, v) values ($1, $2)`, Args: []any{1, "a"}},
			{SQL: `update execall set v = v || $1 where n = 1`, Args: []any{"b"}},
			{SQL: `insert into execall (n, v) select n + 1, v from execall`},
		})
	}))
	var got string
	require.NoError(t, pool.QueryRow(ctx, `select string_agg(n || v, ' ' order by n) from execall`).Scan(&got))
	require.Equal(t, "1ab 2ab", got)

	err = db.InTx(ctx, func(tx projections.Tx) error {
		return tx.ExecAll(ctx, []projections.Statement{
			{SQL: `insert into execall (n, v) values (3, 'c')`},
			{SQL: `insert into execall (n, v) values (1, 'duplicate')`},
			{SQL: `insert into execall (n, v) values (4, 'd')`},
		})
	})
	require.ErrorContains(t, err, `insert into execall (n, v) values (1, 'duplicate')`)
	require.NoError(t, pool.QueryRow(ctx, `select string_agg(n || v, ' ' order by n) from execall`).Scan(&got))
	require.Equal(t, "1ab 2ab", got, "nothing of the failed transaction is kept")
}
