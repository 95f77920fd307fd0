package queries

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"buildledger/web"
)

// Hydra's jobs and channels tabs read the newest 20 evaluations with new
// builds (searchBuildsAndEvalsForJobset).
const matrixEvals = 20

// matrixEval is an evaluation the jobs or channels tab may show, with
// how many of its members are jobs and how many channels
// (JobsetEvalCounts).
type matrixEval struct {
	id, timestamp  int64
	jobs, channels int
}

// matrixEvals returns the id of project:jobset and its newest
// evaluations with new builds, newest first.
func (db *DB) matrixEvals(ctx context.Context, project, jobset string) (int64, []matrixEval, error) {
	rows, err := db.pool.Query(ctx, `select j.id, e.id, e.timestamp, coalesce(c.nrjobs, 0), coalesce(c.nrbuilds - c.nrjobs, 0)
		from jobsets j join jobsetevals e on e.jobset_id = j.id left join jobsetevalcounts c on c.eval = e.id
		where j.project = $1 and j.name = $2 and e.hasnewbuilds = 1
		order by e.id desc limit $3`, project, jobset, matrixEvals)
	if err != nil {
		return 0, nil, fmt.Errorf("query job matrix evaluations of %s:%s: %w", project, jobset, err)
	}
	defer rows.Close()
	var jobsetID int64
	var out []matrixEval
	for rows.Next() {
		var e matrixEval
		if err := rows.Scan(&jobsetID, &e.id, &e.timestamp, &e.jobs, &e.channels); err != nil {
			return 0, nil, fmt.Errorf("scan job matrix evaluation: %w", err)
		}
		out = append(out, e)
	}
	return jobsetID, out, rows.Err()
}

// shown picks, newest first, the evaluations that have builds to show
// until they hold maxBuilds builds (0: no limit), as Hydra does, from
// their counts.
func shown(evals []matrixEval, channels bool, maxBuilds int) []matrixEval {
	var out []matrixEval
	n := 0
	for _, e := range evals {
		c := e.jobs
		if channels {
			c = e.channels
		}
		if c == 0 {
			continue
		}
		out = append(out, e)
		if n += c; maxBuilds > 0 && n >= maxBuilds {
			break
		}
	}
	return out
}

// JobMatrix implements web.BuildQueries, with Hydra's selection
// (searchBuildsAndEvalsForJobset). Without a filter the evaluations'
// counts tell which of them to read; with one, they are read newest
// first until they hold maxBuilds matching builds.
func (db *DB) JobMatrix(ctx context.Context, project, jobset, filter string, channels bool, maxBuilds int) ([]web.MatrixEval, error) {
	_, evals, err := db.matrixEvals(ctx, project, jobset)
	if err != nil {
		return nil, err
	}
	limit := maxBuilds
	if filter == "" {
		evals, limit = shown(evals, channels, maxBuilds), 0
	}
	ids := make([]int64, len(evals))
	ts := make(map[int64]int64, len(evals))
	for i, e := range evals {
		ids[i], ts[e.id] = e.id, e.timestamp
	}
	ischannel := 0
	if channels {
		ischannel = 1
	}
	rows, err := db.pool.Query(ctx, `select m.eval, b.id, b.job, b.finished, b.buildstatus
		from jobsetevalmembers m join builds b on b.id = m.build
		where m.eval = any($1) and b.job ilike '%' || $2 || '%' and b.ischannel = $3
		order by m.eval desc`, ids, likeEscaper.Replace(filter), ischannel)
	if err != nil {
		return nil, fmt.Errorf("query job matrix of %s:%s: %w", project, jobset, err)
	}
	defer rows.Close()
	out := []web.MatrixEval{}
	n := 0
	for rows.Next() {
		evalID, job, b, err := scanMatrixBuild(rows)
		if err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].ID != evalID {
			if limit > 0 && n >= limit {
				break
			}
			out = append(out, web.MatrixEval{ID: evalID, Timestamp: ts[evalID], Builds: map[string]web.MatrixBuild{}})
		}
		out[len(out)-1].Builds[job] = b
		n++
	}
	return out, rows.Err()
}

// JobMatrixHead implements web.BuildQueries. It reads the jobs in byte
// order through IndexBuildsOnJobsetIdJobC and stops after maxJobs of
// them. An evaluation has one build of each of its jobs, so one
// evaluation's jobs are its count, and maxJobs jobs have at most
// maxJobs builds in each evaluation.
func (db *DB) JobMatrixHead(ctx context.Context, project, jobset string, maxBuilds, maxJobs int) ([]web.MatrixEval, int, error) {
	jobsetID, evals, err := db.matrixEvals(ctx, project, jobset)
	if err != nil {
		return nil, 0, err
	}
	evals = shown(evals, false, maxBuilds)
	out := make([]web.MatrixEval, len(evals))
	idx := make(map[int64]int, len(evals))
	ids := make([]int64, len(evals))
	for i, e := range evals {
		out[i] = web.MatrixEval{ID: e.id, Timestamp: e.timestamp, Builds: map[string]web.MatrixBuild{}}
		idx[e.id], ids[i] = i, e.id
	}
	var nrJobs int
	switch len(evals) {
	case 0:
		return out, 0, nil
	case 1:
		nrJobs = evals[0].jobs
	default:
		err := db.pool.QueryRow(ctx, `select count(distinct b.job) from jobsetevalmembers m join builds b on b.id = m.build
			where m.eval = any($1) and b.ischannel = 0`, ids).Scan(&nrJobs)
		if err != nil {
			return nil, 0, fmt.Errorf("count jobs of %s:%s: %w", project, jobset, err)
		}
	}
	rows, err := db.pool.Query(ctx, `select m.eval, b.id, b.job, b.finished, b.buildstatus
		from builds b join jobsetevalmembers m on m.build = b.id and m.eval = any($2)
		where b.jobset_id = $1 and b.ischannel = 0
		order by b.job collate "C" limit $3`, jobsetID, ids, maxJobs*len(evals))
	if err != nil {
		return nil, 0, fmt.Errorf("query jobs of %s:%s: %w", project, jobset, err)
	}
	defer rows.Close()
	jobs, last := 0, ""
	for rows.Next() {
		evalID, job, b, err := scanMatrixBuild(rows)
		if err != nil {
			return nil, 0, err
		}
		if jobs == 0 || job != last {
			if jobs == maxJobs {
				break
			}
			jobs, last = jobs+1, job
		}
		out[idx[evalID]].Builds[job] = b
	}
	return out, nrJobs, rows.Err()
}

// scanMatrixBuild reads a row of (eval, build id, job, finished,
// buildstatus).
func scanMatrixBuild(rows pgx.Rows) (evalID int64, job string, b web.MatrixBuild, err error) {
	var finished int
	if err := rows.Scan(&evalID, &b.ID, &job, &finished, &b.BuildStatus); err != nil {
		return 0, "", b, fmt.Errorf("scan job matrix: %w", err)
	}
	b.Finished = finished != 0
	return evalID, job, b, nil
}
