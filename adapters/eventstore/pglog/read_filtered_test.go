package pglog_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/events"
	"buildledger/events/storetest"
)

// TestReadAllFiltered: the log is A B A C A B C (positions 1 to 7), each
// event appended by actor "alice".
func TestReadAllFiltered(t *testing.T) {
	ctx := context.Background()
	s := pglog.New(pgtest.NewPool(t), pglog.Options{})
	for i, typ := range []string{"A", "B", "A", "C", "A", "B", "C"} {
		ev := storetest.Ev(typ, i)
		ev.Metadata.Actor = "alice"
		_, err := s.Append(ctx, "s", events.Any, ev)
		require.NoError(t, err)
	}
	for _, tc := range []struct {
		name        string
		after       uint64
		filter      events.ReadFilter
		limit       int
		wantAt      []uint64
		wantThrough uint64
	}{
		{name: "cut at the limit", filter: events.ReadFilter{Types: []string{"A"}}, limit: 2, wantAt: []uint64{1}, wantThrough: 2},
		{name: "a window of limit positions", filter: events.ReadFilter{Types: []string{"A"}}, limit: 3, wantAt: []uint64{1, 3}, wantThrough: 3},
		{name: "to the head", after: 3, filter: events.ReadFilter{Types: []string{"A"}}, limit: 5, wantAt: []uint64{5}, wantThrough: 7},
		{name: "two types", after: 1, filter: events.ReadFilter{Types: []string{"B", "C"}}, limit: 10, wantAt: []uint64{2, 4, 6, 7}, wantThrough: 7},
		{name: "none of them", filter: events.ReadFilter{Types: []string{"D"}}, limit: 10, wantThrough: 7},
		{name: "at the head", after: 7, filter: events.ReadFilter{Types: []string{"A"}}, limit: 10, wantThrough: 7},
		{name: "nothing in the window", filter: events.ReadFilter{Types: []string{"D"}}, limit: 4, wantThrough: 4},
		{name: "full", filter: events.ReadFilter{Types: []string{"A", "B"}}, limit: 2, wantAt: []uint64{1, 2}, wantThrough: 2},
		{name: "no types", filter: events.ReadFilter{Types: []string{}}, limit: 5, wantThrough: 5},
		{name: "every type", after: 2, filter: events.ReadFilter{}, limit: 3, wantAt: []uint64{3, 4, 5}, wantThrough: 5},
		{name: "every type to the head", after: 5, filter: events.ReadFilter{}, limit: 10, wantAt: []uint64{6, 7}, wantThrough: 7},
		{name: "without metadata", filter: events.ReadFilter{NoMetadata: true}, limit: 10, wantAt: []uint64{1, 2, 3, 4, 5, 6, 7}, wantThrough: 7},
		{name: "types without metadata", filter: events.ReadFilter{Types: []string{"C"}, NoMetadata: true}, limit: 10, wantAt: []uint64{4, 7}, wantThrough: 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, through, err := s.ReadAllFiltered(ctx, events.At(tc.after), tc.filter, tc.limit)
			require.NoError(t, err)
			var at []uint64
			for _, r := range recs {
				if tc.filter.Types != nil {
					require.Contains(t, tc.filter.Types, r.Type)
				}
				if tc.filter.NoMetadata {
					require.Equal(t, events.Metadata{}, r.Metadata)
				} else {
					require.Equal(t, "alice", r.Metadata.Actor)
					require.NotEmpty(t, r.Metadata.Hash)
				}
				require.Equal(t, "s", r.Stream)
				require.Equal(t, r.Position.Commit-1, r.Revision)
				at = append(at, r.Position.Commit)
			}
			require.Equal(t, tc.wantAt, at)
			require.Equal(t, events.At(tc.wantThrough), through)
		})
	}
}
