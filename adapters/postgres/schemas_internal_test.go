package postgres

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestIndexedTable(t *testing.T) {
	for _, tc := range []struct{ def, want string }{
		{"CREATE INDEX indexbuildsondrvpath ON replay_1.builds USING btree (drvpath)", "replay_1.builds"},
		{"CREATE INDEX indexbuildoutputspath ON readmodel.buildoutputs USING hash (path)", "readmodel.buildoutputs"},
		{"CREATE INDEX i ON ONLY s.t USING btree (a)", "s.t"},
	} {
		require.Equal(t, tc.want, indexedTable(tc.def), tc.def)
	}
}
