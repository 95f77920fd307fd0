package pglog

import (
	"context"
	"encoding/json"
	"errors"
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
}

// Store is the Postgres event log.
type Store struct {
	pool *pgxpool.Pool
	opts Options
}

var _ events.Store = (*Store)(nil)

// notifyChannel is the LISTEN/NOTIFY channel that carries the head
// position after every append.
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
	if err := events.ValidateStreamName(stream); err != nil {
		return events.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
	}
	if len(evs) == 0 {
		return events.AppendResult{}, fmt.Errorf("append %s: %w: no events", stream, events.ErrInvalidEvent)
	}
	b := newBatch(len(evs))
	seen := make(map[string]bool, len(evs))
	for _, ev := range evs {
		if err := events.ValidateEvent(ev); err != nil {
			return events.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
		}
		if seen[ev.ID] {
			return events.AppendResult{}, fmt.Errorf("append %s: %w: id %s twice in one append", stream, events.ErrInvalidEvent, ev.ID)
		}
		seen[ev.ID] = true
		if !json.Valid(ev.Data) {
			return events.AppendResult{}, fmt.Errorf("append %s: %w %s: data is not valid JSON", stream, events.ErrInvalidEvent, ev.ID)
		}
		md, err := json.Marshal(ev.Metadata)
		if err != nil {
			return events.AppendResult{}, fmt.Errorf("append %s: metadata: %w", stream, err)
		}
		b.add(ev, md)
	}
	var res events.AppendResult
	err := postgres.Transact(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		res, err = appendTx(ctx, tx, stream, expect, b)
		return err
	})
	if err != nil {
		if postgres.IsUniqueViolation(err, "events_id_key") {
			// A concurrent append of the same ids won the race: answer as a retry.
			return s.retryResult(ctx, stream, b.ids)
		}
		if postgres.IsUniqueViolation(err, "") {
			return events.AppendResult{}, fmt.Errorf("append %s: %w (concurrent append)", stream, events.ErrWrongRevision)
		}
		return events.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
	}
	return res, nil
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

func appendTx(ctx context.Context, tx pgx.Tx, stream string, expect events.Revision, b *batch) (events.AppendResult, error) {
	// Lock the stream (creating its row if needed) before anything else.
	var last int64
	err := tx.QueryRow(ctx, `select revision from ledger.streams where stream = $1 for update`, stream).Scan(&last)
	exists := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return events.AppendResult{}, err
	}
	if dup, res, err := existing(ctx, tx, stream, b.ids); err != nil || dup {
		return res, err
	}
	if !expect.Accepts(uint64(last), exists) {
		cur := "no stream"
		if exists {
			cur = fmt.Sprint(last)
		}
		return events.AppendResult{}, fmt.Errorf("%w: expected %s, stream is at %s", events.ErrWrongRevision, expect, cur)
	}
	first := int64(0)
	if exists {
		first = last + 1
	}
	n := int64(len(b.ids))
	if exists {
		_, err = tx.Exec(ctx, `update ledger.streams set revision = $2 where stream = $1`, stream, first+n-1)
	} else {
		_, err = tx.Exec(ctx, `insert into ledger.streams (stream, revision) values ($1, $2)`, stream, first+n-1)
	}
	if err != nil {
		return events.AppendResult{}, err
	}
	// The counter row is the last lock taken: held until commit, it makes
	// positions gapless and commit-ordered.
	var head int64
	if err := tx.QueryRow(ctx, `update ledger.counter set position = position + $1 returning position`, n).Scan(&head); err != nil {
		return events.AppendResult{}, err
	}
	_, err = tx.Exec(ctx, `
		insert into ledger.events (position, stream, revision, id, type, version, data, metadata)
		select $1::bigint + o - 1, $2, $3::bigint + o - 1, id::uuid, type, version, data::json, meta::json
		from unnest($4::text[], $5::text[], $6::int[], $7::text[], $8::text[]) with ordinality as t(id, type, version, data, meta, o)`,
		head-n+1, stream, first, b.ids, b.types, b.versions, b.data, b.meta)
	if err != nil {
		return events.AppendResult{}, err
	}
	if _, err := tx.Exec(ctx, `select pg_notify($1, $2)`, notifyChannel, fmt.Sprint(head)); err != nil {
		return events.AppendResult{}, err
	}
	return events.AppendResult{NextRevision: uint64(first + n - 1), Position: events.At(uint64(head))}, nil
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
