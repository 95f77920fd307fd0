package hydra

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"buildledger/events"
	"buildledger/projections"
)

// writer buffers inserts of one batch. exec flushes everything buffered
// before it runs its statement, so effects keep log order.
type writer struct {
	ctx    context.Context
	tx     projections.Tx
	tables []*table // in flush order: parents before children
	byName map[string]*table
	// builds created in this batch and still buffered, by id, for
	// patching in place; jobsetBuilds, the same rows by jobset.
	builds       map[int64][]any
	jobsetBuilds map[int64][][]any
	// steps created in this batch, by (build, stepnr).
	steps map[stepKey][]any
	// finishes collects BuildFinished for builds of earlier batches.
	finishes map[int64]finish
	order    []int64
	// ahead holds the BuildFinished events written with their build's
	// BuildQueued row (finishedInBatch).
	ahead map[int64]*events.BuildFinished
	// evals is the look-ahead over the batch's evaluations.
	evals *batchEvals
	// guarded makes copyDirect take a savepoint around each COPY.
	guarded bool
	// keys opens users' sealed profiles.
	keys UserKeys
	// queued holds the statements that touch no buffered table
	// (execAfter) until anything else is sent.
	queued *projections.Pipeline
}

type stepKey struct {
	build  int64
	stepnr int
}

type table struct {
	order   int
	name    string
	columns []string
	// keys, when set, makes the flush an upsert on these columns: a row
	// whose key exists replaces it (the last row of the batch wins).
	keys []string
	// requires, when set, is a condition on the staged row s (such as its
	// build still existing): rows that fail it are dropped, as Hydra's
	// cascading deletes would have removed them.
	requires string
	// checked is true when requires is enforced by a foreign key.
	checked bool
	staged  bool // its temporary staging table was ensured in this transaction
	rows    [][]any
}

// spec describes how rows of a table are written.
type spec struct {
	// order ranks the table among the buffered ones: a table is flushed
	// after those of lower order (a build before its steps, a step before
	// its outputs), whatever order the batch first touched them in.
	order    int
	name     string
	columns  []string
	keys     []string
	requires string
	// checked tells that a foreign key enforces requires, so that a
	// direct COPY breaking it fails instead of keeping the row.
	checked bool
}

func newWriter(ctx context.Context, tx projections.Tx) *writer {
	return &writer{ctx: ctx, tx: tx, queued: projections.NewPipeline(tx), byName: map[string]*table{}, builds: map[int64][]any{}, jobsetBuilds: map[int64][][]any{}, steps: map[stepKey][]any{}, finishes: map[int64]finish{}}
}

// add buffers one row of table sp and returns it, so the caller can keep
// a handle for later patches in the same batch.
func (w *writer) add(sp *spec, row ...any) []any {
	t, ok := w.byName[sp.name]
	if !ok {
		t = &table{order: sp.order, name: sp.name, columns: sp.columns, keys: sp.keys, requires: sp.requires, checked: sp.checked}
		w.byName[sp.name] = t
		i := len(w.tables)
		for i > 0 && w.tables[i-1].order > t.order {
			i--
		}
		w.tables = slices.Insert(w.tables, i, t)
	}
	t.rows = append(t.rows, row)
	return row
}

// flushTable writes t's rows. Rows are usually new and valid: they are
// then COPYed straight into t (copyDirect). Otherwise they are copied into
// a temporary table and merged in with one INSERT … SELECT: rows failing
// t.requires are dropped, and with keys, the last row per key replaces any
// existing row.
func (w *writer) flushTable(t *table) error {
	if done, err := w.copyDirect(t); done || err != nil {
		return err
	}
	stage := "stage_" + strings.ToLower(t.name)
	if !t.staged {
		err := w.tx.Exec(w.ctx, fmt.Sprintf(`create temp table if not exists %s (like %s including defaults, stage_ord serial) on commit delete rows`, stage, t.name))
		if err != nil {
			return fmt.Errorf("stage %s: %w", t.name, err)
		}
		t.staged = true
	}
	if err := w.tx.CopyFrom(w.ctx, stage, t.columns, t.rows); err != nil {
		return err
	}
	cols := strings.Join(t.columns, ", ")
	where := "true"
	if t.requires != "" {
		where = t.requires
	}
	sql := fmt.Sprintf(`insert into %s (%s) select %s from %s s where %s`, t.name, cols, cols, stage, where)
	if t.keys != nil {
		keys := strings.Join(t.keys, ", ")
		sets := make([]string, 0, len(t.columns))
		for _, c := range t.columns {
			sets = append(sets, c+" = excluded."+c)
		}
		sql = fmt.Sprintf(`insert into %s (%s)
			select %s from (select distinct on (%s) * from %s order by %s, stage_ord desc) s where %s
			on conflict (%s) do update set %s`,
			t.name, cols, cols, keys, stage, keys, where, keys, strings.Join(sets, ", "))
	}
	if err := w.tx.Exec(w.ctx, sql); err != nil {
		return fmt.Errorf("merge into %s: %w", t.name, err)
	}
	return w.tx.Exec(w.ctx, "truncate "+stage)
}

// copyDirect COPYs t's rows straight into t, when that is sure to give
// the rows of the merge or to fail: t's only condition is enforced by a
// foreign key, and its key by its primary key (a row already there, or
// twice in the batch, fails the COPY). Guarded, the COPY runs under a
// savepoint, and copyDirect returns false, having rolled it back, when it
// failed; unguarded, a failed COPY is a *directCopyError, after which the
// transaction takes no statement until it rolls back.
func (w *writer) copyDirect(t *table) (bool, error) {
	if t.requires != "" && !t.checked || len(t.keys) == 0 {
		return false, nil
	}
	if !w.guarded {
		if err := w.tx.CopyFrom(w.ctx, t.name, t.columns, t.rows); err != nil {
			return false, &directCopyError{table: t.name, err: err}
		}
		return true, nil
	}
	if err := w.tx.Exec(w.ctx, "savepoint copy_direct"); err != nil {
		return false, fmt.Errorf("copy into %s: %w", t.name, err)
	}
	if err := w.tx.CopyFrom(w.ctx, t.name, t.columns, t.rows); err != nil {
		if err := w.tx.Exec(w.ctx, "rollback to savepoint copy_direct"); err != nil {
			return false, fmt.Errorf("copy into %s: %w", t.name, err)
		}
		return false, nil
	}
	if err := w.tx.Exec(w.ctx, "release savepoint copy_direct"); err != nil {
		return false, fmt.Errorf("copy into %s: %w", t.name, err)
	}
	return true, nil
}

// directCopyError is an unguarded direct COPY that failed.
type directCopyError struct {
	table string
	err   error
}

func (e *directCopyError) Error() string {
	return fmt.Sprintf("direct copy into %s: %v", e.table, e.err)
}

func (e *directCopyError) Unwrap() error { return e.err }

// exec flushes the buffers and runs one statement.
func (w *writer) exec(sql string, args ...any) error {
	if err := w.flush(); err != nil {
		return err
	}
	return w.tx.Exec(w.ctx, sql, args...)
}

// execAfter runs one statement that reads or writes, of the buffered
// tables, only those of deps: it flushes them, and the tables flushed
// before them, first, and leaves the others buffered. Statements run at
// every evaluation that flushed every table made a replay write each
// table in COPYs of one evaluation's rows; leaving the tables they do not
// touch buffered lets those fill up to the whole batch.
//
// A statement that touches no buffered table (deps empty) is queued in a
// projections.Pipeline, and the queue runs, up to 1,000 in a round trip,
// before anything else reaches the database. Each of the few statements of an evaluation took a round
// trip of its own, 1.5-3 ms on a busy machine: 600 of them in a
// 1,000,000-event replay.
func (w *writer) execAfter(deps []*spec, sql string, args ...any) error {
	if len(deps) == 0 {
		return w.queued.Exec(w.ctx, sql, args...)
	}
	upTo := -1
	for _, d := range deps {
		upTo = max(upTo, d.order)
	}
	if err := w.flushUpTo(upTo); err != nil {
		return err
	}
	return w.tx.Exec(w.ctx, sql, args...)
}

// flush writes every buffered row, parents first.
func (w *writer) flush() error { return w.flushUpTo(math.MaxInt) }

// flushUpTo writes the buffered rows of the tables of order up to upTo,
// parents first, with the finishes of earlier batches' builds once
// Builds is written.
func (w *writer) flushUpTo(upTo int) error {
	if err := w.queued.Flush(w.ctx); err != nil {
		return err
	}
	for _, t := range w.tables {
		if t.order > upTo {
			break
		}
		if len(t.rows) == 0 {
			continue
		}
		if err := w.flushTable(t); err != nil {
			return err
		}
		t.rows = t.rows[:0]
	}
	if upTo >= buildsTable.order {
		if err := w.flushFinishes(); err != nil {
			return err
		}
		// Written rows can no longer be patched in place.
		clear(w.builds)
		clear(w.jobsetBuilds)
	}
	if upTo >= stepsTable.order {
		clear(w.steps)
	}
	return nil
}

// finish is the effect of a BuildFinished on a build of an earlier batch.
type finish struct {
	status, start, stop, cached int64
	size, closureSize           *int64
	releaseName                 *string
}

func (w *writer) flushFinishes() error {
	n := len(w.order)
	if n == 0 {
		return nil
	}
	var (
		ids, st, start, stop, cached = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		size, closure                = make([]*int64, n), make([]*int64, n)
		release                      = make([]*string, n)
	)
	for i, id := range w.order {
		f := w.finishes[id]
		ids[i], st[i], start[i], stop[i], cached[i] = id, f.status, f.start, f.stop, f.cached
		size[i], closure[i], release[i] = f.size, f.closureSize, f.releaseName
	}
	err := w.tx.Exec(w.ctx, `
		update Builds b set finished = 1, buildStatus = u.status, startTime = u.start, stopTime = u.stop,
			isCachedBuild = u.cached, size = u.size, closureSize = u.closure, releaseName = u.release,
			notificationPendingSince = u.stop
		from unnest($1::int[], $2::int[], $3::int[], $4::int[], $5::int[], $6::bigint[], $7::bigint[], $8::text[])
		  as u(id, status, start, stop, cached, size, closure, release)
		where b.id = u.id`, ids, st, start, stop, cached, size, closure, release)
	if err != nil {
		return fmt.Errorf("finish %d builds: %w", n, err)
	}
	clear(w.finishes)
	w.order = w.order[:0]
	return nil
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullIfZero[T int | int64](v T) any {
	if v == 0 {
		return nil
	}
	return v
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
