// Package provenance projects the log into the SLSA provenance of every
// successful build (docs/provenance.md): it keeps what a statement needs
// (the build, its evaluation's inputs, its derivation's inputs, the step
// attempt that built it, the NAR hashes uploaded) and, at BuildFinished,
// writes the statement's bytes. Statements are unsigned here: signing
// needs a key, which a projection does not hold; the web and the cache
// publisher sign them (Ed25519 is deterministic, so the envelopes are
// stable too).
package provenance

import (
	"context"
	"encoding/json"
	"fmt"

	"buildledger/domain/status"
	"buildledger/events"
	"buildledger/projections"
)

// Projection writes the provenance_* tables.
type Projection struct{}

var _ projections.Projection = Projection{}

// Name implements projections.Projection.
func (Projection) Name() string { return "provenance" }

// Version implements projections.Projection.
func (Projection) Version() int { return 1 }

// UsesMetadata implements projections.MetadataUser: it reads none.
func (Projection) UsesMetadata() bool { return false }

var _ projections.IndexDeferrer = Projection{}

// DeferrableIndexes implements projections.IndexDeferrer: the index the
// web lists statements by; the projection reads and writes by keys.
func (Projection) DeferrableIndexes() []string { return []string{"provenance_statements_position"} }

// EventTypes implements projections.EventTyper.
func (Projection) EventTypes() []string {
	return []string{events.BuildQueued{}.EventType(), events.InputFetched{}.EventType(), events.StepQueued{}.EventType(),
		events.StepStarted{}.EventType(), events.StepFinished{}.EventType(), events.OutputUploaded{}.EventType(),
		events.BuildFinished{}.EventType(), events.BuildRestarted{}.EventType(), events.BuildWithdrawn{}.EventType()}
}

// Apply implements projections.Projection. The builds and steps an
// evaluation queues by the thousand are written two statements a run;
// every other event, which may read them, first flushes them. The
// statements of the builds that finish in the batch are written last,
// with a few reads for all of them (see writeStatements). The statements
// are sent together (projections.Pipeline); a read sends those before it.
func (Projection) Apply(ctx context.Context, db projections.Tx, batch []projections.Event) error {
	tx := projections.NewPipeline(db)
	var q queued
	var ends []statementChange
	for _, ev := range batch {
		pos := int64(ev.Position.Commit)
		switch p := ev.Payload.(type) {
		case *events.BuildQueued:
			names, paths := splitOutputs(p.Outputs)
			q.builds = append(q.builds, queuedBuild{p.BuildID, p.EvalID, p.Project, p.Jobset, p.Job, p.DrvPath, p.System, names, paths, pos})
			continue
		case *events.StepQueued:
			names, paths := splitOutputs(p.Outputs)
			q.drvs = append(q.drvs, queuedDrv{len(q.drvs), p.DrvPath, projections.NonNil(p.InputDrvs), projections.NonNil(p.InputSrcs), names, paths, pos})
			continue
		case *events.BuildFinished:
			ends = append(ends, statementChange{p.BuildID, pos, p.Status == int(status.Success)})
			continue
		case *events.BuildRestarted:
			ends = append(ends, statementChange{p.BuildID, pos, false})
			continue
		case *events.BuildWithdrawn:
			ends = append(ends, statementChange{p.BuildID, pos, false})
			continue
		}
		if err := q.flush(ctx, tx); err != nil {
			return err
		}
		tx.At(ev)
		if err := apply(ctx, tx, ev); err != nil {
			return fmt.Errorf("provenance: event %s (%s at %s@%d): %w", ev.ID, ev.Type, ev.Stream, ev.Revision, err)
		}
	}
	if err := q.flush(ctx, tx); err != nil {
		return err
	}
	if err := writeStatements(ctx, tx, ends); err != nil {
		return fmt.Errorf("provenance: %w", err)
	}
	if err := tx.Flush(ctx); err != nil {
		return fmt.Errorf("provenance: %w", err)
	}
	return nil
}

// queued collects BuildQueued and StepQueued rows, written as JSON
// records (their arrays are ragged, which Postgres arrays cannot be).
type queued struct {
	builds []queuedBuild
	drvs   []queuedDrv
}

type queuedBuild struct {
	BuildID  int64    `json:"b"`
	EvalID   int64    `json:"e"`
	Project  string   `json:"p"`
	Jobset   string   `json:"j"`
	Job      string   `json:"n"`
	DrvPath  string   `json:"d"`
	System   string   `json:"s"`
	Names    []string `json:"on"`
	Paths    []string `json:"op"`
	Position int64    `json:"q"`
}

type queuedDrv struct {
	Order     int      `json:"o"`
	DrvPath   string   `json:"d"`
	InputDrvs []string `json:"i"`
	InputSrcs []string `json:"s"`
	Names     []string `json:"on"`
	Paths     []string `json:"op"`
	Position  int64    `json:"q"`
}

// flush writes the collected rows; the first of a build or derivation
// wins, as it would one event at a time.
func (q *queued) flush(ctx context.Context, tx projections.Tx) error {
	if len(q.builds) > 0 {
		rows, err := json.Marshal(q.builds)
		if err != nil {
			return err
		}
		if err := tx.Exec(ctx, `insert into provenance_builds (build_id, eval_id, project, jobset, job, drv_path, system,
				output_names, output_paths, queued_position)
			select b, e, p, j, n, d, s, "on", op, q from json_to_recordset($1::json)
				as x(b bigint, e bigint, p text, j text, n text, d text, s text, "on" text[], op text[], q bigint)
			order by q on conflict (build_id) do nothing`, string(rows)); err != nil {
			return fmt.Errorf("provenance: queue %d builds: %w", len(q.builds), err)
		}
	}
	if len(q.drvs) > 0 {
		rows, err := json.Marshal(q.drvs)
		if err != nil {
			return err
		}
		if err := tx.Exec(ctx, `insert into provenance_drvs (drv_path, input_drvs, input_srcs, output_names, output_paths, queued_position)
			select d, i, s, "on", op, q from json_to_recordset($1::json)
				as x(o int, d text, i text[], s text[], "on" text[], op text[], q bigint)
			order by o on conflict (drv_path) do nothing`, string(rows)); err != nil {
			return fmt.Errorf("provenance: queue %d derivations: %w", len(q.drvs), err)
		}
	}
	*q = queued{}
	return nil
}

func apply(ctx context.Context, tx projections.Tx, ev projections.Event) error {
	pos := int64(ev.Position.Commit)
	switch p := ev.Payload.(type) {
	case *events.InputFetched:
		return tx.Exec(ctx, `insert into provenance_inputs (eval_id, name, alt_nr, type, uri, revision, value, store_path, sha256, position)
			values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) on conflict (eval_id, name, alt_nr) do nothing`,
			p.EvalID, p.Name, p.AltNr, p.Type, p.URI, p.Revision, p.Value, p.StorePath, p.SHA256, pos)
	case *events.StepStarted:
		return tx.Exec(ctx, `insert into provenance_runs (drv_path, attempt, build_id, step_nr, machine, start_time, started_position)
			values ($1, $2, $3, $4, $5, $6, $7)
			on conflict (drv_path, attempt) do update set build_id = excluded.build_id, step_nr = excluded.step_nr,
				machine = excluded.machine, start_time = excluded.start_time, started_position = excluded.started_position`,
			p.DrvPath, p.Attempt, p.BuildID, p.StepNr, p.Machine, p.StartTime, pos)
	case *events.StepFinished:
		return tx.Exec(ctx, `insert into provenance_runs (drv_path, attempt, build_id, step_nr, machine, start_time, stop_time,
				status, finished_position)
			values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			on conflict (drv_path, attempt) do update set stop_time = excluded.stop_time, status = excluded.status,
				finished_position = excluded.finished_position`,
			p.DrvPath, p.Attempt, p.BuildID, p.StepNr, p.Machine, p.StartTime, p.StopTime, p.Status, pos)
	case *events.OutputUploaded:
		return tx.Exec(ctx, `insert into provenance_nar_hashes (path, nar_hash, position) values ($1, $2, $3)
			on conflict (path) do nothing`, p.Path, p.NarHash, pos)
	}
	return nil
}

func splitOutputs(outs []events.Output) (names, paths []string) {
	names, paths = make([]string, len(outs)), make([]string, len(outs))
	for i, o := range outs {
		names[i], paths[i] = o.Name, o.Path
	}
	return names, paths
}
