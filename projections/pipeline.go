package projections

import (
	"context"
	"fmt"
)

// pipelineMax bounds the statements a Pipeline holds before it sends
// them: enough to spare nearly every round trip, few enough that a
// batch's arguments are not all kept at once.
const pipelineMax = 1000

// Pipeline is a Tx whose Exec statements are held and sent together
// (Tx.ExecAll), one round trip for many, for projections that write a
// few statements per event. A projection applying a replay's batch of
// 50,000 events one statement at a time waited on about 250,000 round
// trips. Reads and COPYs send the held statements first, so they see
// every write before them; Flush sends what is left and must be called
// before Apply returns.
//
// An error of a held statement surfaces at a later call; it names the
// event that queued the statement (At).
type Pipeline struct {
	tx     Tx
	held   []Statement
	from   []eventRef
	at     eventRef
	failed error
}

// eventRef names an event in an error; it is formatted only then, as a
// replay holds millions of statements that never fail.
type eventRef struct {
	id, typ, stream string
	revision        uint64
}

func (e eventRef) String() string {
	return fmt.Sprintf("event %s (%s at %s@%d)", e.id, e.typ, e.stream, e.revision)
}

var _ Tx = (*Pipeline)(nil)

// NewPipeline returns a Pipeline writing through tx.
func NewPipeline(tx Tx) *Pipeline { return &Pipeline{tx: tx} }

// At names the event whose statements follow, for errors.
func (p *Pipeline) At(ev Event) {
	p.at = eventRef{id: ev.ID, typ: ev.Type, stream: ev.Stream, revision: ev.Revision}
}

// Exec holds the statement, and sends the held ones when they are
// pipelineMax.
func (p *Pipeline) Exec(ctx context.Context, sql string, args ...any) error {
	if p.failed != nil {
		return p.failed
	}
	p.held = append(p.held, Statement{SQL: sql, Args: args})
	p.from = append(p.from, p.at)
	if len(p.held) >= pipelineMax {
		return p.Flush(ctx)
	}
	return nil
}

// Flush sends the held statements. After one failed, every call returns
// that error: the transaction takes nothing more.
func (p *Pipeline) Flush(ctx context.Context) error {
	if p.failed != nil || len(p.held) == 0 {
		return p.failed
	}
	// ExecAll's error names the statement that failed; this adds the
	// events that queued the first and the last held.
	if err := p.tx.ExecAll(ctx, p.held); err != nil {
		p.failed = fmt.Errorf("statements queued from %v to %v: %w", p.from[0], p.from[len(p.from)-1], err)
		return p.failed
	}
	p.held, p.from = p.held[:0], p.from[:0]
	return nil
}

// QueryRow sends the held statements, then runs the query.
func (p *Pipeline) QueryRow(ctx context.Context, sql string, args ...any) Row {
	if err := p.Flush(ctx); err != nil {
		return errRow{err}
	}
	return p.tx.QueryRow(ctx, sql, args...)
}

// Query sends the held statements, then runs the query.
func (p *Pipeline) Query(ctx context.Context, sql string, args ...any) (Rows, error) {
	if err := p.Flush(ctx); err != nil {
		return nil, err
	}
	return p.tx.Query(ctx, sql, args...)
}

// CopyFrom sends the held statements, then copies.
func (p *Pipeline) CopyFrom(ctx context.Context, table string, columns []string, rows [][]any) error {
	if err := p.Flush(ctx); err != nil {
		return err
	}
	return p.tx.CopyFrom(ctx, table, columns, rows)
}

// ExecAll holds the statements.
func (p *Pipeline) ExecAll(ctx context.Context, stmts []Statement) error {
	for _, st := range stmts {
		if err := p.Exec(ctx, st.SQL, st.Args...); err != nil {
			return err
		}
	}
	return nil
}

// errRow is a Row whose query was never run.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
