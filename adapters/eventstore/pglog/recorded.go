package pglog

import (
	"context"
	"fmt"
)

// Recorded returns which of ids are recorded in the log. An importer asks
// before it appends a batch, and leaves those out: a batch appended
// again after a crash, or re-cut by a source that grew, then appends only
// what is new.
func (s *Store) Recorded(ctx context.Context, ids []string) (map[string]bool, error) {
	out := make(map[string]bool)
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `select id::text from ledger.events where id = any($1::uuid[])`, ids)
	if err != nil {
		return nil, fmt.Errorf("look up %d event ids: %w", len(ids), err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("look up event ids: %w", err)
		}
		out[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look up event ids: %w", err)
	}
	return out, nil
}
