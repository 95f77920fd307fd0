package esdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	"buildledger/events"
)

// wireMeta is the JSON stored as an event's metadata.
type wireMeta struct {
	events.Metadata
	SchemaVersion int    `json:"schemaVersion"`
	ESCorrelation string `json:"$correlationId,omitempty"`
	ESCausation   string `json:"$causationId,omitempty"`
}

// proposedOverhead over-estimates what the server counts for one event
// besides data, metadata and type: id, map keys, content type, framing.
const proposedOverhead = 96

// Append implements events.Store.
func (s *Store) Append(ctx context.Context, stream string, expect events.Revision, evs ...events.Event) (events.AppendResult, error) {
	if err := events.ValidateStreamName(stream); err != nil {
		return events.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
	}
	if len(evs) == 0 {
		return events.AppendResult{}, fmt.Errorf("append %s: %w: no events", stream, events.ErrInvalidEvent)
	}
	full := s.opts.Namespace + stream
	for attempt := 1; ; attempt++ {
		res, again, err := s.appendSealed(ctx, stream, full, expect, evs)
		retry := (expect.IsAny() || expect.IsStreamExists()) && !again
		if err != nil && retry && errors.Is(err, events.ErrWrongRevision) && attempt < maxChainRetries && ctx.Err() == nil {
			// Another writer appended between reading the stream's tip
			// and appending after it: read the new tip and chain again.
			continue
		}
		return res, err
	}
}

// maxChainRetries bounds how often an append with Any or StreamExists is
// retried after losing a race for the stream's tip.
const maxChainRetries = 20

// appendSealed reads the tip of the stream, seals evs into its hash chain
// and appends them with the exact revision the hashes were computed for.
// again is true when evs were found already recorded: the append was a
// retry, answered by the server's idempotency check (and not worth
// retrying on a conflict).
func (s *Store) appendSealed(ctx context.Context, stream, full string, expect events.Revision, evs []events.Event) (res events.AppendResult, again bool, err error) {
	exp, first, prev, again, err := s.plan(ctx, full, expect, evs)
	if err != nil {
		return events.AppendResult{}, again, fmt.Errorf("append %s: %w", stream, err)
	}
	res, err = s.appendChunks(ctx, stream, full, exp, first, prev, evs)
	return res, again, err
}

func (s *Store) appendChunks(ctx context.Context, stream, full string, exp esdb.ExpectedRevision, first uint64, prev string, evs []events.Event) (events.AppendResult, error) {
	data, sizes, err := encode(events.SealChain(evs, stream, first, prev))
	if err != nil {
		return events.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
	}
	chunks, err := s.split(data, sizes)
	if err != nil {
		return events.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
	}
	var res events.AppendResult
	for i, chunk := range chunks {
		if i > 0 {
			exp = esdb.Revision(res.NextRevision)
		}
		res, err = s.appendOnce(ctx, full, exp, chunk)
		if err != nil {
			if i > 0 {
				return res, fmt.Errorf("append %s: part %d of %d (parts before it are written; retry the same append to finish): %w", stream, i+1, len(chunks), err)
			}
			return res, fmt.Errorf("append %s: %w", stream, err)
		}
	}
	return res, nil
}

// plan decides where evs go in the hash chain of stream full: the expected
// revision to append with, the revision of the first event and the hash of
// the event before it. One read of the stream's tail; a retried append
// (its first id is already at the tail) is planned exactly where it landed,
// so the server answers it idempotently.
func (s *Store) plan(ctx context.Context, full string, expect events.Revision, evs []events.Event) (exp esdb.ExpectedRevision, first uint64, prev string, again bool, err error) {
	if n, ok := expect.Exact(); ok {
		recs, err := s.readStream(ctx, full, esdb.Revision(n), 1)
		if err != nil && !errors.Is(err, events.ErrStreamNotFound) {
			return nil, 0, "", false, fmt.Errorf("read revision %d for the hash chain: %w", n, err)
		}
		if len(recs) == 1 {
			prev = recs[0].Metadata.Hash
		}
		return esdb.Revision(n), n + 1, prev, false, nil
	}
	if expect.IsNoStream() {
		return esdb.NoStream{}, 0, "", false, nil
	}
	tail, err := s.readBackwards(ctx, full, uint64(max(len(evs), 1)))
	if errors.Is(err, events.ErrStreamNotFound) || err == nil && len(tail) == 0 {
		if expect.IsStreamExists() {
			return esdb.StreamExists{}, 0, "", false, nil
		}
		return esdb.NoStream{}, 0, "", false, nil
	}
	if err != nil {
		return nil, 0, "", false, fmt.Errorf("read the stream's tip for the hash chain: %w", err)
	}
	for _, r := range tail {
		if r.ID != evs[0].ID {
			continue
		}
		// A retry: append where it landed the first time, so the server
		// recognises the ids (or refuses a batch that only partly matches).
		if r.Revision == 0 {
			return esdb.NoStream{}, 0, "", true, nil
		}
		return esdb.Revision(r.Revision - 1), r.Revision, r.Metadata.PrevHash, true, nil
	}
	last := tail[0]
	return esdb.Revision(last.Revision), last.Revision + 1, last.Metadata.Hash, false, nil
}

// encode validates evs like every store does and turns them into the
// client's EventData, with each one's estimated size on the wire.
func encode(evs []events.Event) ([]esdb.EventData, []int, error) {
	data := make([]esdb.EventData, 0, len(evs))
	sizes := make([]int, 0, len(evs))
	seen := make(map[string]bool, len(evs))
	for _, ev := range evs {
		if err := events.ValidateEvent(ev); err != nil {
			return nil, nil, err
		}
		if seen[ev.ID] {
			return nil, nil, fmt.Errorf("%w: id %s twice in one append", events.ErrInvalidEvent, ev.ID)
		}
		seen[ev.ID] = true
		if !json.Valid(ev.Data) {
			return nil, nil, fmt.Errorf("%w %s: data is not valid JSON", events.ErrInvalidEvent, ev.ID)
		}
		id, err := uuid.Parse(ev.ID)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: id %q: %v", events.ErrInvalidEvent, ev.ID, err)
		}
		md, err := json.Marshal(wireMeta{Metadata: ev.Metadata, SchemaVersion: ev.Version,
			ESCorrelation: ev.Metadata.CorrelationID, ESCausation: ev.Metadata.CausationID})
		if err != nil {
			return nil, nil, fmt.Errorf("event %s metadata: %w", ev.ID, err)
		}
		data = append(data, esdb.EventData{EventID: id, EventType: ev.Type, ContentType: esdb.ContentTypeJson, Data: ev.Data, Metadata: md})
		sizes = append(sizes, len(ev.Data)+len(md)+len(ev.Type)+proposedOverhead)
	}
	return data, sizes, nil
}

// split cuts data into appends under the maximum append size, or refuses
// when more than one would be needed and splitting is off.
func (s *Store) split(data []esdb.EventData, sizes []int) ([][]esdb.EventData, error) {
	var chunks [][]esdb.EventData
	start, total := 0, 0
	for i, n := range sizes {
		if n > s.opts.MaxAppendSize {
			return nil, fmt.Errorf("%w: event %s is about %d bytes, the limit is %d", ErrAppendTooLarge, data[i].EventID, n, s.opts.MaxAppendSize)
		}
		if total+n > s.opts.MaxAppendSize {
			if !s.opts.SplitLargeAppends {
				return nil, fmt.Errorf("%w: %d events of about %d bytes or more, the limit is %d; append fewer events at a time or set SplitLargeAppends (not atomic)",
					ErrAppendTooLarge, len(data), total+n, s.opts.MaxAppendSize)
			}
			chunks = append(chunks, data[start:i])
			start, total = i, 0
		}
		total += n
	}
	return append(chunks, data[start:]), nil
}

func (s *Store) appendOnce(ctx context.Context, full string, exp esdb.ExpectedRevision, data []esdb.EventData) (events.AppendResult, error) {
	var wr *esdb.WriteResult
	err := s.call(func(c *esdb.Client) error {
		var err error
		wr, err = c.AppendToStream(ctx, full, esdb.AppendToStreamOptions{ExpectedRevision: exp}, data...)
		return err
	})
	if err != nil {
		if code, ok := esdbCode(err); ok && code == esdb.ErrorCodeWrongExpectedVersion {
			return events.AppendResult{}, fmt.Errorf("%w: %v", events.ErrWrongRevision, err)
		}
		if grpcCode(err) == codes.InvalidArgument && strings.Contains(err.Error(), "Maximum Append Size") {
			return events.AppendResult{}, fmt.Errorf("%w: refused by the server (set Options.MaxAppendSize to its limit): %v", ErrAppendTooLarge, err)
		}
		return events.AppendResult{}, err
	}
	res := events.AppendResult{NextRevision: wr.NextExpectedVersion, Position: events.Position{Commit: wr.CommitPosition, Prepare: wr.PreparePosition}}
	if res.Position.IsStart() {
		// Some servers answer an idempotent replay without a position:
		// take it from the last event.
		recs, err := s.readStream(ctx, full, esdb.Revision(res.NextRevision), 1)
		if err != nil {
			return res, fmt.Errorf("position of revision %d: %w", res.NextRevision, err)
		}
		if len(recs) == 1 {
			res.Position = recs[0].Position
		}
	}
	return res, nil
}
