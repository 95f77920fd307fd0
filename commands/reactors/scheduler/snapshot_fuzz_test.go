package scheduler

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"testing"

	"buildledger/events"
)

// fuzzModel returns a small model with an edge, a dispatched step, a
// finished and an unfinished build, a pending finish and a closed
// evaluation: the seed the fuzzer mutates.
func fuzzModel() *Model {
	m := NewModel(Config{})
	m.Apply(&events.JobsetCreated{Project: "p", Name: "j", ID: 1, JobsetConfig: events.JobsetConfig{SchedulingShares: 10}})
	m.Apply(&events.MachineRegistered{Name: "b1", MachineConfig: events.MachineConfig{Systems: []string{"x86_64-linux"},
		MaxJobs: 2, Enabled: true}})
	a, b := "/nix/store/aaaa-a.drv", "/nix/store/bbbb-b.drv"
	m.Apply(&events.StepQueued{DrvPath: a, System: "x86_64-linux", EvalID: 3, Outputs: []events.Output{{Name: "out", Path: "/nix/store/a"}}})
	m.Apply(&events.StepQueued{DrvPath: b, System: "x86_64-linux", EvalID: 3, InputDrvs: []string{a, "/nix/store/cccc-c.drv"}})
	m.Apply(&events.BuildQueued{BuildID: 1, JobsetID: 1, EvalID: 3, DrvPath: b})
	m.Apply(&events.BuildQueued{BuildID: 2, JobsetID: 1, EvalID: 3, DrvPath: a})
	m.Apply(&events.EvaluationFinished{EvalID: 3})
	m.Apply(&events.StepDispatched{DrvPath: a, BuildID: 2, Machine: "b1", Attempt: 1, LeaseUntil: 400})
	m.Apply(&events.StepFinished{DrvPath: a, BuildID: 2, Machine: "b1", Attempt: 1, StartTime: 100, StopTime: 200})
	return m
}

// FuzzUnmarshalSnapshot: whatever the JSON under a snapshot's gzip,
// reading it returns an error or a model that decides without panicking
// and whose snapshot reads back to the same snapshot. (The JSON is
// fuzzed rather than its compressed form, which a mutation seldom leaves
// readable.) The seeds: a snapshot's stream, and the state as one JSON
// value (the header may hold steps and builds).
func FuzzUnmarshalSnapshot(f *testing.F) {
	snap, err := fuzzModel().MarshalSnapshot()
	if err != nil {
		f.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(snap))
	if err != nil {
		f.Fatal(err)
	}
	stream, err := io.ReadAll(zr)
	if err != nil {
		f.Fatal(err)
	}
	st, err := readState(bytes.NewReader(stream))
	if err != nil {
		f.Fatal(err)
	}
	whole, err := json.Marshal(st)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(stream)
	f.Add(whole)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := unmarshalState(Config{}, bytes.NewReader(data))
		if err != nil {
			return
		}
		again, err := m.MarshalSnapshot()
		if err != nil {
			t.Fatal(err)
		}
		m2, err := UnmarshalSnapshot(Config{}, again)
		if err != nil {
			t.Fatalf("a snapshot of a read snapshot does not read: %v", err)
		}
		third, err := m2.MarshalSnapshot()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, third) {
			t.Fatalf("snapshot changed on a round trip:\n%s\n%s", again, third)
		}
		m.Status()
		m.Actions(1000)
		m.Evict(1000)
		m.Decide(1000, 0)
	})
}
