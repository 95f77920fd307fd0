package scheduler

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"buildledger/events"
	"buildledger/events/storetest"
)

// coldStartLog returns about n recorded events shaped like a busy
// ledger: per build one BuildQueued, a chain of four steps each queued,
// dispatched, started and finished, and BuildFinished. With queueEvery
// above 0, every queueEvery-th build is only queued, with its steps: the
// queue a cold start finds.
func coldStartLog(b *testing.B, n, queueEvery int) []events.Recorded {
	codec := events.NewCodec()
	md := events.Metadata{Actor: "component:bench"}
	now := time.Unix(1_700_000_000, 0)
	var out []events.Recorded
	add := func(stream string, p events.Payload) {
		ev, err := codec.Encode(p, md, now)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, events.Recorded{ID: ev.ID, Type: ev.Type, Version: ev.Version, Stream: stream,
			Position: events.At(uint64(len(out) + 1)), Data: ev.Data})
	}
	for i := range 50 {
		add(fmt.Sprint("machine-m", i), &events.MachineRegistered{Name: fmt.Sprint("m", i), MachineConfig: events.MachineConfig{
			Systems: []string{"x86_64-linux"}, MaxJobs: 8, SpeedFactor: 1, Enabled: true}})
	}
	for id := int64(1); len(out) < n; id++ {
		t := int64(1_700_000_000) + id
		var prev string
		drvs := make([]string, 4)
		for k := range drvs {
			drvs[k] = fmt.Sprintf("/nix/store/%026d%06d-s.drv", id, k)
		}
		add(fmt.Sprint("build-", id), &events.BuildQueued{BuildID: id, JobsetID: id % 100, DrvPath: drvs[3], System: "x86_64-linux"})
		for _, d := range drvs {
			var in []string
			if prev != "" {
				in = []string{prev}
			}
			add("step-"+d, &events.StepQueued{DrvPath: d, System: "x86_64-linux", InputDrvs: in})
			prev = d
		}
		if queueEvery > 0 && id%int64(queueEvery) == 0 {
			continue
		}
		for k, d := range drvs {
			m := fmt.Sprint("m", id%50)
			add("step-"+d, &events.StepDispatched{DrvPath: d, BuildID: id, Machine: m, Attempt: 1, LeaseUntil: t + 300, Timestamp: t})
			add("step-"+d, &events.StepStarted{DrvPath: d, BuildID: id, StepNr: k + 1, Machine: m, Attempt: 1, StartTime: t})
			add("step-"+d, &events.StepFinished{DrvPath: d, BuildID: id, StepNr: k + 1, Machine: m, Attempt: 1, StartTime: t, StopTime: t + 10})
		}
		add(fmt.Sprint("build-", id), &events.BuildFinished{BuildID: id, StartTime: t, StopTime: t + 10})
	}
	return out[:n]
}

// BenchmarkColdStart measures a cold start over BUILDLEDGER_BENCH_EVENTS
// recorded events (default 1,000,000; make bench-scale runs 10,000,000)
// until the model is ready to dispatch (its first Decide included;
// reading the events from the store is not): decoding and
// folding the whole log, evicting every 5,000 events as Scheduler.CatchUp
// does (evict) or never (keep), or reading a snapshot taken 10,000
// events before the end and folding the rest (snapshot). The -queue
// cases leave every tenth build queued (5,556 builds, 22,224 steps):
// the snapshot holds them. It reports the time to ready, the heap the
// model holds then, the builds it holds and the snapshot's size.
func BenchmarkColdStart(b *testing.B) {
	const tail = 10_000
	n := storetest.BenchEvents(b, 1_000_000)
	codec := events.NewCodec()
	now := time.Now().Unix()
	fold := func(m *Model, log []events.Recorded) {
		for i, r := range log {
			if Filter.Match(r) {
				p, err := codec.Decode(r)
				if err != nil {
					b.Fatal(err)
				}
				m.Apply(p)
			}
			if i%5000 == 4999 {
				m.Evict(now)
			}
		}
		m.Evict(now)
	}
	for _, queue := range []int{0, 10} {
		log := coldStartLog(b, n, queue)
		suffix := ""
		if queue > 0 {
			suffix = "-queue"
		}
		// The snapshot a running scheduler would have saved 10,000 events
		// before the end: evicting, and with the share window pruned as
		// its passes do.
		m := NewModel(Config{})
		fold(m, log[:n-tail])
		m.prune(now)
		snap, err := m.MarshalSnapshot()
		if err != nil {
			b.Fatal(err)
		}
		for _, bc := range []struct {
			name  string
			evict int64
			snap  bool
		}{{"keep", -1, false}, {"evict", 0, false}, {"snapshot", 0, true}} {
			if queue > 0 && bc.name == "keep" {
				continue
			}
			b.Run(bc.name+suffix, func(b *testing.B) {
				var ms runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&ms)
				base := ms.HeapAlloc
				var m *Model
				for range b.N {
					if bc.snap {
						var err error
						if m, err = UnmarshalSnapshot(Config{}, snap); err != nil {
							b.Fatal(err)
						}
						fold(m, log[n-tail:])
					} else {
						m = NewModel(Config{EvictAfter: bc.evict})
						fold(m, log)
					}
					m.Decide(now, 0)
				}
				b.StopTimer()
				runtime.GC()
				runtime.ReadMemStats(&ms)
				b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ready-ms")
				b.ReportMetric(float64(ms.HeapAlloc-base)/(1<<20), "model-MB")
				b.ReportMetric(float64(len(m.builds)), "builds-held")
				if bc.snap {
					b.ReportMetric(float64(len(snap))/(1<<10), "snapshot-KB")
				}
				runtime.KeepAlive(m)
			})
		}
	}
}
