package pglog

import (
	"context"
	"fmt"

	"buildledger/events"
)

// ReadAllTypes reads the log filtered on event types (it implements
// buildledger/projections.TypeReader): up to limit events of types after
// position after, in log order, and the position the read covered (the
// last event when there are limit of them, else the head).
//
// It reads the head first: every position up to it is committed
// (positions are taken in commit order), so the filtered read up to the
// head misses nothing. The filter runs on the server along the log's
// order, so events of other types are neither sent nor decoded. type is
// compared as an expression so that the scan follows the primary key and
// stops after limit matches, rather than collecting every later event of
// those types through events_type_position and sorting them.
func (s *Store) ReadAllTypes(ctx context.Context, after events.Position, types []string, limit int) ([]events.Recorded, events.Position, error) {
	if limit <= 0 {
		limit = s.opts.BatchSize
	}
	head, err := s.Head(ctx)
	if err != nil {
		return nil, after, err
	}
	if !after.Less(head) {
		return nil, after, nil
	}
	rows, err := s.pool.Query(ctx, selectEvents+`where position > $1 and position <= $2 and type || '' = any($3)
		order by position limit $4`, int64(after.Commit), int64(head.Commit), types, limit)
	if err != nil {
		return nil, after, fmt.Errorf("read %v after %d: %w", types, after.Commit, err)
	}
	out, err := collect(rows)
	if err != nil {
		return nil, after, fmt.Errorf("read %v after %d: %w", types, after.Commit, err)
	}
	if len(out) == limit {
		return out, out[len(out)-1].Position, nil
	}
	return out, head, nil
}
