package pglog

import (
	"context"
	"fmt"

	"buildledger/events"
)

var _ events.FilteredReader = (*Store)(nil)

// ReadAllFiltered implements events.FilteredReader with one binary COPY.
//
// Filtered on types, it looks at most limit positions of the log per
// call, as many as ReadAll would return, so it never reads more rows than
// ReadAll whatever the planner thinks of the types; the filter runs on the
// server, so events of other types are neither sent nor decoded. The
// window ends at the head read first: positions are taken in commit order,
// so every position up to the head is committed and the read misses
// nothing.
func (s *Store) ReadAllFiltered(ctx context.Context, after events.Position, f events.ReadFilter, limit int) ([]events.Recorded, events.Position, error) {
	var through events.Position
	out, err := retry(ctx, s, "read the log", func(ctx context.Context) (out []events.Recorded, err error) {
		out, through, err = s.readAllFiltered(ctx, after, f, limit)
		return out, err
	})
	return out, through, err
}

// readAllFiltered is ReadAllFiltered, tried once.
func (s *Store) readAllFiltered(ctx context.Context, after events.Position, f events.ReadFilter, limit int) ([]events.Recorded, events.Position, error) {
	if limit <= 0 {
		limit = s.opts.BatchSize
	}
	if f.Types == nil {
		// Every event passes: the read covers those it returns, and needs
		// no window (nor the query for the head, which live readers
		// polling the log would pay on every poll).
		out, err := s.readRecords(ctx, recordsCopySQL(after.Commit, f, 0, limit), limit, !f.NoMetadata)
		if err != nil {
			return nil, after, fmt.Errorf("read all after %d: %w", after.Commit, err)
		}
		if len(out) == 0 {
			return nil, after, nil
		}
		return out, out[len(out)-1].Position, nil
	}
	head, err := s.head(ctx)
	if err != nil {
		return nil, after, err
	}
	if !after.Less(head) {
		return nil, after, nil
	}
	end := min(head.Commit, after.Commit+uint64(limit))
	if len(f.Types) == 0 {
		return nil, events.At(end), nil
	}
	out, err := s.readRecords(ctx, recordsCopySQL(after.Commit, f, end, limit), limit, !f.NoMetadata)
	if err != nil {
		return nil, after, fmt.Errorf("read %v after %d: %w", f.Types, after.Commit, err)
	}
	if len(out) == limit {
		return out, out[len(out)-1].Position, nil
	}
	return out, events.At(end), nil
}
