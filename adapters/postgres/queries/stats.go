package queries

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"buildledger/web"
)

// buildWhere turns the scope fields of f (project, jobset, job, system,
// eval, finished, status, current) into a where clause with numbered
// parameters appended to args.
func buildWhere(f web.BuildFilter, args []any) (string, []any) {
	var conds []string
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.Project != "" {
		add("j.project = ?", f.Project)
	}
	if f.Jobset != "" {
		add("j.name = ?", f.Jobset)
	}
	if f.Job != "" {
		add("b.job = ?", f.Job)
	}
	if f.System != "" {
		add("b.system = ?", f.System)
	}
	if f.EvalID != 0 {
		add("b.id in (select build from jobsetevalmembers where eval = ?)", f.EvalID)
	}
	if f.Finished != nil {
		fin := 0
		if *f.Finished {
			fin = 1
		}
		add("b.finished = ?", fin)
	}
	if f.Status != nil {
		add("b.finished = 1 and b.buildstatus = ?", *f.Status)
	}
	if f.Current {
		conds = append(conds, "b.iscurrent = 1")
	}
	if f.BeforeID != 0 {
		add("b.id < ?", f.BeforeID)
	}
	if f.Maintainer != "" {
		add(`b.maintainers ilike '%' || ? || '%'`, likeEscaper.Replace(f.Maintainer))
	}
	if f.Enabled {
		conds = append(conds, "j.enabled = 1 and exists (select 1 from projects p where p.name = j.project and p.enabled = 1)")
	}
	if len(conds) == 0 {
		return "", args
	}
	return " where " + strings.Join(conds, " and "), args
}

// likeEscaper quotes the wildcards of a LIKE pattern (its escape
// character is the backslash).
var likeEscaper = strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`)

// CountBuilds implements web.StatsQueries.
func (db *DB) CountBuilds(ctx context.Context, f web.BuildFilter) (int, error) {
	where, args := buildWhere(f, nil)
	var n int
	if err := db.pool.QueryRow(ctx, `select count(*) from builds b join jobsets j on j.id = b.jobset_id`+where,
		args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count builds: %w", err)
	}
	return n, nil
}

// LatestSucceeded implements web.StatsQueries: per job and system the
// newest successful build (IndexFinishedSuccessfulBuilds).
func (db *DB) LatestSucceeded(ctx context.Context, f web.BuildFilter) ([]web.Build, error) {
	ok := 0
	f.Status, f.Finished = &ok, nil
	where, args := buildWhere(f, nil)
	return db.queryBuilds(ctx, buildSelect+` where b.id in (
		  select distinct on (b.jobset_id, b.job, b.system) b.id
		  from builds b join jobsets j on j.id = b.jobset_id`+where+`
		  order by b.jobset_id, b.job, b.system, b.id desc)
		order by j.project, j.name, b.job, b.system`, args...)
}

// FinishedPerPeriod implements web.StatsQueries: finished builds grouped
// by their queue time's period (timestamp - timestamp % step), as Hydra's
// /api/nrbuilds groups them.
func (db *DB) FinishedPerPeriod(ctx context.Context, f web.BuildFilter, step int64, n int) ([]int, error) {
	if n <= 0 || step <= 0 {
		return []int{}, nil
	}
	fin := true
	f.Finished, f.Status = &fin, nil
	where, args := buildWhere(f, []any{step, n})
	rows, err := db.pool.Query(ctx, `select count(*) from builds b join jobsets j on j.id = b.jobset_id`+where+`
		group by b.timestamp - b.timestamp % $1 order by b.timestamp - b.timestamp % $1 desc limit $2`, args...)
	if err != nil {
		return nil, fmt.Errorf("count finished builds: %w", err)
	}
	counts, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, fmt.Errorf("count finished builds: %w", err)
	}
	slices.Reverse(counts)
	if counts == nil {
		counts = []int{}
	}
	return counts, nil
}

// RunningSteps implements web.StatsQueries (IndexBuildStepsOnBusy).
func (db *DB) RunningSteps(ctx context.Context) ([]web.BuildStep, error) {
	return db.querySteps(ctx, stepSelect+` where s.busy <> 0 order by b.globalpriority desc, b.id, s.stepnr`)
}

// RunningBuilds implements web.StatsQueries (IndexBuildStepsOnBusy).
func (db *DB) RunningBuilds(ctx context.Context) ([]web.Build, error) {
	return db.queryBuilds(ctx, buildSelect+` where exists (select 1 from buildsteps s where s.build = b.id and s.busy <> 0)
		order by b.globalpriority desc, b.id`)
}

// BuildMachines implements web.StatsQueries from the machines the log
// configures (insight_machines).
func (db *DB) BuildMachines(ctx context.Context) ([]web.BuildMachine, error) {
	rows, err := db.pool.Query(ctx, `select name, systems, supported_features, mandatory_features, max_jobs, speed_factor
		from insight_machines where not removed and enabled order by name`)
	if err != nil {
		return nil, fmt.Errorf("query build machines: %w", err)
	}
	defer rows.Close()
	out := []web.BuildMachine{}
	for rows.Next() {
		var m web.BuildMachine
		if err := rows.Scan(&m.Name, &m.Systems, &m.SupportedFeatures, &m.MandatoryFeatures, &m.MaxJobs, &m.SpeedFactor); err != nil {
			return nil, fmt.Errorf("scan build machine: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// OwnedJobsets implements web.StatsQueries, with Hydra's selection
// (User.pm my_jobsets_tab).
func (db *DB) OwnedJobsets(ctx context.Context, user string) ([]web.JobsetOverview, error) {
	return db.jobsetOverviews(ctx, `j.enabled <> 0 and j.project in (select p.name from projects p
		where p.owner = $1 and p.enabled = 1)`, user)
}

// UserJobsets implements web.StatsQueries: the overviews of the jobsets
// of every project user owns or is a member of, in one query.
func (db *DB) UserJobsets(ctx context.Context, user string) ([]web.JobsetOverview, error) {
	return db.jobsetOverviews(ctx, `j.project in (select p.name from projects p where p.owner = $1
		union select m.project from projectmembers m where m.username = $1)`, user)
}
