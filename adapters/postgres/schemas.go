package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/sync/errgroup"

	"buildledger/projections"
)

var (
	_ projections.IndexBuilder      = (*Schemas)(nil)
	_ projections.ForeignKeyBuilder = (*Schemas)(nil)
)

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

// CreateIndexes implements projections.IndexBuilder. Each index is built
// in a transaction of its own, two at once on two connections (indexes of
// one table too: building one takes a lock that lets others build), the
// indexes of the largest tables first, so that the small ones fill in at
// the end. A replay builds its deferred indexes when nothing else is left
// to do; a table at a time left one connection building the Builds
// indexes for a third of the time after the other had finished.
func (s *Schemas) CreateIndexes(ctx context.Context, defs []string) error {
	size := map[string]int64{}
	for _, d := range defs {
		t := indexedTable(d)
		if _, ok := size[t]; ok {
			continue
		}
		var n int64
		if err := s.pool.QueryRow(ctx, `select pg_relation_size($1::regclass)`, t).Scan(&n); err != nil {
			return fmt.Errorf("create indexes: size of %s: %w", t, err)
		}
		size[t] = n
	}
	defs = slices.Clone(defs)
	slices.SortStableFunc(defs, func(a, b string) int { return cmp.Compare(size[indexedTable(b)], size[indexedTable(a)]) })
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2)
	for _, d := range defs {
		g.Go(func() error {
			return Transact(gctx, s.pool, func(tx pgx.Tx) error {
				// No parallel workers: the two builds at once already take
				// two cores. Three indexes on each of two 200,000-row tables
				// took 1.4-1.6 s with Postgres's default of two workers a
				// build, and 0.8 s without.
				if _, err := tx.Exec(gctx, `set local maintenance_work_mem = '256MB'; set local max_parallel_maintenance_workers = 0`); err != nil {
					return err
				}
				if _, err := tx.Exec(gctx, d); err != nil {
					return fmt.Errorf("%s: %w", d, err)
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

// DropForeignKeys implements projections.ForeignKeyBuilder. It refuses
// names that are not those of exactly one foreign key of schema, and drops
// the keys in one transaction. Its statements name every table with its
// schema. A key's Orphans statement takes the rows whose referencing
// columns are all set (the rows a MATCH SIMPLE key checks) and that have
// no parent row.
func (s *Schemas) DropForeignKeys(ctx context.Context, schema string, names []string) ([]projections.ForeignKey, error) {
	if err := validSchemaName(schema); err != nil {
		return nil, err
	}
	keys := make([]projections.ForeignKey, len(names))
	err := Transact(ctx, s.pool, func(tx pgx.Tx) error {
		// With no schema on the path, pg_get_constraintdef names the
		// referenced table with its schema.
		if _, err := tx.Exec(ctx, `set local search_path = ''`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `select k.conname, c.relname, pg_get_constraintdef(k.oid), k.confdeltype::text, pn.nspname, p.relname,
				array(select a.attname::text from unnest(k.conkey) with ordinality u(num, ord)
					join pg_attribute a on a.attrelid = k.conrelid and a.attnum = u.num order by u.ord),
				array(select a.attname::text from unnest(k.confkey) with ordinality u(num, ord)
					join pg_attribute a on a.attrelid = k.confrelid and a.attnum = u.num order by u.ord),
				array(select a.attname::text from unnest(coalesce(k.confdelsetcols, k.conkey)) with ordinality u(num, ord)
					join pg_attribute a on a.attrelid = k.conrelid and a.attnum = u.num order by u.ord)
			from pg_constraint k
			join pg_class c on c.oid = k.conrelid
			join pg_namespace n on n.oid = c.relnamespace
			join pg_class p on p.oid = k.confrelid
			join pg_namespace pn on pn.oid = p.relnamespace
			where k.contype = 'f' and n.nspname = $1 and k.conname = any($2)`, schema, names)
		if err != nil {
			return err
		}
		drops := make([]string, len(names))
		for rows.Next() {
			var (
				name, table, def, action, parentSchema, parent string
				cols, parentCols, nulled                       []string
			)
			if err := rows.Scan(&name, &table, &def, &action, &parentSchema, &parent, &cols, &parentCols, &nulled); err != nil {
				return err
			}
			i := slices.Index(names, name)
			if keys[i].Name != "" {
				rows.Close()
				return fmt.Errorf("more than one foreign key is named %s", name)
			}
			child := pgx.Identifier{schema, table}.Sanitize()
			keys[i] = projections.ForeignKey{
				Name:    name,
				Add:     fmt.Sprintf(`alter table %s add constraint %s %s`, child, pgx.Identifier{name}.Sanitize(), def),
				Orphans: orphans(child, pgx.Identifier{parentSchema, parent}.Sanitize(), action, cols, parentCols, nulled),
			}
			drops[i] = `alter table ` + child + ` drop constraint ` + pgx.Identifier{name}.Sanitize()
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for i, k := range keys {
			if k.Name == "" {
				return fmt.Errorf("no foreign key %s", names[i])
			}
		}
		for _, d := range drops {
			if _, err := tx.Exec(ctx, d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("drop foreign keys of %s: %w", schema, err)
	}
	return keys, nil
}

// orphans returns the statement that applies a foreign key's ON DELETE
// action (CASCADE: delete, SET NULL: set nulled null) to the rows of child
// whose columns cols are all set and match no row of parent on
// parentCols, or "" for any other action.
func orphans(child, parent, action string, cols, parentCols, nulled []string) string {
	conds := make([]string, 0, len(cols)+1)
	match := make([]string, len(cols))
	for i, c := range cols {
		col := pgx.Identifier{c}.Sanitize()
		conds = append(conds, "c."+col+" is not null")
		match[i] = "p." + pgx.Identifier{parentCols[i]}.Sanitize() + " = c." + col
	}
	conds = append(conds, fmt.Sprintf("not exists (select 1 from %s p where %s)", parent, strings.Join(match, " and ")))
	where := strings.Join(conds, " and ")
	switch action {
	case "c":
		return fmt.Sprintf("delete from %s c where %s", child, where)
	case "n":
		sets := make([]string, len(nulled))
		for i, c := range nulled {
			sets[i] = pgx.Identifier{c}.Sanitize() + " = null"
		}
		return fmt.Sprintf("update %s c set %s where %s", child, strings.Join(sets, ", "), where)
	}
	return ""
}

// AddForeignKeys implements projections.ForeignKeyBuilder, one key after
// the other, each in a transaction of its own. A key that rows refuse
// (foreign_key_violation) is added again, in a second transaction, after
// its Orphans statement; one without is refused.
func (s *Schemas) AddForeignKeys(ctx context.Context, keys []projections.ForeignKey) error {
	for _, k := range keys {
		err := Transact(ctx, s.pool, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, k.Add)
			return err
		})
		if isForeignKeyViolation(err) && k.Orphans != "" {
			err = Transact(ctx, s.pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, k.Orphans); err != nil {
					return fmt.Errorf("remove the rows it refuses: %w", err)
				}
				_, err := tx.Exec(ctx, k.Add)
				return err
			})
		}
		if err != nil {
			return fmt.Errorf("add foreign key %s: %w", k.Name, err)
		}
	}
	return nil
}

// isForeignKeyViolation reports whether err is a foreign_key_violation
// (SQLSTATE 23503).
func isForeignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}
