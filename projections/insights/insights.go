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
	"time"

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

// Apply implements projections.Projection. Its statements, a few per
// event, are sent together (projections.Pipeline).
func (Projection) Apply(ctx context.Context, db projections.Tx, batch []projections.Event) error {
	tx := projections.NewPipeline(db)
	for _, ev := range batch {
		if ev.Payload == nil {
			continue
		}
		tx.At(ev)
		if err := apply(ctx, tx, ev); err != nil {
			return fmt.Errorf("insights: event %s (%s at %s@%d): %w", ev.ID, ev.Type, ev.Stream, ev.Revision, err)
		}
	}
	if err := tx.Flush(ctx); err != nil {
		return fmt.Errorf("insights: %w", err)
	}
	return nil
}

// buildFailure reports whether a step status is a failure of the build
// itself (as opposed to an aborted attempt, a cancelled or unsupported
// step, or a dependency's failure): failed, failed with output, timed out.
func buildFailure(status int) bool { return status == 1 || status == 6 || status == 7 }

func apply(ctx context.Context, tx projections.Tx, ev projections.Event) error {
	at := ev.RecordedAt
	switch p := ev.Payload.(type) {
	case *events.OutputVerified:
		return tx.Exec(ctx, `insert into insight_verifications (event_id, position, drv_path, output, path, machine, original_machine,
			nar_hash, original_nar_hash, matches, first_difference, verified_at)
			values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, nullif($11, ''), $12) on conflict (event_id) do nothing`,
			ev.ID, int64(ev.Position.Commit), p.DrvPath, p.Output, p.Path, p.Machine, p.OriginalMachine, p.NarHash, p.OriginalNarHash,
			p.Matches, p.FirstDifference, at)
	case *events.BuildQueued:
		return tx.Exec(ctx, `insert into insight_builds (build_id, eval_id, project, jobset, job, system, drv_path, queued_at)
			values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict (build_id) do nothing`,
			p.BuildID, p.EvalID, p.Project, p.Jobset, p.Job, p.System, p.DrvPath, at)
	case *events.BuildFinished:
		return tx.Exec(ctx, `update insight_builds set finished_at = $2, status = $3, failed_drv = nullif($4, ''),
			propagated_from = nullif($5, 0) where build_id = $1`, p.BuildID, at, p.Status, p.FailedDrv, p.PropagatedFrom)
	case *events.BuildCancelled:
		return tx.Exec(ctx, `update insight_builds set finished_at = $2, status = 4 where build_id = $1`, p.BuildID, at)
	case *events.BuildWithdrawn:
		return tx.Exec(ctx, `delete from insight_builds where build_id = $1`, p.BuildID)
	case *events.BuildRestarted:
		return tx.Exec(ctx, `update insight_builds set finished_at = null, status = null, failed_drv = null, propagated_from = null
			where build_id = $1`, p.BuildID)
	case *events.MachineRegistered:
		return upsertMachine(ctx, tx, p.Name, p.MachineConfig)
	case *events.MachineUpdated:
		return upsertMachine(ctx, tx, p.Name, p.MachineConfig)
	case *events.MachineRemoved:
		return tx.Exec(ctx, `update insight_machines set removed = true, enabled = false where name = $1`, p.Name)
	case *events.StepFinished:
		return stepFinished(ctx, tx, p, at)
	case *events.OutputUploaded:
		return outputUploaded(ctx, tx, p, at)
	case *events.EvaluationRequested:
		return tx.Exec(ctx, `insert into insight_eval_requests (project, jobset, requested_at) values ($1, $2, $3)
			on conflict (project, jobset) do update set requested_at = excluded.requested_at`, p.Project, p.Jobset, at)
	case *events.EvaluationStarted:
		if err := tx.Exec(ctx, `insert into insight_eval_times (eval_id, project, jobset, requested_at, started_at)
			values ($1, $2, $3, (select requested_at from insight_eval_requests where project = $2 and jobset = $3), $4)
			on conflict (eval_id) do nothing`, p.EvalID, p.Project, p.Jobset, at); err != nil {
			return err
		}
		return tx.Exec(ctx, `delete from insight_eval_requests where project = $1 and jobset = $2`, p.Project, p.Jobset)
	case *events.InputFetched:
		return tx.Exec(ctx, `update insight_eval_times set inputs_fetched_at = greatest(inputs_fetched_at, $2) where eval_id = $1`, p.EvalID, at)
	case *events.EvaluationFinished:
		return evalEnded(ctx, tx, p.EvalID, "finished", at)
	case *events.EvaluationCached:
		return evalEnded(ctx, tx, p.EvalID, "cached", at)
	case *events.EvaluationFailed:
		return evalEnded(ctx, tx, p.EvalID, "failed", at)
	}
	return nil
}

func evalEnded(ctx context.Context, tx projections.Tx, evalID int64, outcome string, at time.Time) error {
	return tx.Exec(ctx, `update insight_eval_times set finished_at = $2, outcome = $3 where eval_id = $1`, evalID, at, outcome)
}

func upsertMachine(ctx context.Context, tx projections.Tx, name string, c events.MachineConfig) error {
	return tx.Exec(ctx, `insert into insight_machines (name, systems, supported_features, mandatory_features, max_jobs, enabled,
			speed_factor)
		values ($1, $2, $3, $4, $5, $6, $7)
		on conflict (name) do update set systems = excluded.systems, supported_features = excluded.supported_features,
			mandatory_features = excluded.mandatory_features, max_jobs = excluded.max_jobs, enabled = excluded.enabled,
			speed_factor = excluded.speed_factor, removed = false`,
		name, nonNil(c.Systems), nonNil(c.SupportedFeatures), nonNil(c.MandatoryFeatures), c.MaxJobs, c.Enabled, c.SpeedFactor)
}

func stepFinished(ctx context.Context, tx projections.Tx, p *events.StepFinished, at time.Time) error {
	if err := tx.Exec(ctx, `insert into insight_step_results (drv_path, attempt, status, machine, build_id, step_nr, stop_time)
		values ($1, $2, $3, $4, $5, $6, $7)
		on conflict (drv_path, attempt) do update set status = excluded.status, machine = excluded.machine, stop_time = excluded.stop_time`,
		p.DrvPath, p.Attempt, p.Status, p.Machine, p.BuildID, p.StepNr, p.StopTime); err != nil {
		return err
	}
	if p.Status != 0 {
		return nil
	}
	// A success: flaky if an earlier attempt of the same derivation failed.
	return tx.Exec(ctx, `insert into insight_flaky_steps (drv_path, failed_attempts, first_failed, first_failed_status,
			succeeded_attempt, machines, detected_at)
		select $1, count(*), min(attempt), (array_agg(status order by attempt))[1], $2,
			array(select distinct machine from insight_step_results
				where drv_path = $1 and (attempt = $2 or attempt < $2 and status = any($4::int[])) order by machine), $3
		from insight_step_results
		where drv_path = $1 and attempt < $2 and status = any($4::int[])
		having count(*) > 0
		on conflict (drv_path) do nothing`,
		p.DrvPath, p.Attempt, at, []int32{1, 6, 7})
}

func outputUploaded(ctx context.Context, tx projections.Tx, p *events.OutputUploaded, at time.Time) error {
	if err := tx.Exec(ctx, `insert into insight_output_hashes (drv_path, path, nar_hash, build_id, first_seen)
		values ($1, $2, $3, $4, $5) on conflict do nothing`, p.DrvPath, p.Path, p.NarHash, p.BuildID, at); err != nil {
		return err
	}
	return tx.Exec(ctx, `insert into insight_nonrepro_outputs (drv_path, path, nar_hashes, build_ids, detected_at)
		select $1, $2, array_agg(nar_hash order by first_seen, nar_hash), array_agg(build_id order by first_seen, nar_hash), $3
		from insight_output_hashes where drv_path = $1 and path = $2
		having count(*) > 1
		on conflict (drv_path, path) do update set nar_hashes = excluded.nar_hashes, build_ids = excluded.build_ids`,
		p.DrvPath, p.Path, at)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
