package pglog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
}

// Store is the Postgres event log.
type Store struct {
	pool *pgxpool.Pool
	opts Options
}

var _ events.Store = (*Store)(nil)

// notifyChannel is the LISTEN/NOTIFY channel that carries the head
// position after every append (sent by ledger.append_events).
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
	return &Store{pool: pool, opts: opts}
}

// Append implements events.Store.
func (s *Store) Append(ctx context.Context, stream string, expect events.Revision, evs ...events.Event) (events.AppendResult, error) {
	b, err := newAppendBatch(stream, evs)
	if err != nil {
		return events.AppendResult{}, err
	}
	kind, rev := expectArgs(expect)
	var next, head int64
	err = s.pool.QueryRow(ctx, appendSQL, stream, kind, rev, b.ids, b.types, b.versions, b.data, b.meta).Scan(&next, &head)
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return events.AppendResult{NextRevision: uint64(next), Position: events.At(uint64(head))}, nil
	case errors.As(err, &pgErr) && pgErr.Code == "BLWRV":
		return events.AppendResult{}, fmt.Errorf("append %s: %w: %s", stream, events.ErrWrongRevision, pgErr.Message)
	case errors.As(err, &pgErr) && pgErr.Code == "BLDUP", postgres.IsUniqueViolation(err, "events_id_key"):
		// Recorded already: a retry of the same append returns its
		// original result; anything else is refused.
		return s.retryResult(ctx, stream, b.ids)
	case postgres.IsUniqueViolation(err, ""):
		return events.AppendResult{}, fmt.Errorf("append %s: %w (concurrent append)", stream, events.ErrWrongRevision)
	}
	return events.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
}

const appendSQL = `select next_revision, last_position from ledger.append_events($1, $2, $3, $4::uuid[], $5, $6, $7, $8)`

// newAppendBatch validates an append and encodes it for append_events.
func newAppendBatch(stream string, evs []events.Event) (*batch, error) {
	if err := events.ValidateStreamName(stream); err != nil {
		return nil, fmt.Errorf("append %s: %w", stream, err)
	}
	if len(evs) == 0 {
		return nil, fmt.Errorf("append %s: %w: no events", stream, events.ErrInvalidEvent)
	}
	b := newBatch(len(evs))
	seen := make(map[string]bool, len(evs))
	for _, ev := range evs {
		if err := events.ValidateEvent(ev); err != nil {
			return nil, fmt.Errorf("append %s: %w", stream, err)
		}
		if seen[ev.ID] {
			return nil, fmt.Errorf("append %s: %w: id %s twice in one append", stream, events.ErrInvalidEvent, ev.ID)
		}
		seen[ev.ID] = true
		if !json.Valid(ev.Data) {
			return nil, fmt.Errorf("append %s: %w %s: data is not valid JSON", stream, events.ErrInvalidEvent, ev.ID)
		}
		// The hash chain is the store's: ledger.append_events seals each
		// event (see schema/ledger/0002_append_function.sql), so the caller's
		// chain fields are dropped.
		cleared := ev.Metadata
		cleared.PrevHash, cleared.Hash = "", ""
		md, err := json.Marshal(cleared)
		if err != nil {
			return nil, fmt.Errorf("append %s: metadata: %w", stream, err)
		}
		b.add(ev, md)
	}
	return b, nil
}

// AppendMulti implements events.MultiAppender: every append in one
// transaction, sent as one pipelined batch. Any failure (a wrong
// revision, ids already recorded) rolls back all of them and is returned;
// the caller can then append one by one to learn which.
func (s *Store) AppendMulti(ctx context.Context, appends []events.StreamAppend) ([]events.AppendResult, error) {
	qb := &pgx.Batch{}
	for _, a := range appends {
		b, err := newAppendBatch(a.Stream, a.Events)
		if err != nil {
			return nil, err
		}
		kind, rev := expectArgs(a.Expect)
		qb.Queue(appendSQL, a.Stream, kind, rev, b.ids, b.types, b.versions, b.data, b.meta)
	}
	out := make([]events.AppendResult, len(appends))
	err := postgres.Transact(ctx, s.pool, func(tx pgx.Tx) error {
		br := tx.SendBatch(ctx, qb)
		for i := range appends {
			var next, head int64
			if err := br.QueryRow().Scan(&next, &head); err != nil {
				br.Close()
				return fmt.Errorf("append %s: %w", appends[i].Stream, err)
			}
			out[i] = events.AppendResult{NextRevision: uint64(next), Position: events.At(uint64(head))}
		}
		return br.Close()
	})
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "BLWRV" {
			return nil, fmt.Errorf("%w: %s", events.ErrWrongRevision, err)
		}
		return nil, err
	}
	return out, nil
}

// expectArgs encodes an expected revision for append_events.
func expectArgs(r events.Revision) (string, *int64) {
	switch {
	case r.IsNoStream():
		return "no_stream", nil
	case r.IsStreamExists():
		return "exists", nil
	}
	if n, ok := r.Exact(); ok {
		v := int64(n)
		return "exact", &v
	}
	return "any", nil
}

type batch struct {
	ids, types, data, meta []string
	versions               []int32
}

func newBatch(n int) *batch {
	return &batch{ids: make([]string, 0, n), types: make([]string, 0, n), data: make([]string, 0, n), meta: make([]string, 0, n), versions: make([]int32, 0, n)}
}

func (b *batch) add(ev events.Event, md []byte) {
	b.ids = append(b.ids, ev.ID)
	b.types = append(b.types, ev.Type)
	b.versions = append(b.versions, int32(ev.Version))
	b.data = append(b.data, string(ev.Data))
	b.meta = append(b.meta, string(md))
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
