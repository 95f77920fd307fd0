package events_test

import (
	"testing"
	"time"

	"buildledger/events"
)

// BenchmarkDecodeMix decodes the five payloads a build's life adds to a
// replay (queued, evaluated, step started and finished, finished).
func BenchmarkDecodeMix(b *testing.B) {
	c := events.NewCodec()
	ps := []events.Payload{
		events.BuildQueued{BuildID: 5, EvalID: 1, JobsetID: 1, Project: "p", Jobset: "j", Job: "job5", NixName: "pkg-1.0", DrvPath: "/nix/store/00000000000000000000000000000005-pkg-1.0.drv", System: "x86_64-linux", Outputs: []events.Output{{Name: "out", Path: "/nix/store/00000000000000000000000000000005-pkg-1.0"}}, Meta: events.JobMeta{Timeout: 36000, MaxSilent: 7200, SchedulingPriority: 100}, Timestamp: 1700000000},
		events.JobEvaluated{EvalID: 1, Job: "job5", BuildID: 5, IsNew: true},
		events.StepStarted{DrvPath: "/nix/store/00000000000000000000000000000005-pkg-1.0.drv", BuildID: 5, StepNr: 1, Machine: "m1", Attempt: 1, StartTime: 1700000000},
		events.StepFinished{DrvPath: "/nix/store/00000000000000000000000000000005-pkg-1.0.drv", BuildID: 5, StepNr: 1, Machine: "m1", Attempt: 1, StartTime: 1700000000, StopTime: 1700000010, TimesBuilt: 1, Outputs: []events.Output{{Name: "out", Path: "/nix/store/00000000000000000000000000000005-pkg-1.0"}}},
		events.BuildFinished{BuildID: 5, StartTime: 1700000000, StopTime: 1700000010, Size: 1024, ClosureSize: 4096},
	}
	var recs []events.Recorded
	md := events.Metadata{Actor: "user:bench"}
	for _, p := range ps {
		ev, err := c.Encode(p, md, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, events.Recorded{ID: ev.ID, Type: ev.Type, Version: ev.Version, Data: ev.Data})
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, r := range recs {
			if _, err := c.Decode(r); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkEncodeMix encodes the largest of them, BuildQueued.
func BenchmarkEncodeMix(b *testing.B) {
	c := events.NewCodec()
	p := events.BuildQueued{BuildID: 5, EvalID: 1, JobsetID: 1, Project: "p", Jobset: "j", Job: "job5", NixName: "pkg-1.0", DrvPath: "/nix/store/00000000000000000000000000000005-pkg-1.0.drv", System: "x86_64-linux", Outputs: []events.Output{{Name: "out", Path: "/nix/store/00000000000000000000000000000005-pkg-1.0"}}, Meta: events.JobMeta{Timeout: 36000, MaxSilent: 7200, SchedulingPriority: 100}, Timestamp: 1700000000}
	md := events.Metadata{Actor: "user:bench"}
	now := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := c.Encode(p, md, now); err != nil {
			b.Fatal(err)
		}
	}
}
