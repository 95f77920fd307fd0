package scheduler

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"buildledger/events"
)

// queuedModel returns the model at the end of an evaluation of jobs
// jobs with test/workloads' nixpkgs shape, before anything is built (an
// stdenv that takes hours, as nixpkgs' does): a bootstrap chain into an
// stdenv, and per job a source, a setup hook and a package needing both,
// the stdenv and 0-6 earlier packages drawn with a Zipf law.
func queuedModel(jobs int) *Model {
	m := NewModel(Config{})
	m.Apply(&events.JobsetCreated{Project: "p", Name: "j", ID: 1, JobsetConfig: events.JobsetConfig{SchedulingShares: 100}})
	m.Apply(&events.EvaluationStarted{EvalID: 1, JobsetID: 1})
	r := rand.New(rand.NewPCG(1, 2))
	n := 0
	queue := func(kind string, inputs ...string) string {
		n++
		out := fmt.Sprintf("/nix/store/%032d-%s", n, kind)
		m.Apply(&events.StepQueued{DrvPath: out + ".drv", System: "x86_64-linux", InputDrvs: inputs, EvalID: 1,
			Outputs: []events.Output{{Name: "out", Path: out}}})
		return out + ".drv"
	}
	stage := queue("bootstrap")
	first := stage
	for range 4 {
		stage = queue("bootstrap", stage)
	}
	stdenv := queue("stdenv", stage)
	var pkgs []string
	for i := range jobs {
		inputs := []string{stdenv, queue("src", first), queue("hook", stdenv)}
		if i > 0 {
			z := rand.NewZipf(r, 1.2, 2, uint64(i-1))
			for range min(i, r.IntN(5)+r.IntN(3)) {
				if lib := pkgs[z.Uint64()]; !slices.Contains(inputs, lib) {
					inputs = append(inputs, lib)
				}
			}
		}
		pkg := queue("pkg", inputs...)
		pkgs = append(pkgs, pkg)
		m.Apply(&events.BuildQueued{BuildID: int64(i + 1), EvalID: 1, JobsetID: 1, DrvPath: pkg, System: "x86_64-linux",
			Outputs: []events.Output{{Name: "out", Path: strings.TrimSuffix(pkg, ".drv")}}})
	}
	return m
}

// BenchmarkSnapshotSave measures what a snapshot of a model full of
// queued work costs: how long it holds the scheduler's lock (all of
// writeSnapshot), what it allocates meanwhile, and its size.
func BenchmarkSnapshotSave(b *testing.B) {
	for _, jobs := range []int{10_000, 100_000} {
		b.Run(fmt.Sprint("jobs-", jobs), func(b *testing.B) {
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			base := ms.HeapAlloc
			m := queuedModel(jobs)
			runtime.GC()
			runtime.ReadMemStats(&ms)
			model, allocated := ms.HeapAlloc-base, ms.TotalAlloc
			var size int
			b.ResetTimer()
			for range b.N {
				var buf bytes.Buffer
				if err := m.writeSnapshot(&buf); err != nil {
					b.Fatal(err)
				}
				size = buf.Len()
			}
			b.StopTimer()
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(model)/(1<<20), "model-MB")
			b.ReportMetric(float64(ms.TotalAlloc-allocated)/float64(b.N)/(1<<20), "alloc-MB")
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "locked-ms")
			b.ReportMetric(float64(size)/(1<<20), "snapshot-MB")
			runtime.KeepAlive(m)
		})
	}
}
