package queries

import (
	"context"
	"fmt"

	"buildledger/web"
)

// jobSeriesSQL selects, per kind, the points Hydra's job charts draw:
// the successful builds of the job, oldest first, with a non-zero
// closure size (build times and closure sizes) or output size.
var jobSeriesSQL = map[web.JobSeriesKind]string{
	web.BuildTimes: `select b.id, b.timestamp, s.stoptime - s.starttime from builds b
		join jobsets j on j.id = b.jobset_id
		join lateral (select starttime, stoptime from buildsteps
			where build = b.id and drvpath = b.drvpath and busy = 0 order by stepnr desc limit 1) s on true
		where j.project = $1 and j.name = $2 and b.job = $3 and b.finished = 1 and b.buildstatus = 0
			and b.closuresize != 0 order by b.id`,
	web.ClosureSizes: `select b.id, b.timestamp, b.closuresize from builds b join jobsets j on j.id = b.jobset_id
		where j.project = $1 and j.name = $2 and b.job = $3 and b.finished = 1 and b.buildstatus = 0
			and b.closuresize != 0 order by b.id`,
	web.OutputSizes: `select b.id, b.timestamp, b.size from builds b join jobsets j on j.id = b.jobset_id
		where j.project = $1 and j.name = $2 and b.job = $3 and b.finished = 1 and b.buildstatus = 0
			and b.size != 0 order by b.id`,
}

// JobSeries implements web.JobQueries.
func (db *DB) JobSeries(ctx context.Context, project, jobset, job string, kind web.JobSeriesKind) ([]web.SeriesPoint, error) {
	q, ok := jobSeriesSQL[kind]
	if !ok {
		return nil, fmt.Errorf("job series %q: unknown kind", kind)
	}
	rows, err := db.pool.Query(ctx, q, project, jobset, job)
	if err != nil {
		return nil, fmt.Errorf("query %s of %s:%s:%s: %w", kind, project, jobset, job, err)
	}
	defer rows.Close()
	out := []web.SeriesPoint{}
	for rows.Next() {
		var p web.SeriesPoint
		if err := rows.Scan(&p.ID, &p.Timestamp, &p.Value); err != nil {
			return nil, fmt.Errorf("scan %s: %w", kind, err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// JobMetricNames implements web.JobQueries.
func (db *DB) JobMetricNames(ctx context.Context, project, jobset, job string) ([]string, error) {
	rows, err := db.pool.Query(ctx, `select distinct name from buildmetrics
		where project = $1 and jobset = $2 and job = $3 order by name`, project, jobset, job)
	if err != nil {
		return nil, fmt.Errorf("query metric names of %s:%s:%s: %w", project, jobset, job, err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("scan metric name: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}
