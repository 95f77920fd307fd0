package projections_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/projections"
)

// recordingTx records the statements Exec is given, and their argument.
type recordingTx struct {
	projections.Tx
	sent []string
}

func (r *recordingTx) Exec(_ context.Context, sql string, args ...any) error {
	r.sent = append(r.sent, sql+" "+args[0].(string))
	return nil
}

// TestRounds: statements on one key keep their order, statements on
// different keys share a round, a statement on two keys comes after
// every earlier one on either, and a round sends its kinds in the order
// they were first added.
func TestRounds(t *testing.T) {
	a := &projections.RowKind{Name: "a", SQL: "A"}
	b := &projections.RowKind{Name: "b", SQL: "B"}
	type add struct {
		kind *projections.RowKind
		row  int
		keys []string
	}
	tests := []struct {
		name string
		adds []add
		want []string
	}{
		{"one key keeps its order", []add{{a, 1, []string{"k"}}, {b, 2, []string{"k"}}, {a, 3, []string{"k"}}},
			[]string{"A [1]", "B [2]", "A [3]"}},
		{"different keys share a round", []add{{a, 1, []string{"x"}}, {a, 2, []string{"y"}}, {b, 3, []string{"z"}}},
			[]string{"A [1,2]", "B [3]"}},
		{"two keys follow both", []add{{a, 1, []string{"x"}}, {a, 2, []string{"y"}}, {a, 3, []string{"y"}}, {b, 4, []string{"x", "y"}}, {a, 5, []string{"x"}}},
			[]string{"A [1,2]", "A [3]", "B [4]", "A [5]"}},
		{"kinds in the order first added", []add{{b, 1, []string{"x"}}, {a, 2, []string{"y"}}, {b, 3, []string{"z"}}},
			[]string{"B [1,3]", "A [2]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r projections.Rounds
			for _, ad := range tt.adds {
				r.Add(ad.kind, ad.row, ad.keys...)
			}
			tx := &recordingTx{}
			require.NoError(t, r.Flush(context.Background(), tx))
			require.Equal(t, tt.want, tx.sent)
			tx.sent = nil
			require.NoError(t, r.Flush(context.Background(), tx))
			require.Empty(t, tx.sent, "a flush empties the rounds")
		})
	}
}
