package insights

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"buildledger/domain/domainerr"
	"buildledger/projections"
)

// StepRef names a step and where its last attempt's log is.
type StepRef struct {
	DrvPath string `json:"drvPath"`
	System  string `json:"system,omitempty"`
	Status  *int   `json:"status,omitempty"`
	Machine string `json:"machine,omitempty"`
	// LogURL is the web path of the last attempt's log, when one exists.
	LogURL string `json:"logUrl,omitempty"`
}

// Blocker is one reason a build is not running.
type Blocker struct {
	// Kind is "failed" (a step it needs failed), "running" (a step it
	// needs is building), "no-machine" (a runnable step has no machine that
	// supports its system and features), "machines-busy" (machines exist
	// but every slot is taken) or "waiting" (a step waits for its inputs).
	Kind string  `json:"kind"`
	Step StepRef `json:"step"`
	// Features are the step's required features.
	Features []string `json:"features,omitempty"`
	// Machines is how many enabled machines could take the step.
	Machines int `json:"machines"`
	// Detail says it in words.
	Detail string `json:"detail"`
}

// WhyNotRunning is the answer for one build.
type WhyNotRunning struct {
	BuildID  int64     `json:"buildId"`
	Finished bool      `json:"finished"`
	Status   *int      `json:"status,omitempty"`
	Blockers []Blocker `json:"blockers"`
}

// closureSQL selects the derivations build $1 needs that the ledger knows
// as steps, following build_graph_edges from the build's top derivation.
const closureSQL = `with recursive need(drv) as (
		select drv_path from insight_builds where build_id = $1
		union
		select e.input_drv from build_graph_edges e join need on e.drv_path = need.drv
	)`

// BuildBlockers explains why build id is not running: the failed, running
// and waiting steps in its closure, and for each runnable step whether any
// machine can take it.
func BuildBlockers(ctx context.Context, db projections.DB, id int64) (WhyNotRunning, error) {
	out := WhyNotRunning{BuildID: id, Blockers: []Blocker{}}
	err := db.InTx(ctx, func(tx projections.Tx) error {
		var finished *time.Time
		found, err := projections.MaybeRow(ctx, tx, []any{&finished, &out.Status},
			`select finished_at, status from insight_builds where build_id = $1`, id)
		if err != nil {
			return fmt.Errorf("read build %d: %w", id, err)
		}
		if !found {
			return domainerr.NotFound("build", strconv.FormatInt(id, 10))
		}
		out.Finished = finished != nil
		rows, err := tx.Query(ctx, closureSQL+`
			select s.drv_path, s.system, s.required_features, s.status, s.busy, coalesce(s.machine, ''),
				coalesce((select format('/build/%s/step/%s/log', a.build_id, a.step_nr) from step_attempts a
					where a.drv_path = s.drv_path and a.build_id is not null and a.step_nr is not null
					order by a.attempt desc limit 1), ''),
				exists (select 1 from build_graph_edges e join steps i on i.drv_path = e.input_drv
					where e.drv_path = s.drv_path and (i.status is null or i.status != 0)),
				(select count(*) from insight_machines m where m.enabled and not m.removed
					and s.system = any(m.systems) and s.required_features <@ (m.supported_features || m.mandatory_features)
					and m.mandatory_features <@ s.required_features),
				(select coalesce(sum(m.max_jobs), 0) from insight_machines m where m.enabled and not m.removed
					and s.system = any(m.systems) and s.required_features <@ (m.supported_features || m.mandatory_features)
					and m.mandatory_features <@ s.required_features),
				(select count(*) from steps b where b.busy != 0 and b.machine in (select m.name from insight_machines m
					where m.enabled and not m.removed and s.system = any(m.systems)))
			from steps s join need on need.drv = s.drv_path
			where s.status is null or s.status != 0
			order by s.drv_path`, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				b                 Blocker
				busy              int
				inputsPending     bool
				slots, busyOnThem int64
				machines          int64
			)
			if err := rows.Scan(&b.Step.DrvPath, &b.Step.System, &b.Features, &b.Step.Status, &busy, &b.Step.Machine, &b.Step.LogURL,
				&inputsPending, &machines, &slots, &busyOnThem); err != nil {
				return err
			}
			b.Machines = int(machines)
			switch {
			case b.Step.Status != nil:
				b.Kind, b.Detail = "failed", fmt.Sprintf("step failed with status %d", *b.Step.Status)
			case busy != 0:
				b.Kind, b.Detail = "running", "building on "+b.Step.Machine
			case inputsPending:
				b.Kind, b.Detail = "waiting", "waits for steps it depends on"
			case machines == 0:
				b.Kind, b.Detail = "no-machine", fmt.Sprintf("no enabled machine supports system %s with features %v", b.Step.System, b.Features)
			default:
				b.Kind, b.Detail = "machines-busy", fmt.Sprintf("runnable: %d machines (%d slots, %d busy) could take it", machines, slots, busyOnThem)
			}
			out.Blockers = append(out.Blockers, b)
		}
		return rows.Err()
	})
	return out, err
}

// FailureOrigin tells where a build's failure came from.
type FailureOrigin struct {
	BuildID int64 `json:"buildId"`
	Status  *int  `json:"status,omitempty"`
	// PropagatedFrom is the build whose step failed, for status 2.
	PropagatedFrom *int64 `json:"propagatedFrom,omitempty"`
	// Step is the failed derivation and its log.
	Step *StepRef `json:"step,omitempty"`
}

// BuildFailureOrigin answers which derivation a "dependency failed" (or
// any failure) of build id came from, with a link to that step's log.
func BuildFailureOrigin(ctx context.Context, db projections.DB, id int64) (FailureOrigin, error) {
	out := FailureOrigin{BuildID: id}
	err := db.InTx(ctx, func(tx projections.Tx) error {
		var failed *string
		found, err := projections.MaybeRow(ctx, tx, []any{&out.Status, &out.PropagatedFrom, &failed},
			`select status, propagated_from, failed_drv from insight_builds where build_id = $1`, id)
		if err != nil {
			return fmt.Errorf("read build %d: %w", id, err)
		}
		if !found {
			return domainerr.NotFound("build", strconv.FormatInt(id, 10))
		}
		if failed == nil {
			// A direct failure: the failed step in the build's own closure.
			found, err := projections.MaybeRow(ctx, tx, []any{&failed}, closureSQL+`select s.drv_path from steps s join need on need.drv = s.drv_path
				where s.status is not null and s.status != 0 order by s.finished_at limit 1`, id)
			if err != nil {
				return fmt.Errorf("find the failed step of build %d: %w", id, err)
			}
			if !found {
				return nil // nothing failed
			}
		}
		// A step the ledger does not know is named without its details.
		ref := StepRef{DrvPath: *failed}
		_, err = projections.MaybeRow(ctx, tx, []any{&ref.System, &ref.Status, &ref.Machine, &ref.LogURL}, `select s.system, s.status, coalesce(s.machine, ''),
				coalesce((select format('/build/%s/step/%s/log', a.build_id, a.step_nr) from step_attempts a
					where a.drv_path = s.drv_path and a.build_id is not null and a.step_nr is not null
					order by a.attempt desc limit 1), '')
			from steps s where s.drv_path = $1`, *failed)
		if err != nil {
			return fmt.Errorf("read step %s: %w", *failed, err)
		}
		out.Step = &ref
		return nil
	})
	return out, err
}

// MaxBlastRadiusBuilds is how many build ids a blast radius lists: a
// step such as stdenv's is needed by nearly every build, and an anonymous
// page must not list them all.
const MaxBlastRadiusBuilds = 100

// BlastRadius is how much a failed step blocks.
type BlastRadius struct {
	DrvPath string `json:"drvPath"`
	// Derivations is how many derivations depend on it, directly or not.
	Derivations int `json:"derivations"`
	// NrBuilds is how many builds need it (its own build included), and
	// Unfinished how many of them are not finished yet.
	NrBuilds   int `json:"nrBuilds"`
	Unfinished int `json:"unfinished"`
	// Builds are the ids of the oldest of them, at most the limit asked
	// for: NrBuilds > len(Builds) says the list is cut.
	Builds []int64 `json:"builds"`
}

// StepBlastRadius counts the builds whose closure contains drv and lists
// the ids of the first limit of them.
func StepBlastRadius(ctx context.Context, db projections.DB, drv string, limit int) (BlastRadius, error) {
	out := BlastRadius{DrvPath: drv, Builds: []int64{}}
	err := db.InTx(ctx, func(tx projections.Tx) error {
		return tx.QueryRow(ctx, `with recursive up(drv) as (
				select $1::text
				union
				select e.drv_path from build_graph_edges e join up on e.input_drv = up.drv
			), need as (
				select b.build_id, b.finished_at is null as unfinished
				from insight_builds b join up on up.drv = b.drv_path
			)
			select (select count(*) - 1 from up), (select count(*) from need),
				(select count(*) from need where unfinished),
				coalesce((select array_agg(build_id order by build_id)
					from (select build_id from need order by build_id limit $2) first), '{}')`,
			drv, limit).Scan(&out.Derivations, &out.NrBuilds, &out.Unfinished, &out.Builds)
	})
	return out, err
}

// Attempt is one attempt at a step.
type Attempt struct {
	DrvPath   string `json:"drvPath"`
	Attempt   int    `json:"attempt"`
	BuildID   *int64 `json:"buildId,omitempty"`
	Machine   string `json:"machine"`
	Status    *int   `json:"status,omitempty"`
	StartTime *int64 `json:"startTime,omitempty"`
	StopTime  *int64 `json:"stopTime,omitempty"`
	Error     string `json:"error,omitempty"`
	LogURL    string `json:"logUrl,omitempty"`
	Retry     string `json:"retryReason,omitempty"`
}

// StepAttempts lists every attempt of drv, oldest first.
func StepAttempts(ctx context.Context, db projections.DB, drv string) ([]Attempt, error) {
	out := []Attempt{}
	err := db.InTx(ctx, func(tx projections.Tx) error {
		rows, err := tx.Query(ctx, `select drv_path, attempt, build_id, machine, status, start_time, stop_time, coalesce(error_msg, ''),
				case when build_id is not null and step_nr is not null then format('/build/%s/step/%s/log', build_id, step_nr) else '' end,
				coalesce(retry_reason, '')
			from step_attempts where drv_path = $1 order by attempt`, drv)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var a Attempt
			var id *int32
			if err := rows.Scan(&a.DrvPath, &a.Attempt, &id, &a.Machine, &a.Status, &a.StartTime, &a.StopTime, &a.Error, &a.LogURL, &a.Retry); err != nil {
				return err
			}
			if id != nil {
				v := int64(*id)
				a.BuildID = &v
			}
			out = append(out, a)
		}
		return rows.Err()
	})
	return out, err
}

// FlakyStep is a derivation that failed and then succeeded on a retry.
type FlakyStep struct {
	DrvPath           string    `json:"drvPath"`
	FailedAttempts    int       `json:"failedAttempts"`
	FirstFailed       int       `json:"firstFailedAttempt"`
	FirstFailedStatus int       `json:"firstFailedStatus"`
	SucceededAttempt  int       `json:"succeededAttempt"`
	Machines          []string  `json:"machines"`
	DetectedAt        time.Time `json:"detectedAt"`
}

// FlakySteps lists flaky steps, most recently detected first.
func FlakySteps(ctx context.Context, db projections.DB) ([]FlakyStep, error) {
	out := []FlakyStep{}
	err := db.InTx(ctx, func(tx projections.Tx) error {
		rows, err := tx.Query(ctx, `select drv_path, failed_attempts, first_failed, first_failed_status, succeeded_attempt, machines, detected_at
			from insight_flaky_steps order by detected_at desc, drv_path`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var f FlakyStep
			if err := rows.Scan(&f.DrvPath, &f.FailedAttempts, &f.FirstFailed, &f.FirstFailedStatus, &f.SucceededAttempt, &f.Machines, &f.DetectedAt); err != nil {
				return err
			}
			out = append(out, f)
		}
		return rows.Err()
	})
	return out, err
}

// NonReproducible is a derivation output seen with more than one NAR hash.
type NonReproducible struct {
	DrvPath    string    `json:"drvPath"`
	Path       string    `json:"path"`
	NarHashes  []string  `json:"narHashes"`
	BuildIDs   []int64   `json:"buildIds"`
	DetectedAt time.Time `json:"detectedAt"`
}

// NonReproducibleOutputs lists them, most recently detected first.
func NonReproducibleOutputs(ctx context.Context, db projections.DB) ([]NonReproducible, error) {
	out := []NonReproducible{}
	err := db.InTx(ctx, func(tx projections.Tx) error {
		rows, err := tx.Query(ctx, `select drv_path, path, nar_hashes, build_ids::bigint[], detected_at
			from insight_nonrepro_outputs order by detected_at desc, drv_path, path`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var n NonReproducible
			if err := rows.Scan(&n.DrvPath, &n.Path, &n.NarHashes, &n.BuildIDs, &n.DetectedAt); err != nil {
				return err
			}
			out = append(out, n)
		}
		return rows.Err()
	})
	return out, err
}

// EvalLatency is how long a jobset takes from request to finished
// evaluation, in seconds.
type EvalLatency struct {
	Project            string   `json:"project"`
	Jobset             string   `json:"jobset"`
	Evals              int      `json:"evals"`
	AvgRequestToFinish float64  `json:"avgRequestToFinishSeconds"`
	MaxRequestToFinish float64  `json:"maxRequestToFinishSeconds"`
	AvgEval            float64  `json:"avgEvalSeconds"`
	AvgFetchToFinish   *float64 `json:"avgFetchToFinishSeconds,omitempty"`
}

// EvalLatencies lists every jobset with a finished evaluation.
func EvalLatencies(ctx context.Context, db projections.DB) ([]EvalLatency, error) {
	out := []EvalLatency{}
	err := db.InTx(ctx, func(tx projections.Tx) error {
		rows, err := tx.Query(ctx, `select project, jobset, evals, avg_request_to_finish_s::float8, max_request_to_finish_s::float8,
				avg_eval_s::float8, avg_fetch_to_finish_s::float8
			from insight_eval_latency order by project, jobset`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var l EvalLatency
			if err := rows.Scan(&l.Project, &l.Jobset, &l.Evals, &l.AvgRequestToFinish, &l.MaxRequestToFinish, &l.AvgEval, &l.AvgFetchToFinish); err != nil {
				return err
			}
			out = append(out, l)
		}
		return rows.Err()
	})
	return out, err
}

// Reproducibility is what a jobset's reproducibility rebuilds found:
// totals, the rate per day of verification, and the outputs that did not
// rebuild to the same bits, newest first (at most MaxMismatches).
type Reproducibility struct {
	Project    string               `json:"project"`
	Jobset     string               `json:"jobset"`
	Verified   int                  `json:"verified"`
	Matching   int                  `json:"matching"`
	Rate       *float64             `json:"rate"`
	Days       []ReproducibleDay    `json:"days"`
	Mismatches []VerificationResult `json:"mismatches"`
}

// ReproducibleDay is one UTC day of verifications.
type ReproducibleDay struct {
	Day      time.Time `json:"day"`
	Verified int       `json:"verified"`
	Matching int       `json:"matching"`
	Rate     float64   `json:"rate"`
}

// VerificationResult is one OutputVerified.
type VerificationResult struct {
	DrvPath         string    `json:"drvPath"`
	Output          string    `json:"output"`
	Path            string    `json:"path"`
	Machine         string    `json:"machine"`
	OriginalMachine string    `json:"originalMachine"`
	NarHash         string    `json:"narHash"`
	OriginalNarHash string    `json:"originalNarHash"`
	FirstDifference string    `json:"firstDifference,omitempty"`
	VerifiedAt      time.Time `json:"verifiedAt"`
}

// MaxMismatches bounds the mismatches JobsetReproducibility lists.
const MaxMismatches = 500

// jobsetVerifications selects the verifications of the derivations a
// jobset's builds are or ran ($1 project, $2 jobset).
const jobsetVerifications = `with drvs as (
		select drv_path from insight_builds where project = $1 and jobset = $2
		union
		select r.drv_path from insight_step_results r join insight_builds b on b.build_id = r.build_id
		where b.project = $1 and b.jobset = $2)
	select * from insight_verifications where drv_path in (select drv_path from drvs)`

// JobsetReproducibility answers for one jobset.
func JobsetReproducibility(ctx context.Context, db projections.DB, project, jobset string) (Reproducibility, error) {
	out := Reproducibility{Project: project, Jobset: jobset, Days: []ReproducibleDay{}, Mismatches: []VerificationResult{}}
	err := db.InTx(ctx, func(tx projections.Tx) error {
		rows, err := tx.Query(ctx, `select date_trunc('day', verified_at at time zone 'UTC'), count(*), count(*) filter (where matches)
			from (`+jobsetVerifications+`) v group by 1 order by 1`, project, jobset)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var d ReproducibleDay
			if err := rows.Scan(&d.Day, &d.Verified, &d.Matching); err != nil {
				return err
			}
			d.Day = d.Day.UTC()
			d.Rate = float64(d.Matching) / float64(d.Verified)
			out.Verified += d.Verified
			out.Matching += d.Matching
			out.Days = append(out.Days, d)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `select drv_path, output, path, machine, original_machine, nar_hash, original_nar_hash,
			coalesce(first_difference, ''), verified_at from (`+jobsetVerifications+`) v where not matches
			order by position desc limit $3`, project, jobset, MaxMismatches)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var v VerificationResult
			if err := rows.Scan(&v.DrvPath, &v.Output, &v.Path, &v.Machine, &v.OriginalMachine, &v.NarHash,
				&v.OriginalNarHash, &v.FirstDifference, &v.VerifiedAt); err != nil {
				return err
			}
			out.Mismatches = append(out.Mismatches, v)
		}
		return rows.Err()
	})
	if out.Verified > 0 {
		r := float64(out.Matching) / float64(out.Verified)
		out.Rate = &r
	}
	return out, err
}
