package queries

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"buildledger/domain/jobset"
	"buildledger/web"
)

const projectCols = `p.name, p.displayname, coalesce(p.description, ''), coalesce(p.homepage, ''), p.owner,
	p.enabled, p.hidden, p.enable_dynamic_run_command, p.declfile, p.decltype, p.declvalue,
	array(select j.name from jobsets j where j.project = p.name order by j.name),
	array(select m.username from projectmembers m where m.project = p.name order by m.username)`

type scanner interface{ Scan(dest ...any) error }

func scanProject(r scanner) (web.Project, error) {
	var p web.Project
	var enabled, hidden int
	var df, dt, dv *string
	err := r.Scan(&p.Name, &p.DisplayName, &p.Description, &p.Homepage, &p.Owner, &enabled, &hidden,
		&p.EnableDynamicRunCommand, &df, &dt, &dv, &p.Jobsets, &p.Members)
	p.Enabled, p.Hidden = boolInt(enabled), boolInt(hidden)
	if df != nil && *df != "" {
		p.Declarative = &web.Declarative{File: *df, Type: deref(dt), Value: deref(dv)}
	}
	return p, err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Projects implements web.ProjectQueries.
func (db *DB) Projects(ctx context.Context) ([]web.Project, error) {
	rows, err := db.pool.Query(ctx, `select `+projectCols+` from projects p order by p.name`)
	if err != nil {
		return nil, fmt.Errorf("query projects: %w", err)
	}
	defer rows.Close()
	out := []web.Project{}
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, fmt.Errorf("scan project: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Project implements web.ProjectQueries.
func (db *DB) Project(ctx context.Context, name string) (web.Project, error) {
	p, err := scanProject(db.pool.QueryRow(ctx, `select `+projectCols+` from projects p where p.name = $1`, name))
	if err != nil {
		return web.Project{}, notFound(err, "project", name)
	}
	return p, nil
}

// lastCheckedCol is a jobset j's lastcheckedtime: the later of the read
// model's (evaluations and the checks the log records) and the time of
// the latest check the log does not record, which the evaluator keeps in
// commandstate.jobset_checks.
const lastCheckedCol = `greatest(j.lastcheckedtime,
	(select c.last_checked::int from commandstate.jobset_checks c where c.jobset_id = j.id))`

const jobsetCols = `j.id, j.name, j.project, coalesce(j.description, ''), coalesce(j.nixexprinput, ''),
	coalesce(j.nixexprpath, ''), coalesce(j.errormsg, ''), j.errortime,
	` + lastCheckedCol + `, j.triggertime, j.enabled, j.enableemail, j.enable_dynamic_run_command, j.hidden,
	j.emailoverride, j.keepnr, j.checkinterval, j.schedulingshares, coalesce(j.fetcherrormsg, ''), j.starttime, j.type,
	coalesce(j.flake, ''), j.verifyfraction`

func scanJobset(r scanner) (web.Jobset, error) {
	var j web.Jobset
	var enableEmail, hidden int
	var errTime, lastChecked, trigger, start *int32
	err := r.Scan(&j.ID, &j.Name, &j.Project, &j.Description, &j.NixExprInput, &j.NixExprPath, &j.ErrorMsg, &errTime,
		&lastChecked, &trigger, &j.Enabled, &enableEmail, &j.EnableDynamicRunCommand, &hidden,
		&j.EmailOverride, &j.KeepNr, &j.CheckInterval, &j.SchedulingShares, &j.FetchErrorMsg, &start, &j.Type, &j.Flake, &j.VerifyFraction)
	j.EnableEmail, j.Visible = boolInt(enableEmail), hidden == 0
	j.ErrorTime, j.LastCheckedTime, j.TriggerTime, j.StartTime = i64(errTime), i64(lastChecked), i64(trigger), i64(start)
	return j, err
}

func i64(p *int32) *int64 {
	if p == nil {
		return nil
	}
	v := int64(*p)
	return &v
}

// JobsetRenamedTo implements web.ProjectQueries. A later rename updates
// the rows of earlier ones (their key cascades), so one row answers.
func (db *DB) JobsetRenamedTo(ctx context.Context, project, old string) (string, error) {
	var to string
	err := db.pool.QueryRow(ctx, `select to_ from jobsetrenames where project = $1 and from_ = $2`, project, old).Scan(&to)
	if err != nil {
		return "", notFound(err, "jobset", project+":"+old)
	}
	return to, nil
}

// ProjectRenamedTo implements web.ProjectQueries. As for jobsets, a
// later rename updates the rows of earlier ones.
func (db *DB) ProjectRenamedTo(ctx context.Context, old string) (string, error) {
	var to string
	err := db.pool.QueryRow(ctx, `select to_ from projectrenames where from_ = $1`, old).Scan(&to)
	if err != nil {
		return "", notFound(err, "project", old)
	}
	return to, nil
}

// Jobset implements web.ProjectQueries.
func (db *DB) Jobset(ctx context.Context, project, name string) (web.Jobset, error) {
	j, err := scanJobset(db.pool.QueryRow(ctx, `select `+jobsetCols+` from jobsets j where j.project = $1 and j.name = $2`, project, name))
	if err != nil {
		return web.Jobset{}, notFound(err, "jobset", project+":"+name)
	}
	rows, err := db.pool.Query(ctx, `select i.name, i.type, coalesce(a.value, ''), i.emailresponsible
		from jobsetinputs i left join jobsetinputalts a
		  on a.project = i.project and a.jobset = i.jobset and a.input = i.name and a.altnr = 0
		where i.project = $1 and i.jobset = $2 order by i.name`, project, name)
	if err != nil {
		return web.Jobset{}, fmt.Errorf("query inputs of %s:%s: %w", project, name, err)
	}
	defer rows.Close()
	j.Inputs = map[string]web.JobsetInput{}
	for rows.Next() {
		var in web.JobsetInput
		var er int
		if err := rows.Scan(&in.Name, &in.Type, &in.Value, &er); err != nil {
			return web.Jobset{}, fmt.Errorf("scan input: %w", err)
		}
		in.EmailResponsible = er != 0
		j.Inputs[in.Name] = in
	}
	return j, rows.Err()
}

// JobsetOverviews implements web.ProjectQueries.
func (db *DB) JobsetOverviews(ctx context.Context, project string) ([]web.JobsetOverview, error) {
	return db.jobsetOverviews(ctx, "j.project = $1", project)
}

// jobsetOverviews lists the jobsets matching cond with the counts of
// their current builds that the triggers of JobsetCurrentCounts keep.
func (db *DB) jobsetOverviews(ctx context.Context, cond string, arg any) ([]web.JobsetOverview, error) {
	rows, err := db.pool.Query(ctx, `select j.name, j.project, j.description, j.checkinterval,
		  coalesce(j.errormsg, '') <> '', j.errortime, j.fetcherrormsg, j.starttime, `+lastCheckedCol+`, j.triggertime, j.enabled,
		  coalesce(c.nrtotal, 0), coalesce(c.nrqueued, 0), coalesce(c.nrsucceeded, 0), coalesce(c.nrfailed, 0)
		from jobsets j left join jobsetcurrentcounts c on c.jobset_id = j.id
		where `+cond+`
		order by j.project, j.name`, arg)
	if err != nil {
		return nil, fmt.Errorf("query jobset overviews (%v): %w", arg, err)
	}
	defer rows.Close()
	out := []web.JobsetOverview{}
	for rows.Next() {
		var o web.JobsetOverview
		var et, st, lc, tt *int32
		if err := rows.Scan(&o.Name, &o.Project, &o.Description, &o.CheckInterval, &o.HasErrorMsg, &et, &o.FetchErrorMsg,
			&st, &lc, &tt, &o.Enabled, &o.NrTotal, &o.NrScheduled, &o.NrSucceeded, &o.NrFailed); err != nil {
			return nil, fmt.Errorf("scan jobset overview: %w", err)
		}
		o.ErrorTime, o.StartTime, o.LastCheckedTime, o.TriggerTime = i64(et), i64(st), i64(lc), i64(tt)
		out = append(out, o)
	}
	return out, rows.Err()
}

// JobsetsByRepo implements web.ProjectQueries: the jobsets whose flake
// or an input value names the repository repo names, compared by
// jobset.RepoKey (so acme/x matches no acme/x-private). SQL only picks
// the candidates that contain the repository's path.
func (db *DB) JobsetsByRepo(ctx context.Context, repo string) ([]web.Jobset, error) {
	key := jobset.RepoKey(repo)
	_, path, ok := strings.Cut(key, "/")
	if !ok {
		return []web.Jobset{}, nil
	}
	rows, err := db.pool.Query(ctx, `select `+jobsetCols+`,
		  array(select coalesce(a.value, '') from jobsetinputalts a where a.project = j.project and a.jobset = j.name
		        and strpos(coalesce(a.value, ''), $1) > 0)
		from jobsets j
		where strpos(coalesce(j.flake, ''), $1) > 0
		   or exists (select 1 from jobsetinputalts a where a.project = j.project and a.jobset = j.name
		              and strpos(coalesce(a.value, ''), $1) > 0)
		order by j.project, j.name`, path)
	if err != nil {
		return nil, fmt.Errorf("query jobsets of repo %s: %w", repo, err)
	}
	defer rows.Close()
	out := []web.Jobset{}
	for rows.Next() {
		var values []string
		j, err := scanJobset(withExtra{rows, []any{&values}})
		if err != nil {
			return nil, fmt.Errorf("scan jobset: %w", err)
		}
		if j.Flake != "" {
			values = append(values, j.Flake)
		}
		if slices.ContainsFunc(values, func(v string) bool { return jobset.RepoKey(v) == key }) {
			out = append(out, j)
		}
	}
	return out, rows.Err()
}

// withExtra scans a row's columns into a scanner's destinations and then
// into extra ones after them.
type withExtra struct {
	r     scanner
	extra []any
}

func (w withExtra) Scan(dest ...any) error { return w.r.Scan(append(dest, w.extra...)...) }
