package hydra

import (
	"buildledger/domain/status"
	"buildledger/events"
	"buildledger/projections"
)

var buildColumns = []string{"id", "finished", "timestamp", "jobset_id", "job", "nixName", "description", "drvPath", "system",
	"license", "homepage", "maintainers", "maxsilent", "timeout", "isChannel", "isCurrent", "priority", "globalPriority", "keep",
	"startTime", "stopTime", "isCachedBuild", "buildStatus", "size", "closureSize", "releaseName", "notificationPendingSince"}

// Indexes into a buffered Builds row (buildColumns), for patching it in
// place.
const (
	colFinished = 1
	colJobset   = 3
	colCurrent  = 15
	colStart    = 19
	colStop     = 20
	colCached   = 21
	colStatus   = 22
	colSize     = 23
	colClosure  = 24
	colRelease  = 25
	colNotify   = 26
)

// The buffered tables. Rows whose build (or jobset) is gone are dropped:
// a jobset deleted while it was being evaluated takes its builds with it,
// as Hydra's cascades do. Each condition is also a foreign key of the
// table (checked).
var (
	buildsTable = &spec{order: 1, name: "Builds", columns: buildColumns, keys: []string{"id"},
		requires: "exists (select 1 from Jobsets j where j.id = s.jobset_id)", checked: true}
	outputsTable = &spec{order: 2, name: "BuildOutputs", columns: []string{"build", "name", "path"}, keys: []string{"build", "name"},
		requires: buildExists, checked: true}
	stepsTable = &spec{order: 2, name: "BuildSteps", keys: []string{"build", "stepnr"}, requires: buildExists, checked: true,
		columns: []string{"build", "stepnr", "type", "drvPath", "busy", "status", "errorMsg", "startTime", "stopTime", "machine", "system", "propagatedFrom", "overhead", "timesBuilt", "isNonDeterministic"}}
	stepOutputsTable = &spec{order: 3, name: "BuildStepOutputs", columns: []string{"build", "stepnr", "name", "path"}, keys: []string{"build", "stepnr", "name"},
		requires: "exists (select 1 from BuildSteps x where x.build = s.build and x.stepnr = s.stepnr)", checked: true}
	productsTable = &spec{order: 3, name: "BuildProducts", keys: []string{"build", "productnr"}, requires: buildExists, checked: true,
		columns: []string{"build", "productnr", "type", "subtype", "fileSize", "sha256hash", "path", "name", "defaultPath"}}
)

const buildExists = "exists (select 1 from Builds b where b.id = s.build)"

// The buffered tables statements of the build events read or write
// (writer.execAfter): a statement that flushed every table made a replay
// write BuildProducts and BuildStepOutputs in a COPY per finished step.
var (
	onlyBuilds    = []*spec{buildsTable}
	buildAndSteps = []*spec{buildsTable, stepsTable}
)

// buildQueued writes a new build current, as Hydra does: it becomes a
// member of the evaluation that queued it when that finishes (which makes
// the builds of the jobset's earlier evaluations that are not members no
// longer current), or it is withdrawn. Written current, it need not be
// updated when its evaluation finishes, unless a later evaluation in the
// same batch decides otherwise (markDirect).
func buildQueued(w *writer, p *events.BuildQueued) {
	m := p.Meta
	row := w.add(buildsTable,
		p.BuildID, 0, p.Timestamp, p.JobsetID, p.Job, nullIfEmpty(p.NixName), nullIfEmpty(m.Description), p.DrvPath, p.System,
		nullIfEmpty(m.License), nullIfEmpty(m.Homepage), nullIfEmpty(m.Maintainers), nullIfZero(m.MaxSilent), nullIfZero(m.Timeout), boolInt(m.IsChannel), 1,
		m.SchedulingPriority, p.GlobalPriority, 0,
		nil, nil, nil, nil, nil, nil, nil, nil)
	w.builds[p.BuildID] = row
	w.jobsetBuilds[p.JobsetID] = append(w.jobsetBuilds[p.JobsetID], row)
	if f, ok := w.ahead[p.BuildID]; ok {
		finishRow(row, f)
	}
	for _, o := range p.Outputs {
		w.add(outputsTable, p.BuildID, o.Name, o.Path)
	}
}

func buildCached(w *writer, p *events.BuildCached) error {
	st := status.Success
	switch {
	case p.Failed:
		st = status.Failed
	case p.FailedWithOutput:
		st = status.FailedWithOutput
	}
	return buildFinished(w, &events.BuildFinished{BuildID: p.BuildID, Status: int(st), StartTime: p.Timestamp, StopTime: p.Timestamp,
		IsCachedBuild: true, ReleaseName: p.ReleaseName})
}

// finishedInBatch returns, by build, the BuildFinished events of the batch
// that can be folded into their build's BuildQueued row: the build is
// queued and then finished once in the batch, and nothing else in it
// cancels, restarts or caches it. No statement of the projection reads a
// build's finish columns except those of BuildCancelled and
// BuildRestarted, so writing the row finished at once gives the same rows.
func finishedInBatch(batch []projections.Event) map[int64]*events.BuildFinished {
	var (
		queued = map[int64]bool{}
		out    = map[int64]*events.BuildFinished{}
		spoilt = map[int64]bool{}
	)
	for _, ev := range batch {
		switch p := ev.Payload.(type) {
		case *events.BuildQueued:
			if queued[p.BuildID] {
				spoilt[p.BuildID] = true
			}
			queued[p.BuildID] = true
		case *events.BuildFinished:
			if !queued[p.BuildID] || out[p.BuildID] != nil {
				spoilt[p.BuildID] = true
			}
			out[p.BuildID] = p
		case *events.BuildCached:
			spoilt[p.BuildID] = true
		case *events.BuildCancelled:
			spoilt[p.BuildID] = true
		case *events.BuildRestarted:
			spoilt[p.BuildID] = true
		}
	}
	for id := range spoilt {
		delete(out, id)
	}
	return out
}

// finishRow writes the effect of p into a buffered Builds row.
func finishRow(row []any, p *events.BuildFinished) {
	f := finishOf(p)
	row[colFinished] = 1
	row[colStart], row[colStop], row[colCached], row[colStatus] = f.start, f.stop, f.cached, f.status
	row[colSize], row[colClosure], row[colRelease], row[colNotify] = f.size, f.closureSize, f.releaseName, f.stop
}

func finishOf(p *events.BuildFinished) finish {
	f := finish{status: int64(p.Status), start: p.StartTime, stop: p.StopTime, cached: int64(boolInt(p.IsCachedBuild))}
	if f.start == 0 {
		f.start = p.StopTime
	}
	if p.Size != 0 {
		f.size = &p.Size
	}
	if p.ClosureSize != 0 {
		f.closureSize = &p.ClosureSize
	}
	if p.ReleaseName != "" {
		f.releaseName = &p.ReleaseName
	}
	return f
}

func buildFinished(w *writer, p *events.BuildFinished) error {
	switch row, buffered := w.builds[p.BuildID]; {
	case w.ahead[p.BuildID] == p:
		// Already written with its BuildQueued row.
	case buffered:
		finishRow(row, p)
	default:
		if _, dup := w.finishes[p.BuildID]; !dup {
			w.order = append(w.order, p.BuildID)
		}
		w.finishes[p.BuildID] = finishOf(p)
	}
	if p.ProductsOf != 0 {
		if err := shareProducts(w, p.BuildID, p.ProductsOf); err != nil {
			return err
		}
	}
	if p.Status == int(status.DepFailed) && p.PropagatedFrom != 0 && p.FailedDrv != "" {
		// Hydra records, under the dependent build, a step naming the
		// build whose step failed.
		return w.execAfter(buildAndSteps, `insert into BuildSteps (build, stepnr, type, drvPath, busy, status, startTime, stopTime, propagatedFrom)
			select $1, n.nr, 0, $2, 0, 1, $3, $3, (select id from Builds where id = $4)
			from (select coalesce(max(stepnr), 0) + 1 as nr from BuildSteps where build = $1) n
			where exists (select 1 from Builds where id = $1)`,
			p.BuildID, p.FailedDrv, p.StopTime, p.PropagatedFrom)
	}
	return nil
}

// shareProducts gives build the products and metrics of build from, whose
// top-level step finished it: Hydra writes a step's products for every
// build the step finishes. Rows build already has stay.
func shareProducts(w *writer, build, from int64) error {
	err := w.execAfter([]*spec{buildsTable, productsTable}, `insert into BuildProducts (build, productnr, type, subtype, fileSize, sha256hash, path, name, defaultPath)
		select $1, productnr, type, subtype, fileSize, sha256hash, path, name, defaultPath from BuildProducts
		where build = $2 and exists (select 1 from Builds where id = $1)
		on conflict do nothing`, build, from)
	if err != nil {
		return err
	}
	return w.execAfter(onlyBuilds, `insert into BuildMetrics (build, name, unit, value, project, jobset, job, timestamp)
		select b.id, m.name, m.unit, m.value, j.project, j.name, b.job, b.timestamp
		from BuildMetrics m, Builds b join Jobsets j on j.id = b.jobset_id where m.build = $2 and b.id = $1
		on conflict do nothing`, build, from)
}

func buildRestarted(w *writer, p *events.BuildRestarted) error {
	err := w.exec(`delete from FailedPaths where path in (select path from BuildOutputs where build = $1 and path is not null)`, p.BuildID)
	if err != nil {
		return err
	}
	err = w.exec(`update Builds set finished = 0, isCachedBuild = 0, buildStatus = null, startTime = null, stopTime = null,
		notificationPendingSince = null where id = $1`, p.BuildID)
	if err != nil {
		return err
	}
	return w.exec(`update JobsetEvals set nrSucceeded = null where id in (select eval from JobsetEvalMembers where build = $1)`, p.BuildID)
}

// buildWithdrawn removes a build and the rows of it that can exist before
// its evaluation ends: its outputs, what a cached build scraped, and a
// step recording a dependency's failure. (Its evaluation's members and
// aggregate constituents are published only when the evaluation ends,
// without it.) The rows are deleted table by table rather than left to
// the foreign keys' cascades, so that a replay, which loads without those
// keys, needs none of them here; each delete uses a key's index.
func buildWithdrawn(w *writer, p *events.BuildWithdrawn) error {
	for _, sql := range []string{
		`delete from BuildStepOutputs where build = $1`,
		`delete from BuildSteps where build = $1`,
		`delete from BuildOutputs where build = $1`,
		`delete from BuildProducts where build = $1`,
		`delete from BuildMetrics where build = $1`,
		`delete from Builds where id = $1`,
	} {
		if err := w.exec(sql, p.BuildID); err != nil {
			return err
		}
	}
	return nil
}

func stepStarted(w *writer, p *events.StepStarted) {
	row := w.add(stepsTable,
		p.BuildID, p.StepNr, 0, p.DrvPath, int(status.Building), nil, nil, p.StartTime, nil, p.Machine, nullIfEmpty(p.System), nil, nil, nil, nil)
	w.steps[stepKey{p.BuildID, p.StepNr}] = row
}

// Indexes into a buffered BuildSteps row (stepColumns).
const (
	stepBusy       = 4
	stepStatus     = 5
	stepError      = 6
	stepStart      = 7
	stepStop       = 8
	stepOverhead   = 12
	stepTimesBuilt = 13
	stepNonDet     = 14
)

func stepFinished(w *writer, p *events.StepFinished) error {
	if row, ok := w.steps[stepKey{p.BuildID, p.StepNr}]; ok {
		row[stepBusy], row[stepStatus], row[stepError] = 0, p.Status, nullIfEmpty(p.ErrorMsg)
		row[stepStop], row[stepOverhead], row[stepTimesBuilt], row[stepNonDet] = p.StopTime, nullIfZero(p.Overhead), p.TimesBuilt, p.IsNonDeterministic
		if p.StartTime != 0 {
			row[stepStart] = p.StartTime
		}
	} else {
		err := w.execAfter(buildAndSteps, `insert into BuildSteps (build, stepnr, type, drvPath, busy, status, errorMsg, startTime, stopTime, machine,
				overhead, timesBuilt, isNonDeterministic)
			select $1, $2, 0, $3, 0, $4, $5, $6, $7, $8, $9, $10, $11 where exists (select 1 from Builds where id = $1)
			on conflict (build, stepnr) do update set busy = 0, status = excluded.status, errorMsg = excluded.errorMsg,
				startTime = coalesce(excluded.startTime, BuildSteps.startTime), stopTime = excluded.stopTime,
				overhead = excluded.overhead, timesBuilt = excluded.timesBuilt, isNonDeterministic = excluded.isNonDeterministic`,
			p.BuildID, p.StepNr, p.DrvPath, p.Status, nullIfEmpty(p.ErrorMsg), nullIfZero(p.StartTime), p.StopTime, p.Machine,
			nullIfZero(p.Overhead), p.TimesBuilt, p.IsNonDeterministic)
		if err != nil {
			return err
		}
	}
	for _, o := range p.Outputs {
		w.add(stepOutputsTable, p.BuildID, p.StepNr, o.Name, o.Path)
	}
	if status.Code(p.Status).IsCacheable() {
		for _, o := range p.Outputs {
			if err := w.execAfter(nil, `insert into FailedPaths (path) values ($1) on conflict do nothing`, o.Path); err != nil {
				return err
			}
		}
	}
	return nil
}
