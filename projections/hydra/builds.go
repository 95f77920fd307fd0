package hydra

import (
	"buildledger/domain/status"
	"buildledger/events"
)

var buildColumns = []string{"id", "finished", "timestamp", "jobset_id", "job", "nixName", "description", "drvPath", "system",
	"license", "homepage", "maintainers", "maxsilent", "timeout", "isChannel", "isCurrent", "priority", "globalPriority", "keep",
	"startTime", "stopTime", "isCachedBuild", "buildStatus", "size", "closureSize", "releaseName", "notificationPendingSince"}

// Indexes into a buffered Builds row (buildColumns), for patching it in
// place.
const (
	colFinished = 1
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
// as Hydra's cascades do.
var (
	buildsTable = &spec{order: 1, name: "Builds", columns: buildColumns, keys: []string{"id"},
		requires: "exists (select 1 from Jobsets j where j.id = s.jobset_id)"}
	outputsTable = &spec{order: 2, name: "BuildOutputs", columns: []string{"build", "name", "path"}, keys: []string{"build", "name"},
		requires: buildExists}
	stepsTable = &spec{order: 2, name: "BuildSteps", keys: []string{"build", "stepnr"}, requires: buildExists,
		columns: []string{"build", "stepnr", "type", "drvPath", "busy", "status", "errorMsg", "startTime", "stopTime", "machine", "system", "propagatedFrom", "overhead", "timesBuilt", "isNonDeterministic"}}
	stepOutputsTable = &spec{order: 3, name: "BuildStepOutputs", columns: []string{"build", "stepnr", "name", "path"}, keys: []string{"build", "stepnr", "name"},
		requires: "exists (select 1 from BuildSteps x where x.build = s.build and x.stepnr = s.stepnr)"}
	productsTable = &spec{order: 2, name: "BuildProducts", keys: []string{"build", "productnr"}, requires: buildExists,
		columns: []string{"build", "productnr", "type", "subtype", "fileSize", "sha256hash", "path", "name", "defaultPath"}}
)

const buildExists = "exists (select 1 from Builds b where b.id = s.build)"

func buildQueued(w *writer, p *events.BuildQueued) {
	m := p.Meta
	row := w.add(buildsTable,
		p.BuildID, 0, p.Timestamp, p.JobsetID, p.Job, nullIfEmpty(p.NixName), nullIfEmpty(m.Description), p.DrvPath, p.System,
		nullIfEmpty(m.License), nullIfEmpty(m.Homepage), nullIfEmpty(m.Maintainers), m.MaxSilent, m.Timeout, boolInt(m.IsChannel), 0,
		m.SchedulingPriority, p.GlobalPriority, 0,
		nil, nil, nil, nil, nil, nil, nil, nil)
	w.builds[p.BuildID] = row
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

func buildFinished(w *writer, p *events.BuildFinished) error {
	var size, closure *int64
	var release *string
	if p.Size != 0 {
		size = &p.Size
	}
	if p.ClosureSize != 0 {
		closure = &p.ClosureSize
	}
	if p.ReleaseName != "" {
		release = &p.ReleaseName
	}
	start := p.StartTime
	if start == 0 {
		start = p.StopTime
	}
	if row, ok := w.builds[p.BuildID]; ok {
		row[colFinished] = 1
		row[colStart], row[colStop], row[colCached], row[colStatus] = start, p.StopTime, boolInt(p.IsCachedBuild), p.Status
		row[colSize], row[colClosure], row[colRelease], row[colNotify] = size, closure, release, p.StopTime
	} else {
		if _, dup := w.finishes[p.BuildID]; !dup {
			w.order = append(w.order, p.BuildID)
		}
		w.finishes[p.BuildID] = finish{status: int64(p.Status), start: start, stop: p.StopTime, cached: int64(boolInt(p.IsCachedBuild)),
			size: size, closureSize: closure, releaseName: release}
	}
	if p.Status == int(status.DepFailed) && p.PropagatedFrom != 0 && p.FailedDrv != "" {
		// Hydra records, under the dependent build, a step naming the
		// build whose step failed.
		return w.exec(`insert into BuildSteps (build, stepnr, type, drvPath, busy, status, startTime, stopTime, propagatedFrom)
			select $1, coalesce(max(stepnr), 0) + 1, 0, $2, 0, 1, $3, $3, (select id from Builds where id = $4)
			from BuildSteps where build = $1 and exists (select 1 from Builds where id = $1)`,
			p.BuildID, p.FailedDrv, p.StopTime, p.PropagatedFrom)
	}
	return nil
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
		err := w.exec(`insert into BuildSteps (build, stepnr, type, drvPath, busy, status, errorMsg, startTime, stopTime, machine,
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
			if err := w.exec(`insert into FailedPaths (path) values ($1) on conflict do nothing`, o.Path); err != nil {
				return err
			}
		}
	}
	return nil
}
