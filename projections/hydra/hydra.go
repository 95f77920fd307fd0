package hydra

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"buildledger/events"
	"buildledger/projections"
)

// Projection writes Hydra's tables. Keys opens users' sealed profiles;
// without it, a sealed profile fails the batch.
type Projection struct {
	Keys UserKeys
}

var (
	_ projections.Projection            = Projection{}
	_ projections.IndexDeferrer         = Projection{}
	_ projections.OptionalIndexDeferrer = Projection{}
	_ projections.ForeignKeyDeferrer    = Projection{}
	_ projections.MetadataUser          = Projection{}
	_ projections.TriggerDeferrer       = Projection{}
)

// Name implements projections.Projection.
func (Projection) Name() string { return "hydra" }

// Version implements projections.Projection.
func (Projection) Version() int { return 1 }

// UsesMetadata implements projections.MetadataUser: it reads none, so
// a replay (and a runner whose other projections read none either) reads
// the log without it.
func (Projection) UsesMetadata() bool { return false }

// DeferrableIndexes implements projections.IndexDeferrer: the indexes of
// Hydra's pages and queue runner. The projection's own statements, and the
// cascades of its deletes and renames, use only the keys and the indexes
// left out here, with one exception: deleting a jobset finds its builds
// through IndexBuildsOnJobsetIdFinishedId. A replay does without it, and
// scans Builds for a deleted jobset: deletions are rare, and keeping its
// four columns (one of them the job's name, in no order the writes follow)
// up to date cost a third of the time Builds took to load.
func (Projection) DeferrableIndexes() []string {
	return []string{
		"indexbuildsonfinished", "indexbuildsondrvpath", "indexbuildsonnotificationpendingsince", "indexbuildsonkeep",
		"indexbuildsoniscurrent", "indexbuildsjobsetidcurrentunfinished", "indexbuildsjobsetidcurrentfinishedstatus",
		"indexfinishedsuccessfulbuilds", "indexbuildsonfinishedstoptime", "indexbuildsontimestamp", "indexbuildsonjobsetidfinishedid",
		"indexbuildstepsonbusy", "indexbuildstepsondrvpath", "indexbuildstepsonstoptime",
		"indexbuildstepoutputsonpath", "indexbuildoutputspath", "indexbuildproducstonbuildandtype", "indexbuildproductsonbuild",
		"indexjobsetevalmembersoneval", "indexbuildsonjobsetidjobc",
	}
}

// OptionalIndexes implements projections.OptionalIndexDeferrer: Hydra's
// trigram index on Builds.drvPath, which a database without pg_trgm lacks
// (schema/readmodel/0010_hydra_tables.sql). A GIN index of trigrams is
// the dearest of Builds' indexes to keep up to date row by row.
func (Projection) OptionalIndexes() []string { return []string{"indextrgmbuildsondrvpath"} }

// countTriggers are the triggers that keep NrBuilds, JobsetEvalCounts and
// JobsetCurrentCounts, by table (schema/readmodel/0001, 0021 and 0023).
var countTriggers = []struct {
	table    string
	triggers []string
}{
	{"Builds", []string{"NrBuildsFinishedInsert", "NrBuildsFinishedUpdate", "NrBuildsFinishedDelete",
		"JobsetCountsInsert", "JobsetCountsUpdate", "JobsetCountsDelete"}},
	{"JobsetEvalMembers", []string{"JobsetEvalCountsInsert", "JobsetEvalCountsUpdate", "JobsetEvalCountsDelete"}},
}

// DeferredTriggers implements projections.TriggerDeferrer: the triggers
// that keep the counts of builds and members. They took a third of the
// time the replay's writer spent in Postgres (1,000,000 events: its CPU
// fell from 3.2-3.6 s to 2.4 s without them): each statement on Builds or
// JobsetEvalMembers kept its rows in a transition table, and then grouped
// them and looked up their evaluations. recountBuildCounts
// counts once what they would have kept.
func (Projection) DeferredTriggers() (disable, restore []string) {
	for _, t := range countTriggers {
		off, on := make([]string, len(t.triggers)), make([]string, len(t.triggers))
		for i, name := range t.triggers {
			off[i], on[i] = "disable trigger "+name, "enable trigger "+name
		}
		disable = append(disable, "alter table "+t.table+" "+strings.Join(off, ", "))
		restore = append(restore, "alter table "+t.table+" "+strings.Join(on, ", "))
	}
	return disable, append(restore, "select recountBuildCounts()")
}

// DeferrableForeignKeys implements projections.ForeignKeyDeferrer: the
// keys from the build and evaluation tables to the Builds, BuildSteps,
// JobsetEvals and Jobsets rows they belong to. They refer
// to ids, which never change, so no rename needs them; the rows the
// projection writes while they are away either have their parent or are
// the ones its writes would have dropped, which adding the keys back
// deletes (they all cascade).
func (Projection) DeferrableForeignKeys() []string {
	return []string{
		"jobsetevals_jobset_id_fkey", "builds_jobset_id_fkey",
		"jobsetevalmembers_eval_fkey", "jobsetevalmembers_build_fkey",
		"aggregateconstituents_aggregate_fkey", "aggregateconstituents_constituent_fkey",
		"buildoutputs_build_fkey", "buildsteps_build_fkey", "buildsteps_propagatedfrom_fkey",
		"buildstepoutputs_build_fkey", "buildstepoutputs_build_stepnr_fkey",
		"buildproducts_build_fkey", "buildmetrics_build_fkey",
	}
}

// NeedsForeignKeys implements projections.ForeignKeyDeferrer: deleting a
// project or a jobset deletes its builds and evaluations, and their rows,
// by cascading through the keys, and the events after it must find them
// gone (a step propagated from a gone build names none). A renamed jobset
// keeps its row. A withdrawn build's rows are deleted table by table
// (buildWithdrawn), without the keys.
func (Projection) NeedsForeignKeys(ev projections.Event) bool {
	switch p := ev.Payload.(type) {
	case *events.ProjectDeleted:
		return p.RenamedTo == ""
	case *events.JobsetDeleted:
		return p.RenamedTo == ""
	}
	return false
}

// Apply implements projections.Projection. It applies the batch with its
// direct COPYs unguarded, under one savepoint; if one of them fails, it
// rolls back to that savepoint and applies the batch again with each direct
// COPY guarded (see writer.copyDirect). A savepoint per COPY, taken on
// every batch, made loading Builds a fifth slower.
func (p Projection) Apply(ctx context.Context, tx projections.Tx, batch []projections.Event) error {
	if err := tx.Exec(ctx, "savepoint unguarded_batch"); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	err := applyBatch(ctx, tx, batch, p.Keys, false)
	var failed *directCopyError
	if !errors.As(err, &failed) {
		if err != nil {
			return err
		}
		return tx.Exec(ctx, "release savepoint unguarded_batch")
	}
	if err := tx.Exec(ctx, "rollback to savepoint unguarded_batch"); err != nil {
		return fmt.Errorf("roll back after %w: %w", failed, err)
	}
	return applyBatch(ctx, tx, batch, p.Keys, true)
}

// applyBatch applies batch through a writer whose direct COPYs are guarded
// or not.
func applyBatch(ctx context.Context, tx projections.Tx, batch []projections.Event, keys UserKeys, guarded bool) error {
	w := newWriter(ctx, tx)
	w.keys = keys
	w.guarded = guarded
	w.ahead = finishedInBatch(batch)
	evals, err := evalsInBatch(ctx, tx, batch)
	if err != nil {
		return err
	}
	w.evals = evals
	for _, ev := range batch {
		if ev.Payload == nil {
			continue
		}
		w.queued.At(ev)
		if err := apply(w, ev); err != nil {
			return fmt.Errorf("event %s (%s at %s@%d): %w", ev.ID, ev.Type, ev.Stream, ev.Revision, err)
		}
	}
	return w.flush()
}

func apply(w *writer, ev projections.Event) error {
	switch p := ev.Payload.(type) {
	case *events.ProjectCreated:
		return projectCreated(w, p)
	case *events.ProjectUpdated:
		return projectUpdated(w, p)
	case *events.ProjectDeleted:
		if p.RenamedTo != "" {
			return nil // the row lives on under its new name
		}
		// BuildMetrics' keys to the project and its jobsets do not
		// cascade a delete (Hydra's), so the metrics go first.
		if err := w.exec(`delete from BuildMetrics where project = $1`, p.Name); err != nil {
			return err
		}
		return w.exec(`delete from Projects where name = $1`, p.Name)
	case *events.ProjectMembersChanged:
		return projectMembers(w, p)
	case *events.JobsetCreated:
		return jobsetCreated(w, p)
	case *events.JobsetUpdated:
		return jobsetUpdated(w, p)
	case *events.JobsetDeleted:
		if p.RenamedTo != "" {
			return nil // the row lives on under its new name
		}
		if err := w.exec(`delete from BuildMetrics where project = $1 and jobset = $2`, p.Project, p.Name); err != nil {
			return err
		}
		return w.exec(`delete from Jobsets where project = $1 and name = $2`, p.Project, p.Name)
	case *events.UserCreated:
		return userCreated(w, p)
	case *events.UserUpdated:
		return userUpdated(w, p)
	case *events.UserForgotten:
		return userForgotten(w, p)
	case *events.UserDeleted:
		return w.exec(`delete from Users where userName = $1`, p.UserName)
	case *events.UserRolesChanged:
		return userRoles(w, p.UserName, p.Roles)
	case *events.NewsItemAdded:
		if err := ensureUser(w, p.Author); err != nil {
			return err
		}
		return w.exec(`insert into NewsItems (id, contents, createTime, author) values ($1, $2, $3, $4) on conflict (id) do nothing`,
			p.ID, p.Contents, p.CreateTime, p.Author)
	case *events.NewsItemRemoved:
		return w.exec(`delete from NewsItems where id = $1`, p.ID)
	case *events.JobStarred:
		// A star on a jobset that is gone stays gone, as Hydra's
		// cascades leave it.
		return w.exec(`insert into StarredJobs (userName, project, jobset, job)
			select $1, $2, $3, $4 where exists (select 1 from Users where userName = $1)
				and exists (select 1 from Jobsets where project = $2 and name = $3)
			on conflict do nothing`, p.UserName, p.Project, p.Jobset, p.Job)
	case *events.JobUnstarred:
		return w.exec(`delete from StarredJobs where userName = $1 and project = $2 and jobset = $3 and job = $4`,
			p.UserName, p.Project, p.Jobset, p.Job)
	case *events.FailedPathsCleared:
		return w.exec(`delete from FailedPaths`)
	case *events.UserDisabled:
		return w.exec(`update Users set disabled = true where userName = $1`, p.UserName)
	case *events.UserEnabled:
		return w.exec(`update Users set disabled = false where userName = $1`, p.UserName)

	case *events.EvaluationRequested:
		// A forced request sets forceEval until an evaluation finishes,
		// as Hydra's push?force does.
		return w.execAfter(nil, `update Jobsets set triggerTime = $3, forceEval = case when $4 then true else forceEval end
			where project = $1 and name = $2`, p.Project, p.Jobset, p.At, p.Force)
	case *events.EvaluationStarted:
		return w.execAfter(nil, `update Jobsets set startTime = $2 where id = $1`, p.JobsetID, p.StartTime)
	case *events.InputFetched:
		inputFetched(w, p)
	case *events.JobEvaluated:
		jobEvaluated(w, p)
	case *events.JobEvaluationFailed:
		return w.execAfter(nil, `insert into eval_staging_errors (eval, job, error) values ($1, $2, $3)`, p.EvalID, p.Job, p.Error)
	case *events.EvaluationFinished:
		return evaluationFinished(w, p)
	case *events.EvaluationCached:
		// A request made after the check began stays pending (events
		// before StartTime existed cleared it in any case).
		return w.execAfter(nil, `update Jobsets set lastCheckedTime = $3, startTime = null, fetchErrorMsg = null,
			triggerTime = case when $4::bigint = 0 or triggerTime <= $4::bigint then null else triggerTime end
			where project = $1 and name = $2`, p.Project, p.Jobset, p.Timestamp, p.StartTime)
	case *events.EvaluationFailed:
		return evaluationFailed(w, p)

	case *events.BuildQueued:
		buildQueued(w, p)
	case *events.BuildCached:
		return buildCached(w, p)
	case *events.StepStarted:
		stepStarted(w, p)
	case *events.StepFinished:
		return stepFinished(w, p)
	case *events.ProductScraped:
		w.add(productsTable, p.BuildID, p.ProductNr, p.Type, p.Subtype,
			nullIfZero(p.FileSize), nullIfEmpty(p.SHA256), p.Path, p.Name, nullIfEmpty(p.DefaultPath))
	case *events.MetricScraped:
		return w.execAfter(onlyBuilds, `insert into BuildMetrics (build, name, unit, value, project, jobset, job, timestamp)
			select b.id, $2, $3, $4, j.project, j.name, b.job, b.timestamp
			from Builds b join Jobsets j on j.id = b.jobset_id where b.id = $1
			on conflict (build, name) do update set unit = excluded.unit, value = excluded.value`,
			p.BuildID, p.Name, nullIfEmpty(p.Unit), p.Value)
	case *events.BuildFinished:
		return buildFinished(w, p)
	case *events.BuildCancelled:
		return w.execAfter(onlyBuilds, `update Builds set finished = 1, buildStatus = 4, isCachedBuild = 0,
			startTime = coalesce(nullif(startTime, 0), $2), stopTime = $2, notificationPendingSince = $2
			where id = $1 and finished = 0`, p.BuildID, p.Timestamp)
	case *events.BuildRestarted:
		return buildRestarted(w, p)
	case *events.BuildWithdrawn:
		return buildWithdrawn(w, p)
	case *events.BuildBumped:
		return w.execAfter(onlyBuilds, `update Builds set globalPriority = $2 where id = $1`, p.BuildID, p.GlobalPriority)
	case *events.BuildKept:
		return w.execAfter(onlyBuilds, `update Builds set keep = $2 where id = $1`, p.BuildID, boolInt(p.Keep))
	case *events.RunCommandStarted:
		return runCommandStarted(w, p)
	case *events.RunCommandFinished:
		return runCommandFinished(w, p)
	}
	return nil
}
