package pglog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
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
	return &Store{pool: pool, opts: opts, tips: newTipCache(maxCachedTips)}
}

// Append implements events.Store. The events are sealed into the stream's
// hash chain here, from the stream's tip (remembered from this process's
// last append to it, else read), and ledger.append_sealed checks that the
// stream is still at that tip; if another writer moved it, the tip is read
// again and the events re-sealed.
func (s *Store) Append(ctx context.Context, stream string, expect events.Revision, evs ...events.Event) (events.AppendResult, error) {
	if err := validateAppend(stream, evs); err != nil {
		return events.AppendResult{}, err
	}
	kind, rev := expectArgs(expect)
	for attempt := 1; ; attempt++ {
		base, err := s.tip(ctx, stream, expect, attempt > 1)
		if err != nil {
			return events.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
		}
		b, last, err := sealBatch(stream, base, evs)
		if err != nil {
			return events.AppendResult{}, err
		}
		var next, head int64
		err = s.pool.QueryRow(ctx, appendSQL, stream, kind, rev, base.rev, b.ids, b.types, b.versions, b.data, b.meta).Scan(&next, &head)
		var pgErr *pgconn.PgError
		switch {
		case err == nil:
			s.tips.put(stream, tip{rev: next, hash: last})
			return events.AppendResult{NextRevision: uint64(next), Position: events.At(uint64(head))}, nil
		case errors.As(err, &pgErr) && pgErr.Code == "BLTIP" && attempt < maxTipRetries:
			s.tips.forget(stream)
			continue
		case errors.As(err, &pgErr) && pgErr.Code == "BLWRV":
			s.tips.forget(stream)
			return events.AppendResult{}, fmt.Errorf("append %s: %w: %s", stream, events.ErrWrongRevision, pgErr.Message)
		case errors.As(err, &pgErr) && pgErr.Code == "BLDUP", postgres.IsUniqueViolation(err, "events_id_key"):
			// Recorded already: a retry of the same append returns its
			// original result; anything else is refused.
			s.tips.forget(stream)
			return s.retryResult(ctx, stream, b.ids)
		case postgres.IsUniqueViolation(err, ""):
			s.tips.forget(stream)
			return events.AppendResult{}, fmt.Errorf("append %s: %w (concurrent append)", stream, events.ErrWrongRevision)
		}
		return events.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
	}
}

// maxTipRetries bounds how often one append re-reads a tip that another
// writer moved.
const maxTipRetries = 20

const appendSQL = `select next_revision, last_position from ledger.append_sealed($1, $2, $3, $4, $5::uuid[], $6, $7, $8, $9)`

// tip returns the tip to seal an append to stream after: none for a stream
// that must not exist, the remembered one when it fits the expectation and
// fresh is false, else the one in the log.
func (s *Store) tip(ctx context.Context, stream string, expect events.Revision, fresh bool) (tip, error) {
	if expect.IsNoStream() {
		return noTip, nil
	}
	if t, ok := s.tips.get(stream); ok && !fresh && fits(t, expect) {
		return t, nil
	}
	tips, err := readTips(ctx, s.pool, []string{stream})
	return tips[stream], err
}

// fits reports whether a remembered tip agrees with an exact expected
// revision (any other expectation is checked by the log).
func fits(t tip, expect events.Revision) bool {
	n, ok := expect.Exact()
	return !ok || t.rev == int64(n)
}

// validateAppend checks an append before it is sealed.
func validateAppend(stream string, evs []events.Event) error {
	if err := events.ValidateStreamName(stream); err != nil {
		return fmt.Errorf("append %s: %w", stream, err)
	}
	if len(evs) == 0 {
		return fmt.Errorf("append %s: %w: no events", stream, events.ErrInvalidEvent)
	}
	seen := make(map[string]bool, len(evs))
	for _, ev := range evs {
		if err := events.ValidateEvent(ev); err != nil {
			return fmt.Errorf("append %s: %w", stream, err)
		}
		if seen[ev.ID] {
			return fmt.Errorf("append %s: %w: id %s twice in one append", stream, events.ErrInvalidEvent, ev.ID)
		}
		seen[ev.ID] = true
		if !json.Valid(ev.Data) {
			return fmt.Errorf("append %s: %w %s: data is not valid JSON", stream, events.ErrInvalidEvent, ev.ID)
		}
	}
	return nil
}

// sealBatch seals evs after base (replacing any chain fields the caller
// set) and encodes them for append_sealed; last is the new tip's hash.
func sealBatch(stream string, base tip, evs []events.Event) (b *batch, last string, err error) {
	b = newBatch(len(evs))
	for _, ev := range events.SealChain(evs, stream, uint64(base.rev+1), base.hash) {
		md, err := json.Marshal(ev.Metadata)
		if err != nil {
			return nil, "", fmt.Errorf("append %s: metadata: %w", stream, err)
		}
		b.add(ev, md)
		last = ev.Metadata.Hash
	}
	return b, last, nil
}

// AppendMulti implements events.MultiAppender: every append in one
// transaction, sent as one pipelined batch. Any failure (a wrong
// revision, ids already recorded) rolls back all of them and is returned;
// the caller can then append one by one to learn which.
func (s *Store) AppendMulti(ctx context.Context, appends []events.StreamAppend) ([]events.AppendResult, error) {
	names := make([]string, len(appends))
	for i, a := range appends {
		if err := validateAppend(a.Stream, a.Events); err != nil {
			return nil, err
		}
		names[i] = a.Stream
	}
	for attempt := 1; ; attempt++ {
		out, err := s.appendMultiOnce(ctx, appends, attempt > 1)
		var pgErr *pgconn.PgError
		switch {
		case err == nil:
			return out, nil
		case errors.As(err, &pgErr) && pgErr.Code == "BLTIP" && attempt < maxTipRetries:
			s.tips.forget(names...)
			continue
		case errors.As(err, &pgErr) && pgErr.Code == "BLWRV":
			s.tips.forget(names...)
			return nil, fmt.Errorf("%w: %s", events.ErrWrongRevision, err)
		}
		s.tips.forget(names...)
		return nil, err
	}
}

// appendMultiOnce seals and sends appends in one transaction; an append to
// a stream that an earlier one in the same call appended to is sealed
// after it.
func (s *Store) appendMultiOnce(ctx context.Context, appends []events.StreamAppend, fresh bool) ([]events.AppendResult, error) {
	tips, err := s.tipsFor(ctx, appends, fresh)
	if err != nil {
		return nil, err
	}
	qb := &pgx.Batch{}
	for _, a := range appends {
		base := tips[a.Stream]
		b, last, err := sealBatch(a.Stream, base, a.Events)
		if err != nil {
			return nil, err
		}
		kind, rev := expectArgs(a.Expect)
		qb.Queue(appendSQL, a.Stream, kind, rev, base.rev, b.ids, b.types, b.versions, b.data, b.meta)
		tips[a.Stream] = tip{rev: base.rev + int64(len(a.Events)), hash: last}
	}
	out := make([]events.AppendResult, len(appends))
	err = postgres.Transact(ctx, s.pool, func(tx pgx.Tx) error {
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
		return nil, err
	}
	for stream, t := range tips {
		s.tips.put(stream, t)
	}
	return out, nil
}

// tipsFor returns the tip each stream of appends is sealed after (see tip),
// reading all the ones it does not know in one query.
func (s *Store) tipsFor(ctx context.Context, appends []events.StreamAppend, fresh bool) (map[string]tip, error) {
	tips := make(map[string]tip, len(appends))
	var missing []string
	for _, a := range appends {
		if _, seen := tips[a.Stream]; seen {
			continue
		}
		t, ok := s.tips.get(a.Stream)
		switch {
		case a.Expect.IsNoStream():
			tips[a.Stream] = noTip
		case ok && !fresh && fits(t, a.Expect):
			tips[a.Stream] = t
		default:
			tips[a.Stream] = noTip
			missing = append(missing, a.Stream)
		}
	}
	if len(missing) == 0 {
		return tips, nil
	}
	read, err := readTips(ctx, s.pool, missing)
	if err != nil {
		return nil, err
	}
	maps.Copy(tips, read)
	return tips, nil
}

// expectArgs encodes an expected revision for append_sealed.
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
