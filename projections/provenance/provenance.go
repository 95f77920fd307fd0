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
	"errors"
	"fmt"
	"slices"

	"buildledger/domain/provenance"
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

// EventTypes implements projections.EventTyper.
func (Projection) EventTypes() []string {
	return []string{events.BuildQueued{}.EventType(), events.InputFetched{}.EventType(), events.StepQueued{}.EventType(),
		events.StepStarted{}.EventType(), events.StepFinished{}.EventType(), events.OutputUploaded{}.EventType(),
		events.BuildFinished{}.EventType(), events.BuildRestarted{}.EventType(), events.BuildWithdrawn{}.EventType()}
}

// Apply implements projections.Projection. The builds and steps an
// evaluation queues by the thousand are written two statements a run;
// every other event, which may read them, first flushes them. The
// statements are sent together (projections.Pipeline); a read sends
// those before it.
func (Projection) Apply(ctx context.Context, db projections.Tx, batch []projections.Event) error {
	tx := projections.NewPipeline(db)
	var q queued
	for _, ev := range batch {
		switch p := ev.Payload.(type) {
		case *events.BuildQueued:
			names, paths := splitOutputs(p.Outputs)
			q.builds = append(q.builds, queuedBuild{p.BuildID, p.EvalID, p.Project, p.Jobset, p.Job, p.DrvPath, p.System, names, paths,
				int64(ev.Position.Commit)})
			continue
		case *events.StepQueued:
			names, paths := splitOutputs(p.Outputs)
			q.drvs = append(q.drvs, queuedDrv{len(q.drvs), p.DrvPath, nonNil(p.InputDrvs), nonNil(p.InputSrcs), names, paths})
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
		if err := tx.Exec(ctx, `insert into provenance_drvs (drv_path, input_drvs, input_srcs, output_names, output_paths)
			select d, i, s, "on", op from json_to_recordset($1::json)
				as x(o int, d text, i text[], s text[], "on" text[], op text[])
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
	case *events.BuildFinished:
		if p.Status != int(status.Success) {
			return tx.Exec(ctx, `delete from provenance_statements where build_id = $1`, p.BuildID)
		}
		return finish(ctx, tx, p.BuildID, pos)
	case *events.BuildRestarted:
		return tx.Exec(ctx, `delete from provenance_statements where build_id = $1`, p.BuildID)
	case *events.BuildWithdrawn:
		return tx.Exec(ctx, `delete from provenance_statements where build_id = $1`, p.BuildID)
	}
	return nil
}

// finish writes the statement of a build that succeeded at position pos,
// when the log holds enough for one: its outputs' NAR hashes and the step
// attempt that built its derivation. Otherwise it writes none.
func finish(ctx context.Context, tx projections.Tx, buildID, pos int64) error {
	b := provenance.Build{BuildID: buildID, Positions: []uint64{uint64(pos)}}
	var names, paths []string
	var queued int64
	found, err := projections.MaybeRow(ctx, tx, []any{&b.EvalID, &b.Project, &b.Jobset, &b.Job, &b.DrvPath, &b.System, &names, &paths, &queued},
		`select eval_id, project, jobset, job, drv_path, system, output_names, output_paths, queued_position
		from provenance_builds where build_id = $1`, buildID)
	if err != nil {
		return fmt.Errorf("read build %d: %w", buildID, err)
	}
	if !found {
		return nil
	}
	b.Positions = append(b.Positions, uint64(queued))
	hashes, err := narHashes(ctx, tx, paths, &b.Positions)
	if err != nil {
		return err
	}
	for i, path := range paths {
		b.Outputs = append(b.Outputs, provenance.Output{Name: names[i], Path: path, NarHash: hashes[path]})
	}
	if err := readInputs(ctx, tx, &b); err != nil {
		return err
	}
	if err := readRun(ctx, tx, &b); err != nil {
		return err
	}
	if err := readDeps(ctx, tx, &b); err != nil {
		return err
	}
	payload, err := provenance.Statement(b)
	if err != nil {
		// An output without a recorded NAR hash (a build cached from a
		// store the ledger never uploaded from) or without a step run
		// gets no statement; the route answers 404.
		if errors.Is(err, provenance.ErrIncomplete) || slices.ContainsFunc(b.Outputs, func(o provenance.Output) bool { return o.NarHash == "" }) {
			return tx.Exec(ctx, `delete from provenance_statements where build_id = $1`, buildID)
		}
		return err
	}
	return tx.Exec(ctx, `insert into provenance_statements (build_id, run_build_id, finished_position, payload) values ($1, $2, $3, $4)
		on conflict (build_id) do update set run_build_id = excluded.run_build_id, finished_position = excluded.finished_position,
			payload = excluded.payload`,
		buildID, b.Run.BuildID, pos, payload)
}

// narHashes returns the recorded NAR hashes of paths, adding the
// positions of their uploads to positions when it is not nil.
func narHashes(ctx context.Context, tx projections.Tx, paths []string, positions *[]uint64) (map[string]string, error) {
	out := make(map[string]string, len(paths))
	if len(paths) == 0 {
		return out, nil
	}
	rows, err := tx.Query(ctx, `select path, nar_hash, position from provenance_nar_hashes where path = any($1)`, paths)
	if err != nil {
		return nil, fmt.Errorf("read nar hashes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var path, h string
		var pos int64
		if err := rows.Scan(&path, &h, &pos); err != nil {
			return nil, err
		}
		out[path] = h
		if positions != nil {
			*positions = append(*positions, uint64(pos))
		}
	}
	return out, rows.Err()
}

// readInputs adds the build's evaluation inputs.
func readInputs(ctx context.Context, tx projections.Tx, b *provenance.Build) error {
	rows, err := tx.Query(ctx, `select name, alt_nr, type, uri, revision, value, store_path, sha256, position
		from provenance_inputs where eval_id = $1`, b.EvalID)
	if err != nil {
		return fmt.Errorf("read inputs of evaluation %d: %w", b.EvalID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var in provenance.Input
		var pos int64
		if err := rows.Scan(&in.Name, &in.AltNr, &in.Type, &in.URI, &in.Revision, &in.Value, &in.StorePath, &in.SHA256, &pos); err != nil {
			return err
		}
		b.Inputs = append(b.Inputs, in)
		b.Positions = append(b.Positions, uint64(pos))
	}
	return rows.Err()
}

// readRun adds the last successful attempt at the build's derivation,
// under this build or another that needed the same derivation.
func readRun(ctx context.Context, tx projections.Tx, b *provenance.Build) error {
	var started, finished *int64
	r := &b.Run
	found, err := projections.MaybeRow(ctx, tx, []any{&r.Machine, &r.BuildID, &r.StepNr, &r.Attempt, &r.StartTime, &r.StopTime, &started, &finished},
		`select machine, build_id, step_nr, attempt, start_time, stop_time, started_position, finished_position
		from provenance_runs where drv_path = $1 and status = 0 order by finished_position desc limit 1`, b.DrvPath)
	if err != nil {
		return fmt.Errorf("read run of %s: %w", b.DrvPath, err)
	}
	if !found {
		return nil
	}
	for _, p := range []*int64{started, finished} {
		if p != nil {
			b.Positions = append(b.Positions, uint64(*p))
		}
	}
	return nil
}

// readDeps adds the derivation's input sources and its input
// derivations' outputs, with the NAR hashes the ledger recorded for them.
func readDeps(ctx context.Context, tx projections.Tx, b *provenance.Build) error {
	var inputDrvs, inputSrcs []string
	found, err := projections.MaybeRow(ctx, tx, []any{&inputDrvs, &inputSrcs},
		`select input_drvs, input_srcs from provenance_drvs where drv_path = $1`, b.DrvPath)
	if err != nil {
		return fmt.Errorf("read inputs of %s: %w", b.DrvPath, err)
	}
	if !found {
		return nil
	}
	for _, src := range inputSrcs {
		b.Deps = append(b.Deps, provenance.Dependency{Kind: "source", Path: src})
	}
	if len(inputDrvs) > 0 {
		rows, err := tx.Query(ctx, `select drv_path, output_names, output_paths from provenance_drvs where drv_path = any($1)`, inputDrvs)
		if err != nil {
			return fmt.Errorf("read input derivations of %s: %w", b.DrvPath, err)
		}
		defer rows.Close()
		for rows.Next() {
			var drv string
			var names, paths []string
			if err := rows.Scan(&drv, &names, &paths); err != nil {
				return err
			}
			for i, p := range paths {
				b.Deps = append(b.Deps, provenance.Dependency{Kind: "output", Path: p, Drv: drv, Output: names[i]})
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	paths := make([]string, len(b.Deps))
	for i, d := range b.Deps {
		paths[i] = d.Path
	}
	hashes, err := narHashes(ctx, tx, paths, nil)
	if err != nil {
		return err
	}
	for i := range b.Deps {
		b.Deps[i].NarHash = hashes[b.Deps[i].Path]
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

// nonNil gives Postgres an empty array for a nil slice.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
