package ledger

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"buildledger/events"
	"buildledger/projections"
)

// writes collects a batch's statements on steps, step_attempts,
// output_observations and build_graph_edges, and the scheduler's
// decisions. Each statement reads and writes the rows of one key: a
// derivation's step (steps, and output_observations, which reads its
// machine), or one attempt at it (step_attempts); projections.Rounds
// sends them a few per batch.
type writes struct {
	rounds projections.Rounds
	// decisions are scheduling_decisions rows, which no statement reads.
	decisions [][]any
	// edges are build_graph_edges rows, the same whichever is first.
	edgeEvals            []int64
	edgeDrvs, edgeInputs []string
}

// A step queued again after it failed is open again; one queued again
// while open or after success is kept. An output's machine is its
// step's as of the upload.
var (
	queueStep = &projections.RowKind{Name: "queue steps", SQL: `insert into steps (drv_path, system, required_features, prefer_local, first_queued_at)
		select d, s, f, p, t from json_to_recordset($1::json) as x(d text, s text, f text[], p boolean, t timestamptz)
		on conflict (drv_path) do update set finished_at = null, status = null
		where steps.status is not null and steps.status != 0`}
	stepRunning = &projections.RowKind{Name: "steps running", SQL: `update steps set busy = x.b, machine = x.m, attempts = greatest(steps.attempts, x.a)
		from json_to_recordset($1::json) as x(d text, m text, a int, b int) where steps.drv_path = x.d`}
	stepFinished = &projections.RowKind{Name: "steps finished", SQL: `update steps set busy = 0, status = x.st, machine = x.m, finished_at = x.t
		from json_to_recordset($1::json) as x(d text, st int, m text, t timestamptz) where steps.drv_path = x.d`}
	outputObserved = &projections.RowKind{Name: "outputs observed", SQL: `insert into output_observations (path, drv_path, nar_hash, nar_size, build_id, machine, observed_at)
		select x.p, x.d, x.h, x.z, x.b, coalesce((select machine from steps where drv_path = x.d), ''), x.t
		from json_to_recordset($1::json) as x(p text, d text, h text, z bigint, b int, t timestamptz)
		on conflict do nothing`}
	attemptDispatched = &projections.RowKind{Name: "attempts dispatched", SQL: `insert into step_attempts (drv_path, attempt, build_id, machine, busy, dispatched_at, lease_until)
		select d, a, b, m, 1, t, l from json_to_recordset($1::json) as x(d text, a int, b int, m text, t timestamptz, l timestamptz)
		on conflict (drv_path, attempt) do update set machine = excluded.machine, dispatched_at = excluded.dispatched_at,
			lease_until = excluded.lease_until`}
	attemptStarted = &projections.RowKind{Name: "attempts started", SQL: `insert into step_attempts (drv_path, attempt, build_id, step_nr, machine, busy, start_time)
		select d, a, b, n, m, 30, s0 from json_to_recordset($1::json) as x(d text, a int, b int, n int, m text, s0 bigint)
		on conflict (drv_path, attempt) do update set build_id = excluded.build_id, step_nr = excluded.step_nr,
			machine = excluded.machine, busy = 30, start_time = excluded.start_time`}
	attemptLogStored = &projections.RowKind{Name: "attempt logs stored", SQL: `update step_attempts set log_location = x.l, log_size = x.z, log_sha256 = x.h
		from json_to_recordset($1::json) as x(d text, a int, l text, z bigint, h text)
		where step_attempts.drv_path = x.d and step_attempts.attempt = x.a`}
	attemptFinished = &projections.RowKind{Name: "attempts finished", SQL: `insert into step_attempts (drv_path, attempt, build_id, step_nr, machine, status, busy, start_time, stop_time,
			exit_code, error_msg, times_built, is_non_deterministic, overhead)
		select d, a, b, n, m, st, 0, s0, s1, e, em, tb, nd, o
		from json_to_recordset($1::json) as x(d text, a int, b int, n int, m text, st int, s0 bigint, s1 bigint, e int, em text,
			tb int, nd boolean, o bigint)
		on conflict (drv_path, attempt) do update set status = excluded.status, busy = 0, stop_time = excluded.stop_time,
			start_time = coalesce(step_attempts.start_time, excluded.start_time), exit_code = excluded.exit_code,
			error_msg = excluded.error_msg, times_built = excluded.times_built,
			is_non_deterministic = excluded.is_non_deterministic, overhead = excluded.overhead`}
	attemptRetry = &projections.RowKind{Name: "attempt retries", SQL: `update step_attempts set retry_at = x.t, retry_reason = x.r
		from json_to_recordset($1::json) as x(d text, a int, t timestamptz, r text)
		where step_attempts.drv_path = x.d and step_attempts.attempt = x.a`}
)

// The rows of the kinds, as their statements name the fields.
type (
	queuedRow struct {
		D string    `json:"d"`
		S string    `json:"s"`
		F []string  `json:"f"`
		P bool      `json:"p"`
		T time.Time `json:"t"`
	}
	runningRow struct {
		D string `json:"d"`
		M string `json:"m"`
		A int    `json:"a"`
		B int    `json:"b"`
	}
	stepFinishedRow struct {
		D  string    `json:"d"`
		St int       `json:"st"`
		M  string    `json:"m"`
		T  time.Time `json:"t"`
	}
	observedRow struct {
		P string    `json:"p"`
		D string    `json:"d"`
		H string    `json:"h"`
		Z int64     `json:"z"`
		B int64     `json:"b"`
		T time.Time `json:"t"`
	}
	dispatchedRow struct {
		D string    `json:"d"`
		A int       `json:"a"`
		B int64     `json:"b"`
		M string    `json:"m"`
		T time.Time `json:"t"`
		L time.Time `json:"l"`
	}
	startedRow struct {
		D  string `json:"d"`
		A  int    `json:"a"`
		B  int64  `json:"b"`
		N  int    `json:"n"`
		M  string `json:"m"`
		S0 int64  `json:"s0"`
	}
	logRow struct {
		D string `json:"d"`
		A int    `json:"a"`
		L string `json:"l"`
		Z int64  `json:"z"`
		H string `json:"h"`
	}
	attemptFinishedRow struct {
		D  string `json:"d"`
		A  int    `json:"a"`
		B  int64  `json:"b"`
		N  int    `json:"n"`
		M  string `json:"m"`
		St int    `json:"st"`
		S0 int64  `json:"s0"`
		S1 int64  `json:"s1"`
		E  int    `json:"e"`
		Em string `json:"em"`
		Tb int    `json:"tb"`
		Nd bool   `json:"nd"`
		O  int64  `json:"o"`
	}
	retryRow struct {
		D string    `json:"d"`
		A int       `json:"a"`
		T time.Time `json:"t"`
		R string    `json:"r"`
	}
)

var decisionColumns = []string{"position", "position_prepare", "drv_path", "build_id", "machine", "attempt", "global_priority",
	"share_used", "critical_path", "dependents", "local_priority", "lowest_build_id", "candidates", "decided_at"}

// stepKey and attemptKey name the rows a statement touches.
func stepKey(drv string) string { return "s\x00" + drv }

func attemptKey(drv string, attempt int) string {
	return "a\x00" + drv + "\x00" + strconv.Itoa(attempt)
}

// add collects ev's statements.
func (w *writes) add(ev projections.Event) {
	// Postgres keeps microseconds; JSON would carry nanoseconds, which it
	// rounds, where a bound parameter is truncated.
	at := ev.RecordedAt.Truncate(time.Microsecond)
	switch p := ev.Payload.(type) {
	case *events.StepQueued:
		// One text per step: Postgres arrays cannot be ragged.
		w.rounds.Add(queueStep, queuedRow{p.DrvPath, p.System, projections.NonNil(p.RequiredFeatures), p.PreferLocal, at}, stepKey(p.DrvPath))
		for _, in := range p.InputDrvs {
			w.edgeEvals = append(w.edgeEvals, p.EvalID)
			w.edgeDrvs = append(w.edgeDrvs, p.DrvPath)
			w.edgeInputs = append(w.edgeInputs, in)
		}
	case *events.StepDispatched:
		r := p.Reason
		w.decisions = append(w.decisions, []any{int64(ev.Position.Commit), int64(ev.Position.Prepare), p.DrvPath, p.BuildID, p.Machine,
			p.Attempt, r.GlobalPriority, r.ShareUsed, r.CriticalPath, r.Dependents, r.LocalPriority, r.LowestBuildID, r.Candidates, at})
		w.rounds.Add(attemptDispatched, dispatchedRow{p.DrvPath, p.Attempt, p.BuildID, p.Machine, at, time.Unix(p.LeaseUntil, 0).UTC()},
			attemptKey(p.DrvPath, p.Attempt))
		w.rounds.Add(stepRunning, runningRow{p.DrvPath, p.Machine, p.Attempt, 1}, stepKey(p.DrvPath))
	case *events.StepStarted:
		w.rounds.Add(attemptStarted, startedRow{p.DrvPath, p.Attempt, p.BuildID, p.StepNr, p.Machine, p.StartTime}, attemptKey(p.DrvPath, p.Attempt))
		w.rounds.Add(stepRunning, runningRow{p.DrvPath, p.Machine, p.Attempt, 30}, stepKey(p.DrvPath))
	case *events.StepLogStored:
		w.rounds.Add(attemptLogStored, logRow{p.DrvPath, p.Attempt, p.Location, p.Size, p.SHA256}, attemptKey(p.DrvPath, p.Attempt))
	case *events.StepFinished:
		w.rounds.Add(attemptFinished, attemptFinishedRow{p.DrvPath, p.Attempt, p.BuildID, p.StepNr, p.Machine,
			p.Status, p.StartTime, p.StopTime, p.ExitCode, p.ErrorMsg, p.TimesBuilt, p.IsNonDeterministic, p.Overhead}, attemptKey(p.DrvPath, p.Attempt))
		w.rounds.Add(stepFinished, stepFinishedRow{p.DrvPath, p.Status, p.Machine, at}, stepKey(p.DrvPath))
	case *events.StepRetryScheduled:
		w.rounds.Add(attemptRetry, retryRow{p.DrvPath, p.Attempt, time.Unix(p.RetryAt, 0).UTC(), p.Reason}, attemptKey(p.DrvPath, p.Attempt))
	case *events.OutputUploaded:
		w.rounds.Add(outputObserved, observedRow{p.Path, p.DrvPath, p.NarHash, p.NarSize, p.BuildID, at}, stepKey(p.DrvPath))
	}
}

// flush sends the rounds, then the edges and the decisions.
func (w *writes) flush(ctx context.Context, tx projections.Tx) error {
	if err := w.rounds.Flush(ctx, tx); err != nil {
		return err
	}
	if len(w.edgeDrvs) > 0 {
		err := tx.Exec(ctx, `insert into build_graph_edges (eval_id, drv_path, input_drv)
			select * from unnest($1::int[], $2::text[], $3::text[]) on conflict do nothing`,
			w.edgeEvals, w.edgeDrvs, w.edgeInputs)
		if err != nil {
			return fmt.Errorf("record %d build graph edges: %w", len(w.edgeDrvs), err)
		}
	}
	if len(w.decisions) > 0 {
		if err := tx.CopyFrom(ctx, "scheduling_decisions", decisionColumns, w.decisions); err != nil {
			return fmt.Errorf("record %d scheduling decisions: %w", len(w.decisions), err)
		}
	}
	return nil
}
