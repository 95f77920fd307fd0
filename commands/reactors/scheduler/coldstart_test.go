package scheduler

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"buildledger/events"
)

// coldStartLog returns about n recorded events shaped like a busy
// ledger: per build one BuildQueued, a chain of four steps each queued,
// dispatched, started and finished, and BuildFinished.
func coldStartLog(b *testing.B, n int) []events.Recorded {
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

// BenchmarkColdStart measures rebuilding the model from 1,000,000
// recorded events: decoding and folding (reading them from the store is
// not included), evicting every 5,000 events as Scheduler.CatchUp does
// (evict) or never (keep). It reports the heap the model holds after the
// fold, and how many builds it holds.
func BenchmarkColdStart(b *testing.B) {
	log := coldStartLog(b, 1_000_000)
	codec := events.NewCodec()
	for _, bc := range []struct {
		name  string
		evict int64
	}{{"keep", -1}, {"evict", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			base := ms.HeapAlloc
			var m *Model
			for range b.N {
				m = NewModel(Config{EvictAfter: bc.evict})
				now := time.Now().Unix()
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
			}
			b.StopTimer()
			runtime.GC()
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(len(log))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(ms.HeapAlloc-base)/(1<<20), "model-MB")
			b.ReportMetric(float64(len(m.builds)), "builds-held")
			runtime.KeepAlive(m)
		})
	}
}
