package evaluation

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestInputsFirst: each step's batch lands in a wave after those of the
// inputs it names among the steps; inputs outside them (queued by an
// earlier chunk) do not delay it.
func TestInputsFirst(t *testing.T) {
	tests := []struct {
		name  string
		steps [][]string // name, then the inputs it names
		want  [][]string // streams per wave
	}{
		{"independent steps go together", [][]string{{"a"}, {"b"}, {"c"}}, [][]string{{"a", "b", "c"}}},
		{"a chain goes one a wave", [][]string{{"a"}, {"b", "a"}, {"c", "b"}}, [][]string{{"a"}, {"b"}, {"c"}}},
		{"a diamond waits for its longest path", [][]string{{"a"}, {"b", "a"}, {"c", "a"}, {"d", "b", "c"}, {"e", "a", "d"}},
			[][]string{{"a"}, {"b", "c"}, {"d"}, {"e"}}},
		{"an input of an earlier chunk is no wave", [][]string{{"a", "old"}, {"b", "old", "a"}}, [][]string{{"a"}, {"b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps := make([]Step, len(tt.steps))
			batches := make([]streamBatch, len(tt.steps))
			for i, s := range tt.steps {
				steps[i] = Step{DrvPath: s[0], InputDrvs: s[1:]}
				batches[i] = streamBatch{stream: s[0]}
			}
			var got [][]string
			for _, w := range inputsFirst(steps, batches) {
				var names []string
				for _, b := range w {
					names = append(names, b.stream)
				}
				got = append(got, names)
			}
			require.Equal(t, tt.want, got)
		})
	}
}
