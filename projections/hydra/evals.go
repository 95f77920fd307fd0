package hydra

import (
	"buildledger/events"
)

// The pieces of a running evaluation, kept until it finishes.
var (
	stagedInputs = &spec{name: "eval_staging_inputs", keys: []string{"eval", "name", "altNr"},
		columns: []string{"eval", "name", "altNr", "type", "uri", "revision", "value", "dependency", "path", "sha256hash", "shortRevLength"}}
	stagedMembers      = &spec{name: "eval_staging_members", columns: []string{"eval", "build", "isNew"}, keys: []string{"eval", "build"}}
	stagedConstituents = &spec{name: "eval_staging_constituents", columns: []string{"eval", "aggregate", "constituent"}, keys: []string{"eval", "aggregate", "constituent"}}
)

func inputFetched(w *writer, p *events.InputFetched) {
	w.add(stagedInputs,
		p.EvalID, p.Name, p.AltNr, p.Type, nullIfEmpty(p.URI), nullIfEmpty(p.Revision), nullIfEmpty(p.Value),
		nullIfZero(p.DependencyBuild), nullIfEmpty(p.StorePath), nullIfEmpty(p.SHA256), nullIfZero(int64(p.ShortRevLength)))
}

func jobEvaluated(w *writer, p *events.JobEvaluated) {
	w.add(stagedMembers, p.EvalID, p.BuildID, boolInt(p.IsNew))
	for _, c := range p.ConstituentBuilds {
		w.add(stagedConstituents, p.EvalID, p.BuildID, c)
	}
}

func evaluationFinished(w *writer, p *events.EvaluationFinished) error {
	markCurrent(w, p.EvalID)
	// Per-job errors become the eval's EvaluationErrors row and the
	// jobset's errorMsg, as Hydra reports them: "job: message" per line.
	err := w.exec(`insert into EvaluationErrors (id, errorMsg, errorTime)
		select $1, string_agg(job || ': ' || error, E'\n' order by nr), $2
		from eval_staging_errors where eval = $1 having count(*) > 0`, p.EvalID, p.Timestamp)
	if err != nil {
		return err
	}
	err = w.exec(`insert into JobsetEvals (id, jobset_id, evaluationerror_id, timestamp, checkoutTime, evalTime,
			hasNewBuilds, hash, nrBuilds, flake, nixExprInput, nixExprPath)
		select $1, $2, (select id from EvaluationErrors where id = $1), $3, $4, $5, $6, $7, $8, $9, $10, $11
		where exists (select 1 from Jobsets where id = $2)
		on conflict (id) do nothing`,
		p.EvalID, p.JobsetID, p.Timestamp, p.CheckoutTime, p.EvalTime, boolInt(p.HasNewBuilds), p.Hash, p.NrBuilds,
		nullIfEmpty(p.Flake), nullIfEmpty(p.NixExprInput), nullIfEmpty(p.NixExprPath))
	if err != nil {
		return err
	}
	moves := []string{
		`insert into JobsetEvalInputs (eval, name, altNr, type, uri, revision, value, dependency, path, sha256hash, shortRevLength)
			select s.eval, s.name, s.altNr, s.type, s.uri, s.revision, s.value, (select id from Builds where id = s.dependency),
				s.path, s.sha256hash, s.shortRevLength
			from eval_staging_inputs s where s.eval = $1 and exists (select 1 from JobsetEvals where id = $1)
			on conflict do nothing`,
		`insert into JobsetEvalMembers (eval, build, isNew) select s.eval, s.build, s.isNew from eval_staging_members s
			where s.eval = $1 and exists (select 1 from JobsetEvals where id = $1) and exists (select 1 from Builds b where b.id = s.build)
			on conflict do nothing`,
		`insert into AggregateConstituents (aggregate, constituent)
			select distinct s.aggregate, s.constituent from eval_staging_constituents s where s.eval = $1
				and exists (select 1 from Builds b where b.id = s.aggregate) and exists (select 1 from Builds b where b.id = s.constituent)
			on conflict do nothing`,
		// isCurrent follows the latest evaluation of the jobset.
		`update Builds b set isCurrent = 0 where b.jobset_id = (select jobset_id from JobsetEvals where id = $1) and b.isCurrent = 1
			and not exists (select 1 from eval_staging_members m where m.eval = $1 and m.build = b.id)`,
		`update Builds b set isCurrent = 1 from eval_staging_members m
			where m.eval = $1 and b.id = m.build and b.isCurrent is distinct from 1`,
	}
	for _, m := range moves {
		if err := w.exec(m, p.EvalID); err != nil {
			return err
		}
	}
	if err := dropStaging(w, p.EvalID); err != nil {
		return err
	}
	return w.exec(`update Jobsets set lastCheckedTime = $2, startTime = null, triggerTime = null, fetchErrorMsg = null,
			errorMsg = (select errorMsg from EvaluationErrors where id = $3),
			errorTime = case when exists (select 1 from EvaluationErrors where id = $3) then $2 else errorTime end
		where id = $1`, p.JobsetID, p.Timestamp, p.EvalID)
}

func evaluationFailed(w *writer, p *events.EvaluationFailed) error {
	if err := dropStaging(w, p.EvalID); err != nil {
		return err
	}
	if p.Phase == "fetch" {
		return w.exec(`update Jobsets set fetchErrorMsg = $3, lastCheckedTime = $4, startTime = null, triggerTime = null
			where project = $1 and name = $2`, p.Project, p.Jobset, p.Error, p.Timestamp)
	}
	return w.exec(`update Jobsets set errorMsg = $3, errorTime = $4, fetchErrorMsg = null, lastCheckedTime = $4,
			startTime = null, triggerTime = null
		where project = $1 and name = $2`, p.Project, p.Jobset, p.Error, p.Timestamp)
}

func dropStaging(w *writer, eval int64) error {
	for _, t := range []string{"eval_staging_inputs", "eval_staging_members", "eval_staging_constituents", "eval_staging_errors"} {
		if err := w.exec(`delete from `+t+` where eval = $1`, eval); err != nil {
			return err
		}
	}
	return nil
}

// markCurrent sets isCurrent on the still-buffered Builds rows of the
// evaluation's members, so they are written current at once instead of
// being inserted and then updated.
func markCurrent(w *writer, eval int64) {
	members, ok := w.byName[stagedMembers.name]
	if !ok {
		return
	}
	for _, m := range members.rows {
		if m[0] != eval {
			continue
		}
		if row, ok := w.builds[m[1].(int64)]; ok {
			row[colCurrent] = 1
		}
	}
}
