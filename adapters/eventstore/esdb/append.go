package esdb

import (
	"context"
	"encoding/json"
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
	data, sizes, err := encode(evs)
	if err != nil {
		return events.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
	}
	chunks, err := s.split(data, sizes)
	if err != nil {
		return events.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
	}
	full := s.opts.Namespace + stream
	exp := toExpected(expect)
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

func toExpected(r events.Revision) esdb.ExpectedRevision {
	if n, ok := r.Exact(); ok {
		return esdb.Revision(n)
	}
	switch {
	case r.IsNoStream():
		return esdb.NoStream{}
	case r.IsStreamExists():
		return esdb.StreamExists{}
	}
	return esdb.Any{}
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
