package esdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"buildledger/events"
)

// ReadStream implements events.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]events.Recorded, error) {
	if err := events.ValidateStreamName(stream); err != nil {
		return nil, fmt.Errorf("read stream %s: %w", stream, err)
	}
	count := uint64(1) << 62
	if limit > 0 {
		count = uint64(limit)
	}
	out, err := s.readStream(ctx, s.opts.Namespace+stream, esdb.Revision(from), count)
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", stream, err)
	}
	return out, nil
}

// readStream reads up to count events of stream full forwards from from.
func (s *Store) readStream(ctx context.Context, full string, from esdb.StreamPosition, count uint64) ([]events.Recorded, error) {
	return s.read(ctx, full, esdb.ReadStreamOptions{Direction: esdb.Forwards, From: from}, count)
}

// readBackwards returns up to count of the last events of stream full,
// newest first. A missing stream returns events.ErrStreamNotFound.
func (s *Store) readBackwards(ctx context.Context, full string, count uint64) ([]events.Recorded, error) {
	return s.read(ctx, full, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, count)
}

func (s *Store) read(ctx context.Context, full string, opts esdb.ReadStreamOptions, count uint64) ([]events.Recorded, error) {
	var out []events.Recorded
	err := s.call(func(c *esdb.Client) error {
		out = out[:0]
		rs, err := c.ReadStream(ctx, full, opts, count)
		if err != nil {
			return err
		}
		defer rs.Close()
		for {
			re, err := rs.Recv()
			if isEOF(err) {
				return nil
			}
			if err != nil {
				return err
			}
			rec, ok, err := s.decode(re.OriginalEvent())
			if err != nil {
				return err
			}
			if ok {
				out = append(out, rec)
			}
		}
	})
	if code, ok := esdbCode(err); ok && (code == esdb.ErrorCodeResourceNotFound || code == esdb.ErrorCodeStreamDeleted) {
		return nil, fmt.Errorf("%w: %v", events.ErrStreamNotFound, err)
	}
	return out, err
}

// ReadAll implements events.Store. The client cannot filter reads of $all
// on the server, so system events and other namespaces are skipped here,
// page by page.
func (s *Store) ReadAll(ctx context.Context, after events.Position, limit int) ([]events.Recorded, error) {
	if limit <= 0 {
		limit = s.opts.BatchSize
	}
	var out []events.Recorded
	cursor := after
	page := uint64(max(limit+1, 64))
	for len(out) < limit {
		n, last, err := s.scanAll(ctx, esdb.Forwards, cursor, page, func(e *esdb.RecordedEvent) (bool, error) {
			rec, ok, err := s.decode(e)
			if err != nil || !ok {
				return false, err
			}
			out = append(out, rec)
			return len(out) == limit, nil
		})
		if err != nil {
			return nil, fmt.Errorf("read all after %v: %w", after, err)
		}
		if n < page {
			break
		}
		cursor = last
	}
	return out, nil
}

// Head implements events.Store: the newest event of ours, read backwards
// past system events.
func (s *Store) Head(ctx context.Context) (events.Position, error) {
	const page = 256
	var (
		head   events.Position
		cursor = events.Start
		found  bool
	)
	for !found {
		n, last, err := s.scanAll(ctx, esdb.Backwards, cursor, page, func(e *esdb.RecordedEvent) (bool, error) {
			if _, ok := s.local(e); ok {
				head, found = toPosition(e.Position), true
			}
			return found, nil
		})
		if err != nil {
			return events.Start, fmt.Errorf("read head: %w", err)
		}
		if n < page {
			break
		}
		cursor = last
	}
	return head, nil
}

// scanAll reads one page of $all from cursor (Start means the beginning
// forwards, the end backwards), skipping events at or before cursor
// (forwards) or at or after it (backwards), and calls visit until it says
// stop. It returns how many events the server sent and the last position.
func (s *Store) scanAll(ctx context.Context, dir esdb.Direction, cursor events.Position, page uint64, visit func(*esdb.RecordedEvent) (bool, error)) (uint64, events.Position, error) {
	var (
		n    uint64
		last events.Position
	)
	err := s.call(func(c *esdb.Client) error {
		n = 0
		var from esdb.AllPosition = esdb.Position{Commit: cursor.Commit, Prepare: cursor.Prepare}
		if cursor.IsStart() {
			from = esdb.Start{}
			if dir == esdb.Backwards {
				from = esdb.End{}
			}
		}
		rs, err := c.ReadAll(ctx, esdb.ReadAllOptions{Direction: dir, From: from}, page)
		if err != nil {
			return err
		}
		defer rs.Close()
		for {
			re, err := rs.Recv()
			if isEOF(err) {
				return nil
			}
			if err != nil {
				return err
			}
			n++
			e := re.OriginalEvent()
			p := toPosition(e.Position)
			last = p
			if !cursor.IsStart() {
				if dir == esdb.Forwards && !cursor.Less(p) || dir == esdb.Backwards && !p.Less(cursor) {
					continue
				}
			}
			stop, err := visit(e)
			if err != nil || stop {
				// Report a full page so that callers do not mistake
				// stopping for the end of the log.
				n = page
				return err
			}
		}
	})
	return n, last, err
}

// local returns the stream name of e without the namespace, and whether e
// is one of ours: in the namespace and not a system event.
func (s *Store) local(e *esdb.RecordedEvent) (string, bool) {
	if strings.HasPrefix(e.StreamID, "$") || strings.HasPrefix(e.EventType, "$") {
		return "", false
	}
	name, ok := strings.CutPrefix(e.StreamID, s.opts.Namespace)
	return name, ok && name != ""
}

// decode turns e into a Recorded; ok is false for events not ours.
func (s *Store) decode(e *esdb.RecordedEvent) (events.Recorded, bool, error) {
	name, ok := s.local(e)
	if !ok {
		return events.Recorded{}, false, nil
	}
	rec := events.Recorded{
		ID:         e.EventID.String(),
		Type:       e.EventType,
		Version:    1,
		Stream:     name,
		Revision:   e.EventNumber,
		Position:   toPosition(e.Position),
		RecordedAt: e.CreatedDate.UTC(),
		Data:       json.RawMessage(e.Data),
	}
	if len(e.UserMetadata) > 0 {
		var md wireMeta
		if err := json.Unmarshal(e.UserMetadata, &md); err != nil {
			return rec, false, fmt.Errorf("event %s in %s: metadata: %w", rec.ID, e.StreamID, err)
		}
		rec.Metadata = md.Metadata
		if md.SchemaVersion > 0 {
			rec.Version = md.SchemaVersion
		}
	}
	return rec, true, nil
}

func toPosition(p esdb.Position) events.Position {
	return events.Position{Commit: p.Commit, Prepare: p.Prepare}
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }
