package postgres_test

import (
	"context"
	"testing"

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
