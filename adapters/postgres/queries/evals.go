package queries

import (
	"context"
	"fmt"
	"strconv"

	"buildledger/web"
)

// evalSelect selects evaluations with the counts of their members that
// the triggers of JobsetEvalCounts keep, and with the members' ids when
// members is true (the JSON answers list them; the HTML lists do not).
func evalSelect(members bool) string {
	builds := `null::integer[]`
	if members {
		builds = `array(select m.build from jobsetevalmembers m where m.eval = e.id order by m.build)`
	}
	return `select e.id, j.project, j.name, e.timestamp, e.checkouttime, e.evaltime, e.hasnewbuilds, e.flake,
	  coalesce(ee.errormsg, '') <> '', ` + builds + `,
	  coalesce(c.nrbuilds, 0), coalesce(c.nrsucceeded, 0), coalesce(c.nrfailed, 0), coalesce(c.nrqueued, 0)
	from jobsetevals e
	join jobsets j on j.id = e.jobset_id
	left join evaluationerrors ee on ee.id = e.evaluationerror_id
	left join jobsetevalcounts c on c.eval = e.id`
}

func scanEval(r scanner) (web.Eval, error) {
	var e web.Eval
	var hasNew int
	err := r.Scan(&e.ID, &e.Project, &e.Jobset, &e.Timestamp, &e.CheckoutTime, &e.EvalTime, &hasNew, &e.Flake,
		&e.HasErrors, &e.Builds, &e.NrBuilds, &e.NrSucceeded, &e.NrFailed, &e.NrQueued)
	e.HasNewBuilds = hasNew != 0
	e.Inputs = map[string]web.EvalInput{}
	return e, err
}

// Evals implements web.EvalQueries.
func (db *DB) Evals(ctx context.Context, project, jobset string, p web.Page, members bool) ([]web.Eval, int, error) {
	off, lim := limit(p, 20)
	// Evaluations without new builds are left out, as Hydra's getEvals
	// does.
	where := ` where ($1 = '' or j.project = $1) and ($2 = '' or j.name = $2) and e.hasnewbuilds = 1`
	var total int
	if err := db.pool.QueryRow(ctx, `select count(*) from jobsetevals e join jobsets j on j.id = e.jobset_id`+where,
		project, jobset).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count evals: %w", err)
	}
	rows, err := db.pool.Query(ctx, evalSelect(members)+where+` order by e.id desc offset $3 limit $4`, project, jobset, off, lim)
	if err != nil {
		return nil, 0, fmt.Errorf("query evals: %w", err)
	}
	defer rows.Close()
	out := []web.Eval{}
	byID := map[int64]int{}
	ids := []int64{}
	for rows.Next() {
		e, err := scanEval(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("scan eval: %w", err)
		}
		byID[e.ID] = len(out)
		ids = append(ids, e.ID)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("query evals: %w", err)
	}
	rows.Close()
	if err := db.fillEvalInputs(ctx, ids, func(id int64, name string, in web.EvalInput) {
		out[byID[id]].Inputs[name] = in
	}); err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

func (db *DB) fillEvalInputs(ctx context.Context, ids []int64, put func(int64, string, web.EvalInput)) error {
	if len(ids) == 0 {
		return nil
	}
	rows, err := db.pool.Query(ctx, `select eval, name, type, uri, revision, value, dependency
		from jobsetevalinputs where eval = any($1) and altnr = 0 order by eval, name`, ids)
	if err != nil {
		return fmt.Errorf("query eval inputs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var name string
		var in web.EvalInput
		var dep *int32
		if err := rows.Scan(&id, &name, &in.Type, &in.URI, &in.Revision, &in.Value, &dep); err != nil {
			return fmt.Errorf("scan eval input: %w", err)
		}
		in.Dependency = i64(dep)
		put(id, name, in)
	}
	return rows.Err()
}

// Eval implements web.EvalQueries.
func (db *DB) Eval(ctx context.Context, id int64) (web.Eval, error) {
	e, err := scanEval(db.pool.QueryRow(ctx, evalSelect(true)+` where e.id = $1`, id))
	if err != nil {
		return web.Eval{}, notFound(err, "evaluation", strconv.FormatInt(id, 10))
	}
	err = db.fillEvalInputs(ctx, []int64{id}, func(_ int64, name string, in web.EvalInput) { e.Inputs[name] = in })
	return e, err
}

// PreviousEval implements web.EvalQueries.
func (db *DB) PreviousEval(ctx context.Context, id int64) (int64, error) {
	var prev *int64
	err := db.pool.QueryRow(ctx, `select max(p.id) from jobsetevals p
		where p.jobset_id = (select jobset_id from jobsetevals where id = $1) and p.id < $1 and p.hasnewbuilds = 1`, id).Scan(&prev)
	if err != nil {
		return 0, fmt.Errorf("query eval before %d: %w", id, err)
	}
	if prev == nil {
		return 0, nil
	}
	return *prev, nil
}

// LatestFinishedEval implements web.EvalQueries, as Hydra's
// getLatestFinishedEval.
func (db *DB) LatestFinishedEval(ctx context.Context, project, jobset string) (int64, error) {
	var id *int64
	err := db.pool.QueryRow(ctx, `select max(e.id) from jobsetevals e join jobsets j on j.id = e.jobset_id
		where j.project = $1 and j.name = $2 and e.hasnewbuilds = 1
		  and not exists (select 1 from jobsetevalmembers m join builds b on b.id = m.build
		    where m.eval = e.id and b.finished = 0)`, project, jobset).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("query latest finished eval of %s:%s: %w", project, jobset, err)
	}
	if id == nil {
		return 0, nil
	}
	return *id, nil
}

// EvalErrors implements web.EvalQueries.
func (db *DB) EvalErrors(ctx context.Context, id int64) (string, error) {
	var msg string
	err := db.pool.QueryRow(ctx, `select coalesce(ee.errormsg, '') from jobsetevals e
		left join evaluationerrors ee on ee.id = e.evaluationerror_id where e.id = $1`, id).Scan(&msg)
	if err != nil {
		return "", notFound(err, "evaluation", strconv.FormatInt(id, 10))
	}
	return msg, nil
}

// EvalGraph implements web.GraphQueries.
func (db *DB) EvalGraph(ctx context.Context, evalID int64) ([]web.GraphNode, []web.GraphEdge, error) {
	rows, err := db.pool.Query(ctx, `select drv_path, input_drv from build_graph_edges where eval_id = $1
		order by drv_path, input_drv`, evalID)
	if err != nil {
		return nil, nil, fmt.Errorf("query graph of eval %d: %w", evalID, err)
	}
	defer rows.Close()
	edges := []web.GraphEdge{}
	for rows.Next() {
		var e web.GraphEdge
		if err := rows.Scan(&e.DrvPath, &e.InputDrv); err != nil {
			return nil, nil, fmt.Errorf("scan edge: %w", err)
		}
		edges = append(edges, e)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	rows.Close()
	nrows, err := db.pool.Query(ctx, `with drvs as (
		  select drv_path as d from build_graph_edges where eval_id = $1
		  union select input_drv from build_graph_edges where eval_id = $1
		  union select b.drvpath from jobsetevalmembers m join builds b on b.id = m.build where m.eval = $1)
		select d.d, s.status, coalesce(s.busy, 0), s.drv_path is not null, coalesce(s.machine, '')
		from drvs d left join steps s on s.drv_path = d.d order by d.d`, evalID)
	if err != nil {
		return nil, nil, fmt.Errorf("query graph nodes of eval %d: %w", evalID, err)
	}
	defer nrows.Close()
	nodes := []web.GraphNode{}
	for nrows.Next() {
		var n web.GraphNode
		if err := nrows.Scan(&n.DrvPath, &n.Status, &n.Busy, &n.Known, &n.Machine); err != nil {
			return nil, nil, fmt.Errorf("scan node: %w", err)
		}
		nodes = append(nodes, n)
	}
	return nodes, edges, nrows.Err()
}
