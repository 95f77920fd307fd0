package hydraimport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"buildledger/commands"
	"buildledger/domain/domainerr"
	"buildledger/events"
)

// Users is the command side's user import (commands.Handlers): it
// records UserCreated and keeps the password hash in the vault, and run
// again, stores the hash of a user an interrupted run created without it.
type Users interface {
	ImportUser(ctx context.Context, md events.Metadata, c commands.CreateUser) (commands.Result, error)
}

var _ Users = (*commands.Handlers)(nil)

// Options tune an import.
type Options struct {
	// ChunkBuilds is how many builds one batch reads and appends, with
	// their steps and the rest. Default 5000.
	ChunkBuilds int
	// Logger gets a progress line per table. Default slog.Default().
	Logger *slog.Logger
}

// Importer reads one Hydra database into the ledger.
type Importer struct {
	src   *pgxpool.Pool
	log   Log
	users Users
	opts  Options
}

// New returns an importer from src (a Hydra database) into log, creating
// users through users.
func New(src *pgxpool.Pool, log Log, users Users, opts Options) *Importer {
	if opts.ChunkBuilds <= 0 {
		opts.ChunkBuilds = 5000
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Importer{src: src, log: log, users: users, opts: opts}
}

// Stats counts what an import did.
type Stats struct {
	// Rows read, by table.
	Rows map[string]int
	// Appended and Skipped (already recorded) events.
	Appended, Skipped int
	// Users created; UsersSkipped those that existed or were refused.
	Users, UsersSkipped int
}

// MinSchema and MaxSchema bound the Hydra schema versions read.
const (
	MinSchema = 80
	MaxSchema = 87
)

// Run imports everything, table by table in an order that keeps every
// reference behind what it refers to.
func (im *Importer) Run(ctx context.Context) (Stats, error) {
	st := Stats{Rows: map[string]int{}}
	var version int
	if err := im.src.QueryRow(ctx, `select version from SchemaVersion`).Scan(&version); err != nil {
		return st, fmt.Errorf("read Hydra's SchemaVersion: %w", err)
	}
	if version < MinSchema || version > MaxSchema {
		return st, fmt.Errorf("Hydra schema version %d: this import reads versions %d to %d (run hydra-init to upgrade)", version, MinSchema, MaxSchema)
	}
	correlation := events.NewID(time.Now())
	w := &writer{log: im.log}
	// one reads a small table into one batch and appends it.
	one := func(read func(context.Context, *batch) (int, error)) func(context.Context, *writer, string) (int, error) {
		return func(ctx context.Context, w *writer, _ string) (int, error) {
			b := newBatch(correlation)
			n, err := read(ctx, b)
			if err != nil {
				return n, err
			}
			return n, w.write(ctx, b)
		}
	}
	steps := []struct {
		table string
		run   func(context.Context, *writer, string) (int, error)
	}{
		{"Users", func(ctx context.Context, _ *writer, _ string) (int, error) { return im.importUsers(ctx, &st) }},
		{"Projects", one(im.projects)},
		{"Jobsets", one(im.jobsets)},
		{"JobsetRenames", one(im.renames)},
		{"Builds", im.builds},
		{"JobsetEvals", im.evals},
		{"JobsetTriggers", one(im.triggers)},
		{"StarredJobs", one(im.stars)},
		{"NewsItems", one(im.news)},
		{"ids", one(im.reserveIDs)},
	}
	for _, s := range steps {
		start := time.Now()
		n, err := s.run(ctx, w, correlation)
		if err != nil {
			return st, fmt.Errorf("import %s: %w", s.table, err)
		}
		st.Rows[s.table] = n
		secs := time.Since(start).Seconds()
		im.opts.Logger.Info("imported", "table", s.table, "rows", n, "seconds", fmt.Sprintf("%.1f", secs),
			"rowsPerSecond", int(float64(n)/max(secs, 1e-3)), "appended", w.appended, "skipped", w.skipped)
	}
	st.Appended, st.Skipped = w.appended, w.skipped
	return st, nil
}

// each runs query on the source and calls fn for every row, as the rows
// stream in.
func (im *Importer) each(ctx context.Context, query string, args []any, fn func(pgx.Rows) error) (int, error) {
	rows, err := im.src.Query(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		if err := fn(rows); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

func (im *Importer) importUsers(ctx context.Context, st *Stats) (int, error) {
	type row struct {
		name, email, hash, typ string
		full                   *string
		roles                  []string
		emailOnError           int32
		publicDashboard        bool
	}
	var users []row
	n, err := im.each(ctx, `select u.userName, u.fullName, u.emailAddress, u.password, u.type, u.emailOnError, u.publicDashboard,
			coalesce(array(select role from UserRoles r where r.userName = u.userName order by role), '{}')
		from Users u order by u.userName`, nil, func(r pgx.Rows) error {
		var u row
		if err := r.Scan(&u.name, &u.full, &u.email, &u.hash, &u.typ, &u.emailOnError, &u.publicDashboard, &u.roles); err != nil {
			return err
		}
		users = append(users, u)
		return nil
	})
	if err != nil {
		return n, err
	}
	for _, u := range users {
		md := events.Metadata{Actor: Actor, ImportedFrom: "hydra", Source: "users:" + u.name}
		c := commands.CreateUser{UserName: u.name, FullName: str(u.full), EmailAddress: u.email, PasswordHash: u.hash,
			Type: u.typ, Roles: u.roles, EmailOnError: u.emailOnError != 0, PublicDashboard: u.publicDashboard}
		_, err := im.users.ImportUser(ctx, md, c)
		switch {
		case err == nil:
			st.Users++
		case errors.Is(err, domainerr.ErrAlreadyExists):
			st.UsersSkipped++
		case errors.Is(err, domainerr.ErrInvalid):
			st.UsersSkipped++
			im.opts.Logger.Warn("user not imported", "user", u.name, "reason", err)
		default:
			return n, fmt.Errorf("user %s: %w", u.name, err)
		}
	}
	return n, nil
}

// str is a nullable text column's value, "" for NULL, as the events
// carry it.
func str(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func i64(v *int64) int64 {
	if v == nil {
		return 0
	}
	return *v
}

func i32(v *int32) int {
	if v == nil {
		return 0
	}
	return int(*v)
}
