package queries

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"buildledger/web"
)

const buildSelect = `select b.id, b.finished, b.timestamp, b.starttime, b.stoptime, j.project, j.name, b.job, b.nixname,
	  b.system, b.priority, b.globalpriority, b.buildstatus, b.releasename, b.drvpath, coalesce(b.iscachedbuild, 0),
	  b.keep, b.size, b.closuresize, b.description, b.license, b.maintainers,
	  exists (select 1 from buildsteps s where s.build = b.id and s.busy <> 0)
	from builds b join jobsets j on j.id = b.jobset_id`

func scanBuild(r scanner) (web.Build, error) {
	var b web.Build
	var finished, cached, keep int
	var start, stop *int32
	err := r.Scan(&b.ID, &finished, &b.Timestamp, &start, &stop, &b.Project, &b.Jobset, &b.Job, &b.NixName,
		&b.System, &b.Priority, &b.GlobalPriority, &b.BuildStatus, &b.ReleaseName, &b.DrvPath, &cached,
		&keep, &b.Size, &b.ClosureSize, &b.Meta.Description, &b.Meta.License, &b.Meta.Maintainers, &b.Busy)
	b.Finished, b.IsCachedBuild, b.Keep = finished != 0, cached != 0, keep != 0
	b.StartTime, b.StopTime = i64(start), i64(stop)
	b.Outputs = map[string]web.BuildOutput{}
	b.Products = map[string]web.BuildProduct{}
	b.Metrics = map[string]web.BuildMetric{}
	b.JobsetEvals = []int64{}
	return b, err
}

// queryBuilds runs a build query and fills outputs, products, metrics and
// evals of every row.
func (db *DB) queryBuilds(ctx context.Context, sql string, args ...any) ([]web.Build, error) {
	rows, err := db.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("query builds: %w", err)
	}
	defer rows.Close()
	out := []web.Build{}
	for rows.Next() {
		b, err := scanBuild(rows)
		if err != nil {
			return nil, fmt.Errorf("scan build: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query builds: %w", err)
	}
	rows.Close()
	return out, db.fillBuilds(ctx, out)
}

func (db *DB) fillBuilds(ctx context.Context, bs []web.Build) error {
	if len(bs) == 0 {
		return nil
	}
	idx := make(map[int64]int, len(bs))
	ids := make([]int64, len(bs))
	for i, b := range bs {
		idx[b.ID], ids[i] = i, b.ID
	}
	rows, err := db.pool.Query(ctx, `select build, name, coalesce(path, '') from buildoutputs where build = any($1)`, ids)
	if err != nil {
		return fmt.Errorf("query outputs: %w", err)
	}
	for rows.Next() {
		var id int64
		var name, path string
		if err := rows.Scan(&id, &name, &path); err != nil {
			rows.Close()
			return fmt.Errorf("scan output: %w", err)
		}
		bs[idx[id]].Outputs[name] = web.BuildOutput{Path: path}
	}
	rows.Close()
	rows, err = db.pool.Query(ctx, `select build, productnr, type, subtype, name, coalesce(path, ''), coalesce(defaultpath, ''),
		filesize, sha256hash from buildproducts where build = any($1) order by build, productnr`, ids)
	if err != nil {
		return fmt.Errorf("query products: %w", err)
	}
	for rows.Next() {
		var id int64
		var p web.BuildProduct
		if err := rows.Scan(&id, &p.Nr, &p.Type, &p.Subtype, &p.Name, &p.Path, &p.DefaultPath, &p.FileSize, &p.SHA256Hash); err != nil {
			rows.Close()
			return fmt.Errorf("scan product: %w", err)
		}
		bs[idx[id]].Products[strconv.Itoa(p.Nr)] = p
	}
	rows.Close()
	rows, err = db.pool.Query(ctx, `select build, name, coalesce(unit, ''), value from buildmetrics where build = any($1)`, ids)
	if err != nil {
		return fmt.Errorf("query metrics: %w", err)
	}
	for rows.Next() {
		var id int64
		var m web.BuildMetric
		if err := rows.Scan(&id, &m.Name, &m.Unit, &m.Value); err != nil {
			rows.Close()
			return fmt.Errorf("scan metric: %w", err)
		}
		bs[idx[id]].Metrics[m.Name] = m
	}
	rows.Close()
	rows, err = db.pool.Query(ctx, `select build, eval from jobsetevalmembers where build = any($1) order by build, eval`, ids)
	if err != nil {
		return fmt.Errorf("query build evals: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, ev int64
		if err := rows.Scan(&id, &ev); err != nil {
			return fmt.Errorf("scan build eval: %w", err)
		}
		bs[idx[id]].JobsetEvals = append(bs[idx[id]].JobsetEvals, ev)
	}
	return rows.Err()
}

// Build implements web.BuildQueries.
func (db *DB) Build(ctx context.Context, id int64) (web.Build, error) {
	bs, err := db.queryBuilds(ctx, buildSelect+` where b.id = $1`, id)
	if err != nil {
		return web.Build{}, err
	}
	if len(bs) == 0 {
		return web.Build{}, notFound(errNoRows, "build", strconv.FormatInt(id, 10))
	}
	return bs[0], nil
}

// Builds implements web.BuildQueries.
func (db *DB) Builds(ctx context.Context, f web.BuildFilter) ([]web.Build, error) {
	where, args := buildWhere(f, nil)
	off, lim := limit(f.Page, 100)
	args = append(args, off, lim)
	n := len(args)
	return db.queryBuilds(ctx, buildSelect+where+fmt.Sprintf(" order by b.id desc offset $%d limit $%d", n-1, n), args...)
}

// Constituents implements web.BuildQueries.
func (db *DB) Constituents(ctx context.Context, id int64) ([]web.Build, error) {
	return db.queryBuilds(ctx, buildSelect+` where b.id in (select constituent from aggregateconstituents where aggregate = $1)
		order by b.id`, id)
}

// Submission implements web.BuildQueries.
func (db *DB) Submission(ctx context.Context, buildID int64) (*web.AdhocSubmission, error) {
	var s web.AdhocSubmission
	err := db.pool.QueryRow(ctx, `select user_name, via, key_fingerprint, client_version, nr_paths, nr_edges, submitted_at
		from adhoc_submissions where build_id = $1`, buildID).
		Scan(&s.UserName, &s.Via, &s.Key, &s.ClientVersion, &s.Paths, &s.Edges, &s.SubmittedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("submission of build %d: %w", buildID, err)
	}
	return &s, nil
}

// InputRepository implements web.BuildQueries.
func (db *DB) InputRepository(ctx context.Context, typ, uri string) (bool, error) {
	var ok bool
	err := db.pool.QueryRow(ctx, `select exists (select 1 from jobsetinputs i join jobsetinputalts a
		  on a.project = i.project and a.jobset = i.jobset and a.input = i.name
		where i.type = $1 and split_part(btrim(a.value), ' ', 1) = $2)`, typ, uri).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("query inputs naming %s: %w", uri, err)
	}
	return ok, nil
}

// LastSuccessfulChannel implements web.BuildQueries, with Hydra's
// selection (Channel.pm).
func (db *DB) LastSuccessfulChannel(ctx context.Context, project, jobset, job string) (int64, error) {
	var id int64
	err := db.pool.QueryRow(ctx, `select b.id from builds b join jobsets j on j.id = b.jobset_id
		  join jobsetevalmembers m on m.build = b.id join jobsetevals e on e.id = m.eval
		where j.project = $1 and j.name = $2 and b.job = $3 and b.finished = 1 and b.buildstatus = 0
		  and e.hasnewbuilds = 1
		order by e.id desc limit 1`, project, jobset, job).Scan(&id)
	if err != nil {
		return 0, notFound(err, "successful build of channel", project+":"+jobset+":"+job)
	}
	return id, nil
}

// Queue implements web.BuildQueries.
func (db *DB) Queue(ctx context.Context, p web.Page) ([]web.Build, error) {
	off, lim := limit(p, 100)
	return db.queryBuilds(ctx, buildSelect+` where b.finished = 0 order by b.globalpriority desc, b.id
		offset $1 limit $2`, off, lim)
}

// QueueByPriority implements web.BuildQueries.
func (db *DB) QueueByPriority(ctx context.Context, p web.Page) ([]web.Build, error) {
	off, lim := limit(p, 100)
	return db.queryBuilds(ctx, buildSelect+` where b.finished = 0 order by b.priority desc, b.id
		offset $1 limit $2`, off, lim)
}

// QueueSize implements web.BuildQueries.
func (db *DB) QueueSize(ctx context.Context) (int, error) {
	var n int
	if err := db.pool.QueryRow(ctx, `select count(*) from builds where finished = 0`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count queue: %w", err)
	}
	return n, nil
}

// QueuedBuilds counts the unfinished builds of jobset project:jobset
// (remotebuilder.QueueCounter).
func (db *DB) QueuedBuilds(ctx context.Context, project, jobset string) (int, error) {
	var n int
	if err := db.pool.QueryRow(ctx, `select count(*) from builds b join jobsets j on j.id = b.jobset_id
		where b.finished = 0 and j.project = $1 and j.name = $2`, project, jobset).Scan(&n); err != nil {
		return 0, fmt.Errorf("count queued builds of %s:%s: %w", project, jobset, err)
	}
	return n, nil
}

// RunningCount implements web.BuildQueries.
func (db *DB) RunningCount(ctx context.Context) (int, error) {
	var n int
	if err := db.pool.QueryRow(ctx, `select count(*) from builds b where b.finished = 0
		and exists (select 1 from buildsteps s where s.build = b.id and s.busy <> 0)`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count running: %w", err)
	}
	return n, nil
}

// QueueSummary implements web.BuildQueries.
func (db *DB) QueueSummary(ctx context.Context) ([]web.QueueSummary, error) {
	rows, err := db.pool.Query(ctx, `select j.project, j.name, b.system, count(*),
		  count(*) filter (where exists (select 1 from buildsteps s where s.build = b.id and s.busy <> 0))
		from builds b join jobsets j on j.id = b.jobset_id where b.finished = 0
		group by j.project, j.name, b.system order by count(*) desc, j.project, j.name, b.system`)
	if err != nil {
		return nil, fmt.Errorf("query queue summary: %w", err)
	}
	defer rows.Close()
	out := []web.QueueSummary{}
	for rows.Next() {
		var q web.QueueSummary
		if err := rows.Scan(&q.Project, &q.Jobset, &q.System, &q.Queued, &q.Running); err != nil {
			return nil, fmt.Errorf("scan queue summary: %w", err)
		}
		out = append(out, q)
	}
	return out, rows.Err()
}

// MetricHistory implements web.BuildQueries, on Hydra's
// IndexBuildMetricsOnJobTimestamp.
func (db *DB) MetricHistory(ctx context.Context, project, jobset, job, name string) ([]web.MetricPoint, error) {
	rows, err := db.pool.Query(ctx, `select build, timestamp, value, coalesce(unit, '') from buildmetrics
		where project = $1 and jobset = $2 and job = $3 and name = $4 order by timestamp, build`,
		project, jobset, job, name)
	if err != nil {
		return nil, fmt.Errorf("query metric %s of %s:%s:%s: %w", name, project, jobset, job, err)
	}
	defer rows.Close()
	out := []web.MetricPoint{}
	for rows.Next() {
		var m web.MetricPoint
		if err := rows.Scan(&m.Build, &m.Timestamp, &m.Value, &m.Unit); err != nil {
			return nil, fmt.Errorf("scan metric: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// QueuedNotCurrent implements web.BuildQueries, with Hydra's selection
// (Admin.pm clear_queue_non_current).
func (db *DB) QueuedNotCurrent(ctx context.Context) ([]int64, error) {
	rows, err := db.pool.Query(ctx, `select id from builds where finished = 0
		except select build from jobsetevalmembers where eval in (
		  select max(id) from jobsetevals where hasnewbuilds = 1 group by jobset_id)
		order by id`)
	if err != nil {
		return nil, fmt.Errorf("query queued builds not current: %w", err)
	}
	defer rows.Close()
	out := []int64{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("scan build id: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
