package eval

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// benchRelease is a release expression with n jobs that all depend on one
// chain of ten derivations.
const benchRelease = `{ n ? 10000 }:
let
  system = builtins.currentSystem;
  mk = name: deps: derivation {
    inherit name system deps;
    builder = "/bin/sh";
    args = [ "-c" "mkdir $out" ];
  };
  chain = builtins.foldl' (prev: i: mk "bench-chain-${toString i}" [ prev ]) (mk "bench-chain-base" [ ]) (builtins.genList (i: i) 10);
in
builtins.listToAttrs (builtins.genList (i: {
  name = "job${toString i}";
  value = mk "bench-job-${toString i}" [ chain ] // { meta.description = "job ${toString i}"; };
}) n)
`

// BenchmarkEvaluate10k compares Evaluate on 10,000 jobs with a bare
// nix-instantiate of the same expression (which also writes every .drv),
// with one Nix process and with two working on halves of the jobset.
func BenchmarkEvaluate10k(b *testing.B) {
	requireNix(b)
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) { benchEvaluate(b, workers) })
	}
}

func benchEvaluate(b *testing.B, workers int) {
	dir := b.TempDir()
	require.NoError(b, os.WriteFile(filepath.Join(dir, "release.nix"), []byte(benchRelease), 0o644))
	req := Request{
		NixExprInput: "src", NixExprPath: "release.nix",
		Inputs:  map[string]Input{"src": {Kind: KindPath, Value: dir}},
		Backend: BackendInstantiate,
		Workers: workers,
	}
	// Wall time is noisy on a shared machine, so the CPU time of the child
	// processes (user + system, from RUSAGE_CHILDREN) is reported too.
	var ours, bare, oursCPU, bareCPU time.Duration
	for b.Loop() {
		start, cpu := time.Now(), childCPU(b)
		res, err := Evaluate(context.Background(), req)
		ours += time.Since(start)
		oursCPU += childCPU(b) - cpu
		require.NoError(b, err)
		require.Len(b, res.Jobs, 10000)
		require.Empty(b, res.Errors)

		start, cpu = time.Now(), childCPU(b)
		cmd := exec.Command("nix-instantiate", filepath.Join(dir, "release.nix"))
		cmd.Env = append(os.Environ(), "NIX_PATH=")
		out, err := cmd.CombinedOutput()
		bare += time.Since(start)
		bareCPU += childCPU(b) - cpu
		require.NoError(b, err, "%s", out)
	}
	n := float64(b.N)
	b.ReportMetric(float64(ours.Nanoseconds())/n, "evaluate-ns/op")
	b.ReportMetric(float64(bare.Nanoseconds())/n, "bare-ns/op")
	b.ReportMetric(float64(ours)/float64(bare), "ratio")
	b.ReportMetric(float64(oursCPU)/float64(bareCPU), "cpu-ratio")
}

// childCPU is the user and system time of all waited-for child processes.
func childCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
