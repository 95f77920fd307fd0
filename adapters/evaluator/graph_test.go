package evaluator

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/nix/drv"
	"buildledger/adapters/nix/nixtest"
)

func TestConcurrentValidity(t *testing.T) {
	if _, err := exec.LookPath("nix-instantiate"); err != nil {
		t.Skip("nix-instantiate not on PATH")
	}
	nonce := fmt.Sprintf("%d", time.Now().UnixNano())
	var drvs []string
	for i := range 3 {
		expr := fmt.Sprintf(`derivation { name = "bl-validity-%d-%s"; system = "x86_64-linux"; builder = "`+nixtest.Sh+`"; }`, i, nonce)
		out, err := exec.Command("nix-instantiate", "--expr", expr).Output()
		require.NoError(t, err)
		drvs = append(drvs, strings.TrimSpace(string(out)))
	}
	// The .drv files are valid; their outputs, never built, are not.
	want := map[string]bool{}
	var paths []string
	for _, p := range drvs {
		d, err := drv.Read(p)
		require.NoError(t, err)
		want[p] = true
		paths = append(paths, p)
		for _, o := range d.OutputPaths() {
			want[o] = false
			paths = append(paths, o)
		}
	}
	tests := []struct {
		name           string
		batch, workers int
		minPart        int
	}{
		{name: "one query", batch: 0, workers: 4, minPart: 500},
		{name: "a part per path", batch: 1, workers: 2, minPart: 1},
		{name: "parts of two", batch: 0, workers: 3, minPart: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &drv.Store{Batch: tt.batch, Args: []string{"--option", "substituters", ""}}
			got, err := concurrentValidity(st, tt.workers, tt.minPart)(context.Background(), paths)
			require.NoError(t, err)
			require.Equal(t, want, got)
		})
	}
}

func TestConcurrentValidityError(t *testing.T) {
	// Paths on disk, so that nix-store is asked (paths not on disk are
	// known to be invalid without it).
	entries, err := os.ReadDir("/nix/store")
	require.NoError(t, err)
	var paths []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") && len(paths) < 3 {
			paths = append(paths, "/nix/store/"+e.Name())
		}
	}
	require.Len(t, paths, 3, "the store holds a few paths")
	st := &drv.Store{Bin: "/nonexistent/nix-store", Batch: 1}
	_, err = concurrentValidity(st, 2, 1)(context.Background(), paths)
	require.ErrorContains(t, err, "check validity")
}
