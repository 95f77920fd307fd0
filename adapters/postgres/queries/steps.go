package queries

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"buildledger/adapters/logstore"
	"buildledger/domain/domainerr"
	"buildledger/web"
)

var errNoRows = pgx.ErrNoRows

const stepSelect = `select s.build, s.stepnr, s.type, s.drvpath, s.busy, s.status, s.errormsg, s.starttime, s.stoptime,
	  s.machine, s.system, s.propagatedfrom, s.timesbuilt, s.isnondeterministic, j.project, j.name, b.job
	from buildsteps s join builds b on b.id = s.build join jobsets j on j.id = b.jobset_id`

func (db *DB) querySteps(ctx context.Context, sql string, args ...any) ([]web.BuildStep, error) {
	rows, err := db.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("query steps: %w", err)
	}
	defer rows.Close()
	out := []web.BuildStep{}
	for rows.Next() {
		var s web.BuildStep
		var start, stop, prop *int32
		if err := rows.Scan(&s.Build, &s.StepNr, &s.Type, &s.DrvPath, &s.Busy, &s.Status, &s.ErrorMsg, &start, &stop,
			&s.Machine, &s.System, &prop, &s.TimesBuilt, &s.IsNonDeterministic, &s.Project, &s.Jobset, &s.Job); err != nil {
			return nil, fmt.Errorf("scan step: %w", err)
		}
		s.StartTime, s.StopTime, s.PropagatedFrom = i64(start), i64(stop), i64(prop)
		out = append(out, s)
	}
	return out, rows.Err()
}

// BuildSteps implements web.BuildQueries.
func (db *DB) BuildSteps(ctx context.Context, id int64) ([]web.BuildStep, error) {
	return db.querySteps(ctx, stepSelect+` where s.build = $1 order by s.stepnr`, id)
}

// LatestSteps implements web.BuildQueries.
func (db *DB) LatestSteps(ctx context.Context, p web.Page) ([]web.BuildStep, error) {
	off, lim := limit(p, 50)
	return db.querySteps(ctx, stepSelect+` where s.busy = 0 and s.status is not null
		order by s.stoptime desc nulls last, s.build desc, s.stepnr desc offset $1 limit $2`, off, lim)
}

// Machines implements web.BuildQueries.
func (db *DB) Machines(ctx context.Context) ([]web.Machine, error) {
	rows, err := db.pool.Query(ctx, `with m as (
		  select machine, max(stop_time) as last, count(*) filter (where status is not null) as done, count(*) as total
		  from step_attempts where machine <> '' group by machine
		  union all
		  select machine, max(stoptime), 0, 0 from buildsteps
		  where machine <> '' and machine not in (select machine from step_attempts) group by machine)
		select machine, last, done, total from m order by machine`)
	if err != nil {
		return nil, fmt.Errorf("query machines: %w", err)
	}
	defer rows.Close()
	out := []web.Machine{}
	idx := map[string]int{}
	for rows.Next() {
		var m web.Machine
		if err := rows.Scan(&m.Name, &m.LastActive, &m.NrStepsDone, &m.NrStepsTotal); err != nil {
			return nil, fmt.Errorf("scan machine: %w", err)
		}
		m.Running = []web.BuildStep{}
		idx[m.Name] = len(out)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	running, err := db.querySteps(ctx, stepSelect+` where s.busy <> 0 order by s.machine, s.starttime`)
	if err != nil {
		return nil, err
	}
	for _, s := range running {
		i, ok := idx[s.Machine]
		if !ok {
			i = len(out)
			idx[s.Machine] = i
			out = append(out, web.Machine{Name: s.Machine, Running: []web.BuildStep{}})
		}
		out[i].Running = append(out[i].Running, s)
	}
	return out, nil
}

// StepLog implements web.LogQueries.
func (db *DB) StepLog(ctx context.Context, buildID int64, stepNr int) (web.LogRef, error) {
	var drv string
	var err error
	if stepNr == 0 {
		err = db.pool.QueryRow(ctx, `select drvpath from builds where id = $1`, buildID).Scan(&drv)
	} else {
		err = db.pool.QueryRow(ctx, `select drvpath from buildsteps where build = $1 and stepnr = $2`, buildID, stepNr).Scan(&drv)
	}
	what := strconv.FormatInt(buildID, 10)
	if stepNr != 0 {
		what += " step " + strconv.Itoa(stepNr)
	}
	if err != nil {
		return web.LogRef{}, notFound(err, "build", what)
	}
	return db.attemptLog(ctx, drv, "build", what)
}

// DrvLog implements web.LogQueries.
func (db *DB) DrvLog(ctx context.Context, drvPath string) (web.LogRef, error) {
	return db.attemptLog(ctx, drvPath, "derivation", drvPath)
}

// attemptLog finds the log of the newest attempt at drvPath that has one:
// a log recorded by StepLogStored, or the log a running attempt is
// writing. The builder records where a log is only once the attempt ends,
// so a running attempt's log is where the log store puts it.
func (db *DB) attemptLog(ctx context.Context, drvPath, kind, what string) (web.LogRef, error) {
	ref := web.LogRef{DrvPath: drvPath}
	var attempt int
	err := db.pool.QueryRow(ctx, `select attempt, coalesce(log_location, ''), status is null from step_attempts
		where drv_path = $1 and (coalesce(log_location, '') <> '' or (status is null and start_time is not null))
		order by attempt desc limit 1`, drvPath).Scan(&attempt, &ref.Location, &ref.Running)
	if errors.Is(err, pgx.ErrNoRows) {
		return web.LogRef{}, domainerr.NotFound("log of "+kind, what)
	}
	if err != nil {
		return web.LogRef{}, fmt.Errorf("query log of %s %s: %w", kind, what, err)
	}
	if ref.Location == "" {
		ref.Location = logstore.Location(drvPath, attempt)
	}
	return ref, nil
}

// IsOutput implements web.BuildQueries.
func (db *DB) IsOutput(ctx context.Context, storePath string) (bool, error) {
	var ok bool
	err := db.pool.QueryRow(ctx, `select exists (select 1 from buildoutputs where path = $1)
		or exists (select 1 from buildstepoutputs where path = $1)`, storePath).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("query build outputs: %w", err)
	}
	return ok, nil
}

// StepsByOutput implements web.BuildQueries.
func (db *DB) StepsByOutput(ctx context.Context, storePaths []string) (map[string]web.StepRef, error) {
	rows, err := db.pool.Query(ctx, `select distinct on (o.path) o.path, s.build, s.stepnr
		from buildstepoutputs o join buildsteps s on s.build = o.build and s.stepnr = o.stepnr
		where o.path = any($1) and s.busy = 0
		order by o.path, s.status nulls last, s.stoptime nulls last`, storePaths)
	if err != nil {
		return nil, fmt.Errorf("query steps by output: %w", err)
	}
	defer rows.Close()
	out := map[string]web.StepRef{}
	for rows.Next() {
		var path string
		var ref web.StepRef
		if err := rows.Scan(&path, &ref.Build, &ref.StepNr); err != nil {
			return nil, fmt.Errorf("scan step: %w", err)
		}
		out[path] = ref
	}
	return out, rows.Err()
}
