package pglog_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/events"
	"buildledger/events/storetest"
	"buildledger/projections"
)

var _ projections.TypeReader = (*pglog.Store)(nil)

// TestReadAllTypes: the log is A B A C A B C (positions 1 to 7).
func TestReadAllTypes(t *testing.T) {
	ctx := context.Background()
	s := pglog.New(pgtest.NewPool(t), pglog.Options{})
	for i, typ := range []string{"A", "B", "A", "C", "A", "B", "C"} {
		_, err := s.Append(ctx, "s", events.Any, storetest.Ev(typ, i))
		require.NoError(t, err)
	}
	for _, tc := range []struct {
		name        string
		after       uint64
		types       []string
		limit       int
		wantAt      []uint64
		wantThrough uint64
	}{
		{name: "cut at the limit", types: []string{"A"}, limit: 2, wantAt: []uint64{1}, wantThrough: 2},
		{name: "a window of limit positions", types: []string{"A"}, limit: 3, wantAt: []uint64{1, 3}, wantThrough: 3},
		{name: "to the head", after: 3, types: []string{"A"}, limit: 5, wantAt: []uint64{5}, wantThrough: 7},
		{name: "two types", after: 1, types: []string{"B", "C"}, limit: 10, wantAt: []uint64{2, 4, 6, 7}, wantThrough: 7},
		{name: "none of them", types: []string{"D"}, limit: 10, wantThrough: 7},
		{name: "at the head", after: 7, types: []string{"A"}, limit: 10, wantThrough: 7},
		{name: "nothing in the window", types: []string{"D"}, limit: 4, wantThrough: 4},
		{name: "full", types: []string{"A", "B"}, limit: 2, wantAt: []uint64{1, 2}, wantThrough: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, through, err := s.ReadAllTypes(ctx, events.At(tc.after), tc.types, tc.limit)
			require.NoError(t, err)
			var at []uint64
			for _, r := range recs {
				require.Contains(t, tc.types, r.Type)
				at = append(at, r.Position.Commit)
			}
			require.Equal(t, tc.wantAt, at)
			require.Equal(t, events.At(tc.wantThrough), through)
		})
	}
}
