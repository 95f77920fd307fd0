package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"buildledger/adapters/postgres"
	"buildledger/projections"
	"buildledger/projections/sqlproj"
)

const projectionUsage = `usage: buildledger projection new NAME [--go] [--dir DIR]
       buildledger projection list [--dir DIR]
Build or rebuild one with: buildledger replay --projection NAME`

// runProjection scaffolds and lists analyst projections (docs/projections.md).
func runProjection(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 {
		return errors.New(projectionUsage)
	}
	switch args[0] {
	case "new":
		return runProjectionNew(a, args[1:])
	case "list":
		return runProjectionList(a, args[1:])
	}
	return fmt.Errorf("unknown projection command %q\n%s", args[0], projectionUsage)
}

// sqlProjectionDir is where SQL projections live by default.
func sqlProjectionDir(cfg config) string { return filepath.Join(cfg.home, "projections") }

var projectionNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

func runProjectionNew(a *app, args []string) error {
	var (
		cfg   config
		asGo  bool
		dir   string
		names []string
	)
	fs := a.newFlagSet("projection new", "projection new NAME [--go] [--dir DIR]")
	cfg.register(fs, false)
	fs.BoolVar(&asGo, "go", false, "scaffold a Go projection (a package to register in readModels) instead of a SQL one")
	fs.StringVar(&dir, "dir", "", "parent directory (default: $BUILDLEDGER_HOME/projections for SQL, ./projections for Go)")
	// Accept the name before or after the flags.
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		names, args = append(names, args[0]), args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	names = append(names, fs.Args()...)
	if len(names) != 1 {
		return errors.New(projectionUsage)
	}
	name := names[0]
	if !projectionNameRE.MatchString(name) {
		return fmt.Errorf("projection name %q: lowercase letters, digits and _, starting with a letter, at most 40", name)
	}
	if dir == "" {
		dir = sqlProjectionDir(cfg)
		if asGo {
			dir = "projections"
		}
	}
	root := filepath.Join(dir, name)
	if _, err := os.Stat(root); err == nil {
		return fmt.Errorf("%s already exists", root)
	}
	files := sqlScaffold(name)
	if asGo {
		files = goScaffold(name)
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fmt.Errorf("create %s: %w", filepath.Dir(full), err)
		}
		if err := writeNew(full, []byte(files[p]), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "created %s\n", full)
	}
	if asGo {
		fmt.Fprintf(a.stdout, "\nRegister %s.Projection{} in readModels() (cmd/buildledger/system.go), then run:\n  buildledger replay --projection %s\n", name, name)
	} else {
		fmt.Fprintf(a.stdout, "\nEdit the files, then build it from the whole log:\n  buildledger replay --projection %s\nand query the view %s.%s_per_job.\n", name, postgres.AnalystSchema, name)
	}
	return nil
}

func sqlScaffold(name string) map[string]string {
	return map[string]string{
		"projection.conf": fmt.Sprintf(`# %s: an analyst projection in SQL (see docs/projections.md).
# Bump version after changing the tables or the SQL: the new version is
# rebuilt beside the old one and swapped in when it has caught up.
name = %s
version = 1
tables = per_job
`, name, name),
		"migration.sql": `-- Creates this version's tables. {{table "per_job"}} expands to the
-- versioned name; readers use the view <name>_per_job.
create table {{table "per_job"}} (
    build_id  integer primary key,
    job       text not null,
    status    integer,
    queued_at timestamptz not null,
    stop_time bigint
);
`,
		"on/BuildQueued.sql": `-- Runs for every BuildQueued event. :field is a field of the event's data,
-- :_recordedAt (and :_position, :_stream, :_actor, …) describe the event.
insert into {{table "per_job"}} (build_id, job, queued_at)
values (:buildId, :job, :_recordedAt)
on conflict (build_id) do nothing;
`,
		"on/BuildFinished.sql": `update {{table "per_job"}} set status = :status, stop_time = :stopTime
where build_id = :buildId;
`,
	}
}

func goScaffold(name string) map[string]string {
	return map[string]string{
		name + ".go": fmt.Sprintf(`// Package %[1]s is an analyst projection (see docs/projections.md).
package %[1]s

import (
	"context"
	"fmt"

	"buildledger/events"
	"buildledger/projections"
	"buildledger/projections/sqlproj"
)

// tables are versioned: bump Version after changing them or Apply, and the
// projection is rebuilt beside the old version, then swapped in.
var tables = sqlproj.Tables{
	Projection: %[1]q,
	Version:    1,
	Logical:    []string{"per_job"},
	DDL: `+"`"+`create table {{table "per_job"}} (
    build_id integer primary key,
    job      text not null,
    status   integer
);`+"`"+`,
}

// Projection is the %[1]s projection.
type Projection struct{}

// Name implements projections.Projection.
func (Projection) Name() string { return tables.Projection }

// Version implements projections.Projection.
func (Projection) Version() int { return tables.Version }

// Promote implements projections.Promoter: the views follow this version
// once it has caught up with the log.
func (Projection) Promote(ctx context.Context, tx projections.Tx) error { return tables.Promote(ctx, tx) }

// Apply implements projections.Projection.
func (p Projection) Apply(ctx context.Context, tx projections.Tx, batch []projections.Event) error {
	if err := tables.Ensure(ctx, tx); err != nil {
		return err
	}
	return projections.PerEvent{ProjectionName: p.Name(), ProjectionVersion: p.Version(), Handle: handle}.Apply(ctx, tx, batch)
}

func handle(ctx context.Context, tx projections.Tx, ev projections.Event) error {
	switch e := ev.Payload.(type) {
	case *events.BuildQueued:
		return tx.Exec(ctx, fmt.Sprintf("insert into %%s (build_id, job) values ($1, $2) on conflict do nothing", tables.Table("per_job")), e.BuildID, e.Job)
	case *events.BuildFinished:
		return tx.Exec(ctx, fmt.Sprintf("update %%s set status = $2 where build_id = $1", tables.Table("per_job")), e.BuildID, e.Status)
	}
	return nil
}
`, name),
	}
}

func runProjectionList(a *app, args []string) error {
	var (
		cfg config
		dir string
	)
	fs := a.newFlagSet("projection list", "projection list [--dir DIR]")
	cfg.register(fs, false)
	fs.StringVar(&dir, "dir", "", "directory of SQL projections (default $BUILDLEDGER_HOME/projections)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if dir == "" {
		dir = sqlProjectionDir(cfg)
	}
	ps, err := analystProjections(dir)
	if err != nil {
		return err
	}
	for _, p := range readModels(nil) {
		fmt.Fprintf(a.stdout, "%-20s v%-3d built in\n", p.Name(), p.Version())
	}
	for _, p := range ps {
		fmt.Fprintf(a.stdout, "%-20s v%-3d SQL, %s\n", p.Name(), p.Version(), filepath.Join(dir, p.Name()))
	}
	return nil
}

// analystProjections loads the SQL projections under dir (none if dir
// does not exist), sorted by name.
func analystProjections(dir string) ([]projections.Projection, error) {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	m, err := sqlproj.LoadAll(os.DirFS(dir))
	if err != nil {
		return nil, fmt.Errorf("load SQL projections from %s: %w", dir, err)
	}
	out := make([]projections.Projection, 0, len(m))
	for _, p := range m {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

// replayOne builds one blue/green projection (built in or SQL) in the
// live read models, next to the running projector, and publishes it when
// it has caught up. handled is false when name is not such a projection,
// so the caller falls back to a whole-schema replay.
func replayOne(ctx context.Context, a *app, cfg config, name, dir string) (handled bool, err error) {
	if dir == "" {
		dir = sqlProjectionDir(cfg)
	}
	sqlps, err := analystProjections(dir)
	if err != nil {
		return true, err
	}
	var p projections.Projection
	for _, c := range append(readModels(nil), sqlps...) {
		if _, ok := c.(projections.Promoter); ok && c.Name() == name {
			p = c
		}
	}
	if p == nil {
		return false, nil
	}
	sys, err := openSystem(ctx, cfg, a.logger())
	if err != nil {
		return true, err
	}
	defer sys.Close()
	pool := sys.pool
	if slices.Contains(sqlps, p) {
		if pool, err = sys.analystPool(ctx); err != nil {
			return true, err
		}
		defer pool.Close()
	}
	head, err := sys.store.Head(ctx)
	if err != nil {
		return true, err
	}
	bar := newProgress(a.stderr, head.Commit)
	r, err := projections.NewRunner(sys.store, sys.codec, postgres.NewReadModelDB(pool), []projections.Projection{p}, projections.RunnerOptions{
		BatchSize: projections.ReplayBatchSize,
		OnBatch:   func(pr projections.Progress) { bar.update(pr.Position.Commit, pr.Applied) },
	})
	if err != nil {
		return true, err
	}
	n, err := r.CatchUp(ctx)
	bar.done()
	if err != nil {
		return true, err
	}
	fmt.Fprintf(a.stdout, "projection %s: applied %d events up to position %d; its views now show version %d (checkpoint %s)\n",
		p.Name(), n, r.Stats().Position.Commit, p.Version(), projections.CheckpointName(p))
	return true, nil
}
