package drv

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestBoundedReader: a bounded reader keeps at most its limit, keeps what
// was read recently (the same *Derivation comes back), and reads again
// what it let go.
func TestBoundedReader(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "nix/store"), 0o755))
	var paths []string
	for i := range 10 {
		paths = append(paths, writeSynthetic(t, root, fmt.Sprintf("d%d", i), nil))
	}
	tests := []struct {
		name  string
		limit int
		kept  int // most derivations held after reading all ten
	}{
		{"unbounded", 0, 10},
		{"bounded to four", 4, 4},
		{"bounded to one, which keeps two", 1, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewBoundedReader(root, tc.limit)
			hot, err := r.Read(paths[0])
			require.NoError(t, err)
			for _, p := range paths[1:] {
				_, err := r.Read(p)
				require.NoError(t, err)
				again, err := r.Read(paths[0])
				require.NoError(t, err)
				require.Same(t, hot, again, "a derivation read again and again stays")
				require.LessOrEqual(t, len(r.cache)+len(r.old), tc.kept)
			}
			d, err := r.Read(paths[1])
			require.NoError(t, err, "one let go is read again")
			require.Equal(t, paths[1], d.Path)
		})
	}
}
