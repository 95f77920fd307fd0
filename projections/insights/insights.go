// Package insights projects the read models behind the questions Hydra
// cannot answer: why a build is not running, which derivation a
// "dependency failed" came from, how many builds a failed step blocks,
// which steps are flaky, which outputs are not reproducible (seen with two
// hashes, or rebuilt elsewhere to other bits), and how long a jobset waits
// from a request to a finished evaluation. The tables are
// in schema/readmodel/0004_insights.sql; the questions are asked with the
// functions in query.go.
package insights

import (
	"context"
	"fmt"
	"strconv"

	"buildledger/events"
	"buildledger/projections"
)

// Projection writes the insight_* tables.
type Projection struct{}

var _ projections.Projection = Projection{}

// Name implements projections.Projection.
func (Projection) Name() string { return "insights" }

// UsesMetadata implements projections.MetadataUser: it reads none.
func (Projection) UsesMetadata() bool { return false }

// Version implements projections.Projection.
func (Projection) Version() int { return 1 }

var _ projections.IndexDeferrer = Projection{}

// DeferrableIndexes implements projections.IndexDeferrer: the indexes
// the questions are asked by; the projection's own statements find their
// rows by the tables' keys.
func (Projection) DeferrableIndexes() []string {
	return []string{"insight_builds_drv", "insight_builds_unfinished", "insight_eval_times_jobset", "insight_verifications_drv",
		"insight_step_results_build"}
}

// Apply implements projections.Projection. Its statements, a few per
// event, go through projections.Rounds: a few per batch.
func (Projection) Apply(ctx context.Context, db projections.Tx, batch []projections.Event) error {
	tx := projections.NewPipeline(db)
	var r projections.Rounds
	for _, ev := range batch {
		if ev.Payload != nil {
			add(&r, ev)
		}
	}
	if err := r.Flush(ctx, tx); err != nil {
		return fmt.Errorf("insights: %w", err)
	}
	if err := tx.Flush(ctx); err != nil {
		return fmt.Errorf("insights: %w", err)
	}
	return nil
}

// The keys of the rows the statements touch (projections.Rounds).
func buildKey(id int64) string                { return "b\x00" + strconv.FormatInt(id, 10) }
func evalKey(id int64) string                 { return "e\x00" + strconv.FormatInt(id, 10) }
func jobsetKey(project, jobset string) string { return "j\x00" + project + "\x00" + jobset }
func machineKey(name string) string           { return "m\x00" + name }

// A step's results and its flakiness are one key: the latter reads the
// former's earlier attempts. So are an output's hashes and whether it
// is reproducible.
func stepKey(drv string) string         { return "s\x00" + drv }
func outputKey(drv, path string) string { return "o\x00" + drv + "\x00" + path }

func add(r *projections.Rounds, ev projections.Event) {
	at := projections.RowTime(ev.RecordedAt)
	switch p := ev.Payload.(type) {
	case *events.OutputVerified:
		r.Add(verified, verifiedRow{ev.ID, int64(ev.Position.Commit), p.DrvPath, p.Output, p.Path, p.Machine, p.OriginalMachine,
			p.NarHash, p.OriginalNarHash, p.Matches, p.FirstDifference, at}, "v\x00"+ev.ID)
	case *events.BuildQueued:
		r.Add(buildQueued, queuedRow{p.BuildID, p.EvalID, p.Project, p.Jobset, p.Job, p.System, p.DrvPath, at}, buildKey(p.BuildID))
	case *events.BuildFinished:
		r.Add(buildFinished, buildEndRow{B: p.BuildID, T: at, S: p.Status, F: p.FailedDrv, P: p.PropagatedFrom}, buildKey(p.BuildID))
	case *events.BuildCancelled:
		r.Add(buildCancelled, buildEndRow{B: p.BuildID, T: at}, buildKey(p.BuildID))
	case *events.BuildWithdrawn:
		r.Add(buildWithdrawn, buildEndRow{B: p.BuildID}, buildKey(p.BuildID))
	case *events.BuildRestarted:
		r.Add(buildRestarted, buildEndRow{B: p.BuildID}, buildKey(p.BuildID))
	case *events.MachineRegistered:
		r.Add(machineUpserted, machineOf(p.Name, p.MachineConfig), machineKey(p.Name))
	case *events.MachineUpdated:
		r.Add(machineUpserted, machineOf(p.Name, p.MachineConfig), machineKey(p.Name))
	case *events.MachineRemoved:
		r.Add(machineRemoved, machineRow{N: p.Name}, machineKey(p.Name))
	case *events.StepFinished:
		r.Add(stepResult, stepRow{p.DrvPath, p.Attempt, p.Status, p.Machine, p.BuildID, p.StepNr, p.StopTime, at}, stepKey(p.DrvPath))
		if p.Status == 0 {
			// A success: flaky if an earlier attempt of the same derivation failed.
			r.Add(flakyStep, stepRow{D: p.DrvPath, A: p.Attempt, T: at}, stepKey(p.DrvPath))
		}
	case *events.OutputUploaded:
		row := outputRow{p.DrvPath, p.Path, p.NarHash, p.BuildID, at}
		r.Add(outputHash, row, outputKey(p.DrvPath, p.Path))
		r.Add(nonreproOutput, row, outputKey(p.DrvPath, p.Path))
	case *events.EvaluationRequested:
		r.Add(evalRequested, evalRow{P: p.Project, J: p.Jobset, T: at}, jobsetKey(p.Project, p.Jobset))
	case *events.EvaluationStarted:
		row := evalRow{E: p.EvalID, P: p.Project, J: p.Jobset, T: at}
		r.Add(evalStarted, row, evalKey(p.EvalID), jobsetKey(p.Project, p.Jobset))
		r.Add(evalRequestAnswered, row, jobsetKey(p.Project, p.Jobset))
	case *events.InputFetched:
		r.Add(inputFetched, evalRow{E: p.EvalID, T: at}, evalKey(p.EvalID))
	case *events.EvaluationFinished:
		r.Add(evalEnded, evalRow{E: p.EvalID, T: at, O: "finished"}, evalKey(p.EvalID))
	case *events.EvaluationCached:
		r.Add(evalEnded, evalRow{E: p.EvalID, T: at, O: "cached"}, evalKey(p.EvalID))
	case *events.EvaluationFailed:
		r.Add(evalEnded, evalRow{E: p.EvalID, T: at, O: "failed"}, evalKey(p.EvalID))
	}
}

func machineOf(name string, c events.MachineConfig) machineRow {
	return machineRow{name, projections.NonNil(c.Systems), projections.NonNil(c.SupportedFeatures), projections.NonNil(c.MandatoryFeatures),
		c.MaxJobs, c.Enabled, c.SpeedFactor}
}
