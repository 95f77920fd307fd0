package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Dump returns every table of the Postgres schema (public for the live
// read models) as sorted text rows, for comparing read models row for
// row. Migration history and projection checkpoints are left out: they
// record when, not what.
func Dump(t testing.TB, pool *pgxpool.Pool, schema string) map[string][]string {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `select table_name from information_schema.tables
		where table_schema = $1 and table_type = 'BASE TABLE'
		and table_name not in ('schema_migrations', 'projection_checkpoints')`, schema)
	if err != nil {
		t.Fatalf("pgtest: list tables of %s: %v", schema, err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("pgtest: list tables of %s: %v", schema, err)
	}
	out := make(map[string][]string, len(tables))
	for _, table := range tables {
		name := pgx.Identifier{schema, table}.Sanitize()
		rows, err := pool.Query(ctx, "select t::text from "+name+" t order by 1")
		if err != nil {
			t.Fatalf("pgtest: dump %s: %v", name, err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("pgtest: dump %s: %v", name, err)
		}
		out[table] = lines
	}
	return out
}
