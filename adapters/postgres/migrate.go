package postgres

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"buildledger/schema"
)

// LedgerSchema is the Postgres schema that holds the event log.
const LedgerSchema = "ledger"

// VaultSchema is the Postgres schema of the command side's secrets:
// password hashes and users' profile keys, outside the log and outside
// the read models a replay rebuilds.
const VaultSchema = "vault"

// CommandStateSchema is the Postgres schema of the command side's state
// outside the log and outside the read models a replay rebuilds.
const CommandStateSchema = "commandstate"

// ReadModelSchema is the Postgres schema that holds the live read models:
// "public", so SQL written for Hydra runs on them unchanged.
const ReadModelSchema = "public"

// migrationLock is the advisory lock key that serialises migration runs
// of concurrent processes.
const migrationLock = 0x6275696c64 // "build"

// Migrate brings the event log, the live read models, the vault and the
// command state up to date. It is idempotent and safe to run from several processes at once.
// The vault comes last: its first migration moves the password hashes
// the read model held into it.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	if err := apply(ctx, pool, schema.Ledger(), LedgerSchema); err != nil {
		return err
	}
	if err := apply(ctx, pool, schema.ReadModel(), ReadModelSchema); err != nil {
		return err
	}
	if err := apply(ctx, pool, schema.Vault(), VaultSchema); err != nil {
		return err
	}
	return apply(ctx, pool, schema.CommandState(), CommandStateSchema)
}

// MigrateReadModels creates or updates the read-model tables in the
// Postgres schema name (created if missing).
func MigrateReadModels(ctx context.Context, pool *pgxpool.Pool, name string) error {
	return apply(ctx, pool, schema.ReadModel(), name)
}

// Migration is one numbered SQL file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations lists the migrations in fsys in version order.
func Migrations(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	var out []Migration
	seen := map[int]string{}
	for _, n := range names {
		num, _, ok := strings.Cut(n, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", n)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", prev, n, v)
		}
		seen[v] = n
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: strings.TrimSuffix(path.Base(n), ".sql"), SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

func apply(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS, schemaName string) error {
	ms, err := Migrations(fsys)
	if err != nil {
		return err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", schemaName, err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "select pg_advisory_lock($1)", migrationLock); err != nil {
		return fmt.Errorf("migrate %s: lock: %w", schemaName, err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "select pg_advisory_unlock($1)", migrationLock) //nolint:errcheck

	ident := pgx.Identifier{schemaName}.Sanitize()
	applied, err := appliedVersions(ctx, conn, schemaName)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", schemaName, err)
	}
	// Up to date, nothing is created: the application's role may not
	// create in the ledger schema, whose migrations the bootstrap applies.
	if !slices.ContainsFunc(ms, func(m Migration) bool { return !applied[m.Version] }) {
		return nil
	}
	if _, err := conn.Exec(ctx, "create schema if not exists "+ident+
		"; create table if not exists "+ident+".schema_migrations (version integer primary key, name text not null, applied_at timestamptz not null default now())"); err != nil {
		return fmt.Errorf("migrate %s: %w", schemaName, err)
	}
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "set local search_path to "+ident); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "insert into "+ident+".schema_migrations (version, name) values ($1, $2)", m.Version, m.Name)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate %s: %s: %w", schemaName, m.Name, err)
		}
	}
	return nil
}

// appliedVersions returns the versions recorded in the schema's
// schema_migrations, none if it has no such table yet.
func appliedVersions(ctx context.Context, conn *pgxpool.Conn, schemaName string) (map[int]bool, error) {
	var exists bool
	if err := conn.QueryRow(ctx, `select to_regclass(format('%I.schema_migrations', $1::text)) is not null`, schemaName).Scan(&exists); err != nil {
		return nil, err
	}
	applied := map[int]bool{}
	if !exists {
		return applied, nil
	}
	rows, err := conn.Query(ctx, "select version from "+pgx.Identifier{schemaName, "schema_migrations"}.Sanitize())
	if err != nil {
		return nil, err
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil, err
	}
	for _, v := range vs {
		applied[int(v)] = true
	}
	return applied, nil
}
