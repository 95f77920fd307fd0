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
	// chains are the batch's attempts from their first upsert on, each
	// folded into one statement (see attemptChain), in the order begun.
	chains map[string]*attemptChainRow
	begun  []string
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
	// attemptChain is an attempt's upserts and updates of one batch,
	// from its first upsert on, as one statement: the row they make of
	// nothing (its values), and, for a row already there, which columns
	// they set (a bit each, see setBuild) and how they leave start_time
	// (startKept and its kin). The update and the insert see the same
	// snapshot, and the insert takes the rows the update did not find.
	attemptChain = &projections.RowKind{Name: "attempts", SQL: `with x as (
			select * from json_to_recordset($1::json) as x(d text, a int, b int, n int, m text, st int, bu int, dt timestamptz,
				l timestamptz, s0 bigint, s1 bigint, e int, em text, tb int, nd boolean, o bigint, ll text, lz bigint, lh text,
				rt timestamptz, rr text, set int, sm int)
		), updated as (
			update step_attempts s set
				build_id = case when x.set & 1 != 0 then x.b else s.build_id end,
				step_nr = case when x.set & 2 != 0 then x.n else s.step_nr end,
				machine = case when x.set & 4 != 0 then x.m else s.machine end,
				status = case when x.set & 8 != 0 then x.st else s.status end,
				busy = case when x.set & 16 != 0 then x.bu else s.busy end,
				dispatched_at = case when x.set & 32 != 0 then x.dt else s.dispatched_at end,
				lease_until = case when x.set & 32 != 0 then x.l else s.lease_until end,
				start_time = case x.sm when 1 then x.s0 when 2 then coalesce(s.start_time, x.s0) else s.start_time end,
				stop_time = case when x.set & 64 != 0 then x.s1 else s.stop_time end,
				exit_code = case when x.set & 64 != 0 then x.e else s.exit_code end,
				error_msg = case when x.set & 64 != 0 then x.em else s.error_msg end,
				times_built = case when x.set & 64 != 0 then x.tb else s.times_built end,
				is_non_deterministic = case when x.set & 64 != 0 then x.nd else s.is_non_deterministic end,
				overhead = case when x.set & 64 != 0 then x.o else s.overhead end,
				log_location = case when x.set & 128 != 0 then x.ll else s.log_location end,
				log_size = case when x.set & 128 != 0 then x.lz else s.log_size end,
				log_sha256 = case when x.set & 128 != 0 then x.lh else s.log_sha256 end,
				retry_at = case when x.set & 256 != 0 then x.rt else s.retry_at end,
				retry_reason = case when x.set & 256 != 0 then x.rr else s.retry_reason end
			from x where s.drv_path = x.d and s.attempt = x.a
			returning s.drv_path, s.attempt
		)
		insert into step_attempts (drv_path, attempt, build_id, step_nr, machine, status, busy, dispatched_at, lease_until,
			start_time, stop_time, exit_code, error_msg, times_built, is_non_deterministic, overhead, log_location, log_size,
			log_sha256, retry_at, retry_reason)
		select d, a, b, n, m, st, bu, dt, l, s0, s1, e, em, tb, nd, o, ll, lz, lh, rt, rr from x
		where not exists (select from updated u where u.drv_path = x.d and u.attempt = x.a)`}
	attemptLogStored = &projections.RowKind{Name: "attempt logs stored", SQL: `update step_attempts set log_location = x.l, log_size = x.z, log_sha256 = x.h
		from json_to_recordset($1::json) as x(d text, a int, l text, z bigint, h text)
		where step_attempts.drv_path = x.d and step_attempts.attempt = x.a`}
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
	logRow struct {
		D string `json:"d"`
		A int    `json:"a"`
		L string `json:"l"`
		Z int64  `json:"z"`
		H string `json:"h"`
	}
	attemptChainRow struct {
		D  string     `json:"d"`
		A  int        `json:"a"`
		B  *int64     `json:"b"`
		N  *int       `json:"n"`
		M  string     `json:"m"`
		St *int       `json:"st"`
		Bu int        `json:"bu"`
		Dt *time.Time `json:"dt"`
		L  *time.Time `json:"l"`
		S0 *int64     `json:"s0"`
		S1 *int64     `json:"s1"`
		E  *int       `json:"e"`
		Em *string    `json:"em"`
		Tb *int       `json:"tb"`
		Nd *bool      `json:"nd"`
		O  *int64     `json:"o"`
		Ll *string    `json:"ll"`
		Lz *int64     `json:"lz"`
		Lh *string    `json:"lh"`
		Rt *time.Time `json:"rt"`
		Rr *string    `json:"rr"`
		// Set and Sm tell what the chain does to a row already there.
		Set int `json:"set"`
		Sm  int `json:"sm"`
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
	at := projections.RowTime(ev.RecordedAt)
	switch p := ev.Payload.(type) {
	case *events.StepQueued:
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
		w.attempt(p.DrvPath, p.Attempt, at, p)
		w.rounds.Add(stepRunning, runningRow{p.DrvPath, p.Machine, p.Attempt, 1}, stepKey(p.DrvPath))
	case *events.StepStarted:
		w.attempt(p.DrvPath, p.Attempt, at, p)
		w.rounds.Add(stepRunning, runningRow{p.DrvPath, p.Machine, p.Attempt, 30}, stepKey(p.DrvPath))
	case *events.StepLogStored:
		w.attempt(p.DrvPath, p.Attempt, at, p)
	case *events.StepFinished:
		w.attempt(p.DrvPath, p.Attempt, at, p)
		w.rounds.Add(stepFinished, stepFinishedRow{p.DrvPath, p.Status, p.Machine, at}, stepKey(p.DrvPath))
	case *events.StepRetryScheduled:
		w.attempt(p.DrvPath, p.Attempt, at, p)
	case *events.OutputUploaded:
		w.rounds.Add(outputObserved, observedRow{p.Path, p.DrvPath, p.NarHash, p.NarSize, p.BuildID, at}, stepKey(p.DrvPath))
	}
}

// flush sends the rounds, then the edges and the decisions.
func (w *writes) flush(ctx context.Context, tx projections.Tx) error {
	for _, key := range w.begun {
		w.rounds.Add(attemptChain, w.chains[key], key)
	}
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
