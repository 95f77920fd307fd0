package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"buildledger/projections"
)

var _ projections.IndexBuilder = (*Schemas)(nil)

// DropIndexes implements projections.IndexBuilder. It refuses names that
// schema does not hold and indexes that back a constraint (a primary key,
// a unique or an exclusion constraint), and drops the others in one
// transaction.
func (s *Schemas) DropIndexes(ctx context.Context, schema string, names []string) ([]string, error) {
	if err := validSchemaName(schema); err != nil {
		return nil, err
	}
	var defs []string
	err := Transact(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `select c.relname, pg_get_indexdef(i.indexrelid),
				exists (select 1 from pg_constraint k where k.conindid = i.indexrelid)
			from pg_index i
			join pg_class c on c.oid = i.indexrelid
			join pg_namespace n on n.oid = c.relnamespace
			where n.nspname = $1 and c.relname = any($2)
			order by c.relname`, schema, names)
		if err != nil {
			return err
		}
		var found []string
		for rows.Next() {
			var (
				name, def   string
				constrained bool
			)
			if err := rows.Scan(&name, &def, &constrained); err != nil {
				return err
			}
			if constrained {
				rows.Close()
				return fmt.Errorf("index %s backs a constraint", name)
			}
			found, defs = append(found, name), append(defs, def)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, n := range names {
			if !slices.Contains(found, n) {
				return fmt.Errorf("no index %s", n)
			}
		}
		for _, n := range found {
			if _, err := tx.Exec(ctx, `drop index `+pgx.Identifier{schema, n}.Sanitize()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("drop indexes of %s: %w", schema, err)
	}
	return defs, nil
}

// CreateIndexes implements projections.IndexBuilder. The indexes of one
// table are built in one transaction, and two tables' at once on two
// connections: a build is mostly one process sorting, and a replay builds
// its deferred indexes when nothing else is left to do.
func (s *Schemas) CreateIndexes(ctx context.Context, defs []string) error {
	byTable := map[string][]string{}
	var tables []string
	for _, d := range defs {
		t := indexedTable(d)
		if _, ok := byTable[t]; !ok {
			tables = append(tables, t)
		}
		byTable[t] = append(byTable[t], d)
	}
	// The tables with most indexes first, so that none of them starts last.
	slices.SortStableFunc(tables, func(a, b string) int { return len(byTable[b]) - len(byTable[a]) })
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2)
	for _, t := range tables {
		g.Go(func() error {
			return Transact(gctx, s.pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(gctx, `set local maintenance_work_mem = '256MB'`); err != nil {
					return err
				}
				for _, d := range byTable[t] {
					if _, err := tx.Exec(gctx, d); err != nil {
						return fmt.Errorf("%s: %w", d, err)
					}
				}
				return nil
			})
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("create indexes: %w", err)
	}
	return nil
}

// indexedTable returns the table of a CREATE INDEX statement as
// pg_get_indexdef writes it ("CREATE INDEX name ON schema.table USING …").
func indexedTable(def string) string {
	_, rest, _ := strings.Cut(def, " ON ")
	t, _, _ := strings.Cut(strings.TrimPrefix(rest, "ONLY "), " ")
	return t
}
