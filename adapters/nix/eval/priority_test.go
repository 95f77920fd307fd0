//go:build unix

package eval

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// threadNices is a Nix expression whose value is the nice values of the
// threads of the Nix process evaluating it, read from /proc.
const threadNices = `let
  nice = t: let
    stat = builtins.readFile "/proc/self/task/${t}/stat";
    fields = builtins.filter builtins.isString (builtins.split " " (builtins.elemAt (builtins.split "\\) " stat) 2));
  in builtins.elemAt fields 16;
in map nice (builtins.attrNames (builtins.readDir /proc/self/task))`

// TestNixThreadsRunAtItsNice: every thread of Nix runs at Request.Nice,
// its garbage collector's markers, which Nix starts first thing, too.
func TestNixThreadsRunAtItsNice(t *testing.T) {
	requireNix(t)
	if _, err := os.Stat("/proc/self/task"); err != nil {
		t.Skip("no /proc/self/task here")
	}
	out, err := exec.Command("nice").Output()
	require.NoError(t, err)
	own, err := strconv.Atoi(strings.TrimSpace(string(out)))
	require.NoError(t, err)
	nice := own + 7
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := &runner{req: Request{Nice: nice}}
	out, err = r.run(ctx, nil, "nix-instantiate", "--eval", "--strict", "--json", "-E", threadNices)
	require.NoError(t, err)
	var nices []string
	require.NoError(t, json.Unmarshal(out, &nices))
	require.Greater(t, len(nices), 1, "Nix runs more than one thread")
	for _, n := range nices {
		require.Equal(t, strconv.Itoa(nice), n, "the nice value of a thread of Nix: %v", nices)
	}
}
