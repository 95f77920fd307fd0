package postgres

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

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

// CreateIndexes implements projections.IndexBuilder, in one transaction.
func (s *Schemas) CreateIndexes(ctx context.Context, defs []string) error {
	err := Transact(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `set local maintenance_work_mem = '256MB'`); err != nil {
			return err
		}
		for _, d := range defs {
			if _, err := tx.Exec(ctx, d); err != nil {
				return fmt.Errorf("%s: %w", d, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create indexes: %w", err)
	}
	return nil
}
