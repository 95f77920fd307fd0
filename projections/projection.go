package projections

import (
	"context"
	"fmt"

	"buildledger/events"
)

// Projection builds one read model from the log.
type Projection interface {
	// Name identifies the projection and its checkpoint; it never changes.
	Name() string
	// Version is bumped when the projection's output changes shape or
	// meaning, so the read model is rebuilt.
	Version() int
	// Apply writes the effect of a batch of events, in log order. It must
	// be deterministic: the same events give the same rows.
	Apply(ctx context.Context, tx Tx, batch []Event) error
}

// Event is a recorded event with its decoded payload. Payload is nil when
// the event could not be decoded; DecodeErr then says why.
type Event struct {
	events.Recorded
	Payload   events.Payload
	DecodeErr error
}

// Tx is the read-model transaction a projection writes through. The
// Postgres adapter implements it; statements name no schema, so the same
// projection can fill the live read models or a replay's fresh schema.
type Tx interface {
	// Exec runs one statement.
	Exec(ctx context.Context, sql string, args ...any) error
	// QueryRow runs a query expected to return at most one row.
	QueryRow(ctx context.Context, sql string, args ...any) Row
	// Query runs a query; the caller closes the rows.
	Query(ctx context.Context, sql string, args ...any) (Rows, error)
	// CopyFrom bulk-inserts rows into table.
	CopyFrom(ctx context.Context, table string, columns []string, rows [][]any) error
}

// Row is one result row.
type Row interface {
	Scan(dest ...any) error
}

// Rows is a result set.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// DB opens read-model transactions.
type DB interface {
	// InTx runs fn in one transaction, committing when it returns nil.
	InTx(ctx context.Context, fn func(Tx) error) error
}

// HandlerFunc applies one event.
type HandlerFunc func(ctx context.Context, tx Tx, ev Event) error

// PerEvent makes a Projection from a function that handles one event at a
// time: the simplest form, for analysts' projections.
type PerEvent struct {
	ProjectionName    string
	ProjectionVersion int
	Handle            HandlerFunc
}

// Name implements Projection.
func (p PerEvent) Name() string { return p.ProjectionName }

// Version implements Projection.
func (p PerEvent) Version() int { return p.ProjectionVersion }

// Apply implements Projection.
func (p PerEvent) Apply(ctx context.Context, tx Tx, batch []Event) error {
	for _, ev := range batch {
		if ev.Payload == nil {
			continue
		}
		if err := p.Handle(ctx, tx, ev); err != nil {
			return fmt.Errorf("%s: event %s (%s at %s@%d): %w", p.ProjectionName, ev.ID, ev.Type, ev.Stream, ev.Revision, err)
		}
	}
	return nil
}
