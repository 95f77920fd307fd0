package sqlproj

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"text/template"

	"buildledger/projections"
)

// Tables is the blue/green table set of one version of a projection.
// Each logical table name x is built as the real table NAME_x_vVERSION;
// readers query the view NAME_x, which Promote points at the version that
// has caught up with the log. The previous version's tables are kept for
// rollback; older ones are dropped when a version is promoted.
type Tables struct {
	// Projection and Version name the projection.
	Projection string
	Version    int
	// Logical lists the logical table names, the first of which tells
	// whether the tables exist.
	Logical []string
	// DDL creates the tables. It is a text/template in which
	// {{table "x"}} expands to the real (versioned) name of table x.
	DDL string
}

var identRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Validate checks the names.
func (t Tables) Validate() error {
	if !identRE.MatchString(t.Projection) {
		return fmt.Errorf("projection name %q: want lowercase letters, digits and _", t.Projection)
	}
	if t.Version < 1 {
		return fmt.Errorf("projection %s: version %d, want >= 1", t.Projection, t.Version)
	}
	if len(t.Logical) == 0 {
		return fmt.Errorf("projection %s: no tables", t.Projection)
	}
	for _, l := range t.Logical {
		if !identRE.MatchString(l) {
			return fmt.Errorf("projection %s: table name %q: want lowercase letters, digits and _", t.Projection, l)
		}
		if n := len(t.Table(l)); n > 63 {
			return fmt.Errorf("projection %s: table %s is %d characters, Postgres allows 63", t.Projection, t.Table(l), n)
		}
	}
	return nil
}

// Table returns the real name of logical table x in this version.
func (t Tables) Table(x string) string { return fmt.Sprintf("%s_%s_v%d", t.Projection, x, t.Version) }

// View returns the stable name readers use for logical table x.
func (t Tables) View(x string) string { return t.Projection + "_" + x }

// Expand executes a template in which {{table "x"}} names this
// version's table x.
func (t Tables) Expand(name, text string) (string, error) {
	tmpl, err := template.New(name).Option("missingkey=error").Funcs(template.FuncMap{
		"table": func(x string) (string, error) {
			for _, l := range t.Logical {
				if l == x {
					return t.Table(x), nil
				}
			}
			return "", fmt.Errorf("table %q is not declared (declared: %v)", x, t.Logical)
		},
	}).Parse(text)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, nil); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return b.String(), nil
}

// Ensure creates this version's tables unless they exist. It costs one
// catalog lookup.
func (t Tables) Ensure(ctx context.Context, tx projections.Tx) error {
	var exists bool
	if err := tx.QueryRow(ctx, `select to_regclass($1) is not null`, t.Table(t.Logical[0])).Scan(&exists); err != nil {
		return fmt.Errorf("look up %s: %w", t.Table(t.Logical[0]), err)
	}
	if exists {
		return nil
	}
	ddl, err := t.Expand(t.Projection+" migration", t.DDL)
	if err != nil {
		return err
	}
	for _, stmt := range splitStatements(ddl) {
		if err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("create tables of %s v%d: %w", t.Projection, t.Version, err)
		}
	}
	return nil
}

// Promote points every view at this version's tables and drops the
// tables of versions older than the previous one.
func (t Tables) Promote(ctx context.Context, tx projections.Tx) error {
	if err := t.Ensure(ctx, tx); err != nil {
		return err
	}
	for _, x := range t.Logical {
		if err := tx.Exec(ctx, fmt.Sprintf(`drop view if exists %s`, t.View(x))); err != nil {
			return fmt.Errorf("promote %s: %w", t.View(x), err)
		}
		if err := tx.Exec(ctx, fmt.Sprintf(`create view %s as select * from %s`, t.View(x), t.Table(x))); err != nil {
			return fmt.Errorf("promote %s: %w", t.View(x), err)
		}
		for v := t.Version - 2; v >= 1; v-- {
			old := Tables{Projection: t.Projection, Version: v}
			if err := tx.Exec(ctx, fmt.Sprintf(`drop table if exists %s`, old.Table(x))); err != nil {
				return fmt.Errorf("drop %s: %w", old.Table(x), err)
			}
		}
	}
	return nil
}
