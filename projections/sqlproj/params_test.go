package sqlproj

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCompile(t *testing.T) {
	tests := []struct {
		in, sql string
		params  []string
	}{
		{"select :a, :b, :a", "select $1, $2, $1", []string{"a", "b"}},
		{"select :a::bigint", "select $1::bigint", []string{"a"}},
		{"select ':no', \":no\" -- :no\n, :yes", "select ':no', \":no\" -- :no\n, $1", []string{"yes"}},
		{"select :reason.shareUsed, :_recordedAt.", "select $1, $2.", []string{"reason.shareUsed", "_recordedAt"}},
		{"select 1", "select 1", nil},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			c := compile(tc.in)
			require.Equal(t, tc.sql, c.sql)
			require.Equal(t, tc.params, c.params)
		})
	}
}

func TestSplitStatements(t *testing.T) {
	got := splitStatements("a; 'x;y' ; -- c;\n b;\n-- only a comment;\n")
	require.Equal(t, []string{"a", "'x;y'", "-- c;\n b"}, got)
}

func TestLookup(t *testing.T) {
	dec := json.NewDecoder(strings.NewReader(`{"i": 3, "f": 1.5, "s": "x", "b": true, "o": {"k": [1]}, "n": null}`))
	dec.UseNumber()
	var doc map[string]any
	require.NoError(t, dec.Decode(&doc))
	tests := []struct {
		path string
		want any
	}{
		{"i", int64(3)}, {"f", 1.5}, {"s", "x"}, {"b", true}, {"o", `{"k":[1]}`}, {"o.k", "[1]"}, {"n", nil}, {"missing", nil}, {"s.deeper", nil},
	}
	for _, tc := range tests {
		got, err := lookup(doc, tc.path)
		require.NoError(t, err)
		require.Equal(t, tc.want, got, tc.path)
	}
}
