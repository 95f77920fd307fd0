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

	"buildledger/adapters/nix/nixtest"
	"buildledger/commands/evaluation"
)

// benchRelease is a release expression with n jobs that all depend on one
// chain of ten derivations.
// A salt makes derivations that are not in the store yet.
const benchRelease = `{ n ? 10000, salt ? "" }:
let
  system = builtins.currentSystem;
  busybox = ` + nixtest.Busybox + `;
  mk = name: deps: derivation {
    inherit name system deps salt;
    builder = "${busybox}/busybox";
    args = [ "sh" "-c" "mkdir $out" ];
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
		Workers: workers, AllowedPaths: []string{nixtest.BusyboxDir()},
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

// BenchmarkOnJob10k measures what passing jobs to OnJob while Nix walks
// costs: each iteration evaluates the 10,000 jobs without and with OnJob
// (in turns first), each time with a new salt so that both write all .drv
// files. It also reports when the first job reached OnJob, as a fraction
// of the evaluation's wall time.
func BenchmarkOnJob10k(b *testing.B) {
	requireNix(b)
	dir := b.TempDir()
	require.NoError(b, os.WriteFile(filepath.Join(dir, "release.nix"), []byte(benchRelease), 0o644))
	var without, with, withoutCPU, withCPU, first time.Duration
	run := func(salt string, onJob func(evaluation.Job)) (time.Duration, time.Duration) {
		req := Request{
			NixExprInput: "src", NixExprPath: "release.nix",
			Inputs: map[string]Input{
				"src":  {Kind: KindPath, Value: dir},
				"salt": {Kind: KindString, Value: salt},
			},
			AllowedPaths: []string{nixtest.BusyboxDir()},
			Backend:      BackendInstantiate,
			OnJob:        onJob,
		}
		start, cpu := time.Now(), childCPU(b)
		res, err := Evaluate(context.Background(), req)
		wall, used := time.Since(start), childCPU(b)-cpu
		require.NoError(b, err)
		require.Len(b, res.Jobs, 10000)
		drvs := make([]string, 0, len(res.Jobs))
		for _, j := range res.Jobs {
			drvs = append(drvs, j.DrvPath)
		}
		// After the measures: the nix-store call is a child too.
		nixtest.DeleteDerivations(b, drvs)
		return wall, used
	}
	i := 0
	for b.Loop() {
		i++
		salt := fmt.Sprintf("%d-%d", time.Now().UnixNano(), i)
		var passed int
		var start, firstAt time.Time
		onJob := func(evaluation.Job) {
			if passed == 0 {
				firstAt = time.Now()
			}
			passed++
		}
		plain := func() {
			w, c := run(salt+"-plain", nil)
			without += w
			withoutCPU += c
		}
		streamed := func() {
			start = time.Now()
			w, c := run(salt+"-streamed", onJob)
			with += w
			withCPU += c
			first += firstAt.Sub(start)
			require.Equal(b, 10000, passed)
		}
		if i%2 == 1 {
			plain()
			streamed()
		} else {
			streamed()
			plain()
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(without.Nanoseconds())/n, "plain-ns/op")
	b.ReportMetric(float64(with.Nanoseconds())/n, "onjob-ns/op")
	b.ReportMetric(float64(with)/float64(without), "ratio")
	b.ReportMetric(float64(withCPU)/float64(withoutCPU), "cpu-ratio")
	b.ReportMetric(float64(first)/float64(with), "first-job-at")
}

// childCPU is the user and system time of all waited-for child processes.
func childCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
