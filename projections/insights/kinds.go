package insights

import (
	"time"

	"buildledger/projections"
)

// The statements of the insight tables, each for many events' rows at
// once (projections.Rounds), and the rows they read.
var (
	verified = &projections.RowKind{Name: "verifications", SQL: `insert into insight_verifications (event_id, position, drv_path, output,
			path, machine, original_machine, nar_hash, original_nar_hash, matches, first_difference, verified_at)
		select i, q, d, o, p, m, om, h, oh, ok, nullif(fd, ''), t
		from json_to_recordset($1::json) as x(i text, q bigint, d text, o text, p text, m text, om text, h text, oh text, ok boolean,
			fd text, t timestamptz)
		on conflict (event_id) do nothing`}
	buildQueued = &projections.RowKind{Name: "builds queued", SQL: `insert into insight_builds (build_id, eval_id, project, jobset, job,
			system, drv_path, queued_at)
		select b, e, p, j, n, s, d, t from json_to_recordset($1::json) as x(b int, e int, p text, j text, n text, s text, d text, t timestamptz)
		on conflict (build_id) do nothing`}
	buildFinished = &projections.RowKind{Name: "builds finished", SQL: `update insight_builds set finished_at = x.t, status = x.s,
			failed_drv = nullif(x.f, ''), propagated_from = nullif(x.p, 0)
		from json_to_recordset($1::json) as x(b int, t timestamptz, s int, f text, p int) where build_id = x.b`}
	buildCancelled = &projections.RowKind{Name: "builds cancelled", SQL: `update insight_builds set finished_at = x.t, status = 4
		from json_to_recordset($1::json) as x(b int, t timestamptz) where build_id = x.b`}
	buildWithdrawn = &projections.RowKind{Name: "builds withdrawn", SQL: `delete from insight_builds
		using json_to_recordset($1::json) as x(b int) where build_id = x.b`}
	buildRestarted = &projections.RowKind{Name: "builds restarted", SQL: `update insight_builds set finished_at = null, status = null,
			failed_drv = null, propagated_from = null
		from json_to_recordset($1::json) as x(b int) where build_id = x.b`}
	machineUpserted = &projections.RowKind{Name: "machines", SQL: `insert into insight_machines (name, systems, supported_features,
			mandatory_features, max_jobs, enabled, speed_factor)
		select n, s, sf, mf, j, e, f
		from json_to_recordset($1::json) as x(n text, s text[], sf text[], mf text[], j int, e boolean, f double precision)
		on conflict (name) do update set systems = excluded.systems, supported_features = excluded.supported_features,
			mandatory_features = excluded.mandatory_features, max_jobs = excluded.max_jobs, enabled = excluded.enabled,
			speed_factor = excluded.speed_factor, removed = false`}
	machineRemoved = &projections.RowKind{Name: "machines removed", SQL: `update insight_machines set removed = true, enabled = false
		from json_to_recordset($1::json) as x(n text) where name = x.n`}
	stepResult = &projections.RowKind{Name: "step results", SQL: `insert into insight_step_results (drv_path, attempt, status, machine,
			build_id, step_nr, stop_time)
		select d, a, s, m, b, n, st from json_to_recordset($1::json) as x(d text, a int, s int, m text, b int, n int, st bigint)
		on conflict (drv_path, attempt) do update set status = excluded.status, machine = excluded.machine, stop_time = excluded.stop_time`}
	// A success after failed attempts (failed, failed with output, timed
	// out) of the same derivation: the step is flaky.
	flakyStep = &projections.RowKind{Name: "flaky steps", SQL: `insert into insight_flaky_steps (drv_path, failed_attempts, first_failed,
			first_failed_status, succeeded_attempt, machines, detected_at)
		select x.d, count(*), min(r.attempt), (array_agg(r.status order by r.attempt))[1], x.a,
			array(select distinct machine from insight_step_results
				where drv_path = x.d and (attempt = x.a or attempt < x.a and status in (1, 6, 7)) order by machine), x.t
		from json_to_recordset($1::json) as x(d text, a int, t timestamptz)
		join insight_step_results r on r.drv_path = x.d and r.attempt < x.a and r.status in (1, 6, 7)
		group by x.d, x.a, x.t
		on conflict (drv_path) do nothing`}
	outputHash = &projections.RowKind{Name: "output hashes", SQL: `insert into insight_output_hashes (drv_path, path, nar_hash, build_id, first_seen)
		select d, p, h, b, t from json_to_recordset($1::json) as x(d text, p text, h text, b int, t timestamptz)
		on conflict do nothing`}
	// An output seen with more than one hash is not reproducible.
	nonreproOutput = &projections.RowKind{Name: "non-reproducible outputs", SQL: `insert into insight_nonrepro_outputs (drv_path, path,
			nar_hashes, build_ids, detected_at)
		select x.d, x.p, array_agg(o.nar_hash order by o.first_seen, o.nar_hash), array_agg(o.build_id order by o.first_seen, o.nar_hash), x.t
		from json_to_recordset($1::json) as x(d text, p text, t timestamptz)
		join insight_output_hashes o on o.drv_path = x.d and o.path = x.p
		group by x.d, x.p, x.t
		having count(*) > 1
		on conflict (drv_path, path) do update set nar_hashes = excluded.nar_hashes, build_ids = excluded.build_ids`}
	evalRequested = &projections.RowKind{Name: "evaluation requests", SQL: `insert into insight_eval_requests (project, jobset, requested_at)
		select p, j, t from json_to_recordset($1::json) as x(p text, j text, t timestamptz)
		on conflict (project, jobset) do update set requested_at = excluded.requested_at`}
	evalStarted = &projections.RowKind{Name: "evaluations started", SQL: `insert into insight_eval_times (eval_id, project, jobset, requested_at, started_at)
		select x.e, x.p, x.j, (select requested_at from insight_eval_requests r where r.project = x.p and r.jobset = x.j), x.t
		from json_to_recordset($1::json) as x(e int, p text, j text, t timestamptz)
		on conflict (eval_id) do nothing`}
	evalRequestAnswered = &projections.RowKind{Name: "evaluation requests answered", SQL: `delete from insight_eval_requests r
		using json_to_recordset($1::json) as x(p text, j text) where r.project = x.p and r.jobset = x.j`}
	inputFetched = &projections.RowKind{Name: "inputs fetched", SQL: `update insight_eval_times
		set inputs_fetched_at = greatest(inputs_fetched_at, x.t)
		from json_to_recordset($1::json) as x(e int, t timestamptz) where eval_id = x.e`}
	evalEnded = &projections.RowKind{Name: "evaluations ended", SQL: `update insight_eval_times set finished_at = x.t, outcome = x.o
		from json_to_recordset($1::json) as x(e int, t timestamptz, o text) where eval_id = x.e`}
)

type (
	verifiedRow struct {
		I  string    `json:"i"`
		Q  int64     `json:"q"`
		D  string    `json:"d"`
		O  string    `json:"o"`
		P  string    `json:"p"`
		M  string    `json:"m"`
		Om string    `json:"om"`
		H  string    `json:"h"`
		Oh string    `json:"oh"`
		Ok bool      `json:"ok"`
		Fd string    `json:"fd"`
		T  time.Time `json:"t"`
	}
	queuedRow struct {
		B int64     `json:"b"`
		E int64     `json:"e"`
		P string    `json:"p"`
		J string    `json:"j"`
		N string    `json:"n"`
		S string    `json:"s"`
		D string    `json:"d"`
		T time.Time `json:"t"`
	}
	buildEndRow struct {
		B int64     `json:"b"`
		T time.Time `json:"t"`
		S int       `json:"s"`
		F string    `json:"f"`
		P int64     `json:"p"`
	}
	machineRow struct {
		N  string   `json:"n"`
		S  []string `json:"s"`
		Sf []string `json:"sf"`
		Mf []string `json:"mf"`
		J  int      `json:"j"`
		E  bool     `json:"e"`
		F  float64  `json:"f"`
	}
	stepRow struct {
		D  string    `json:"d"`
		A  int       `json:"a"`
		S  int       `json:"s"`
		M  string    `json:"m"`
		B  int64     `json:"b"`
		N  int       `json:"n"`
		St int64     `json:"st"`
		T  time.Time `json:"t"`
	}
	outputRow struct {
		D string    `json:"d"`
		P string    `json:"p"`
		H string    `json:"h"`
		B int64     `json:"b"`
		T time.Time `json:"t"`
	}
	evalRow struct {
		E int64     `json:"e"`
		P string    `json:"p"`
		J string    `json:"j"`
		T time.Time `json:"t"`
		O string    `json:"o"`
	}
)
