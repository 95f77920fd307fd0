// Command benchscale runs a nixpkgs-shaped workload end to end (make
// bench-scale): the real "up" with a private Postgres and local builder
// slots, real evaluation and real builds, a load generator on the web,
// and the bare Nix tools on the same expression, and prints the figures
// of issue #24. SCALE_JOBS sets the size (default 100,000 jobs).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"buildledger/test/workloads"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchscale:", err)
		os.Exit(1)
	}
}

func run() error {
	jobs := 100_000
	if s := os.Getenv("SCALE_JOBS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("SCALE_JOBS: %w", err)
		}
		jobs = n
	}
	o := workloads.RunOptions{Params: workloads.Params{Jobs: jobs, Seed: 1, TimeoutSeconds: 10,
		Nonce: strconv.FormatInt(time.Now().UnixNano(), 36)}}
	flag.StringVar(&o.Bin, "bin", "", "the buildledger binary")
	flag.IntVar(&o.Slots, "slots", 4, "local builder slots")
	flag.IntVar(&o.WebRate, "web-rate", 50, "web requests per second during the run")
	flag.BoolVar(&o.Baselines, "baselines", true, "also time nix-instantiate and nix-build of the same expression")
	flag.BoolVar(&o.UntilFirstDispatch, "until-first-dispatch", false,
		"stop once the evaluation finished and a step was dispatched, and print only the evaluation's figures")
	flag.Parse()
	if o.Bin == "" {
		return errors.New("usage: benchscale -bin BUILDLEDGER [-slots N] [-web-rate R]")
	}
	dir, err := os.MkdirTemp("", "buildledger-scale-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	o.Dir = dir
	o.Logf = func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s benchscale: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f, err := workloads.Run(ctx, o)
	if err != nil {
		if b, rerr := os.ReadFile(filepath.Join(dir, "up.log")); rerr == nil && len(b) > 0 {
			fmt.Fprintf(os.Stderr, "up.log (tail):\n%s\n", b[max(0, len(b)-4000):])
		}
		return err
	}
	if o.UntilFirstDispatch {
		printEval(f)
		return nil
	}
	print(f, o)
	return nil
}

// printEval prints the figures of a run stopped at the first dispatch.
func printEval(f *workloads.Figures) {
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("workload: %d jobs, %d derivations; %d builds queued; %d events; load average %s", f.Jobs, f.Derivations,
		f.Builds, f.Events, load)
	fmt.Printf("evaluation: %.1f s; first step queued %.1f s and first dispatched %.1f s after it started (goal ≤ 10 s)\n",
		f.Eval.Seconds(), f.FirstQueued.Seconds(), f.FirstDispatch.Seconds())
}

func print(f *workloads.Figures, o workloads.RunOptions) {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }
	ratio := func(a, b time.Duration) string {
		if b <= 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2f×", a.Seconds()/b.Seconds())
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("workload: %d jobs, %d derivations; %d builds (%d succeeded, %d failed, %d timed out, %d dependency failed), %d steps; %d slots; load average %s",
		f.Jobs, f.Derivations, f.Builds, f.Succeeded, f.Failed, f.TimedOut, f.DepFailed, f.Steps, o.Slots, load)
	fmt.Printf("evaluation: %s; bare nix-instantiate %s (%s; nix-eval-jobs is not installed: Debian does not package it)\n",
		ms(f.Eval), ms(f.BareInstantiate), ratio(f.Eval, f.BareInstantiate))
	fmt.Printf("events written: %d (%.1f a build); ledger.events %.1f MB (%.0f B a build); build logs on disk %.1f MB (%.0f B a build)\n",
		f.Events, float64(f.Events)/float64(max(1, f.Builds)), float64(f.EventsBytes)/1e6, float64(f.EventsBytes)/float64(max(1, f.Builds)),
		float64(f.LogBytes)/1e6, float64(f.LogBytes)/float64(max(1, f.Builds)))
	dps := 0.0
	if f.DecideSeconds > 0 {
		dps = f.Decisions / f.DecideSeconds
	}
	fmt.Printf("scheduler: %.0f decisions in %.0f passes, %.0f decisions/s of decision time; decision pass p99 ≤ %.1f ms\n",
		f.Decisions, f.DecidePasses, dps, f.DecidePassP99*1000)
	fmt.Printf("first step queued %s and dispatched %s after the evaluation started (goal ≤ 10 s)\n", ms(f.FirstQueued), ms(f.FirstDispatch))
	fmt.Printf("peak RSS: up %.0f MB (goal < 1,500 MB), Postgres %.0f MB (PSS of all its processes)\n",
		float64(f.UpPeakRSS)/1e6, float64(f.PgPeakRSS)/1e6)
	fmt.Printf("makespan: %s; nix-build -j %d of the same closure %s (%s; goal ≤ 1.2×)\n",
		ms(f.Makespan), o.Slots, ms(f.NixBuild), ratio(f.Makespan, f.NixBuild))
	fmt.Printf("replay of the log: %d events in %s (%.0f events/s); scheduler cold start from it %s\n",
		f.ReplayEvents, ms(f.Replay), float64(f.ReplayEvents)/f.Replay.Seconds(), ms(f.ColdStart))
	fmt.Printf("web during the run: %d requests at %d/s, %d failed; p50 %s, p99 %s (goal < 50 ms), max %s\n",
		f.WebRequests, o.WebRate, f.WebErrors, ms(f.WebP50), ms(f.WebP99), ms(f.WebMax))
	for _, p := range f.WebPages {
		fmt.Printf("  %-40s %5d answers; p50 %s, p99 %s, max %s\n", p.Page, p.Answers, ms(p.P50), ms(p.P99), ms(p.Max))
	}
}
