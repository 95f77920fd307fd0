package builder_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/nix/nixtest"
	"buildledger/commands"
	"buildledger/domain/status"
)

// benchSteps is how many trivial derivations each side builds.
var benchSteps = envInt("BENCH_STEPS", 200)

// trivialJobs is benchSteps independent trivial derivations; %s is a
// nonce.
const trivialJobs = `
let busybox = ` + nixtest.Busybox + `;
mk = i: derivation {
  name = "trivial-${toString i}";
  system = builtins.currentSystem;
  builder = "${busybox}/busybox";
  args = [ "sh" "-c" "echo ${toString i} > $out" ];
  nonce = "%s";
};
in { all = builtins.genList mk %d; }
`

// BenchmarkStepOverhead compares the whole worker pipeline (StepStarted,
// serve session on a localhost builder, build, nix-support scan, signed
// upload to a file:// cache, the final append) for benchSteps trivial
// derivations, one after the other, with nix-build building the same
// derivations (another nonce) with --max-jobs 1 in a store of its own.
// Both build in chroot stores with the same options. It reports
// milliseconds per step of each and their ratio.
func BenchmarkStepOverhead(b *testing.B) {
	requireNix(b)
	var workerTotal, nixTotal time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := newEnv(b, envOptions{})
		m := localhost(b)
		m.Store = e.local // the builder works on the local store: nothing to copy
		drvs := strings.Fields(e.instantiateAll(fmt.Sprintf(trivialJobs, nonce(), benchSteps)))
		require.Len(b, drvs, benchSteps)
		steps := make([]commands.BuildStep, len(drvs))
		for j, d := range drvs {
			steps[j] = e.dispatch(d, "localhost", m, nil)
		}
		b.StartTimer()

		start := time.Now()
		for _, c := range steps {
			res, err := e.worker.Build(context.Background(), c)
			require.NoError(b, err)
			require.Equal(b, int(status.Success), res.Finished.Status, res.Finished.ErrorMsg)
		}
		workerTotal += time.Since(start)

		nixStore := filepath.Join(b.TempDir(), "nixbuild")
		args := append([]string{"--store", nixStore, "--max-jobs", "1", "--no-out-link", "--quiet"}, nixArgs...)
		args = append(args, "--expr", fmt.Sprintf(trivialJobs, nonce(), benchSteps), "--attr", "all")
		start = time.Now()
		cmd := exec.Command("nix-build", args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		nixTotal += time.Since(start)
		require.NoError(b, err, "nix-build: %s", stderr.String())
		require.Len(b, strings.Fields(string(out)), benchSteps)
	}
	perWorker := float64(workerTotal.Milliseconds()) / float64(b.N*benchSteps)
	perNix := float64(nixTotal.Milliseconds()) / float64(b.N*benchSteps)
	b.ReportMetric(perWorker, "worker-ms/step")
	b.ReportMetric(perNix, "nix-build-ms/step")
	b.ReportMetric(perWorker/perNix, "ratio")
}

// instantiateAll instantiates the "all" attribute of expr into the local
// store and returns the printed derivation paths.
func (e *env) instantiateAll(expr string) string {
	e.t.Helper()
	cmd := exec.Command("nix-instantiate", "--store", e.local, "--expr", expr, "--attr", "all")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(e.t, err, "nix-instantiate: %s", stderr.String())
	return string(out)
}

// envInt reads an integer from the environment, for shorter local runs.
func envInt(name string, def int) int {
	var n int
	if _, err := fmt.Sscan(os.Getenv(name), &n); err != nil || n <= 0 {
		return def
	}
	return n
}
