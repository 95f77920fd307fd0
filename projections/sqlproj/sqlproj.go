// Package sqlproj runs projections written only in SQL: a directory with
// a file describing the projection, a migration that creates its tables,
// and one SQL file per event type it handles, whose :named parameters are
// filled from the event's JSON fields. Tables are versioned and published
// blue/green (see Tables), so bumping the version rebuilds the projection
// while readers keep the old tables until the new ones have caught up.
//
// Layout of a projection directory:
//
//	projection.conf     name = queue_wait
//	                    version = 1
//	                    tables = steps, hourly
//	migration.sql       create table {{table "steps"}} (...);
//	on/StepQueued.sql   insert into {{table "steps"}} values (:drvPath, :system, :_recordedAt) on conflict do nothing;
//	on/StepStarted.sql  ...
//
// In the per-event files :x is the event data's field x (:reason.shareUsed
// reaches into objects), and :_position, :_stream, :_revision, :_id,
// :_type, :_recordedAt (a timestamptz) and :_actor describe the event.
// Integers arrive as bigint, other numbers as double precision, objects
// and arrays as JSON text, missing fields as NULL; cast when Postgres
// cannot infer a type (:timestamp::bigint). A file may hold several
// statements separated by semicolons; they run in order.
package sqlproj

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"buildledger/projections"
)

// Projection is a loaded SQL projection. It implements
// projections.Projection and projections.Promoter.
type Projection struct {
	tables   Tables
	handlers map[string][]compiled
}

var (
	_ projections.Projection = (*Projection)(nil)
	_ projections.Promoter   = (*Projection)(nil)
)

// Name implements projections.Projection.
func (p *Projection) Name() string { return p.tables.Projection }

// Version implements projections.Projection.
func (p *Projection) Version() int { return p.tables.Version }

// Tables returns the projection's table set.
func (p *Projection) Tables() Tables { return p.tables }

// EventTypes lists the event types the projection handles.
func (p *Projection) EventTypes() []string {
	out := make([]string, 0, len(p.handlers))
	for t := range p.handlers {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Load reads a projection from fsys (the projection's directory).
func Load(fsys fs.FS) (*Projection, error) {
	conf, err := fs.ReadFile(fsys, "projection.conf")
	if err != nil {
		return nil, fmt.Errorf("read projection.conf: %w", err)
	}
	kv, err := parseConf(conf)
	if err != nil {
		return nil, err
	}
	p := &Projection{handlers: map[string][]compiled{}}
	p.tables.Projection = kv["name"]
	if p.tables.Version, err = strconv.Atoi(kv["version"]); err != nil {
		return nil, fmt.Errorf("projection.conf: version %q: %w", kv["version"], err)
	}
	for _, t := range strings.Split(kv["tables"], ",") {
		if t = strings.TrimSpace(t); t != "" {
			p.tables.Logical = append(p.tables.Logical, t)
		}
	}
	ddl, err := fs.ReadFile(fsys, "migration.sql")
	if err != nil {
		return nil, fmt.Errorf("read migration.sql: %w", err)
	}
	p.tables.DDL = string(ddl)
	if err := p.tables.Validate(); err != nil {
		return nil, err
	}
	if _, err := p.tables.Expand("migration.sql", p.tables.DDL); err != nil {
		return nil, err
	}
	files, err := fs.Glob(fsys, "on/*.sql")
	if err != nil {
		return nil, fmt.Errorf("list on/*.sql: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("projection %s: no on/EVENTTYPE.sql files", p.Name())
	}
	for _, f := range files {
		raw, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f, err)
		}
		text, err := p.tables.Expand(f, string(raw))
		if err != nil {
			return nil, err
		}
		typ := strings.TrimSuffix(path.Base(f), ".sql")
		for _, stmt := range splitStatements(text) {
			p.handlers[typ] = append(p.handlers[typ], compile(stmt))
		}
	}
	return p, nil
}

// LoadAll loads every projection in the subdirectories of fsys that hold
// a projection.conf, keyed by name.
func LoadAll(fsys fs.FS) (map[string]*Projection, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("list projections: %w", err)
	}
	out := map[string]*Projection{}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := fs.Stat(fsys, path.Join(e.Name(), "projection.conf")); err != nil {
			continue
		}
		sub, err := fs.Sub(fsys, e.Name())
		if err != nil {
			return nil, err
		}
		p, err := Load(sub)
		if err != nil {
			return nil, fmt.Errorf("projection %s: %w", e.Name(), err)
		}
		if _, dup := out[p.Name()]; dup {
			return nil, fmt.Errorf("projection %s: defined twice", p.Name())
		}
		out[p.Name()] = p
	}
	return out, nil
}

func parseConf(b []byte) (map[string]string, error) {
	kv := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("projection.conf line %d: want key = value", n)
		}
		kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	for _, k := range []string{"name", "version", "tables"} {
		if kv[k] == "" {
			return nil, fmt.Errorf("projection.conf: %s is missing", k)
		}
	}
	return kv, nil
}

// Apply implements projections.Projection: it creates this version's
// tables on first use, then runs each event's statements.
func (p *Projection) Apply(ctx context.Context, tx projections.Tx, batch []projections.Event) error {
	if err := p.tables.Ensure(ctx, tx); err != nil {
		return err
	}
	for _, ev := range batch {
		stmts := p.handlers[ev.Type]
		if len(stmts) == 0 {
			continue
		}
		var doc map[string]any
		dec := json.NewDecoder(bytes.NewReader(ev.Data))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			return fmt.Errorf("%s: event %s (%s): data: %w", p.Name(), ev.ID, ev.Type, err)
		}
		for i, st := range stmts {
			args := make([]any, len(st.params))
			for j, name := range st.params {
				v, err := param(ev, doc, name)
				if err != nil {
					return fmt.Errorf("%s: event %s (%s): %w", p.Name(), ev.ID, ev.Type, err)
				}
				args[j] = v
			}
			if err := tx.Exec(ctx, st.sql, args...); err != nil {
				return fmt.Errorf("%s: on/%s.sql statement %d, event %s at %s@%d: %w", p.Name(), ev.Type, i+1, ev.ID, ev.Stream, ev.Revision, err)
			}
		}
	}
	return nil
}

// Promote implements projections.Promoter.
func (p *Projection) Promote(ctx context.Context, tx projections.Tx) error {
	return p.tables.Promote(ctx, tx)
}

func param(ev projections.Event, doc map[string]any, name string) (any, error) {
	switch name {
	case "_position":
		return int64(ev.Position.Commit), nil
	case "_stream":
		return ev.Stream, nil
	case "_revision":
		return int64(ev.Revision), nil
	case "_id":
		return ev.ID, nil
	case "_type":
		return ev.Type, nil
	case "_recordedAt":
		return ev.RecordedAt, nil
	case "_actor":
		return ev.Metadata.Actor, nil
	}
	return lookup(doc, name)
}
