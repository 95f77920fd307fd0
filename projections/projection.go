package projections

import (
	"context"
	"fmt"

	"buildledger/events"
)

// Projection builds one read model from the log. It is the API for
// analysts' projections (docs/projections.md).
//
// A Runner feeds every projection the events after its checkpoint, in log
// order and in batches, and calls Apply inside a read-model transaction
// that also advances the checkpoint (row "Name.vVersion" of
// projection_checkpoints). If Apply returns an error the transaction,
// checkpoint included, is rolled back and the batch is retried later: each
// event takes effect exactly once. Apply therefore must not call out
// (no network, no files, no clock): it must be a deterministic function
// of the events, so that a replay from position 0 gives the same rows.
//
// Write statements without a schema name: the same projection fills the
// live read models or a replay's scratch schema. A projection that owns
// tables outside schema/readmodel creates them itself (see
// projections/sqlproj.Tables, which also publishes new versions
// blue/green through Promoter).
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

// EventTyper is implemented by a projection that handles only events of
// some types. The runner gives it only those, and decodes no event that
// none of its projections handles; its checkpoint still advances past the
// others, so it is never behind.
type EventTyper interface {
	// EventTypes names the types (events.Payload.EventType) it handles.
	EventTypes() []string
}

// MetadataUser is implemented by a projection that can tell whether it
// reads the Metadata of the events it is given. When every projection of a
// runner tells it does not, and the store is an events.FilteredReader, the
// runner reads the log without it (their Metadata is then empty).
type MetadataUser interface {
	// UsesMetadata reports whether the projection reads Event.Metadata.
	UsesMetadata() bool
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
	// ExecAll runs statements in order, sent together where the database
	// can, and stops at the first that fails.
	ExecAll(ctx context.Context, stmts []Statement) error
}

// Statement is one statement with its arguments.
type Statement struct {
	SQL  string
	Args []any
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
// time: the simplest form, for analysts' projections. Events whose payload
// could not be decoded are skipped; an error from Handle names the event.
// Handle costs at least one statement per event: for rebuild speed, a
// projection that writes one statement per batch is much faster (see
// projections/analytics).
//
//	p := projections.PerEvent{
//		ProjectionName:    "failures",
//		ProjectionVersion: 1,
//		Handle: func(ctx context.Context, tx projections.Tx, ev projections.Event) error {
//			if e, ok := ev.Payload.(*events.BuildFinished); ok && e.Status == 1 {
//				return tx.Exec(ctx, `insert into failures (build_id, at) values ($1, $2)`, e.BuildID, ev.RecordedAt)
//			}
//			return nil
//		},
//	}
type PerEvent struct {
	// ProjectionName and ProjectionVersion are returned by Name and Version.
	ProjectionName    string
	ProjectionVersion int
	// Handle applies one event.
	Handle HandlerFunc
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

// MaybeRow runs a query that selects at most one row and scans it into
// dest. found is false when it selected none: unlike QueryRow's Scan, it
// tells a missing row apart from a failed query without knowing the
// driver's "no rows" error.
func MaybeRow(ctx context.Context, tx Tx, dest []any, sql string, args ...any) (found bool, err error) {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	if !rows.Next() {
		return false, rows.Err()
	}
	if err := rows.Scan(dest...); err != nil {
		return false, err
	}
	return true, rows.Err()
}

// NonNil returns s, or an empty slice for nil: Postgres takes a nil slice
// as NULL, and JSON writes it as null, where the projections' array
// columns want an empty array.
func NonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
