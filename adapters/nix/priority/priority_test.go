//go:build unix

package priority

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestStartsAtItsNice: the child runs at the value from its start, so
// whatever it starts has the value too: `nice` prints its own at once. A
// lower value than the caller's needs root.
func TestStartsAtItsNice(t *testing.T) {
	own := ownNice(t)
	nices := []int{own + 5}
	if os.Geteuid() == 0 && own > -19 {
		nices = append(nices, own-1)
	}
	for _, nice := range nices {
		cmd := exec.Command("nice")
		var out strings.Builder
		cmd.Stdout = &out
		require.NoError(t, Start(cmd, nice))
		require.NoError(t, cmd.Wait())
		require.Equal(t, strconv.Itoa(nice), strings.TrimSpace(out.String()))
	}
	require.Equal(t, own, ownNice(t), "the caller keeps its own value")
}

// ownNice returns the nice value the test runs at.
func ownNice(t *testing.T) int {
	t.Helper()
	out, err := exec.Command("nice").Output()
	require.NoError(t, err)
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	require.NoError(t, err)
	return n
}
