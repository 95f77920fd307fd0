package scheduler

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"buildledger/events"
)

// benchModel returns a model with 50 machines (8 slots each, 40 x86_64,
// 10 aarch64, some with a "kvm" feature) and n runnable steps in 500
// jobsets with mixed priorities.
func benchModel(n int) (*Model, *rand.Rand, *int64) {
	m := NewModel(Config{CriticalPathEvery: 3600, UnsupportedEvery: 3600})
	r := rand.New(rand.NewPCG(1, 2))
	for j := range 500 {
		m.Apply(&events.JobsetCreated{Project: "p", Name: fmt.Sprint("j", j), ID: int64(j + 1),
			JobsetConfig: events.JobsetConfig{SchedulingShares: 1 + r.IntN(500)}})
	}
	for i := range 50 {
		sys := "x86_64-linux"
		if i >= 40 {
			sys = "aarch64-linux"
		}
		var feats []string
		if i%5 == 0 {
			feats = []string{"kvm", "big-parallel"}
		}
		m.Apply(&events.MachineRegistered{Name: fmt.Sprint("m", i), MachineConfig: events.MachineConfig{
			URI: fmt.Sprint("ssh://m", i), Systems: []string{sys}, MaxJobs: 8, SpeedFactor: float64(1 + i%4),
			SupportedFeatures: feats, Enabled: true}})
	}
	next := int64(0)
	for range n {
		addBenchStep(m, r, &next)
	}
	return m, r, &next
}

func addBenchStep(m *Model, r *rand.Rand, next *int64) {
	*next++
	id := *next
	d := fmt.Sprintf("/nix/store/%032d-s.drv", id)
	sys := "x86_64-linux"
	if id%5 == 0 {
		sys = "aarch64-linux"
	}
	var feats []string
	if id%50 == 0 {
		feats = []string{"kvm"}
	}
	m.Apply(&events.StepQueued{DrvPath: d, System: sys, RequiredFeatures: feats})
	m.Apply(&events.BuildQueued{BuildID: id, JobsetID: int64(1 + r.IntN(500)), DrvPath: d,
		GlobalPriority: r.IntN(3), Meta: events.JobMeta{SchedulingPriority: r.IntN(200)}})
}

// BenchmarkDecide measures dispatch decisions with 100,000 runnable
// steps and 50 machines: every pass orders the queues (Order) and fills
// every free slot (next); then all dispatched steps finish, charging
// their jobsets, and as many new steps are queued. It reports decisions
// per second (Order included), the 99th percentile of one choice (next),
// and of one Order pass.
func BenchmarkDecide(b *testing.B) {
	m, r, nextID := benchModel(100_000)
	now := int64(1_000_000)
	var choices, orders []time.Duration
	var busy time.Duration
	decided := 0
	b.ResetTimer()
	for decided < b.N {
		now += 10
		t0 := time.Now()
		m.Order(now)
		orders = append(orders, time.Since(t0))
		busy += orders[len(orders)-1]
		var ds []Decision
		systems := make([]string, 0, len(m.queues))
		for sys := range m.queues {
			systems = append(systems, sys)
		}
		sort.Strings(systems)
		for _, sys := range systems {
			q := m.queues[sys]
			for {
				t1 := time.Now()
				d, ok := m.next(q, now)
				el := time.Since(t1)
				busy += el
				if !ok {
					break
				}
				choices = append(choices, el)
				ds = append(ds, d)
			}
		}
		t2 := time.Now()
		m.EndPass()
		busy += time.Since(t2)
		if len(ds) == 0 {
			b.Fatal("no decision")
		}
		decided += len(ds)
		b.StopTimer()
		for _, d := range ds {
			e := d.Dispatched(now)
			m.Apply(&e)
			m.Apply(&events.StepFinished{DrvPath: d.DrvPath, BuildID: d.BuildID, Attempt: d.Attempt, Machine: d.Machine,
				StartTime: now - int64(r.IntN(600)), StopTime: now})
			addBenchStep(m, r, nextID)
		}
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(decided)/busy.Seconds(), "decisions/s")
	b.ReportMetric(float64(pct(choices, 0.99).Microseconds()), "p99-choice-µs")
	b.ReportMetric(float64(pct(orders, 0.5).Microseconds()), "p50-order-µs")
	b.ReportMetric(float64(pct(orders, 0.99).Microseconds()), "p99-order-µs")
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}
