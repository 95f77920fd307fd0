package pglog

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"buildledger/adapters/postgres"
	"buildledger/events"
)

// Options tunes a Store. The zero value is ready to use.
type Options struct {
	// PollInterval is how often an idle subscription looks for new events
	// when no notification arrives. Default 250ms.
	PollInterval time.Duration
	// BatchSize is how many events a subscription reads per query.
	// Default 1000.
	BatchSize int
	// Retry is how calls ride out a database restart: transient errors
	// are retried for up to Retry.MaxElapsed (default DefaultRetryFor),
	// and by a subscription for as long as it lasts.
	Retry postgres.Retry
}

// Store is the Postgres event log.
type Store struct {
	pool *pgxpool.Pool
	opts Options
	tips *tipCache
}

var _ events.Store = (*Store)(nil)

// notifyChannel is the LISTEN/NOTIFY channel that carries the head
// position after every append (sent by ledger.append_sealed).
const notifyChannel = "ledger_appended"

// New returns a Store on pool. The ledger migrations must have run
// (postgres.Migrate).
func New(pool *pgxpool.Pool, opts Options) *Store {
	if opts.PollInterval <= 0 {
		opts.PollInterval = 250 * time.Millisecond
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 1000
	}
	if opts.Retry.MaxElapsed <= 0 {
		opts.Retry.MaxElapsed = DefaultRetryFor
	}
	return &Store{pool: pool, opts: opts, tips: newTipCache(maxCachedTips)}
}

// existing checks whether any of ids is already recorded. All of them, in
// order, at consecutive revisions of stream: the append is a retry and its
// original result is returned. Some of them, or elsewhere: an error.
func existing(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, stream string, ids []string) (bool, events.AppendResult, error) {
	rows, err := q.Query(ctx, `select id::text, stream, revision, position from ledger.events where id = any($1::uuid[]) order by position`, ids)
	if err != nil {
		return false, events.AppendResult{}, err
	}
	type rec struct {
		id, stream    string
		rev, position int64
	}
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (rec, error) {
		var x rec
		err := r.Scan(&x.id, &x.stream, &x.rev, &x.position)
		return x, err
	})
	if err != nil || len(found) == 0 {
		return false, events.AppendResult{}, err
	}
	if len(found) != len(ids) {
		return true, events.AppendResult{}, fmt.Errorf("%w: %d of %d event ids already recorded (first %s in %s@%d)", events.ErrWrongRevision, len(found), len(ids), found[0].id, found[0].stream, found[0].rev)
	}
	for i, f := range found {
		if f.id != ids[i] || f.stream != stream || f.rev != found[0].rev+int64(i) {
			return true, events.AppendResult{}, fmt.Errorf("%w: event %s already recorded in %s@%d", events.ErrInvalidEvent, f.id, f.stream, f.rev)
		}
	}
	lastRec := found[len(found)-1]
	return true, events.AppendResult{NextRevision: uint64(lastRec.rev), Position: events.At(uint64(lastRec.position))}, nil
}

func (s *Store) retryResult(ctx context.Context, stream string, ids []string) (events.AppendResult, error) {
	dup, res, err := existing(ctx, s.pool, stream, ids)
	if err != nil {
		return events.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
	}
	if !dup {
		return events.AppendResult{}, fmt.Errorf("append %s: %w (concurrent append)", stream, events.ErrWrongRevision)
	}
	return res, nil
}
