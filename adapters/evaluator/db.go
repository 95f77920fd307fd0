package evaluator

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"buildledger/commands/evaluation"
)

// DB answers the evaluator's read-side questions from the Hydra tables.
// It implements evaluation.BuildStatus and BuildLookup.
type DB struct {
	Pool *pgxpool.Pool
}

var (
	_ evaluation.BuildStatus  = (*DB)(nil)
	_ BuildLookup             = (*DB)(nil)
	_ evaluation.JobsetLister = (*DB)(nil)
)

// HasUnfinishedBuilds implements evaluation.BuildStatus. An evaluation
// the read models do not show yet counts as unfinished.
func (d *DB) HasUnfinishedBuilds(ctx context.Context, evalID int64) (bool, error) {
	var busy bool
	err := d.Pool.QueryRow(ctx, `select not exists (select 1 from JobsetEvals where id = $1)
		or exists (select 1 from JobsetEvalMembers m join Builds b on b.id = m.build where m.eval = $1 and b.finished = 0)`,
		evalID).Scan(&busy)
	if err != nil {
		return false, fmt.Errorf("unfinished builds of eval %d: %w", evalID, err)
	}
	return busy, nil
}

// LatestSuccessful implements BuildLookup.
func (d *DB) LatestSuccessful(ctx context.Context, project, jobset, job string) (Build, bool, error) {
	var b Build
	err := d.Pool.QueryRow(ctx, `select b.id, o.path from Builds b
		join Jobsets j on j.id = b.jobset_id
		join BuildOutputs o on o.build = b.id and o.name = 'out'
		where j.project = $1 and j.name = $2 and b.job = $3 and b.finished = 1 and b.buildStatus = 0
		order by b.id desc limit 1`, project, jobset, job).Scan(&b.ID, &b.OutPath)
	if errors.Is(err, pgx.ErrNoRows) {
		return Build{}, false, nil
	}
	if err != nil {
		return Build{}, false, fmt.Errorf("latest successful build of %s:%s:%s: %w", project, jobset, job, err)
	}
	return b, true, nil
}

// LatestSuccessfulPerSystem implements BuildLookup: the systems are
// those of the job's current builds, as in Hydra's view.
func (d *DB) LatestSuccessfulPerSystem(ctx context.Context, project, jobset, job string) ([]SystemBuild, error) {
	rows, err := d.Pool.Query(ctx, `select b.id, o.path, b.system from Builds b
		join BuildOutputs o on o.build = b.id and o.name = 'out'
		where b.id in (
			select (select max(l.id) from Builds l where l.jobset_id = c.jobset_id and l.job = c.job
				and l.system = c.system and l.finished = 1 and l.buildStatus = 0)
			from (select distinct b2.jobset_id, b2.job, b2.system from Builds b2 join Jobsets j on j.id = b2.jobset_id
				where j.project = $1 and j.name = $2 and b2.job = $3 and b2.isCurrent = 1) c)
		order by b.system`, project, jobset, job)
	if err != nil {
		return nil, fmt.Errorf("latest successful builds of %s:%s:%s: %w", project, jobset, job, err)
	}
	builds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SystemBuild, error) {
		var b SystemBuild
		err := r.Scan(&b.ID, &b.OutPath, &b.System)
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("latest successful builds of %s:%s:%s: %w", project, jobset, job, err)
	}
	return builds, nil
}

// EvalOutputs implements BuildLookup.
func (d *DB) EvalOutputs(ctx context.Context, evalID int64, project, jobset, job string) (EvalOutputs, error) {
	if evalID == 0 {
		q := `select e.id from JobsetEvals e join Jobsets j on j.id = e.jobset_id
			where j.project = $1 and j.name = $2 and e.hasNewBuilds = 1 order by e.id desc limit 1`
		args := []any{project, jobset}
		if job != "" {
			q = `select e.id from JobsetEvals e join Jobsets j on j.id = e.jobset_id
				join JobsetEvalMembers m on m.eval = e.id join Builds b on b.id = m.build
				where j.project = $1 and j.name = $2 and e.hasNewBuilds = 1 and b.job = $3
					and b.finished = 1 and b.buildStatus = 0
				order by e.id desc limit 1`
			args = append(args, job)
		}
		err := d.Pool.QueryRow(ctx, q, args...).Scan(&evalID)
		if errors.Is(err, pgx.ErrNoRows) {
			return EvalOutputs{}, fmt.Errorf("jobset %s:%s has no matching evaluation", project, jobset)
		}
		if err != nil {
			return EvalOutputs{}, fmt.Errorf("latest evaluation of %s:%s: %w", project, jobset, err)
		}
	}
	rows, err := d.Pool.Query(ctx, `select b.job, o.path from JobsetEvalMembers m join Builds b on b.id = m.build
		join BuildOutputs o on o.build = b.id and o.name = 'out'
		where m.eval = $1 and b.finished = 1 and b.buildStatus = 0 order by b.job`, evalID)
	if err != nil {
		return EvalOutputs{}, fmt.Errorf("outputs of eval %d: %w", evalID, err)
	}
	defer rows.Close()
	out := EvalOutputs{EvalID: evalID, Jobs: make(map[string]string)}
	for rows.Next() {
		var job, path string
		if err := rows.Scan(&job, &path); err != nil {
			return EvalOutputs{}, fmt.Errorf("outputs of eval %d: %w", evalID, err)
		}
		out.Jobs[job] = path
	}
	if err := rows.Err(); err != nil {
		return EvalOutputs{}, fmt.Errorf("outputs of eval %d: %w", evalID, err)
	}
	return out, nil
}

// JobsetNames implements evaluation.JobsetLister.
func (d *DB) JobsetNames(ctx context.Context, project string) ([]string, error) {
	rows, err := d.Pool.Query(ctx, `select name from Jobsets where project = $1 order by name`, project)
	if err != nil {
		return nil, fmt.Errorf("jobsets of %s: %w", project, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("jobsets of %s: %w", project, err)
	}
	return names, nil
}
