package pglog

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"buildledger/events"
)

const selectEvents = `select position, stream, revision, id::text, type, version, data::text, metadata::text, recorded_at from ledger.events `

// ReadStream implements events.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]events.Recorded, error) {
	if limit <= 0 {
		limit = 1 << 30
	}
	rows, err := s.pool.Query(ctx, selectEvents+`where stream = $1 and revision >= $2 order by revision limit $3`, stream, int64(from), limit)
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", stream, err)
	}
	out, err := collect(rows)
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", stream, err)
	}
	if len(out) == 0 {
		var exists bool
		if err := s.pool.QueryRow(ctx, `select exists(select 1 from ledger.streams where stream = $1)`, stream).Scan(&exists); err != nil {
			return nil, fmt.Errorf("read stream %s: %w", stream, err)
		}
		if !exists {
			return nil, fmt.Errorf("read stream %s: %w", stream, events.ErrStreamNotFound)
		}
	}
	return out, nil
}

// ReadAll implements events.Store.
func (s *Store) ReadAll(ctx context.Context, after events.Position, limit int) ([]events.Recorded, error) {
	if limit <= 0 {
		limit = s.opts.BatchSize
	}
	rows, err := s.pool.Query(ctx, selectEvents+`where position > $1 order by position limit $2`, int64(after.Commit), limit)
	if err != nil {
		return nil, fmt.Errorf("read all after %d: %w", after.Commit, err)
	}
	out, err := collect(rows)
	if err != nil {
		return nil, fmt.Errorf("read all after %d: %w", after.Commit, err)
	}
	return out, nil
}

// Head implements events.Store.
func (s *Store) Head(ctx context.Context) (events.Position, error) {
	var p int64
	if err := s.pool.QueryRow(ctx, `select position from ledger.counter`).Scan(&p); err != nil {
		return events.Start, fmt.Errorf("read head: %w", err)
	}
	return events.At(uint64(p)), nil
}

func collect(rows pgx.Rows) ([]events.Recorded, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (events.Recorded, error) {
		var (
			rec        events.Recorded
			pos, rev   int64
			version    int32
			data, md   string
			recordedAt time.Time
		)
		if err := r.Scan(&pos, &rec.Stream, &rev, &rec.ID, &rec.Type, &version, &data, &md, &recordedAt); err != nil {
			return rec, err
		}
		rec.Position = events.At(uint64(pos))
		rec.Revision = uint64(rev)
		rec.Version = int(version)
		rec.Data = json.RawMessage(data)
		rec.RecordedAt = recordedAt.UTC()
		if err := json.Unmarshal([]byte(md), &rec.Metadata); err != nil {
			return rec, fmt.Errorf("event %s metadata: %w", rec.ID, err)
		}
		return rec, nil
	})
}
