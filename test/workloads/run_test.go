package workloads

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSmokeRun runs a small workload (SCALE_JOBS, default 30) end to end
// as make bench-scale does, without the bare-Nix baselines: the real
// binary, Postgres, evaluation and builds under Nix's default sandbox.
// It checks outcomes only: every job's build finished, the failing one
// failed, the one timing out timed out, the rest succeeded.
func TestSmokeRun(t *testing.T) {
	for _, tool := range []string{"nix-instantiate", "nix-store", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required: %v", tool, err)
			}
			t.Skipf("SKIPPED: %s is not installed", tool)
		}
	}
	jobs := 30
	if s := os.Getenv("SCALE_JOBS"); s != "" {
		var err error
		jobs, err = strconv.Atoi(s)
		require.NoError(t, err)
	}
	dir := t.TempDir()
	require.NoError(t, os.Chmod(filepath.Dir(dir), 0o755))
	bin := filepath.Join(dir, "buildledger")
	out, err := exec.Command("go", "build", "-o", bin, "../../cmd/buildledger").CombinedOutput()
	require.NoError(t, err, "%s", out)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	f, err := Run(ctx, RunOptions{Bin: bin, Dir: filepath.Join(dir, "run"), Slots: 4, WebRate: 10, Deadline: 10 * time.Minute,
		Params: Params{Jobs: jobs, Seed: 3, TimeoutSeconds: 5, Nonce: strconv.FormatInt(time.Now().UnixNano(), 36)},
		Logf:   t.Logf})
	require.NoError(t, err)
	w, err := Generate(Params{Jobs: jobs, Seed: 3})
	require.NoError(t, err)
	_, failing, timingOut := w.Count()
	assert.Equal(t, jobs, f.Builds)
	assert.Equal(t, failing, f.Failed)
	assert.Equal(t, timingOut, f.TimedOut)
	assert.Zero(t, f.DepFailed, "failures are leaves")
	assert.Equal(t, jobs-failing-timingOut, f.Succeeded)
	assert.Equal(t, len(w.Nodes), f.Steps, "one step a derivation")
	assert.Zero(t, f.WebErrors)
	assert.Positive(t, f.ReplayEvents)
	t.Logf("figures (not asserted): %+v", *f)
}
