package pglog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"buildledger/adapters/postgres"
	"buildledger/events"
)

// Append implements events.Store. The events are sealed into the stream's
// hash chain here, from the stream's tip (remembered from this process's
// last append to it, else read), and ledger.append_sealed checks that the
// stream is still at that tip; if another writer moved it, the tip is read
// again and the events re-sealed.
func (s *Store) Append(ctx context.Context, stream string, expect events.Revision, evs ...events.Event) (events.AppendResult, error) {
	if err := validateAppend(stream, evs); err != nil {
		return events.AppendResult{}, err
	}
	return retry(ctx, s, "append to "+stream, func(ctx context.Context) (events.AppendResult, error) {
		return s.appendStream(ctx, stream, expect, evs)
	})
}

// appendStream is Append, tried once. Tried again after a failure that
// left the events recorded (the reply was lost), it finds their ids
// recorded and returns the original result.
func (s *Store) appendStream(ctx context.Context, stream string, expect events.Revision, evs []events.Event) (events.AppendResult, error) {
	out, err := s.appendSealed(ctx, []events.StreamAppend{{Stream: stream, Expect: expect, Events: evs}})
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return out[0], nil
	case errors.As(err, &pgErr) && pgErr.Code == "BLWRV":
		return events.AppendResult{}, fmt.Errorf("append %s: %w: %s", stream, events.ErrWrongRevision, pgErr.Message)
	case errors.As(err, &pgErr) && pgErr.Code == "BLDUP", postgres.IsUniqueViolation(err, "events_id_key"):
		// Recorded already: a retry of the same append returns its
		// original result; anything else is refused.
		ids := make([]string, len(evs))
		for i, ev := range evs {
			ids[i] = ev.ID
		}
		return s.retryResult(ctx, stream, ids)
	case postgres.IsUniqueViolation(err, ""):
		return events.AppendResult{}, fmt.Errorf("append %s: %w (concurrent append)", stream, events.ErrWrongRevision)
	}
	return events.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
}

// AppendMulti implements events.MultiAppender: every append in one
// transaction, in one call of ledger.append_sealed for each run of
// distinct streams. Any failure (a wrong revision, ids already recorded)
// rolls back all of them and is returned; the caller can then append one
// by one to learn which.
func (s *Store) AppendMulti(ctx context.Context, appends []events.StreamAppend) ([]events.AppendResult, error) {
	for _, a := range appends {
		if err := validateAppend(a.Stream, a.Events); err != nil {
			return nil, err
		}
	}
	out, err := retry(ctx, s, fmt.Sprintf("append to %d streams", len(appends)), func(ctx context.Context) ([]events.AppendResult, error) {
		return s.appendSealed(ctx, appends)
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "BLWRV" {
		return nil, fmt.Errorf("append: %w: %s", events.ErrWrongRevision, pgErr.Message)
	}
	if err != nil {
		return nil, fmt.Errorf("append to %d streams: %w", len(appends), err)
	}
	return out, nil
}

// maxTipRetries bounds how often one append re-reads a tip that another
// writer moved.
const maxTipRetries = 20

// appendSealed seals and appends, reading the tips again when the log says
// one moved. The tips it appended after are remembered; on any failure the
// streams' tips are forgotten.
func (s *Store) appendSealed(ctx context.Context, appends []events.StreamAppend) ([]events.AppendResult, error) {
	for attempt := 1; ; attempt++ {
		out, tips, err := s.appendOnce(ctx, appends, attempt > 1)
		if err == nil {
			for stream, t := range tips {
				s.tips.put(stream, t)
			}
			return out, nil
		}
		for _, a := range appends {
			s.tips.forget(a.Stream)
		}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "BLTIP" && attempt < maxTipRetries && ctx.Err() == nil {
			continue
		}
		return nil, err
	}
}

const appendSQL = `select ledger.append_sealed($1, $2, $3, $4, $5, $6, $7, $8::uuid[], $9, $10, $11, $12)`

// appendOnce seals appends after their tips (fresh: read from the log, not
// remembered) and sends them: one statement for a run of distinct streams,
// a transaction for more. It returns the results and the new tips.
func (s *Store) appendOnce(ctx context.Context, appends []events.StreamAppend, fresh bool) ([]events.AppendResult, map[string]tip, error) {
	tips, err := s.tipsFor(ctx, appends, fresh)
	if err != nil {
		return nil, nil, err
	}
	var calls []*sealedCall
	for i, a := range appends {
		if i == 0 || calls[len(calls)-1].has(a.Stream) {
			calls = append(calls, &sealedCall{first: i})
		}
		t, err := calls[len(calls)-1].add(a, tips[a.Stream])
		if err != nil {
			return nil, nil, err
		}
		tips[a.Stream] = t
	}
	heads := make([]int64, len(calls))
	if len(calls) == 1 {
		err = s.pool.QueryRow(ctx, appendSQL, calls[0].args()...).Scan(&heads[0])
	} else {
		err = postgres.Transact(ctx, s.pool, func(tx pgx.Tx) error {
			qb := &pgx.Batch{}
			for _, c := range calls {
				qb.Queue(appendSQL, c.args()...)
			}
			br := tx.SendBatch(ctx, qb)
			for i := range calls {
				if err := br.QueryRow().Scan(&heads[i]); err != nil {
					br.Close()
					return err
				}
			}
			return br.Close()
		})
	}
	if err != nil {
		return nil, nil, err
	}
	out := make([]events.AppendResult, len(appends))
	for i, c := range calls {
		c.results(heads[i], out[c.first:])
	}
	return out, tips, nil
}

// sealedCall is the arguments of one ledger.append_sealed call: appends to
// distinct streams, sealed.
type sealedCall struct {
	first                int // index of its first append
	seen                 map[string]bool
	streams, expects     []string
	expectRevs           []*int64
	bases                []int64
	counts               []int32
	evStreams            []string
	evRevs               []int64
	ids, types, data, md []string
	versions             []int32
}

func (c *sealedCall) has(stream string) bool { return c.seen[stream] }

// add seals a after base (replacing any chain fields the caller set) and
// returns the stream's new tip.
func (c *sealedCall) add(a events.StreamAppend, base tip) (tip, error) {
	kind, rev := expectArgs(a.Expect)
	if c.seen == nil {
		c.seen = map[string]bool{}
	}
	c.seen[a.Stream] = true
	c.streams = append(c.streams, a.Stream)
	c.expects = append(c.expects, kind)
	c.expectRevs = append(c.expectRevs, rev)
	c.bases = append(c.bases, base.rev)
	c.counts = append(c.counts, int32(len(a.Events)))
	t := base
	for _, ev := range events.SealChain(a.Events, a.Stream, uint64(base.rev+1), base.hash) {
		md, err := json.Marshal(ev.Metadata)
		if err != nil {
			return tip{}, fmt.Errorf("append %s: metadata: %w", a.Stream, err)
		}
		t = tip{rev: t.rev + 1, hash: ev.Metadata.Hash}
		c.evStreams = append(c.evStreams, a.Stream)
		c.evRevs = append(c.evRevs, t.rev)
		c.ids = append(c.ids, ev.ID)
		c.types = append(c.types, ev.Type)
		c.versions = append(c.versions, int32(ev.Version))
		c.data = append(c.data, string(ev.Data))
		c.md = append(c.md, string(md))
	}
	return t, nil
}

func (c *sealedCall) args() []any {
	return []any{c.streams, c.expects, c.expectRevs, c.bases, c.counts, c.evStreams, c.evRevs,
		c.ids, c.types, c.versions, c.data, c.md}
}

// results fills the results of the call's appends from the head position
// it returned: its events took the positions up to head, in order.
func (c *sealedCall) results(head int64, out []events.AppendResult) {
	pos := head - int64(len(c.ids))
	for i := range c.streams {
		pos += int64(c.counts[i])
		out[i] = events.AppendResult{NextRevision: uint64(c.bases[i] + int64(c.counts[i])), Position: events.At(uint64(pos))}
	}
}

// tipsFor returns the tip each stream of appends is sealed after: none for
// a stream that must not exist, the remembered one when it fits the
// expectation and fresh is false, else the one in the log, all read in one
// query.
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
