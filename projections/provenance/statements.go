package provenance

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"buildledger/domain/provenance"
	"buildledger/projections"
)

// statementChange is what an event at pos does to a build's statement:
// write it (the build succeeded) or remove it (the build failed, was
// restarted or withdrawn).
type statementChange struct {
	buildID, pos int64
	write        bool
}

// writeStatements carries out changes in log order, after the batch's
// other rows are written. What a statement is made of is read for all the
// changes at once, a table at a time, and each statement keeps only the
// rows recorded before its BuildFinished: what the projection read when it
// wrote statements one event at a time, in a tenth of the round trips.
// Every table it reads keeps the position of the event that recorded a
// row, and none of those rows changes after it is written except
// provenance_runs', whose row an attempt's StepFinished completes: the
// step's stream takes one StepFinished an attempt and no StepStarted
// after it (commands.CompleteStep), so that row too is what it was when
// the build finished, or recorded after.
func writeStatements(ctx context.Context, tx projections.Tx, changes []statementChange) error {
	if len(changes) == 0 {
		return nil
	}
	var s sources
	if err := s.read(ctx, tx, changes); err != nil {
		return err
	}
	for _, c := range changes {
		if !c.write {
			if err := tx.Exec(ctx, `delete from provenance_statements where build_id = $1`, c.buildID); err != nil {
				return err
			}
			continue
		}
		b, ok := s.build(c)
		if !ok {
			continue // queued before the ledger kept provenance: nothing to say
		}
		payload, err := provenance.Statement(b)
		if err != nil {
			// An output without a recorded NAR hash (a build cached from a
			// store the ledger never uploaded from) or without a step run
			// gets no statement; the route answers 404.
			if errors.Is(err, provenance.ErrIncomplete) || slices.ContainsFunc(b.Outputs, func(o provenance.Output) bool { return o.NarHash == "" }) {
				if err := tx.Exec(ctx, `delete from provenance_statements where build_id = $1`, c.buildID); err != nil {
					return err
				}
				continue
			}
			return fmt.Errorf("statement of build %d: %w", c.buildID, err)
		}
		if err := tx.Exec(ctx, `insert into provenance_statements (build_id, run_build_id, finished_position, payload) values ($1, $2, $3, $4)
			on conflict (build_id) do update set run_build_id = excluded.run_build_id, finished_position = excluded.finished_position,
				payload = excluded.payload`,
			c.buildID, b.Run.BuildID, c.pos, payload); err != nil {
			return err
		}
	}
	return nil
}

// sources are the rows the statements of a batch are made of, each with
// the position of the event that recorded it.
type sources struct {
	builds map[int64]builtRow
	drvs   map[string]drvRow
	runs   map[string][]runRow
	inputs map[int64][]inputRow
	hashes map[string]hashRow
}

type builtRow struct {
	provenance.Build
	names, paths []string
	pos          int64
}

type drvRow struct {
	inputDrvs, inputSrcs, names, paths []string
	pos                                int64
}

type runRow struct {
	provenance.Run
	started *int64
	pos     int64 // finished
}

type inputRow struct {
	provenance.Input
	pos int64
}

type hashRow struct {
	narHash string
	pos     int64
}

// read reads the rows the changes' statements may need: the builds, their
// derivations and those derivations' inputs, the successful runs of
// their derivations, their evaluations' inputs and the NAR hashes of
// every path named.
func (s *sources) read(ctx context.Context, tx projections.Tx, changes []statementChange) error {
	var ids []int64
	for _, c := range changes {
		if c.write {
			ids = append(ids, c.buildID)
		}
	}
	s.builds = map[int64]builtRow{}
	err := eachRow(ctx, tx, func(r projections.Rows) error {
		var b builtRow
		if err := r.Scan(&b.BuildID, &b.EvalID, &b.Project, &b.Jobset, &b.Job, &b.DrvPath, &b.System, &b.names, &b.paths, &b.pos); err != nil {
			return err
		}
		s.builds[b.BuildID] = b
		return nil
	}, `select build_id, eval_id, project, jobset, job, drv_path, system, output_names, output_paths, queued_position
		from provenance_builds where build_id = any($1)`, ids)
	if err != nil {
		return fmt.Errorf("read builds: %w", err)
	}
	var drvs, paths []string
	var evals []int64
	for _, b := range s.builds {
		drvs = append(drvs, b.DrvPath)
		paths = append(paths, b.paths...)
		evals = append(evals, b.EvalID)
	}
	s.drvs = map[string]drvRow{}
	if err := s.readDrvs(ctx, tx, drvs); err != nil {
		return err
	}
	var inputDrvs []string
	for _, d := range s.drvs {
		inputDrvs = append(inputDrvs, d.inputDrvs...)
		paths = append(paths, d.inputSrcs...)
	}
	if err := s.readDrvs(ctx, tx, inputDrvs); err != nil {
		return err
	}
	for _, d := range s.drvs {
		paths = append(paths, d.paths...)
	}
	s.runs = map[string][]runRow{}
	err = eachRow(ctx, tx, func(r projections.Rows) error {
		var drv string
		var run runRow
		if err := r.Scan(&drv, &run.Machine, &run.BuildID, &run.StepNr, &run.Attempt, &run.StartTime, &run.StopTime, &run.started, &run.pos); err != nil {
			return err
		}
		s.runs[drv] = append(s.runs[drv], run)
		return nil
	}, `select drv_path, machine, build_id, step_nr, attempt, start_time, stop_time, started_position, finished_position
		from provenance_runs where drv_path = any($1) and status = 0 and finished_position is not null`, drvs)
	if err != nil {
		return fmt.Errorf("read runs: %w", err)
	}
	s.inputs = map[int64][]inputRow{}
	err = eachRow(ctx, tx, func(r projections.Rows) error {
		var eval int64
		var in inputRow
		if err := r.Scan(&eval, &in.Name, &in.AltNr, &in.Type, &in.URI, &in.Revision, &in.Value, &in.StorePath, &in.SHA256, &in.pos); err != nil {
			return err
		}
		s.inputs[eval] = append(s.inputs[eval], in)
		return nil
	}, `select eval_id, name, alt_nr, type, uri, revision, value, store_path, sha256, position
		from provenance_inputs where eval_id = any($1)`, evals)
	if err != nil {
		return fmt.Errorf("read evaluation inputs: %w", err)
	}
	s.hashes = map[string]hashRow{}
	err = eachRow(ctx, tx, func(r projections.Rows) error {
		var path string
		var h hashRow
		if err := r.Scan(&path, &h.narHash, &h.pos); err != nil {
			return err
		}
		s.hashes[path] = h
		return nil
	}, `select path, nar_hash, position from provenance_nar_hashes where path = any($1)`, paths)
	if err != nil {
		return fmt.Errorf("read nar hashes: %w", err)
	}
	return nil
}

// readDrvs adds the derivations of paths not read yet.
func (s *sources) readDrvs(ctx context.Context, tx projections.Tx, paths []string) error {
	paths = slices.DeleteFunc(paths, func(p string) bool { _, ok := s.drvs[p]; return ok })
	if len(paths) == 0 {
		return nil
	}
	err := eachRow(ctx, tx, func(r projections.Rows) error {
		var drv string
		var d drvRow
		if err := r.Scan(&drv, &d.inputDrvs, &d.inputSrcs, &d.names, &d.paths, &d.pos); err != nil {
			return err
		}
		s.drvs[drv] = d
		return nil
	}, `select drv_path, input_drvs, input_srcs, output_names, output_paths, queued_position
		from provenance_drvs where drv_path = any($1)`, paths)
	if err != nil {
		return fmt.Errorf("read derivations: %w", err)
	}
	return nil
}

// build returns what the statement of c says, from the rows recorded
// before c, and false if the build was not queued before it.
func (s *sources) build(c statementChange) (provenance.Build, bool) {
	row, ok := s.builds[c.buildID]
	if !ok || row.pos >= c.pos {
		return provenance.Build{}, false
	}
	b := row.Build
	b.Positions = []uint64{uint64(c.pos), uint64(row.pos)}
	for i, path := range row.paths {
		h, ok := s.hash(path, c.pos)
		if ok {
			b.Positions = append(b.Positions, uint64(h.pos))
		}
		b.Outputs = append(b.Outputs, provenance.Output{Name: row.names[i], Path: path, NarHash: h.narHash})
	}
	for _, in := range s.inputs[b.EvalID] {
		if in.pos < c.pos {
			b.Inputs = append(b.Inputs, in.Input)
			b.Positions = append(b.Positions, uint64(in.pos))
		}
	}
	var last *runRow
	for i, r := range s.runs[b.DrvPath] {
		if r.pos < c.pos && (last == nil || r.pos > last.pos) {
			last = &s.runs[b.DrvPath][i]
		}
	}
	if last != nil {
		b.Run = last.Run
		if last.started != nil {
			b.Positions = append(b.Positions, uint64(*last.started))
		}
		b.Positions = append(b.Positions, uint64(last.pos))
	}
	if d, ok := s.drv(b.DrvPath, c.pos); ok {
		for _, src := range d.inputSrcs {
			b.Deps = append(b.Deps, provenance.Dependency{Kind: "source", Path: src})
		}
		for _, in := range d.inputDrvs {
			if dep, ok := s.drv(in, c.pos); ok {
				for i, p := range dep.paths {
					b.Deps = append(b.Deps, provenance.Dependency{Kind: "output", Path: p, Drv: in, Output: dep.names[i]})
				}
			}
		}
		for i := range b.Deps {
			h, _ := s.hash(b.Deps[i].Path, c.pos)
			b.Deps[i].NarHash = h.narHash
		}
	}
	return b, true
}

// drv returns the derivation drv as recorded before pos.
func (s *sources) drv(drv string, pos int64) (drvRow, bool) {
	d, ok := s.drvs[drv]
	return d, ok && d.pos < pos
}

// hash returns the NAR hash of path as recorded before pos.
func (s *sources) hash(path string, pos int64) (hashRow, bool) {
	h, ok := s.hashes[path]
	if !ok || h.pos >= pos {
		return hashRow{}, false
	}
	return h, true
}

// eachRow runs a query and calls scan for each row.
func eachRow(ctx context.Context, tx projections.Tx, scan func(projections.Rows) error, sql string, args ...any) error {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
