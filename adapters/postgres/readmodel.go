package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"buildledger/projections"
)

// ReadModelDB is the read-model database of one Postgres schema: it
// implements projections.DB.
type ReadModelDB struct {
	pool *pgxpool.Pool
}

var _ projections.DB = (*ReadModelDB)(nil)

// NewReadModelDB returns the read-model database on pool, whose
// search_path selects the schema.
func NewReadModelDB(pool *pgxpool.Pool) *ReadModelDB { return &ReadModelDB{pool: pool} }

// Pool returns the underlying pool, for queries of the read side.
func (db *ReadModelDB) Pool() *pgxpool.Pool { return db.pool }

// readModelRetry is how long a read-model transaction rides out a
// database restart: then it returns the error and the projection runner
// pauses the projection.
var readModelRetry = Retry{MaxElapsed: time.Minute}

// InTx implements projections.DB. A transaction that fails on a
// transient error (IsTransient) is rolled back and run again: fn must
// have no effect outside the transaction, as projections have none.
func (db *ReadModelDB) InTx(ctx context.Context, fn func(projections.Tx) error) error {
	return readModelRetry.Do(ctx, "read-model transaction", func(ctx context.Context) error {
		return Transact(ctx, db.pool, func(tx pgx.Tx) error { return fn(pgTx{tx}) })
	})
}

type pgTx struct{ tx pgx.Tx }

func (t pgTx) Exec(ctx context.Context, sql string, args ...any) error {
	_, err := t.tx.Exec(ctx, sql, args...)
	return err
}

func (t pgTx) QueryRow(ctx context.Context, sql string, args ...any) projections.Row {
	return t.tx.QueryRow(ctx, sql, args...)
}

func (t pgTx) Query(ctx context.Context, sql string, args ...any) (projections.Rows, error) {
	rows, err := t.tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// ExecAll sends the statements in one pipeline, one round trip for all.
func (t pgTx) ExecAll(ctx context.Context, stmts []projections.Statement) error {
	var b pgx.Batch
	for _, st := range stmts {
		b.Queue(st.SQL, st.Args...)
	}
	res := t.tx.SendBatch(ctx, &b)
	for _, st := range stmts {
		if _, err := res.Exec(); err != nil {
			_ = res.Close()
			return fmt.Errorf("%.60s: %w", st.SQL, err)
		}
	}
	return res.Close()
}

func (t pgTx) CopyFrom(ctx context.Context, table string, columns []string, rows [][]any) error {
	cols := make([]string, len(columns))
	for i, c := range columns {
		cols[i] = strings.ToLower(c)
	}
	_, err := t.tx.CopyFrom(ctx, pgx.Identifier{strings.ToLower(table)}, cols, pgx.CopyFromRows(rows))
	if err != nil {
		return fmt.Errorf("copy into %s: %w", table, err)
	}
	return nil
}

// Schemas creates, swaps and drops read-model schemas; it implements
// projections.Schemas.
type Schemas struct {
	pool *pgxpool.Pool
}

var _ projections.Schemas = (*Schemas)(nil)

// NewSchemas returns the schema manager of the database pool is on.
func NewSchemas(pool *pgxpool.Pool) *Schemas { return &Schemas{pool: pool} }

// Create implements projections.Schemas: a fresh schema with every
// read-model table, and a database handle whose statements land in it.
func (s *Schemas) Create(ctx context.Context, name string) (projections.DB, func(), error) {
	if err := validSchemaName(name); err != nil {
		return nil, nil, err
	}
	var exists bool
	if err := s.pool.QueryRow(ctx, `select exists(select 1 from pg_namespace where nspname = $1)`, name).Scan(&exists); err != nil {
		return nil, nil, fmt.Errorf("create schema %s: %w", name, err)
	}
	if exists {
		return nil, nil, fmt.Errorf("create schema %s: it already exists (drop it first or pick another name)", name)
	}
	if err := MigrateReadModels(ctx, s.pool, name); err != nil {
		return nil, nil, err
	}
	pool, err := s.PoolFor(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	return NewReadModelDB(pool), pool.Close, nil
}

// PoolFor returns a new pool whose connections use schema name.
func (s *Schemas) PoolFor(ctx context.Context, name string) (*pgxpool.Pool, error) {
	cfg := s.pool.Config().Copy()
	cfg.ConnConfig.RuntimeParams["search_path"] = name
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect for schema %s: %w", name, err)
	}
	return pool, nil
}

// Swap implements projections.Schemas: in one transaction the live
// schema is renamed to a backup name and name takes its place. Readers
// resolve table names at each statement, so they see the new tables at
// once.
func (s *Schemas) Swap(ctx context.Context, name string) (string, error) {
	if err := validSchemaName(name); err != nil {
		return "", err
	}
	stamp := fmt.Sprintf("readmodel_before_%s", time.Now().UTC().Format("20060102_150405"))
	var backup string
	err := Transact(ctx, s.pool, func(tx pgx.Tx) error {
		// Wait for any projector batch in flight: they lock checkpoints.
		if _, err := tx.Exec(ctx, `lock table public.projection_checkpoints in exclusive mode`); err != nil {
			return err
		}
		// A second swap in the same second gets the next free name.
		backup = stamp
		for i := 2; ; i++ {
			var taken bool
			if err := tx.QueryRow(ctx, `select exists(select 1 from pg_namespace where nspname = $1)`, backup).Scan(&taken); err != nil {
				return err
			}
			if !taken {
				break
			}
			backup = fmt.Sprintf("%s_%d", stamp, i)
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf(`alter schema %s rename to %s`, ReadModelSchema, backup)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, fmt.Sprintf(`alter schema %s rename to %s`, pgx.Identifier{name}.Sanitize(), ReadModelSchema))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("swap in schema %s: %w", name, err)
	}
	return backup, nil
}

// Rename renames schema from to to, which must not exist.
func (s *Schemas) Rename(ctx context.Context, from, to string) error {
	for _, n := range []string{from, to} {
		if err := validSchemaName(n); err != nil {
			return err
		}
		if n == ReadModelSchema || n == LedgerSchema {
			return fmt.Errorf("rename schema %s to %s: refusing to rename the live read models or the ledger", from, to)
		}
	}
	if _, err := s.pool.Exec(ctx, fmt.Sprintf(`alter schema %s rename to %s`, pgx.Identifier{from}.Sanitize(), pgx.Identifier{to}.Sanitize())); err != nil {
		return fmt.Errorf("rename schema %s to %s: %w", from, to, err)
	}
	return nil
}

// Drop implements projections.Schemas.
func (s *Schemas) Drop(ctx context.Context, name string) error {
	if err := validSchemaName(name); err != nil {
		return err
	}
	if name == ReadModelSchema || name == LedgerSchema {
		return fmt.Errorf("drop schema %s: refusing to drop the live read models or the ledger", name)
	}
	if _, err := s.pool.Exec(ctx, `drop schema if exists `+pgx.Identifier{name}.Sanitize()+` cascade`); err != nil {
		return fmt.Errorf("drop schema %s: %w", name, err)
	}
	return nil
}

func validSchemaName(name string) error {
	if name == "" || len(name) > 63 {
		return fmt.Errorf("schema name %q: 1 to 63 characters", name)
	}
	for _, r := range name {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return fmt.Errorf("schema name %q: only lowercase letters, digits and _", name)
		}
	}
	if name[0] >= '0' && name[0] <= '9' {
		return fmt.Errorf("schema name %q: must not start with a digit", name)
	}
	return nil
}
