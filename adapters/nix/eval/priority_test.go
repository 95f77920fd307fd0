//go:build unix

package eval

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestNixRunsAtItsNice: a process the evaluator starts runs at
// Request.Nice. The child waits until its nice value is no longer the
// evaluator's (it is set just after the start) and prints it; were it
// never set, the child would spin until the context ends and the test
// fail. A lower value than the evaluator's needs root.
func TestNixRunsAtItsNice(t *testing.T) {
	out, err := exec.Command("nice").Output()
	require.NoError(t, err)
	own, err := strconv.Atoi(strings.TrimSpace(string(out)))
	require.NoError(t, err)
	nices := []int{own + 5}
	if os.Geteuid() == 0 && own > -19 {
		nices = append(nices, 0) // DefaultNice
	}
	for _, nice := range nices {
		want := nice
		if nice == 0 {
			want = DefaultNice
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		r := &runner{req: Request{Nice: nice}}
		out, err := r.run(ctx, nil, "/bin/sh", "-c", `while [ "$(nice)" = "`+strconv.Itoa(own)+`" ]; do :; done; nice`)
		cancel()
		require.NoError(t, err)
		require.Equal(t, strconv.Itoa(want), strings.TrimSpace(string(out)))
	}
}
