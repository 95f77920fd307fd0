package postgres

import (
	"context"
	"fmt"
	"net/url"

	"github.com/jackc/pgx/v5"

	"buildledger/schema"
)

// The roles of a database that Bootstrap prepared. Neither is a superuser,
// so neither can read files, run programs (COPY … TO PROGRAM), create
// roles or get past the log's append-only trigger.
const (
	// AppRole is the role buildledger connects as. It owns the read
	// models ("public"), the bus and the schemas replays create, and may
	// create schemas in the database (a replay builds one and renames it
	// to "public"). In the ledger it may read, and append only through
	// ledger.append_sealed.
	AppRole = "buildledger"
	// AnalystRole runs analysts' SQL projections. It reads ledger.events
	// and owns AnalystSchema, where its tables and views go, and nothing
	// else: no read model, no other schema.
	AnalystRole = "buildledger_analyst"
	// AnalystSchema holds the analyst projections' tables, views and
	// checkpoints.
	AnalystSchema = "analyst"
	// ExtensionSchema holds the extensions Bootstrap creates (pg_trgm,
	// for Hydra's trigram index on Builds.drvPath), owned by the
	// superuser: only a superuser may create pg_trgm, and in "public" a
	// replay would rename it away with the read models it replaces.
	ExtensionSchema = "extensions"
)

// Bootstrap prepares the database at adminURL, a superuser's, for
// AppRole and AnalystRole: it creates the roles if missing, applies the
// ledger migrations (so the superuser owns the log), grants the roles
// what they need, and hands every other schema, and what is in it, to
// AppRole, which also takes over the tables of a database that an older
// version ran as the superuser. It is idempotent and cheap when nothing
// changed, so every start runs it.
func Bootstrap(ctx context.Context, adminURL string) error {
	pool, err := Open(ctx, adminURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := apply(ctx, pool, schema.Ledger(), LedgerSchema); err != nil {
		return err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	defer conn.Release()
	// Concurrent starts grant one at a time; roles, shared by every
	// database of the cluster, tolerate a concurrent creation instead.
	if _, err := conn.Exec(ctx, "select pg_advisory_lock($1)", migrationLock); err != nil {
		return fmt.Errorf("bootstrap: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "select pg_advisory_unlock($1)", migrationLock) //nolint:errcheck
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, stmt := range bootstrapSQL {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("%.60s: %w", stmt, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	return nil
}

// bootstrapSQL are Bootstrap's statements after the ledger migrations.
var bootstrapSQL = []string{
	createRole(AppRole),
	createRole(AnalystRole),
	`do $$ begin
		execute format('grant connect, create, temporary on database %I to ` + AppRole + `', current_database());
		execute format('grant connect on database %I to ` + AnalystRole + `', current_database());
	end $$`,
	`grant usage on schema ` + LedgerSchema + ` to ` + AppRole + `, ` + AnalystRole,
	`grant select on all tables in schema ` + LedgerSchema + ` to ` + AppRole,
	`grant execute on all functions in schema ` + LedgerSchema + ` to ` + AppRole,
	`grant select on ` + LedgerSchema + `.events to ` + AnalystRole,
	`create schema if not exists ` + AnalystSchema + ` authorization ` + AnalystRole,
	// The runner keeps the analyst projections' checkpoints in a table of
	// their own schema, with the columns of public.projection_checkpoints
	// (schema/readmodel/0002_ledger.sql).
	`set local role ` + AnalystRole,
	`create table if not exists ` + AnalystSchema + `.projection_checkpoints (
		name             text primary key,
		position_commit  bigint not null,
		position_prepare bigint not null,
		updated_at       timestamptz not null default now(),
		events_applied   bigint not null default 0)`,
	`reset role`,
	`create schema if not exists ` + ExtensionSchema,
	`grant usage on schema ` + ExtensionSchema + ` to ` + AppRole,
	// A server without the contrib modules has no pg_trgm: the read
	// models then do without Hydra's trigram index (0010_hydra_tables.sql).
	`do $$ begin
		create extension if not exists pg_trgm with schema ` + ExtensionSchema + `;
	exception when undefined_file or feature_not_supported then
		raise warning 'pg_trgm is not available (%): the read models go without Hydra''s trigram index on Builds.drvPath', sqlerrm;
	end $$`,
	handOver,
}

// createRole creates a login role with no special attributes, unless it
// exists (or another start creates it at the same time).
func createRole(name string) string {
	return `do $$ begin
		create role ` + name + ` login nosuperuser nocreatedb nocreaterole noreplication nobypassrls;
	exception when duplicate_object or unique_violation then null;
	end $$`
}

// handOver gives AppRole every schema but the ledger's, the analysts',
// the extensions' and the system's, with their tables, views, sequences and functions. A
// sequence that belongs to a column follows its table.
const handOver = `do $$
declare
	r record;
begin
	for r in select n.nspname from pg_namespace n
		where n.nspname not in ('` + LedgerSchema + `', '` + AnalystSchema + `', '` + ExtensionSchema + `', 'information_schema') and n.nspname not like 'pg\_%'
		and n.nspowner <> '` + AppRole + `'::regrole
	loop
		execute format('alter schema %I owner to ` + AppRole + `', r.nspname);
	end loop;
	for r in select c.oid::regclass as rel from pg_class c join pg_namespace n on n.oid = c.relnamespace
		where n.nspname not in ('` + LedgerSchema + `', '` + AnalystSchema + `', '` + ExtensionSchema + `', 'information_schema') and n.nspname not like 'pg\_%'
		and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S') and c.relowner <> '` + AppRole + `'::regrole
		and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype in ('a', 'i'))
	loop
		execute format('alter table %s owner to ` + AppRole + `', r.rel);
	end loop;
	for r in select p.oid::regprocedure as fn from pg_proc p join pg_namespace n on n.oid = p.pronamespace
		where n.nspname not in ('` + LedgerSchema + `', '` + AnalystSchema + `', '` + ExtensionSchema + `', 'information_schema') and n.nspname not like 'pg\_%'
		and p.proowner <> '` + AppRole + `'::regrole
	loop
		execute format('alter routine %s owner to ` + AppRole + `', r.fn);
	end loop;
end $$`

// AppURL returns the URL of the database at adminURL as AppRole.
func AppURL(adminURL string) (string, error) { return roleURL(adminURL, AppRole, "") }

// AnalystURL returns the URL of the database at adminURL as AnalystRole,
// whose unqualified names resolve in AnalystSchema.
func AnalystURL(adminURL string) (string, error) {
	return roleURL(adminURL, AnalystRole, AnalystSchema)
}

// roleURL returns base connecting as role, with search_path if set. The
// roles have no password: they are meant for the private cluster, whose
// socket only its owner and root reach.
func roleURL(base, role, searchPath string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("database url: %w", err)
	}
	u.User = url.User(role)
	if searchPath != "" {
		q := u.Query()
		q.Set("search_path", searchPath)
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}
