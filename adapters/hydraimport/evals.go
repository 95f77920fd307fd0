package hydraimport

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"buildledger/domain/streams"
	"buildledger/events"
)

// evalChunk is how many evaluations one batch reads.
const evalChunk = 20

type eval struct {
	finished events.EvaluationFinished
	inputs   []events.InputFetched
	members  []events.JobEvaluated
}

// evals imports every evaluation: its inputs, its members (with the
// constituents of its aggregates) and its errors, on eval-<id>, and the
// bookkeeping on the jobset's stream that lets buildledger's evaluator
// carry on from Hydra's latest evaluation. The next chunk is read while
// one is appended; chunks past the point an earlier run reached are
// appended without asking the log what it holds.
func (im *Importer) evals(ctx context.Context, w *writer, correlation string) (int, error) {
	ids, err := im.ids(ctx, `select id from JobsetEvals order by id`)
	if err != nil {
		return 0, err
	}
	from, err := im.resumePoint(ctx, ids, func(id int64) string { return eventID(fmt.Sprintf("jobsetevals:%d", id), "EvaluationOpened") })
	if err != nil {
		return 0, err
	}
	total := 0
	err = w.pipeline(ctx, func(ctx context.Context, emit func(*batch) error) error {
		var after int64
		for {
			c, order, err := im.readEvals(ctx, after)
			if err != nil || len(order) == 0 {
				return err
			}
			b := newBatch(correlation)
			b.fresh = order[0] >= from
			for _, id := range order {
				if err := addEval(b, c[id]); err != nil {
					return err
				}
			}
			if err := emit(b); err != nil {
				return err
			}
			total += len(order)
			after = order[len(order)-1]
		}
	})
	return total, err
}

func (im *Importer) readEvals(ctx context.Context, after int64) (map[int64]*eval, []int64, error) {
	c := map[int64]*eval{}
	var order []int64
	_, err := im.each(ctx, `select e.id, e.jobset_id, j.project, j.name, e.timestamp, e.checkoutTime, e.evalTime, e.hasNewBuilds,
			e.hash, e.nrBuilds, e.flake, e.nixExprInput, e.nixExprPath, ee.errorMsg, ee.errorTime,
			(select count(*) from JobsetEvalMembers m where m.eval = e.id and m.isNew = 1)
		from JobsetEvals e join Jobsets j on j.id = e.jobset_id left join EvaluationErrors ee on ee.id = e.evaluationerror_id
		where e.id > $1 order by e.id limit $2`, []any{after, evalChunk}, func(r pgx.Rows) error {
		var (
			x                            eval
			id, jobset, ts, co, et, news int32
			nrBuilds, errTime            *int32
			flake, input, path, errMsg   *string
			nrNew                        int64
		)
		f := &x.finished
		if err := r.Scan(&id, &jobset, &f.Project, &f.Jobset, &ts, &co, &et, &news, &f.Hash, &nrBuilds, &flake, &input, &path,
			&errMsg, &errTime, &nrNew); err != nil {
			return err
		}
		f.EvalID, f.JobsetID, f.Timestamp, f.CheckoutTime, f.EvalTime = int64(id), int64(jobset), int64(ts), int64(co), int64(et)
		f.HasNewBuilds, f.NrBuilds, f.NrNewBuilds = news != 0, i32(nrBuilds), int(nrNew)
		f.Flake, f.NixExprInput, f.NixExprPath = str(flake), str(input), str(path)
		f.ErrorMsg, f.ErrorTime = str(errMsg), int64(i32(errTime))
		c[int64(id)] = &x
		order = append(order, int64(id))
		return nil
	})
	if err != nil || len(order) == 0 {
		return c, order, err
	}
	lo, hi := after, order[len(order)-1]
	_, err = im.each(ctx, `select eval, name, altNr, type, uri, revision, shortRevLength, value, dependency, path, sha256hash
		from JobsetEvalInputs where eval > $1 and eval <= $2 order by eval, name, altNr`, []any{lo, hi}, func(r pgx.Rows) error {
		var (
			in                         events.InputFetched
			id, alt                    int32
			uri, rev, value, path, sha *string
			short                      *int16
			dep                        *int32
		)
		if err := r.Scan(&id, &in.Name, &alt, &in.Type, &uri, &rev, &short, &value, &dep, &path, &sha); err != nil {
			return err
		}
		in.EvalID, in.AltNr, in.URI, in.Revision, in.Value = int64(id), int(alt), str(uri), str(rev), str(value)
		in.StorePath, in.SHA256, in.DependencyBuild = str(path), str(sha), int64(i32(dep))
		if short != nil {
			in.ShortRevLength = int(*short)
		}
		if x := c[int64(id)]; x != nil {
			x.inputs = append(x.inputs, in)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("JobsetEvalInputs: %w", err)
	}
	_, err = im.each(ctx, `select m.eval, m.build, m.isNew, b.job, b.nixName, b.system, b.drvPath,
			coalesce(array(select o.name from BuildOutputs o where o.build = b.id order by o.name), '{}'),
			coalesce(array(select coalesce(o.path, '') from BuildOutputs o where o.build = b.id order by o.name), '{}'),
			coalesce(array(select c.constituent from AggregateConstituents c where c.aggregate = b.id order by c.constituent), '{}')
		from JobsetEvalMembers m join Builds b on b.id = m.build
		where m.eval > $1 and m.eval <= $2 order by m.eval, m.build`, []any{lo, hi}, func(r pgx.Rows) error {
		var (
			j                events.JobEvaluated
			id, build, isNew int32
			nixName          *string
			names, paths     []string
			constituents     []int32
		)
		if err := r.Scan(&id, &build, &isNew, &j.Job, &nixName, &j.System, &j.DrvPath, &names, &paths, &constituents); err != nil {
			return err
		}
		j.EvalID, j.BuildID, j.IsNew, j.NixName = int64(id), int64(build), isNew != 0, str(nixName)
		for i := range names {
			j.Outputs = append(j.Outputs, events.Output{Name: names[i], Path: paths[i]})
		}
		for _, k := range constituents {
			j.ConstituentBuilds = append(j.ConstituentBuilds, int64(k))
		}
		if x := c[int64(id)]; x != nil {
			x.members = append(x.members, j)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("JobsetEvalMembers: %w", err)
	}
	return c, order, nil
}

func addEval(b *batch, x *eval) error {
	f := &x.finished
	stream, source := streams.Eval(f.EvalID), fmt.Sprintf("jobsetevals:%d", f.EvalID)
	js := streams.Jobset(f.Project, f.Jobset)
	start := f.Timestamp - f.CheckoutTime - f.EvalTime
	if err := b.add(js, source, start, &events.EvaluationOpened{EvalID: f.EvalID, Project: f.Project, Jobset: f.Jobset,
		StartTime: start}); err != nil {
		return err
	}
	for i := range x.inputs {
		in := &x.inputs[i]
		if err := b.add(stream, fmt.Sprintf("jobsetevalinputs:%d/%s/%d", f.EvalID, in.Name, in.AltNr), f.Timestamp, in); err != nil {
			return err
		}
	}
	for i := range x.members {
		m := &x.members[i]
		if err := b.add(stream, fmt.Sprintf("jobsetevalmembers:%d/%d", f.EvalID, m.BuildID), f.Timestamp, m); err != nil {
			return err
		}
	}
	f.NrJobs = len(x.members)
	if err := b.add(stream, source, f.Timestamp, f); err != nil {
		return err
	}
	return b.add(js, source, f.Timestamp, &events.EvaluationClosed{EvalID: f.EvalID, Project: f.Project, Jobset: f.Jobset,
		Outcome: "finished", Hash: f.Hash, Flake: f.Flake, HasNewBuilds: f.HasNewBuilds, NrBuilds: f.NrBuilds, Timestamp: f.Timestamp})
}
