// Package ledger projects the read models Hydra lacks: the audit log of
// every event, the build graph of every evaluation, every derivation step
// and every attempt at it, the scheduler's decisions, and every NAR hash
// observed for an output (reproducibility evidence).
package ledger

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"buildledger/domain/redact"
	"buildledger/events"
	"buildledger/projections"
)

// Projection writes the ledger's own read models.
type Projection struct{}

var _ projections.Projection = Projection{}

// Name implements projections.Projection.
func (Projection) Name() string { return "ledger" }

// Version implements projections.Projection.
func (Projection) Version() int { return 1 }

// maxSummary bounds the audit log's summary of an event's data.
const maxSummary = 300

// summary returns the audit log's summary of data, redacted as every
// history view is (domain/redact: no old password hashes, no clear
// profiles, no credential-looking values): data itself, or its first
// maxSummary bytes or fewer, cut before a character rather than
// through one (text must be valid UTF-8), and an ellipsis. It is written
// as bytes, which spares a copy of every event's data into a string.
func summary(data []byte) []byte {
	data = redact.JSON(data)
	if len(data) <= maxSummary {
		return data
	}
	cut := maxSummary
	for cut > 0 && !utf8.RuneStart(data[cut]) {
		cut--
	}
	return append(data[:cut:cut], "…"...)
}

var auditColumns = []string{"position", "position_prepare", "event_id", "stream", "type", "actor", "correlation_id", "recorded_at", "summary"}

// Apply implements projections.Projection. The audit log takes every
// event, decodable or not, with one COPY per batch; the other tables take
// their events in log order, their statements sent together
// (projections.Pipeline).
func (Projection) Apply(ctx context.Context, db projections.Tx, batch []projections.Event) error {
	tx := projections.NewPipeline(db)
	rows := make([][]any, 0, len(batch))
	for _, ev := range batch {
		var id any = ev.ID
		if b, ok := events.ParseUUID(ev.ID); ok {
			id = b // written as it is (see ParseUUID)
		}
		rows = append(rows, []any{int64(ev.Position.Commit), int64(ev.Position.Prepare), id, ev.Stream, ev.Type,
			ev.Metadata.Actor, ev.Metadata.CorrelationID, ev.RecordedAt, summary(ev.Data)})
	}
	if err := tx.CopyFrom(ctx, "audit_log", auditColumns, rows); err != nil {
		return err
	}
	queued := &queuedSteps{}
	for _, ev := range batch {
		if ev.Payload == nil {
			continue
		}
		if p, ok := ev.Payload.(*events.StepQueued); ok {
			queued.add(p, ev.RecordedAt)
			continue
		}
		// Every other event may touch a queued step: write those first.
		if err := queued.flush(ctx, tx); err != nil {
			return err
		}
		tx.At(ev)
		if err := apply(ctx, tx, ev); err != nil {
			return fmt.Errorf("event %s (%s at %s@%d): %w", ev.ID, ev.Type, ev.Stream, ev.Revision, err)
		}
	}
	if err := queued.flush(ctx, tx); err != nil {
		return err
	}
	return tx.Flush(ctx)
}

// queuedSteps collects the StepQueued events of a batch, which an
// evaluation writes by the thousand, to write them with two statements.
type queuedSteps struct {
	drvs, systems, features []string
	preferLocal             []bool
	at                      []time.Time
	edgeEvals               []int64
	edgeDrvs, edgeInputs    []string
}

func (q *queuedSteps) add(p *events.StepQueued, at time.Time) {
	q.drvs = append(q.drvs, p.DrvPath)
	q.systems = append(q.systems, p.System)
	// One text per step: Postgres arrays cannot be ragged.
	q.features = append(q.features, strings.Join(p.RequiredFeatures, " "))
	q.preferLocal = append(q.preferLocal, p.PreferLocal)
	q.at = append(q.at, at)
	for _, in := range p.InputDrvs {
		q.edgeEvals = append(q.edgeEvals, p.EvalID)
		q.edgeDrvs = append(q.edgeDrvs, p.DrvPath)
		q.edgeInputs = append(q.edgeInputs, in)
	}
}

// flush writes the collected steps: a step queued again after it failed
// is open again; one queued again while open or after success is kept.
func (q *queuedSteps) flush(ctx context.Context, tx projections.Tx) error {
	if len(q.drvs) > 0 {
		err := tx.Exec(ctx, `insert into steps (drv_path, system, required_features, prefer_local, first_queued_at)
			select distinct on (drv) drv, sys, coalesce(string_to_array(nullif(feat, ''), ' '), '{}'), pl, at
			from unnest($1::text[], $2::text[], $3::text[], $4::bool[], $5::timestamptz[]) with ordinality as u(drv, sys, feat, pl, at, o)
			order by drv, o
			on conflict (drv_path) do update set finished_at = null, status = null
			where steps.status is not null and steps.status != 0`,
			q.drvs, q.systems, q.features, q.preferLocal, q.at)
		if err != nil {
			return fmt.Errorf("queue %d steps: %w", len(q.drvs), err)
		}
	}
	if len(q.edgeDrvs) > 0 {
		err := tx.Exec(ctx, `insert into build_graph_edges (eval_id, drv_path, input_drv)
			select * from unnest($1::int[], $2::text[], $3::text[]) on conflict do nothing`,
			q.edgeEvals, q.edgeDrvs, q.edgeInputs)
		if err != nil {
			return fmt.Errorf("record %d build graph edges: %w", len(q.edgeDrvs), err)
		}
	}
	*q = queuedSteps{}
	return nil
}

func apply(ctx context.Context, tx projections.Tx, ev projections.Event) error {
	at := ev.RecordedAt
	switch p := ev.Payload.(type) {
	case *events.StepDispatched:
		if err := tx.Exec(ctx, `insert into scheduling_decisions (position, position_prepare, drv_path, build_id, machine, attempt,
				global_priority, share_used, critical_path, dependents, local_priority, lowest_build_id, candidates, decided_at)
			values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			int64(ev.Position.Commit), int64(ev.Position.Prepare), p.DrvPath, p.BuildID, p.Machine, p.Attempt,
			p.Reason.GlobalPriority, p.Reason.ShareUsed, p.Reason.CriticalPath, p.Reason.Dependents, p.Reason.LocalPriority,
			p.Reason.LowestBuildID, p.Reason.Candidates, at); err != nil {
			return err
		}
		if err := tx.Exec(ctx, `insert into step_attempts (drv_path, attempt, build_id, machine, busy, dispatched_at, lease_until)
			values ($1, $2, $3, $4, 1, $5, $6)
			on conflict (drv_path, attempt) do update set machine = excluded.machine, dispatched_at = excluded.dispatched_at,
				lease_until = excluded.lease_until`,
			p.DrvPath, p.Attempt, p.BuildID, p.Machine, at, time.Unix(p.LeaseUntil, 0).UTC()); err != nil {
			return err
		}
		return tx.Exec(ctx, `update steps set busy = 1, machine = $2, attempts = greatest(attempts, $3) where drv_path = $1`, p.DrvPath, p.Machine, p.Attempt)
	case *events.StepStarted:
		if err := tx.Exec(ctx, `insert into step_attempts (drv_path, attempt, build_id, step_nr, machine, busy, start_time)
			values ($1, $2, $3, $4, $5, 30, $6)
			on conflict (drv_path, attempt) do update set build_id = excluded.build_id, step_nr = excluded.step_nr,
				machine = excluded.machine, busy = 30, start_time = excluded.start_time`,
			p.DrvPath, p.Attempt, p.BuildID, p.StepNr, p.Machine, p.StartTime); err != nil {
			return err
		}
		return tx.Exec(ctx, `update steps set busy = 30, machine = $2, attempts = greatest(attempts, $3) where drv_path = $1`, p.DrvPath, p.Machine, p.Attempt)
	case *events.StepLogStored:
		return tx.Exec(ctx, `update step_attempts set log_location = $3, log_size = $4, log_sha256 = $5 where drv_path = $1 and attempt = $2`,
			p.DrvPath, p.Attempt, p.Location, p.Size, p.SHA256)
	case *events.StepFinished:
		if err := tx.Exec(ctx, `insert into step_attempts (drv_path, attempt, build_id, step_nr, machine, status, busy, start_time, stop_time,
				exit_code, error_msg, times_built, is_non_deterministic, overhead)
			values ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9, $10, $11, $12, $13)
			on conflict (drv_path, attempt) do update set status = excluded.status, busy = 0, stop_time = excluded.stop_time,
				start_time = coalesce(step_attempts.start_time, excluded.start_time), exit_code = excluded.exit_code,
				error_msg = excluded.error_msg, times_built = excluded.times_built,
				is_non_deterministic = excluded.is_non_deterministic, overhead = excluded.overhead`,
			p.DrvPath, p.Attempt, p.BuildID, p.StepNr, p.Machine, p.Status, p.StartTime, p.StopTime, p.ExitCode,
			p.ErrorMsg, p.TimesBuilt, p.IsNonDeterministic, p.Overhead); err != nil {
			return err
		}
		return tx.Exec(ctx, `update steps set busy = 0, status = $2, machine = $3, finished_at = $4 where drv_path = $1`,
			p.DrvPath, p.Status, p.Machine, at)
	case *events.StepRetryScheduled:
		return tx.Exec(ctx, `update step_attempts set retry_at = $3, retry_reason = $4 where drv_path = $1 and attempt = $2`,
			p.DrvPath, p.Attempt, time.Unix(p.RetryAt, 0).UTC(), p.Reason)
	case *events.OutputUploaded:
		return tx.Exec(ctx, `insert into output_observations (path, drv_path, nar_hash, nar_size, build_id, machine, observed_at)
			values ($1, $2, $3, $4, $5, coalesce((select machine from steps where drv_path = $2), ''), $6)
			on conflict do nothing`, p.Path, p.DrvPath, p.NarHash, p.NarSize, p.BuildID, at)
	}
	return nil
}
