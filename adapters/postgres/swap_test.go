package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres/pgtest"
)

// TestSwapsInTheSameSecond: each swap keeps the read models it replaces
// under a name of its own, also when two come within a second (the name
// is the time, to the second).
func TestSwapsInTheSameSecond(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	schemas := freshSchema(t, pool, "swap_a")
	freshSchema(t, pool, "swap_b")
	first, err := schemas.Swap(ctx, "swap_a")
	require.NoError(t, err)
	second, err := schemas.Swap(ctx, "swap_b")
	require.NoError(t, err)
	require.NotEqual(t, first, second)
	require.ElementsMatch(t, []string{first, second},
		column(t, pool, `select nspname::text from pg_namespace where nspname = any($1)`, []string{first, second}))
}

// TestCachedStatementsFollowASwap: a connection that prepared a statement
// before a swap reads the swapped-in tables after it, not the ones now
// kept under the backup's name.
func TestCachedStatementsFollowASwap(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	schemas := freshSchema(t, pool, "swap_c")
	_, err := pool.Exec(ctx, `insert into swap_c.users (username, emailaddress, password) values ('after', 'a@example.org', '')`)
	require.NoError(t, err)

	conn, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(ctx) })
	const q = `select count(*) from users where username = 'after'`
	var n int
	for range 2 { // the second run uses the prepared statement
		require.NoError(t, conn.QueryRow(ctx, q).Scan(&n))
		require.Zero(t, n)
	}
	var prepared bool
	require.NoError(t, conn.QueryRow(ctx, `select exists (select 1 from pg_prepared_statements where statement = $1)`, q).Scan(&prepared))
	require.True(t, prepared, "the pool's connections prepare their statements")

	_, err = schemas.Swap(ctx, "swap_c")
	require.NoError(t, err)
	require.NoError(t, conn.QueryRow(ctx, q).Scan(&n))
	require.Equal(t, 1, n)
}
