package hydra

import (
	"context"
	"fmt"

	"buildledger/events"
	"buildledger/projections"
)

// The pieces of a running evaluation, kept until it finishes.
var (
	stagedInputs = &spec{name: "eval_staging_inputs", keys: []string{"eval", "name", "altNr"},
		columns: []string{"eval", "name", "altNr", "type", "uri", "revision", "value", "dependency", "path", "sha256hash", "shortRevLength"}}
	stagedMembers      = &spec{name: "eval_staging_members", columns: []string{"eval", "build", "isNew"}, keys: []string{"eval", "build"}}
	stagedConstituents = &spec{name: "eval_staging_constituents", columns: []string{"eval", "aggregate", "constituent"}, keys: []string{"eval", "aggregate", "constituent"}}
)

// inputDependency indexes the dependency in a buffered stagedInputs row.
const inputDependency = 7

// stagedErrors is the staging table of an evaluation's failed jobs
// (written row by row, not buffered); stagingTables are all four.
const stagedErrors = "eval_staging_errors"

var stagingTables = []string{stagedInputs.name, stagedMembers.name, stagedConstituents.name, stagedErrors}

// membersTable takes the members of an evaluation that starts and finishes
// in one batch straight from the batch (batchEvals).
var membersTable = &spec{order: 2, name: "JobsetEvalMembers", columns: []string{"eval", "build", "isNew"}, keys: []string{"eval", "build"},
	requires: "exists (select 1 from JobsetEvals e where e.id = s.eval) and " + buildExists, checked: true}

// batchEvals is a look-ahead over the evaluations of a batch. An
// evaluation is direct when everything it publishes at EvaluationFinished
// is in the batch: it finishes once in the batch and does not fail in it,
// and nothing of it was staged, nor published, by an earlier batch. Its
// members then go straight into JobsetEvalMembers (never through
// eval_staging_members), the staging statements of pieces it does not
// have are left out, and its builds still buffered when it finishes are
// written with the isCurrent they end the batch with.
type batchEvals struct {
	direct map[int64]*directEval
	// finishes lists the batch's EvaluationFinished events in log order.
	finishes []*events.EvaluationFinished
	// settled is false when the batch deletes a jobset or a project, or
	// queues a build twice: a later evaluation's effect on isCurrent is
	// then not worked out ahead.
	settled bool
}

// directEval is what a batch holds of a direct evaluation.
type directEval struct {
	// finish is the evaluation's index in batchEvals.finishes.
	finish int
	// finished is set once its EvaluationFinished has been applied: later
	// JobEvaluated events of it are staged, as for any evaluation.
	finished bool
	// members are its JobsetEvalMembers rows, from the JobEvaluated events
	// before it finished; member tells the builds among them.
	members [][]any
	member  map[int64]bool
	// inputs, constituents and errors tell whether the batch staged such
	// pieces of it before it finished.
	inputs, constituents, errors bool
}

// evalsInBatch works out batchEvals for batch, asking the database which
// of its evaluations have pieces staged by earlier batches or are already
// published.
func evalsInBatch(ctx context.Context, tx projections.Tx, batch []projections.Event) (*batchEvals, error) {
	be := &batchEvals{direct: map[int64]*directEval{}, settled: true}
	var (
		finishes = map[int64]int{}
		failed   = map[int64]bool{}
		pieces   = map[int64]*directEval{}
	)
	piece := func(eval int64) *directEval {
		d, ok := pieces[eval]
		if !ok {
			d = &directEval{member: map[int64]bool{}}
			pieces[eval] = d
		}
		return d
	}
	queued := map[int64]bool{}
	for _, ev := range batch {
		switch p := ev.Payload.(type) {
		case *events.JobsetDeleted, *events.ProjectDeleted:
			be.settled = false
		case *events.BuildQueued:
			// A build queued again is written anew, isCurrent included.
			be.settled = be.settled && !queued[p.BuildID]
			queued[p.BuildID] = true
		case *events.EvaluationFailed:
			failed[p.EvalID] = true
		case *events.InputFetched:
			if finishes[p.EvalID] == 0 {
				piece(p.EvalID).inputs = true
			}
		case *events.JobEvaluationFailed:
			if finishes[p.EvalID] == 0 {
				piece(p.EvalID).errors = true
			}
		case *events.JobEvaluated:
			if finishes[p.EvalID] == 0 {
				d := piece(p.EvalID)
				d.member[p.BuildID] = true
				d.members = append(d.members, []any{p.EvalID, p.BuildID, boolInt(p.IsNew)})
				d.constituents = d.constituents || len(p.ConstituentBuilds) > 0
			}
		case *events.EvaluationFinished:
			finishes[p.EvalID]++
			d := piece(p.EvalID)
			d.finish = len(be.finishes)
			be.finishes = append(be.finishes, p)
		}
	}
	var candidates []int64
	for eval, n := range finishes {
		if n == 1 && !failed[eval] {
			candidates = append(candidates, eval)
		}
	}
	if len(candidates) == 0 {
		return be, nil
	}
	rows, err := tx.Query(ctx, `select eval from eval_staging_members where eval = any($1)
		union select eval from eval_staging_inputs where eval = any($1)
		union select eval from eval_staging_constituents where eval = any($1)
		union select eval from eval_staging_errors where eval = any($1)
		union select id from JobsetEvals where id = any($1)`, candidates)
	if err != nil {
		return nil, fmt.Errorf("evaluations staged earlier: %w", err)
	}
	defer rows.Close()
	earlier := map[int64]bool{}
	for rows.Next() {
		var eval int64
		if err := rows.Scan(&eval); err != nil {
			return nil, fmt.Errorf("evaluations staged earlier: %w", err)
		}
		earlier[eval] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("evaluations staged earlier: %w", err)
	}
	for _, eval := range candidates {
		if !earlier[eval] {
			be.direct[eval] = pieces[eval]
		}
	}
	return be, nil
}

// current returns the isCurrent that build id, of jobset, has at the end
// of the batch when evaluation finish (an index into finishes) has just
// made it current; ok is false when that cannot be told from the batch.
// Each later evaluation that has the build as a member makes it current,
// and each later one of its jobset that does not, no longer current: the
// last of them decides. Its UPDATEs would set the build right whatever it
// was written with; written with the value they leave, it is not updated.
func (be *batchEvals) current(finish int, id, jobset int64) (value int, ok bool) {
	if !be.settled {
		return 0, false
	}
	value = 1
	for _, p := range be.finishes[finish+1:] {
		d := be.direct[p.EvalID]
		switch {
		case d == nil:
			return 0, false // its members are not all in the batch
		case d.member[id]:
			value = 1
		case p.JobsetID == jobset:
			value = 0
		}
	}
	return value, true
}

func inputFetched(w *writer, p *events.InputFetched) {
	w.add(stagedInputs,
		p.EvalID, p.Name, p.AltNr, p.Type, nullIfEmpty(p.URI), nullIfEmpty(p.Revision), nullIfEmpty(p.Value),
		nullIfZero(p.DependencyBuild), nullIfEmpty(p.StorePath), nullIfEmpty(p.SHA256), nullIfZero(int64(p.ShortRevLength)))
}

func jobEvaluated(w *writer, p *events.JobEvaluated) {
	if d := w.evals.direct[p.EvalID]; d == nil || d.finished {
		// Members of a direct evaluation are taken from the look-ahead.
		w.add(stagedMembers, p.EvalID, p.BuildID, boolInt(p.IsNew))
	}
	for _, c := range p.ConstituentBuilds {
		w.add(stagedConstituents, p.EvalID, p.BuildID, c)
	}
}

func evaluationFinished(w *writer, p *events.EvaluationFinished) error {
	d := w.evals.direct[p.EvalID]
	// pending are the members whose current Builds row an UPDATE has to
	// mark: those of a direct evaluation that are not buffered.
	var pending []int64
	if d != nil {
		d.finished = true
		pending = markDirect(w, d)
	}
	// The statements name the buffered tables they read or write, so that
	// the others stay buffered (execAfter). Neither the per-job errors nor
	// Jobsets, JobsetEvals and EvaluationErrors are ever buffered.
	if d == nil || d.errors {
		// Per-job errors become the eval's EvaluationErrors row and the
		// jobset's errorMsg as hydra-eval-jobset writes them: "in job
		// ‘NAME’:" (or "at top-level:"), a newline, the message and a
		// blank line, for each failed job.
		err := w.execAfter(nil, `insert into EvaluationErrors (id, errorMsg, errorTime)
			select $1, string_agg(case when job = '' then 'at top-level' else 'in job ‘' || job || '’' end
				|| E':\n' || error || E'\n\n', '' order by nr), $2
			from eval_staging_errors where eval = $1 having count(*) > 0`, p.EvalID, p.Timestamp)
		if err != nil {
			return err
		}
	}
	if p.ErrorMsg != "" {
		err := w.execAfter(nil, `insert into EvaluationErrors (id, errorMsg, errorTime) values ($1, $2, $3) on conflict (id) do nothing`,
			p.EvalID, p.ErrorMsg, nullIfZero(p.ErrorTime))
		if err != nil {
			return err
		}
	}
	err := w.execAfter(nil, `insert into JobsetEvals (id, jobset_id, evaluationerror_id, timestamp, checkoutTime, evalTime,
			hasNewBuilds, hash, nrBuilds, flake, nixExprInput, nixExprPath)
		select $1, $2, (select id from EvaluationErrors where id = $1), $3, $4, $5, $6, $7, $8, $9, $10, $11
		where exists (select 1 from Jobsets where id = $2)
		on conflict (id) do nothing`,
		p.EvalID, p.JobsetID, p.Timestamp, p.CheckoutTime, p.EvalTime, boolInt(p.HasNewBuilds), p.Hash, p.NrBuilds,
		nullIfEmpty(p.Flake), nullIfEmpty(p.NixExprInput), nullIfEmpty(p.NixExprPath))
	if err != nil {
		return err
	}
	type move struct {
		deps []*spec
		sql  string
	}
	var moves []move
	if d == nil || d.inputs {
		// An input's dependency is looked up in Builds, which has to be
		// written first only when it holds that build buffered.
		deps := []*spec{stagedInputs}
		if w.dependsOnBuffered(p.EvalID) {
			deps = append(deps, buildsTable)
		}
		moves = append(moves, move{deps, `insert into JobsetEvalInputs (eval, name, altNr, type, uri, revision, value, dependency, path, sha256hash, shortRevLength)
			select s.eval, s.name, s.altNr, s.type, s.uri, s.revision, s.value, (select id from Builds where id = s.dependency),
				s.path, s.sha256hash, s.shortRevLength
			from eval_staging_inputs s where s.eval = $1 and exists (select 1 from JobsetEvals where id = $1)
			on conflict do nothing`})
	}
	if d == nil {
		moves = append(moves, move{[]*spec{stagedMembers, buildsTable, membersTable}, `insert into JobsetEvalMembers (eval, build, isNew)
			select s.eval, s.build, s.isNew from eval_staging_members s
			where s.eval = $1 and exists (select 1 from JobsetEvals where id = $1) and exists (select 1 from Builds b where b.id = s.build)
			on conflict do nothing`})
	} else {
		for _, m := range d.members {
			w.add(membersTable, m...)
		}
	}
	if d == nil || d.constituents {
		moves = append(moves, move{[]*spec{stagedConstituents, buildsTable}, `insert into AggregateConstituents (aggregate, constituent)
			select distinct s.aggregate, s.constituent from eval_staging_constituents s where s.eval = $1
				and exists (select 1 from Builds b where b.id = s.aggregate) and exists (select 1 from Builds b where b.id = s.constituent)
			on conflict do nothing`})
	}
	// isCurrent follows the latest evaluation of the jobset.
	if d == nil {
		current := []*spec{stagedMembers, buildsTable}
		moves = append(moves, move{current, `update Builds b set isCurrent = 0 where b.jobset_id = (select jobset_id from JobsetEvals where id = $1)
				and b.isCurrent = 1 and not exists (select 1 from eval_staging_members m where m.eval = $1 and m.build = b.id)`},
			move{current, `update Builds b set isCurrent = 1 from eval_staging_members m
				where m.eval = $1 and b.id = m.build and b.isCurrent is distinct from 1`})
	}
	for _, m := range moves {
		if err := w.execAfter(m.deps, m.sql, p.EvalID); err != nil {
			return err
		}
	}
	if d != nil {
		if err := leaveCurrent(w, p, d); err != nil {
			return err
		}
	}
	if len(pending) > 0 {
		err := w.execAfter(nil, `update Builds set isCurrent = 1 where id = any($1) and isCurrent is distinct from 1`, pending)
		if err != nil {
			return err
		}
	}
	staged := stagingTables
	if d != nil {
		staged = d.staged()
	}
	if err := dropStaging(w, p.EvalID, staged); err != nil {
		return err
	}
	return w.execAfter(nil, `update Jobsets set lastCheckedTime = $2, startTime = null, triggerTime = null, fetchErrorMsg = null, forceEval = null,
			errorMsg = (select errorMsg from EvaluationErrors where id = $3),
			errorTime = case when exists (select 1 from EvaluationErrors where id = $3) then $2 else errorTime end
		where id = $1`, p.JobsetID, p.Timestamp, p.EvalID)
}

// leaveCurrent makes the builds of the jobset of direct evaluation d that
// are not its members no longer current: the buffered ones in place, the
// written ones with an UPDATE, which therefore needs no flush. (Its
// members' rows were marked by markDirect, or are among pending.)
func leaveCurrent(w *writer, p *events.EvaluationFinished, d *directEval) error {
	for _, row := range w.jobsetBuilds[p.JobsetID] {
		if !d.member[row[0].(int64)] {
			row[colCurrent] = 0
		}
	}
	members := make([]int64, len(d.members))
	for i, m := range d.members {
		members[i] = m[1].(int64)
	}
	// EXCEPT rather than NOT IN or an anti-join on the array, whose size
	// the planner cannot see: a set operation stays linear however many
	// builds the jobset and the evaluation have.
	return w.execAfter(nil, `update Builds b set isCurrent = 0
		from (select id from Builds where jobset_id = (select jobset_id from JobsetEvals where id = $1) and isCurrent = 1
			except select unnest($2::int[])) x
		where b.id = x.id`, p.EvalID, members)
}

// dependsOnBuffered tells whether a buffered input of eval depends on a
// build still buffered.
func (w *writer) dependsOnBuffered(eval int64) bool {
	t := w.byName[stagedInputs.name]
	if t == nil {
		return false
	}
	for _, row := range t.rows {
		if row[0].(int64) != eval {
			continue
		}
		if id, ok := row[inputDependency].(int64); ok && w.builds[id] != nil {
			return true
		}
	}
	return false
}

// staged names the staging tables that hold pieces of direct evaluation d
// when it finishes.
func (d *directEval) staged() []string {
	var out []string
	for _, t := range []struct {
		name string
		has  bool
	}{{stagedInputs.name, d.inputs}, {stagedConstituents.name, d.constituents}, {stagedErrors, d.errors}} {
		if t.has {
			out = append(out, t.name)
		}
	}
	return out
}

func evaluationFailed(w *writer, p *events.EvaluationFailed) error {
	if err := dropStaging(w, p.EvalID, stagingTables); err != nil {
		return err
	}
	if p.Phase == "fetch" {
		return w.execAfter(nil, `update Jobsets set fetchErrorMsg = $3, lastCheckedTime = $4, startTime = null, triggerTime = null
			where project = $1 and name = $2`, p.Project, p.Jobset, p.Error, p.Timestamp)
	}
	// An interrupted evaluation leaves the request pending (domain/jobset).
	return w.execAfter(nil, `update Jobsets set errorMsg = $3, errorTime = $4, fetchErrorMsg = null, lastCheckedTime = $4,
			startTime = null, triggerTime = case when $5 then triggerTime end
		where project = $1 and name = $2`, p.Project, p.Jobset, p.Error, p.Timestamp, p.Interrupted)
}

// dropStaging deletes the rows of eval from the staging tables named,
// once their buffered rows are written.
func dropStaging(w *writer, eval int64, tables []string) error {
	for _, t := range tables {
		if err := w.execAfter([]*spec{stagedInputs, stagedMembers, stagedConstituents}, `delete from `+t+` where eval = $1`, eval); err != nil {
			return err
		}
	}
	return nil
}

// markDirect marks the members of direct evaluation d: a buffered Builds
// row of a member is written with the isCurrent it ends the batch with, when
// the batch tells (batchEvals.current), so that no later evaluation of the
// batch has to update it. It returns the members that are not buffered.
func markDirect(w *writer, d *directEval) []int64 {
	var rest []int64
	for _, m := range d.members {
		id := m[1].(int64)
		row, ok := w.builds[id]
		if !ok {
			rest = append(rest, id)
			continue
		}
		v, ok := w.evals.current(d.finish, id, row[colJobset].(int64))
		if !ok {
			v = 1
		}
		row[colCurrent] = v
	}
	return rest
}
