package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"buildledger/projections"
)

var (
	_ projections.IndexBuilder      = (*Schemas)(nil)
	_ projections.ForeignKeyBuilder = (*Schemas)(nil)
)

// DropIndexes implements projections.IndexBuilder. It refuses names that
// schema does not hold (projections.ErrNoIndex) and indexes that back a constraint (a primary key,
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
				return fmt.Errorf("%w %s", projections.ErrNoIndex, n)
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

// CreateIndexes implements projections.IndexBuilder, with the schedule
// of AddForeignKeys.
func (s *Schemas) CreateIndexes(ctx context.Context, defs []string) error {
	return s.AddForeignKeys(ctx, nil, defs)
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
				Name:     name,
				Table:    child,
				Add:      fmt.Sprintf(`alter table %s add constraint %s %s not valid`, child, pgx.Identifier{name}.Sanitize(), def),
				Validate: fmt.Sprintf(`alter table %s validate constraint %s`, child, pgx.Identifier{name}.Sanitize()),
				Orphans:  orphans(child, pgx.Identifier{parentSchema, parent}.Sanitize(), action, cols, parentCols, nulled),
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

// AddForeignKeys implements projections.ForeignKeyBuilder. It adds every
// key back NOT VALID in one transaction, which only changes the catalog
// (the keys are then enforced on new writes, cascades included), and then
// validates each key, each in a transaction of its own, while it builds
// the indexes. A key that rows refuse (foreign_key_violation) is validated
// again, in a second transaction, after its Orphans statement; as every
// key is in place by then, the rows its deletions take along go too. A key
// still refused is dropped, as are the keys left unvalidated when
// AddForeignKeys fails, so that every key is either valid or gone.
//
// The tables are vacuumed first (see vacuum). The statements then run two
// at a time on two connections, a GIN index first, then the keys, and
// then the indexes of the largest tables (the small ones fill in at the
// end), taking the first whose locks do not wait on those running:
// validating a key locks its table against any other work on it, while
// indexes of one table can build together. A replay ends with this, when
// nothing else is left to do: keys added one after the other left a core
// idle for 0.7 s of a 1,000,000-event replay, and indexes built a table at
// a time left one connection building the Builds indexes for a third of
// the time after the other had finished.
func (s *Schemas) AddForeignKeys(ctx context.Context, keys []projections.ForeignKey, indexes []string) error {
	if len(keys) > 0 {
		err := Transact(ctx, s.pool, func(tx pgx.Tx) error {
			for _, k := range keys {
				if _, err := tx.Exec(ctx, k.Add); err != nil {
					return fmt.Errorf("add foreign key %s: %w", k.Name, err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	tables := map[string]tableInfo{}
	info := func(name string) (tableInfo, error) {
		if t, ok := tables[name]; ok {
			return t, nil
		}
		var t tableInfo
		err := s.pool.QueryRow(ctx, `select $1::regclass::oid, pg_relation_size($1::regclass)`, name).Scan(&t.oid, &t.size)
		if err != nil {
			return t, fmt.Errorf("table %s: %w", name, err)
		}
		tables[name] = t
		return t, nil
	}
	var (
		tasks     []task
		validated = make([]bool, len(keys))
	)
	for i, k := range keys {
		t, err := info(k.Table)
		if err != nil {
			return errors.Join(err, s.dropUnvalidated(ctx, keys, validated))
		}
		tasks = append(tasks, task{table: t, exclusive: true, run: func(ctx context.Context) error {
			if err := s.validate(ctx, k); err != nil {
				return err
			}
			validated[i] = true
			return nil
		}})
	}
	var builds []task
	for _, d := range indexes {
		t, err := info(indexedTable(d))
		if err != nil {
			return errors.Join(fmt.Errorf("create indexes: %w", err), s.dropUnvalidated(ctx, keys, validated))
		}
		builds = append(builds, task{table: t, gin: strings.Contains(d, " USING gin "), run: func(ctx context.Context) error {
			if err := maintain(ctx, s.pool, d); err != nil {
				return fmt.Errorf("create indexes: %s: %w", d, err)
			}
			return nil
		}})
	}
	if err := s.vacuum(ctx, tables); err != nil {
		return errors.Join(err, s.dropUnvalidated(ctx, keys, validated))
	}
	if err := runTasks(ctx, schedule(tasks, builds), 2); err != nil {
		return errors.Join(err, s.dropUnvalidated(ctx, keys, validated))
	}
	return nil
}

// schedule orders the validations of keys and the index builds for
// runTasks: the builds of GIN indexes, the keys, and the other builds,
// those of the largest tables first.
func schedule(keys, builds []task) []task {
	// A GIN index goes before everything else: it takes several times as
	// long as a btree index of its table. Hydra's trigram index on
	// Builds.drvPath took 5.0 s of a 1,000,000-event replay's 8 s of keys
	// and indexes on a busy machine (Builds' btree indexes 0.1-0.7 s
	// each), and 50 s of 89 s at 10,000,000 events; started after the
	// keys and the other indexes of Builds, it built alone at the end,
	// the other connection idle (the last 2.9 s at 1,000,000 events).
	var gin, other []task
	for _, t := range builds {
		if t.gin {
			gin = append(gin, t)
		} else {
			other = append(other, t)
		}
	}
	slices.SortStableFunc(other, func(a, b task) int { return cmp.Compare(b.table.size, a.table.size) })
	return slices.Concat(gin, keys, other)
}

// vacuum vacuums tables, two at a time, the largest first. Rows just
// loaded are not yet marked visible to all, so the check of a key, which
// reads the child's and the parent's primary keys in order, visits the
// heap for every row: 250-350 ms for 200,000 build steps and their
// outputs, against 40-60 ms once both tables are vacuumed (100-140 ms
// each, most of it setting the hint bits the first reader of each row sets
// anyway). The vacuum also spares the read models autovacuum's pass over
// the new rows once the replay is done.
func (s *Schemas) vacuum(ctx context.Context, tables map[string]tableInfo) error {
	var (
		seen  = map[uint32]bool{}
		tasks []task
	)
	for name, t := range tables {
		if seen[t.oid] {
			continue // the same table, spelled another way
		}
		seen[t.oid] = true
		tasks = append(tasks, task{table: t, exclusive: true, run: func(ctx context.Context) error {
			// VACUUM cannot run in a transaction.
			if _, err := s.pool.Exec(ctx, "vacuum "+name); err != nil {
				return fmt.Errorf("vacuum %s: %w", name, err)
			}
			return nil
		}})
	}
	slices.SortFunc(tasks, func(a, b task) int { return cmp.Compare(b.table.size, a.table.size) })
	return runTasks(ctx, tasks, 2)
}

// validate validates key k, after removing the rows it refuses if its
// Orphans statement can, and drops it if they still break it.
func (s *Schemas) validate(ctx context.Context, k projections.ForeignKey) error {
	err := maintain(ctx, s.pool, k.Validate)
	if isForeignKeyViolation(err) && k.Orphans != "" {
		err = Transact(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, k.Orphans); err != nil {
				return fmt.Errorf("remove the rows it refuses: %w", err)
			}
			return nil
		})
		if err == nil {
			err = maintain(ctx, s.pool, k.Validate)
		}
	}
	if err != nil {
		return fmt.Errorf("add foreign key %s: %w", k.Name, err)
	}
	return nil
}

// dropUnvalidated drops the keys not validated.
func (s *Schemas) dropUnvalidated(ctx context.Context, keys []projections.ForeignKey, validated []bool) error {
	ctx = context.WithoutCancel(ctx)
	var errs []error
	for i, k := range keys {
		if validated[i] {
			continue
		}
		if _, err := s.pool.Exec(ctx, `alter table `+k.Table+` drop constraint if exists `+pgx.Identifier{k.Name}.Sanitize()); err != nil {
			errs = append(errs, fmt.Errorf("drop unvalidated foreign key %s: %w", k.Name, err))
		}
	}
	return errors.Join(errs...)
}

// maintain runs a statement that reads a whole table, such as CREATE INDEX
// or VALIDATE CONSTRAINT (whose check uses maintenance_work_mem), in a
// transaction of its own, with memory to spare and no parallel workers:
// two run at once already take two cores. Three indexes on each of two
// 200,000-row tables took 1.4-1.6 s with Postgres's default of two
// workers a build, and 0.8 s without.
func maintain(ctx context.Context, pool *pgxpool.Pool, sql string) error {
	return Transact(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `set local maintenance_work_mem = '256MB'; set local max_parallel_maintenance_workers = 0`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, sql)
		return err
	})
}

// tableInfo identifies a table and tells its size.
type tableInfo struct {
	oid  uint32
	size int64
}

// task is a statement on one table.
type task struct {
	table tableInfo
	// exclusive tasks wait for every other task on their table, and the
	// others for them.
	exclusive bool
	// gin is set on the build of a GIN index.
	gin bool
	run func(context.Context) error
}

// runTasks runs tasks on workers goroutines, each taking the first task
// left that can run beside those running, and stops at the first error.
func runTasks(ctx context.Context, tasks []task, workers int) error {
	var (
		mu      sync.Mutex
		changed = sync.NewCond(&mu)
		running = map[uint32]int{}  // tasks running, by table
		busy    = map[uint32]bool{} // an exclusive task is running
		failed  error
	)
	next := func() (task, bool) {
		mu.Lock()
		defer mu.Unlock()
		for failed == nil && len(tasks) > 0 {
			for i, t := range tasks {
				if busy[t.table.oid] || t.exclusive && running[t.table.oid] > 0 {
					continue
				}
				tasks = slices.Delete(tasks, i, i+1)
				running[t.table.oid]++
				busy[t.table.oid] = t.exclusive
				return t, true
			}
			changed.Wait()
		}
		return task{}, false
	}
	done := func(t task, err error) {
		mu.Lock()
		defer mu.Unlock()
		running[t.table.oid]--
		busy[t.table.oid] = false
		if err != nil && failed == nil {
			failed = err
		}
		changed.Broadcast()
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t, ok := next(); ok; t, ok = next() {
				done(t, t.run(ctx))
			}
		}()
	}
	wg.Wait()
	return failed
}

// isForeignKeyViolation reports whether err is a foreign_key_violation
// (SQLSTATE 23503).
func isForeignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}
