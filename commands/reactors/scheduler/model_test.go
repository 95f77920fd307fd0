package scheduler_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/commands/reactors/scheduler"
	"buildledger/domain/status"
	"buildledger/domain/step"
	"buildledger/events"
)

const sys = "x86_64-linux"

func drv(name string) string { return "/nix/store/" + name + "hash-" + name + ".drv" }

func out(name string) []events.Output {
	return []events.Output{{Name: "out", Path: "/nix/store/" + name + "out-" + name}}
}

type sim struct {
	t *testing.T
	m *scheduler.Model
}

func newSim(t *testing.T, cfg scheduler.Config) *sim {
	cfg.CriticalPathEvery, cfg.UnsupportedEvery = -1, -1
	return &sim{t: t, m: scheduler.NewModel(cfg)}
}

func (s *sim) apply(ps ...events.Payload) {
	for _, p := range ps {
		s.m.Apply(p)
	}
}

func (s *sim) machine(name string, maxJobs int, speed float64, systems []string, supported, mandatory []string) {
	s.apply(&events.MachineRegistered{Name: name, MachineConfig: events.MachineConfig{URI: "ssh://" + name, Systems: systems,
		MaxJobs: maxJobs, SpeedFactor: speed, SupportedFeatures: supported, MandatoryFeatures: mandatory, Enabled: true}})
}

// step queues a derivation with inputs.
func (s *sim) step(name, system string, features []string, inputs ...string) {
	var in []string
	for _, i := range inputs {
		in = append(in, drv(i))
	}
	s.apply(&events.StepQueued{DrvPath: drv(name), System: system, Outputs: out(name), InputDrvs: in, RequiredFeatures: features})
}

// evalStep is the StepQueued of derivation name, with inputs, queued by
// evaluation eval.
func evalStep(name string, eval int64, inputs ...string) *events.StepQueued {
	e := &events.StepQueued{DrvPath: drv(name), System: sys, Outputs: out(name), EvalID: eval}
	for _, in := range inputs {
		e.InputDrvs = append(e.InputDrvs, drv(in))
	}
	return e
}

// evalBuild is the BuildQueued of a job of evaluation eval whose
// top-level derivation is top.
func evalBuild(id, eval int64, top string) *events.BuildQueued {
	return &events.BuildQueued{BuildID: id, EvalID: eval, DrvPath: drv(top), System: sys, Outputs: out(top)}
}

type buildOpt struct {
	jobset int64
	global int
	local  int
}

func (s *sim) build(id int64, top string, o buildOpt) {
	s.apply(&events.BuildQueued{BuildID: id, JobsetID: o.jobset, DrvPath: drv(top), System: sys, Outputs: out(top),
		GlobalPriority: o.global, Meta: events.JobMeta{SchedulingPriority: o.local}})
}

// dispatch decides at now and records the decisions as events.
func (s *sim) dispatch(now int64) []scheduler.Decision {
	ds := s.m.Decide(now, 0)
	for _, d := range ds {
		if d.Verify != nil {
			e := d.VerificationDispatched(now)
			s.apply(&e)
			continue
		}
		e := d.Dispatched(now)
		s.apply(&e)
	}
	return ds
}

func (s *sim) finish(d scheduler.Decision, st int, start, stop int64) {
	s.apply(&events.StepStarted{DrvPath: d.DrvPath, BuildID: d.BuildID, StepNr: d.StepNr, Attempt: d.Attempt, Machine: d.Machine, StartTime: start},
		&events.StepFinished{DrvPath: d.DrvPath, BuildID: d.BuildID, StepNr: d.StepNr, Attempt: d.Attempt, Machine: d.Machine,
			Status: st, StartTime: start, StopTime: stop})
}

// act applies the events of the due actions as the scheduler would record
// them, and returns the actions.
func (s *sim) act(now int64) []scheduler.Action {
	as := s.m.Actions(now)
	for _, a := range as {
		switch a.Kind {
		case scheduler.FinishBuild:
			s.apply(a.Finish)
		case scheduler.RequeueStep:
			s.apply(a.Requeue)
		case scheduler.AbandonStep, scheduler.AbortStep, scheduler.CancelStep:
			s.apply(a.StepEnd)
		}
	}
	return as
}

func drvs(ds []scheduler.Decision) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.DrvPath)
	}
	return out
}

func TestOrder(t *testing.T) {
	tests := []struct {
		name  string
		setup func(s *sim)
		want  []string
	}{
		{"global priority first", func(s *sim) {
			s.step("a", sys, nil)
			s.step("b", sys, nil)
			s.build(1, "a", buildOpt{local: 500})
			s.build(2, "b", buildOpt{global: 10})
		}, []string{drv("b"), drv("a")}},
		{"lowest build id last resort", func(s *sim) {
			s.step("a", sys, nil)
			s.step("b", sys, nil)
			s.build(2, "a", buildOpt{})
			s.build(1, "b", buildOpt{})
		}, []string{drv("b"), drv("a")}},
		{"local priority before build id", func(s *sim) {
			s.step("a", sys, nil)
			s.step("b", sys, nil)
			s.build(1, "a", buildOpt{local: 100})
			s.build(2, "b", buildOpt{local: 200})
		}, []string{drv("b"), drv("a")}},
		{"critical path before local priority", func(s *sim) {
			s.step("a", sys, nil)
			s.step("b", sys, nil)
			s.step("c", sys, nil, "b")
			s.step("d", sys, nil, "c")
			s.build(1, "a", buildOpt{local: 999})
			s.build(2, "d", buildOpt{})
		}, []string{drv("b"), drv("c"), drv("a"), drv("d")}},
		{"share used before critical path", func(s *sim) {
			s.apply(&events.JobsetCreated{Project: "p", Name: "busy", ID: 1, JobsetConfig: events.JobsetConfig{SchedulingShares: 1}},
				&events.JobsetCreated{Project: "p", Name: "idle", ID: 2, JobsetConfig: events.JobsetConfig{SchedulingShares: 1}})
			// Jobset 1 used an hour of build time.
			s.step("old", sys, nil)
			s.build(9, "old", buildOpt{jobset: 1})
			ds := s.dispatch(1000)
			require.Len(s.t, ds, 1)
			s.finish(ds[0], 0, 1000, 4600)
			s.step("a", sys, nil)
			s.step("b", sys, nil)
			s.step("c", sys, nil, "a")
			s.build(1, "c", buildOpt{jobset: 1})
			s.build(2, "b", buildOpt{jobset: 2})
		}, []string{drv("b"), drv("a")}},
		{"bump wins", func(s *sim) {
			s.step("a", sys, nil)
			s.step("b", sys, nil)
			s.build(1, "a", buildOpt{})
			s.build(2, "b", buildOpt{})
			s.apply(&events.BuildBumped{BuildID: 2, GlobalPriority: 1700000000})
		}, []string{drv("b"), drv("a")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSim(t, scheduler.Config{})
			s.machine("m1", 1, 1, []string{sys}, nil, nil)
			tt.setup(s)
			var got []string
			for now := int64(5000); len(got) < len(tt.want); now++ {
				ds := s.dispatch(now)
				require.Len(t, ds, 1, "one slot: one decision per pass")
				got = append(got, ds[0].DrvPath)
				s.finish(ds[0], 0, now, now)
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestMachineFit(t *testing.T) {
	s := newSim(t, scheduler.Config{})
	s.machine("slow", 4, 1, []string{sys}, []string{"kvm"}, nil)
	s.machine("fast", 4, 4, []string{sys}, nil, nil)
	s.machine("big", 1, 1, []string{sys, "aarch64-linux"}, []string{"big-parallel"}, []string{"big-parallel"})
	s.machine("off", 4, 1, []string{"i686-linux"}, nil, nil)
	s.apply(&events.MachineUpdated{Name: "off", MachineConfig: events.MachineConfig{Systems: []string{"i686-linux"}, MaxJobs: 4}})
	s.step("plain", sys, nil)
	s.step("kvm", sys, []string{"kvm"})
	s.step("bigp", sys, []string{"big-parallel"})
	s.step("arm", "aarch64-linux", nil)
	s.step("fetch", scheduler.BuiltinSystem, nil)
	s.step("i686", "i686-linux", nil)
	for i, n := range []string{"plain", "kvm", "bigp", "arm", "fetch", "i686"} {
		s.build(int64(i+1), n, buildOpt{})
	}
	got := map[string]string{}
	for _, d := range s.dispatch(100) {
		got[d.DrvPath] = d.Machine
	}
	require.Equal(t, map[string]string{
		drv("plain"): "slow", // fewest jobs per speed factor: fast has fetch (1/4 > 0/1)
		drv("kvm"):   "slow", // only one supporting kvm
		drv("bigp"):  "big",  // mandatory feature required
		drv("fetch"): "fast", // builtin fits any machine; the faster of two idle ones
		// arm: only "big" builds aarch64, but its mandatory feature is not
		// required. i686: the only machine is disabled.
	}, got)
	require.Equal(t, 4, s.m.Status().NrActiveSteps)
}

func TestSlotsAndSpeed(t *testing.T) {
	s := newSim(t, scheduler.Config{})
	s.machine("a", 2, 1, []string{sys}, nil, nil)
	s.machine("b", 2, 2, []string{sys}, nil, nil)
	for i := range 10 {
		n := string(rune('a' + i))
		s.step(n, sys, nil)
		s.build(int64(i+1), n, buildOpt{})
	}
	ds := s.dispatch(100)
	require.Len(t, ds, 4, "four slots")
	per := map[string]int{}
	for _, d := range ds {
		per[d.Machine]++
	}
	require.Equal(t, map[string]int{"a": 2, "b": 2}, per)
	require.Equal(t, "b", ds[0].Machine, "the faster machine first")
	require.Empty(t, s.dispatch(101), "no free slot")
	s.finish(ds[0], 0, 100, 110)
	require.Len(t, s.dispatch(111), 1)
}

func TestDiamond(t *testing.T) {
	s := newSim(t, scheduler.Config{})
	s.machine("m", 8, 1, []string{sys}, nil, nil)
	s.step("a", sys, nil)
	s.step("b", sys, nil, "a")
	s.step("c", sys, nil, "a")
	s.step("d", sys, nil, "b", "c")
	s.build(1, "d", buildOpt{})
	s.build(2, "b", buildOpt{})
	ds := s.dispatch(10)
	require.Equal(t, []string{drv("a")}, drvs(ds))
	require.Equal(t, int64(1), ds[0].BuildID, "runs for the lowest build that needs it")
	require.True(t, ds[0].Dependency, "a is none of build 1's top-level steps: its products are not build 1's")
	require.Equal(t, 1, ds[0].StepNr)
	s.finish(ds[0], 0, 10, 20)
	ds = s.dispatch(20)
	require.ElementsMatch(t, []string{drv("b"), drv("c")}, drvs(ds))
	for _, d := range ds {
		if d.DrvPath == drv("b") {
			require.Equal(t, int64(2), d.BuildID, "the build whose top-level step it is")
			require.False(t, d.Dependency)
		}
	}
	s.finish(ds[0], 0, 20, 30)
	s.finish(ds[1], 0, 20, 30)
	as := s.act(30)
	require.Len(t, as, 1)
	require.Equal(t, events.BuildFinished{BuildID: 2, Status: 0, StartTime: 20, StopTime: 30}, *as[0].Finish)
	ds = s.dispatch(30)
	require.Equal(t, []string{drv("d")}, drvs(ds))
	require.Equal(t, 3, ds[0].StepNr, "a and c ran under build 1 before")
	require.False(t, ds[0].Dependency)
	s.apply(&events.OutputUploaded{DrvPath: drv("d"), Path: out("d")[0].Path, NarSize: 4096})
	s.finish(ds[0], 0, 30, 40)
	as = s.act(40)
	require.Len(t, as, 1)
	require.Equal(t, events.BuildFinished{BuildID: 1, Status: 0, StartTime: 30, StopTime: 40, Size: 4096}, *as[0].Finish)
	require.Empty(t, s.act(41), "applied finishes are not asked again")
	require.Equal(t, 0, s.m.Status().NrQueuedBuilds)
}

func TestFailurePropagation(t *testing.T) {
	s := newSim(t, scheduler.Config{})
	s.machine("m", 8, 1, []string{sys}, nil, nil)
	s.step("a", sys, nil)
	s.step("b", sys, nil, "a")
	s.step("c", sys, nil)
	s.build(1, "a", buildOpt{})
	s.build(2, "b", buildOpt{})
	s.build(3, "b", buildOpt{})
	s.build(4, "c", buildOpt{})
	ds := s.dispatch(10)
	require.ElementsMatch(t, []string{drv("a"), drv("c")}, drvs(ds))
	for _, d := range ds {
		if d.DrvPath == drv("a") {
			s.finish(d, 1, 10, 20)
		}
	}
	finishes := func(as []scheduler.Action) []events.BuildFinished {
		var got []events.BuildFinished
		for _, a := range as {
			got = append(got, *a.Finish)
		}
		return got
	}
	// The build the step ran for comes first and lists the builds its
	// failure takes along; theirs wait until its finish is applied.
	as := s.act(20)
	require.Equal(t, []events.BuildFinished{
		{BuildID: 1, Status: 1, StartTime: 20, StopTime: 20, Dependents: []events.FailedDependent{{BuildID: 2, Status: 2}, {BuildID: 3, Status: 2}}},
	}, finishes(as), "the dependents wait for build 1")
	require.Equal(t, []events.BuildFinished{
		{BuildID: 2, Status: 2, StartTime: 20, StopTime: 20, PropagatedFrom: 1, FailedDrv: drv("a")},
		{BuildID: 3, Status: 2, StartTime: 20, StopTime: 20, PropagatedFrom: 1, FailedDrv: drv("a")},
	}, finishes(s.act(20)), "build 4 is unaffected")
	require.Empty(t, s.dispatch(21), "b is not runnable: its input failed")

	// A later build needing the failed step is a cached failure.
	s.step("e", sys, nil, "a")
	s.build(5, "e", buildOpt{})
	s.build(6, "a", buildOpt{})
	as = s.act(30)
	require.Len(t, as, 2)
	require.Equal(t, events.BuildFinished{BuildID: 5, Status: 2, StartTime: 30, StopTime: 30, IsCachedBuild: true,
		PropagatedFrom: 1, FailedDrv: drv("a")}, *as[0].Finish)
	require.Equal(t, events.BuildFinished{BuildID: 6, Status: 1, StartTime: 30, StopTime: 30, IsCachedBuild: true,
		PropagatedFrom: 1, FailedDrv: drv("a")}, *as[1].Finish)

	// Restarting build 1 forgets the failed output and builds a again.
	s.apply(&events.BuildRestarted{BuildID: 1})
	as = s.act(40)
	require.Len(t, as, 1)
	require.Equal(t, scheduler.RequeueStep, as[0].Kind)
	require.Equal(t, step.ReasonRestart, as[0].Requeue.Reason)
	ds = s.dispatch(40)
	require.Equal(t, []string{drv("a")}, drvs(ds))
	require.Equal(t, 2, ds[0].Attempt)
	require.Equal(t, 2, ds[0].StepNr)
}

func TestTimeoutOfDependencyKeepsStatus(t *testing.T) {
	s := newSim(t, scheduler.Config{})
	s.machine("m", 8, 1, []string{sys}, nil, nil)
	s.step("a", sys, nil)
	s.step("b", sys, nil, "a")
	s.build(1, "b", buildOpt{})
	ds := s.dispatch(10)
	s.finish(ds[0], 7, 10, 20)
	as := s.act(20)
	require.Len(t, as, 1)
	require.Equal(t, 7, as[0].Finish.Status, "Hydra passes a dependency's timeout through")
}

func TestRetries(t *testing.T) {
	s := newSim(t, scheduler.Config{MaxTries: 3})
	s.machine("m", 1, 1, []string{sys}, nil, nil)
	s.step("a", sys, nil)
	s.build(1, "a", buildOpt{})
	now := int64(1000)
	var waits []int64
	for try := 1; try <= 3; try++ {
		ds := s.dispatch(now)
		require.Len(t, ds, 1, "try %d", try)
		require.Equal(t, try, ds[0].Attempt)
		s.finish(ds[0], 3, now, now+5)
		as := s.act(now + 5)
		require.Len(t, as, 1)
		if try == 3 {
			require.Equal(t, scheduler.FinishBuild, as[0].Kind, "gives up after MaxTries")
			require.Equal(t, 3, as[0].Finish.Status)
			break
		}
		require.Equal(t, scheduler.RequeueStep, as[0].Kind)
		wait := as[0].Requeue.RetryAt - (now + 5)
		waits = append(waits, wait)
		require.Empty(t, s.dispatch(now+5+wait-1), "not before RetryAt")
		now += 5 + wait
	}
	require.Equal(t, []int64{60, 180}, waits)
	require.Equal(t, 2, s.m.Status().NrRetries)
}

func TestUnsupported(t *testing.T) {
	s := newSim(t, scheduler.Config{MaxUnsupported: 120})
	s.machine("m", 1, 1, []string{sys}, nil, nil)
	s.step("arm", "aarch64-linux", nil)
	s.step("k", sys, []string{"kvm"})
	s.build(1, "arm", buildOpt{})
	s.build(2, "k", buildOpt{})
	require.Empty(t, s.act(100))
	require.Empty(t, s.act(219))
	as := s.act(220)
	require.Len(t, as, 2)
	for _, a := range as {
		require.Equal(t, scheduler.AbortStep, a.Kind)
		require.Equal(t, 9, a.StepEnd.Status)
	}
	fin := s.act(221)
	require.Len(t, fin, 2)
	require.Equal(t, 9, fin[0].Finish.Status)
	require.Equal(t, 9, fin[1].Finish.Status)
}

func TestUnsupportedClearedByNewMachine(t *testing.T) {
	s := newSim(t, scheduler.Config{MaxUnsupported: 120})
	s.step("arm", "aarch64-linux", nil)
	s.build(1, "arm", buildOpt{})
	require.Empty(t, s.act(100))
	s.machine("arm1", 1, 1, []string{"aarch64-linux"}, nil, nil)
	require.Empty(t, s.act(300))
	require.Len(t, s.dispatch(300), 1)
}

// TestMissingMetaTimeouts: a build whose meta has no timeout or maxSilent
// (0, Hydra's NULL) gets Hydra's queue-runner defaults, 36000 s and 3600 s.
func TestMissingMetaTimeouts(t *testing.T) {
	s := newSim(t, scheduler.Config{})
	s.machine("m", 1, 1, []string{sys}, nil, nil)
	s.step("a", sys, nil)
	s.apply(&events.BuildQueued{BuildID: 1, DrvPath: drv("a"), Meta: events.JobMeta{}})
	ds := s.dispatch(1000)
	require.Len(t, ds, 1)
	require.Equal(t, 36000, ds[0].Timeout)
	require.Equal(t, 3600, ds[0].MaxSilent)
}

func TestLeaseExpiry(t *testing.T) {
	s := newSim(t, scheduler.Config{DispatchLease: 60, RunningGrace: 10})
	s.machine("m", 1, 1, []string{sys}, nil, nil)
	s.step("a", sys, nil)
	s.apply(&events.BuildQueued{BuildID: 1, DrvPath: drv("a"), Meta: events.JobMeta{Timeout: 100, MaxSilent: 50}})
	ds := s.dispatch(1000)
	require.Len(t, ds, 1)
	require.Equal(t, int64(1060), ds[0].LeaseUntil)
	require.Equal(t, 100, ds[0].Timeout)
	require.Empty(t, s.act(1059))
	as := s.act(1060)
	require.Len(t, as, 1)
	require.Equal(t, events.StepRetryScheduled{DrvPath: drv("a"), Attempt: 1, RetryAt: 1060, Reason: step.ReasonLease}, *as[0].Requeue)
	ds = s.dispatch(1060)
	require.Len(t, ds, 1, "the slot came back with the requeue")
	require.Equal(t, 2, ds[0].Attempt)

	// Started, then silent: given up after timeout + max silent + grace.
	s.apply(&events.StepStarted{DrvPath: drv("a"), BuildID: 1, StepNr: ds[0].StepNr, Attempt: 2, Machine: "m", StartTime: 1070})
	require.Empty(t, s.act(1070+160-1))
	as = s.act(1070 + 160)
	require.Len(t, as, 1)
	require.Equal(t, scheduler.AbandonStep, as[0].Kind)
	require.Equal(t, 3, as[0].StepEnd.Status)
	require.Equal(t, ds[0].StepNr, as[0].StepEnd.StepNr)
	as = s.act(1070 + 160)
	require.Len(t, as, 1)
	require.Equal(t, scheduler.RequeueStep, as[0].Kind, "an abandoned step is retried")
}

func TestCancel(t *testing.T) {
	s := newSim(t, scheduler.Config{})
	s.machine("m", 1, 1, []string{sys}, nil, nil)
	s.step("a", sys, nil)
	s.step("b", sys, nil)
	s.build(1, "a", buildOpt{})
	s.build(2, "b", buildOpt{})
	s.apply(&events.BuildCancelled{BuildID: 1})
	ds := s.dispatch(10)
	require.Equal(t, []string{drv("b")}, drvs(ds))
	require.Equal(t, 1, s.m.Status().NrQueuedBuilds)
}

// TestCancelOrphanedStep: a build's cancellation ends the dispatched or
// running attempt of a step no unfinished build needs any more with
// status 4 (Hydra aborts such steps), asks again until the event lands,
// and leaves steps other builds still need alone.
func TestCancelOrphanedStep(t *testing.T) {
	const now = 1000
	type want struct {
		drv     string
		buildID int64
		stepNr  int
		start   int64
	}
	tests := []struct {
		name string
		// run sets the model up and returns the cancel actions it expects.
		run func(s *sim) []want
	}{
		{"running step of the cancelled build", func(s *sim) []want {
			s.step("a", sys, nil)
			s.build(1, "a", buildOpt{})
			ds := s.dispatch(900)
			s.apply(&events.StepStarted{DrvPath: drv("a"), BuildID: 1, StepNr: ds[0].StepNr, Attempt: 1, Machine: "m", StartTime: 950})
			s.apply(&events.BuildCancelled{BuildID: 1})
			return []want{{drv("a"), 1, ds[0].StepNr, 950}}
		}},
		{"dispatched step not yet started", func(s *sim) []want {
			s.step("a", sys, nil)
			s.build(1, "a", buildOpt{})
			ds := s.dispatch(900)
			s.apply(&events.BuildCancelled{BuildID: 1})
			return []want{{drv("a"), 1, ds[0].StepNr, now}}
		}},
		{"dependency another build still needs", func(s *sim) []want {
			s.step("dep", sys, nil)
			s.step("a", sys, nil, "dep")
			s.step("b", sys, nil, "dep")
			s.build(1, "a", buildOpt{})
			s.build(2, "b", buildOpt{})
			ds := s.dispatch(900)
			require.Equal(t, []string{drv("dep")}, drvs(ds))
			s.apply(&events.StepStarted{DrvPath: drv("dep"), BuildID: ds[0].BuildID, StepNr: ds[0].StepNr, Attempt: 1, Machine: "m", StartTime: 950})
			s.apply(&events.BuildCancelled{BuildID: 1})
			return nil
		}},
		{"dependency of two cancelled builds", func(s *sim) []want {
			s.step("dep", sys, nil)
			s.step("a", sys, nil, "dep")
			s.step("b", sys, nil, "dep")
			s.build(1, "a", buildOpt{})
			s.build(2, "b", buildOpt{})
			ds := s.dispatch(900)
			s.apply(&events.StepStarted{DrvPath: drv("dep"), BuildID: ds[0].BuildID, StepNr: ds[0].StepNr, Attempt: 1, Machine: "m", StartTime: 950})
			s.apply(&events.BuildCancelled{BuildID: 1})
			require.Empty(t, s.m.Actions(now-1), "build 2 still needs dep")
			s.apply(&events.BuildCancelled{BuildID: 2})
			return []want{{drv("dep"), ds[0].BuildID, ds[0].StepNr, 950}}
		}},
		{"a build cancelled with nothing running", func(s *sim) []want {
			s.step("a", sys, nil)
			s.build(1, "a", buildOpt{})
			s.apply(&events.BuildCancelled{BuildID: 1})
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSim(t, scheduler.Config{ActionRetry: 30})
			s.machine("m", 1, 1, []string{sys}, nil, nil)
			wants := tt.run(s)
			as := s.m.Actions(now)
			require.Len(t, as, len(wants))
			for i, w := range wants {
				require.Equal(t, scheduler.CancelStep, as[i].Kind)
				require.Equal(t, events.StepFinished{DrvPath: w.drv, BuildID: w.buildID, StepNr: w.stepNr, Machine: "m", Attempt: 1,
					Status: 4, ErrorMsg: "cancelled: no queued build needs this step any more", StartTime: w.start, StopTime: now}, *as[i].StepEnd)
			}
			if len(wants) == 0 {
				return
			}
			require.Empty(t, s.m.Actions(now+29), "asked once per ActionRetry")
			as = s.m.Actions(now + 30)
			require.Len(t, as, len(wants), "asked again while the event did not land")
			s.apply(as[0].StepEnd)
			require.Empty(t, s.m.Actions(now+60), "nothing left to do once the step is cancelled")
			require.Zero(t, s.m.Status().NrActiveSteps)
			require.Equal(t, 1, s.m.Status().NrStepsCancelled)
			require.Equal(t, 0, s.m.Status().Machines["m"].CurrentJobs, "the slot is free")
		})
	}
}

// TestCancelledStepNeededAgain: a build that needs a step whose cancel
// was already asked for gets a fresh attempt, and does not fail.
func TestCancelledStepNeededAgain(t *testing.T) {
	s := newSim(t, scheduler.Config{})
	s.machine("m", 1, 1, []string{sys}, nil, nil)
	s.step("a", sys, nil)
	s.build(1, "a", buildOpt{})
	ds := s.dispatch(900)
	s.apply(&events.StepStarted{DrvPath: drv("a"), BuildID: 1, StepNr: ds[0].StepNr, Attempt: 1, Machine: "m", StartTime: 950})
	s.apply(&events.BuildCancelled{BuildID: 1})
	as := s.m.Actions(1000)
	require.Len(t, as, 1)
	s.build(2, "a", buildOpt{})
	s.apply(as[0].StepEnd)
	as = s.act(1001)
	require.Len(t, as, 1)
	require.Equal(t, scheduler.RequeueStep, as[0].Kind)
	require.Equal(t, step.ReasonRestart, as[0].Requeue.Reason)
	ds = s.dispatch(1002)
	require.Len(t, ds, 1)
	require.Equal(t, 2, ds[0].Attempt)
	require.Equal(t, int64(2), ds[0].BuildID)
	require.Equal(t, 1, s.m.Status().NrQueuedBuilds, "build 2 is still queued")
}

func TestReleaseAndDuplicateDispatchEvent(t *testing.T) {
	s := newSim(t, scheduler.Config{})
	s.machine("m", 1, 1, []string{sys}, nil, nil)
	s.step("a", sys, nil)
	s.build(1, "a", buildOpt{})
	ds := s.m.Decide(10, 0)
	require.Len(t, ds, 1)
	require.Empty(t, s.m.Decide(10, 0), "reserved")
	s.m.Release(ds[0])
	ds = s.m.Decide(10, 0)
	require.Len(t, ds, 1)
	require.Equal(t, 1, ds[0].Attempt)
	e := ds[0].Dispatched(10)
	s.apply(&e, &e)
	require.Equal(t, 1, s.m.Status().Machines["m"].CurrentJobs, "a replayed dispatch takes one slot")
}

func TestEvaluationOrder(t *testing.T) {
	s := newSim(t, scheduler.Config{})
	s.machine("m", 4, 1, []string{sys}, nil, nil)
	// As the evaluator appends: builds first, then steps in any order.
	s.apply(&events.BuildQueued{BuildID: 1, EvalID: 7, DrvPath: drv("d")})
	s.apply(&events.StepQueued{DrvPath: drv("d"), System: sys, InputDrvs: []string{drv("c")}, EvalID: 7})
	require.Empty(t, s.dispatch(10), "the evaluation has not finished")
	s.apply(&events.StepQueued{DrvPath: drv("c"), System: sys, InputDrvs: []string{drv("b")}, EvalID: 7})
	s.apply(&events.StepQueued{DrvPath: drv("b"), System: sys, EvalID: 7})
	s.apply(&events.EvaluationFinished{EvalID: 7})
	ds := s.dispatch(11)
	require.Equal(t, []string{drv("b")}, drvs(ds))
	s.finish(ds[0], 0, 11, 12)
	ds = s.dispatch(12)
	require.Equal(t, []string{drv("c")}, drvs(ds))
	s.finish(ds[0], 1, 12, 13)
	as := s.act(13)
	require.Len(t, as, 1)
	require.Equal(t, 2, as[0].Finish.Status)
}

// TestWithdrawnBuild: a build withdrawn before its evaluation ends is
// forgotten: its own step never runs, a step it shares with a build that
// stays runs for that one, and a build withdrawn before its step was
// queued does not take the step when it comes.
func TestWithdrawnBuild(t *testing.T) {
	s := newSim(t, scheduler.Config{})
	s.machine("m", 4, 1, []string{sys}, nil, nil)
	s.apply(&events.BuildQueued{BuildID: 1, EvalID: 7, DrvPath: drv("a")},
		&events.BuildQueued{BuildID: 2, EvalID: 7, DrvPath: drv("b")},
		&events.BuildQueued{BuildID: 3, EvalID: 7, DrvPath: drv("x")},
		&events.StepQueued{DrvPath: drv("s"), System: sys, EvalID: 7},
		&events.StepQueued{DrvPath: drv("a"), System: sys, InputDrvs: []string{drv("s")}, EvalID: 7},
		&events.StepQueued{DrvPath: drv("b"), System: sys, InputDrvs: []string{drv("s")}, EvalID: 7},
		&events.BuildWithdrawn{BuildID: 1, EvalID: 7},
		&events.BuildWithdrawn{BuildID: 3, EvalID: 7},
		&events.StepQueued{DrvPath: drv("x"), System: sys, EvalID: 7},
		&events.EvaluationFinished{EvalID: 7})
	require.Equal(t, 1, s.m.Status().NrQueuedBuilds)
	ds := s.dispatch(10)
	require.Equal(t, []string{drv("s")}, drvs(ds))
	require.Equal(t, int64(2), ds[0].BuildID, "the step runs for the build that stays")
	s.finish(ds[0], 0, 10, 11)
	ds = s.dispatch(11)
	require.Equal(t, []string{drv("b")}, drvs(ds))
	s.finish(ds[0], 0, 11, 12)
	require.Empty(t, s.dispatch(12), "neither a nor x is built")
}

// TestFailedPathsCleared: once an admin clears the failed paths, a build
// of a step that failed is not a cached failure but is built again.
func TestFailedPathsCleared(t *testing.T) {
	s := newSim(t, scheduler.Config{})
	s.machine("m", 8, 1, []string{sys}, nil, nil)
	s.step("a", sys, nil)
	s.build(1, "a", buildOpt{})
	ds := s.dispatch(10)
	require.Equal(t, []string{drv("a")}, drvs(ds))
	s.finish(ds[0], 1, 10, 20)
	require.Len(t, s.act(20), 1)
	s.build(2, "a", buildOpt{})
	as := s.act(30)
	require.Len(t, as, 1)
	require.True(t, as[0].Finish.IsCachedBuild, "a failed output is a cached failure")

	s.apply(&events.FailedPathsCleared{})
	s.build(3, "a", buildOpt{})
	for _, a := range s.act(40) {
		require.Nil(t, a.Finish, "build 3 is not failed from the cache")
	}
	require.Equal(t, []string{drv("a")}, drvs(s.dispatch(40)))
}

// TestDependentsNotHeldByCancelledTop: a build cancelled before its
// failure's finish is recorded lets the builds that wait for it finish.
func TestDependentsNotHeldByCancelledTop(t *testing.T) {
	s := newSim(t, scheduler.Config{})
	s.machine("m", 8, 1, []string{sys}, nil, nil)
	s.step("a", sys, nil)
	s.step("b", sys, nil, "a")
	s.build(1, "a", buildOpt{})
	s.build(2, "b", buildOpt{})
	ds := s.dispatch(10)
	require.Equal(t, []string{drv("a")}, drvs(ds))
	s.finish(ds[0], 1, 10, 20)
	as := s.m.Actions(20)
	require.Len(t, as, 1)
	require.Equal(t, int64(1), as[0].Finish.BuildID)
	s.apply(&events.BuildCancelled{BuildID: 1, Timestamp: 21})
	as = s.act(50)
	require.Len(t, as, 1)
	require.Equal(t, events.BuildFinished{BuildID: 2, Status: 2, StartTime: 20, StopTime: 20, PropagatedFrom: 1, FailedDrv: drv("a")}, *as[0].Finish)
}

// TestOpenEvaluation: a step of an evaluation that has not closed runs as
// soon as every input it names is a step in the model and has succeeded;
// a step naming an input the model does not hold waits for the close.
// Each stage applies its events, dispatches, and finishes what it
// dispatched successfully.
func TestOpenEvaluation(t *testing.T) {
	type stage struct {
		apply []events.Payload
		want  []string // dispatched after the events, by name
	}
	tests := []struct {
		name   string
		stages []stage
		status int // every dispatched step finishes with it
	}{
		{"a leaf step of an open evaluation is dispatched", []stage{
			{apply: []events.Payload{evalBuild(1, 7, "a"), evalStep("a", 7)}, want: []string{"a"}},
		}, 0},
		{"a step with an input not in the model is held until the close", []stage{
			{apply: []events.Payload{evalBuild(1, 7, "b"), evalStep("b", 7, "x")}},
			{apply: []events.Payload{&events.EvaluationFinished{EvalID: 7}}, want: []string{"b"}},
		}, 0},
		{"a step whose input arrives later is held until that input succeeds", []stage{
			{apply: []events.Payload{evalBuild(1, 7, "b"), evalStep("b", 7, "a")}},
			{apply: []events.Payload{evalStep("a", 7)}, want: []string{"a"}},
			{want: []string{"b"}},
		}, 0},
		{"a step whose inputs are known runs before the close once they succeed", []stage{
			{apply: []events.Payload{evalStep("a", 7), evalStep("b", 7, "a"), evalBuild(1, 7, "b")}, want: []string{"a"}},
			{want: []string{"b"}},
		}, 0},
		{"an input the open evaluation queues again is built again first", []stage{
			{apply: []events.Payload{evalStep("a", 6), evalBuild(1, 6, "a"), &events.EvaluationFinished{EvalID: 6}}, want: []string{"a"}},
			// Inputs first: the evaluator appends a again before b.
			{apply: []events.Payload{evalStep("a", 7), evalStep("b", 7, "a"), evalBuild(2, 7, "b")}, want: []string{"a"}},
			{want: []string{"b"}},
		}, 0},
		{"a failed input keeps its dependent from running", []stage{
			{apply: []events.Payload{evalStep("a", 7), evalStep("b", 7, "a"), evalBuild(1, 7, "b")}, want: []string{"a"}},
			{},
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSim(t, scheduler.Config{})
			s.machine("m", 4, 1, []string{sys}, nil, nil)
			now := int64(10)
			for i, st := range tt.stages {
				s.apply(st.apply...)
				ds := s.dispatch(now)
				var got []string
				for _, d := range ds {
					got = append(got, d.DrvPath)
				}
				var want []string
				for _, n := range st.want {
					want = append(want, drv(n))
				}
				require.Equal(t, want, got, "stage %d", i)
				for _, d := range ds {
					s.finish(d, tt.status, now, now+1)
				}
				now += 10
			}
		})
	}
}

// TestOpenEvaluationEviction: a step that ran and succeeded while its
// evaluation was open, and whose build was evicted meanwhile, is forgotten
// when the evaluation closes.
func TestOpenEvaluationEviction(t *testing.T) {
	s := newSim(t, scheduler.Config{EvictAfter: 60})
	s.machine("m", 4, 1, []string{sys}, nil, nil)
	s.apply(&events.BuildQueued{BuildID: 1, EvalID: 7, DrvPath: drv("a"), System: sys, Outputs: out("a")},
		&events.StepQueued{DrvPath: drv("a"), System: sys, Outputs: out("a"), EvalID: 7})
	ds := s.dispatch(10)
	require.Equal(t, []string{drv("a")}, drvs(ds))
	s.finish(ds[0], 0, 10, 11)
	require.Len(t, s.act(11), 1, "the build finishes")
	builds, steps := s.m.Evict(100)
	require.Equal(t, 1, builds)
	require.Zero(t, steps, "the evaluation is open")
	require.Equal(t, 1, s.m.Status().NrStepsHeld)
	s.apply(&events.EvaluationFinished{EvalID: 7})
	require.Zero(t, s.m.Status().NrStepsHeld)
}

// TestJobRecordedAfterItsDerivationRan: a job whose derivation ran as an
// input of another build while their evaluation was open, before the
// job was recorded, is credited with that run (built, not cached), as
// Hydra, which queues an evaluation's builds together and runs a step
// for the build whose top-level derivation it is, would show it. A job
// of another evaluation with the same derivation is a cached build.
func TestJobRecordedAfterItsDerivationRan(t *testing.T) {
	s := newSim(t, scheduler.Config{})
	s.machine("m", 4, 1, []string{sys}, nil, nil)
	s.apply(evalStep("lib", 7), evalStep("app", 7, "lib"), evalBuild(1, 7, "app"), &events.EvaluationStarted{EvalID: 8})
	ds := s.dispatch(10)
	require.Equal(t, []string{drv("lib")}, drvs(ds), "lib runs for app's build while evaluation 7 is open")
	s.finish(ds[0], 0, 11, 15)
	s.apply(evalBuild(2, 7, "lib"), evalBuild(3, 8, "lib"))
	got := map[int64]events.BuildFinished{}
	for _, a := range s.act(20) {
		if a.Finish != nil {
			got[a.Finish.BuildID] = *a.Finish
		}
	}
	require.Equal(t, events.BuildFinished{BuildID: 2, StartTime: 11, StopTime: 15}, got[2], "lib's own job in evaluation 7 is credited")
	require.Equal(t, events.BuildFinished{BuildID: 3, StartTime: 20, StopTime: 20, IsCachedBuild: true}, got[3], "another evaluation's job is cached")

	// Recorded after the dispatch, before the finish: the first of the
	// evaluation's builds of the derivation is credited, the next cached.
	s.apply(evalStep("lib2", 7), evalStep("app2", 7, "lib2"), evalBuild(4, 7, "app2"))
	ds = s.dispatch(30)
	require.Equal(t, []string{drv("lib2"), drv("app")}, drvs(ds))
	s.apply(evalBuild(5, 7, "lib2"), evalBuild(6, 7, "lib2"))
	s.finish(ds[0], 0, 31, 35)
	s.finish(ds[1], 0, 31, 36)
	got = map[int64]events.BuildFinished{}
	for _, a := range s.act(40) {
		if a.Finish != nil {
			got[a.Finish.BuildID] = *a.Finish
		}
	}
	require.Equal(t, events.BuildFinished{BuildID: 5, StartTime: 31, StopTime: 35}, got[5])
	require.Equal(t, events.BuildFinished{BuildID: 6, StartTime: 31, StopTime: 35, IsCachedBuild: true}, got[6])
	require.Equal(t, events.BuildFinished{BuildID: 1, StartTime: 31, StopTime: 36}, got[1])
}

// TestJobRecordedAfterItsDerivationFailed: a job recorded after its
// derivation, or one it needs, failed for another build of the same open
// evaluation fails with that run, as in Hydra, where the whole
// evaluation was queued when it failed; a later evaluation's job gets the
// cached failure.
func TestJobRecordedAfterItsDerivationFailed(t *testing.T) {
	s := newSim(t, scheduler.Config{})
	s.machine("m", 4, 1, []string{sys}, nil, nil)
	s.apply(evalStep("lib", 7), evalStep("app", 7, "lib"), evalBuild(1, 7, "app"), &events.EvaluationStarted{EvalID: 8})
	ds := s.dispatch(10)
	require.Equal(t, []string{drv("lib")}, drvs(ds))
	s.finish(ds[0], int(status.Failed), 11, 15)
	s.act(16)
	s.apply(evalStep("tool", 7, "lib"), evalBuild(2, 7, "lib"), evalBuild(3, 7, "tool"), evalBuild(4, 8, "lib"))
	got := map[int64]events.BuildFinished{}
	for _, a := range s.act(20) {
		if a.Finish != nil {
			got[a.Finish.BuildID] = *a.Finish
		}
	}
	require.Equal(t, events.BuildFinished{BuildID: 2, Status: int(status.Failed), StartTime: 15, StopTime: 15,
		PropagatedFrom: 1, FailedDrv: drv("lib")}, got[2], "lib's own job fails with the run")
	require.Equal(t, events.BuildFinished{BuildID: 3, Status: int(status.DepFailed), StartTime: 15, StopTime: 15,
		PropagatedFrom: 1, FailedDrv: drv("lib")}, got[3], "a job needing lib fails with it")
	require.Equal(t, events.BuildFinished{BuildID: 4, Status: int(status.Failed), StartTime: 20, StopTime: 20,
		IsCachedBuild: true, PropagatedFrom: 1, FailedDrv: drv("lib")}, got[4], "another evaluation's job is a cached failure")
}

// TestSameDerivationSharesProducts: builds finished by a step that ran as
// another build's top-level step name that build in ProductsOf, whose
// products and metrics the builder scraped, as Hydra copies a step's
// products to every build it finishes. A build its step ran for as a
// dependency has nothing scraped to share.
func TestSameDerivationSharesProducts(t *testing.T) {
	s := newSim(t, scheduler.Config{})
	s.machine("m", 4, 1, []string{sys}, nil, nil)
	s.apply(evalStep("lib", 7), evalStep("app", 7, "lib"), evalBuild(1, 7, "lib"), evalBuild(2, 7, "lib"), evalBuild(3, 7, "app"),
		&events.EvaluationFinished{EvalID: 7})
	ds := s.dispatch(10)
	require.Equal(t, []string{drv("lib")}, drvs(ds))
	require.Equal(t, int64(1), ds[0].BuildID, "lib runs for its first build")
	s.finish(ds[0], 0, 11, 15)
	s.apply(evalBuild(4, 8, "lib"))
	got := map[int64]events.BuildFinished{}
	for _, a := range s.act(20) {
		if a.Finish != nil {
			got[a.Finish.BuildID] = *a.Finish
		}
	}
	require.Equal(t, events.BuildFinished{BuildID: 1, StartTime: 11, StopTime: 15}, got[1])
	require.Equal(t, events.BuildFinished{BuildID: 2, StartTime: 11, StopTime: 15, IsCachedBuild: true, ProductsOf: 1}, got[2],
		"the evaluation's other job of lib")
	require.Equal(t, events.BuildFinished{BuildID: 4, StartTime: 20, StopTime: 20, IsCachedBuild: true, ProductsOf: 1}, got[4],
		"a later evaluation's job of lib")
}

// TestCreditedJobGetsTheRunsProducts: a job credited with its
// derivation's run as another build's dependency gets what that run's
// outputs declared (StepFinished.Products and Metrics), as its own, before
// its BuildFinished, and so does another job of the derivation the run
// finishes, as Hydra gives a step's products to every build it finishes. A snapshot between the run and the credit, or
// between the credit and the finish's record, keeps them. A later
// evaluation's job is cached, and the evaluator scans its outputs.
func TestCreditedJobGetsTheRunsProducts(t *testing.T) {
	products := []events.ProductScraped{{ProductNr: 1, Type: "file", Subtype: "iso", Path: out("lib")[0].Path + "/x.iso", Name: "x.iso"}}
	metrics := []events.MetricScraped{{Name: "size", Value: 3}}
	want := func(id int64) ([]events.ProductScraped, []events.MetricScraped) {
		ps, ms := slices.Clone(products), slices.Clone(metrics)
		ps[0].BuildID, ms[0].BuildID = id, id
		return ps, ms
	}
	// dispatched starts evaluation 7 with app needing lib, and lib runs
	// for app's build.
	dispatched := func(t *testing.T) (*sim, scheduler.Decision) {
		s := newSim(t, scheduler.Config{})
		s.machine("m", 4, 1, []string{sys}, nil, nil)
		s.apply(evalStep("lib", 7), evalStep("app", 7, "lib"), evalBuild(1, 7, "app"))
		ds := s.dispatch(10)
		require.Equal(t, []string{drv("lib")}, drvs(ds))
		return s, ds[0]
	}
	// ran ends d's run with the products and metrics.
	ran := func(s *sim, d scheduler.Decision) {
		s.apply(&events.StepFinished{DrvPath: d.DrvPath, BuildID: d.BuildID, StepNr: d.StepNr, Attempt: d.Attempt, Machine: d.Machine,
			StartTime: 11, StopTime: 15, Products: products, Metrics: metrics})
	}
	// finishes returns the finishes due, by build.
	finishes := func(s *sim) map[int64]scheduler.Action {
		got := map[int64]scheduler.Action{}
		for _, a := range s.act(20) {
			if a.Finish != nil {
				got[a.Finish.BuildID] = a
			}
		}
		return got
	}
	requireProducts := func(t *testing.T, a scheduler.Action, id int64) {
		ps, ms := want(id)
		require.Equal(t, ps, a.Products, "build %d", id)
		require.Equal(t, ms, a.Metrics, "build %d", id)
	}
	// snapshot replaces s's model by one read back from its snapshot.
	snapshot := func(s *sim) {
		snap, err := s.m.MarshalSnapshot()
		require.NoError(t, err)
		s.m, err = scheduler.UnmarshalSnapshot(scheduler.Config{CriticalPathEvery: -1, UnsupportedEvery: -1}, snap)
		require.NoError(t, err)
	}
	for _, tc := range []struct {
		name                  string
		afterRun, afterCredit bool
	}{{name: "in memory"}, {name: "snapshot after the run", afterRun: true}, {name: "snapshot after the credit", afterCredit: true}} {
		t.Run(tc.name, func(t *testing.T) {
			s, d := dispatched(t)
			s.apply(&events.EvaluationStarted{EvalID: 8})
			ran(s, d)
			if tc.afterRun {
				snapshot(s)
			}
			s.apply(evalBuild(2, 7, "lib"), evalBuild(3, 8, "lib"))
			if tc.afterCredit {
				snapshot(s)
			}
			got := finishes(s)
			require.Equal(t, events.BuildFinished{BuildID: 2, StartTime: 11, StopTime: 15}, *got[2].Finish, "credited")
			requireProducts(t, got[2], 2)
			require.True(t, got[3].Finish.IsCachedBuild)
			require.Empty(t, got[3].Products, "a cached job's products come from the evaluator's scan")
			require.Empty(t, got[3].Metrics)
		})
	}
	t.Run("a job recorded before the run ended, after its evaluation did", func(t *testing.T) {
		s, d := dispatched(t)
		s.apply(evalBuild(2, 7, "lib"), &events.EvaluationFinished{EvalID: 7})
		ran(s, d)
		got := finishes(s)
		require.Equal(t, events.BuildFinished{BuildID: 2, StartTime: 11, StopTime: 15}, *got[2].Finish, "credited")
		requireProducts(t, got[2], 2)
	})
	t.Run("two jobs recorded after the dispatch", func(t *testing.T) {
		s, d := dispatched(t)
		s.apply(evalBuild(2, 7, "lib"), evalBuild(3, 7, "lib"))
		ran(s, d)
		got := finishes(s)
		require.Equal(t, events.BuildFinished{BuildID: 2, StartTime: 11, StopTime: 15}, *got[2].Finish, "credited")
		require.Equal(t, events.BuildFinished{BuildID: 3, StartTime: 11, StopTime: 15, IsCachedBuild: true}, *got[3].Finish)
		requireProducts(t, got[2], 2)
		requireProducts(t, got[3], 3)
	})
	t.Run("a run for a build of no evaluation", func(t *testing.T) {
		s := newSim(t, scheduler.Config{})
		s.machine("m", 4, 1, []string{sys}, nil, nil)
		s.step("lib", sys, nil)
		s.step("app", sys, nil, "lib")
		s.build(1, "app", buildOpt{})
		ran(s, s.dispatch(10)[0])
		snapshot(s) // no evaluation to credit: nothing held, and the snapshot reads
	})
	t.Run("a run no job is credited with", func(t *testing.T) {
		s, d := dispatched(t)
		ran(s, d)
		s.apply(&events.EvaluationFinished{EvalID: 7}, evalBuild(3, 8, "lib"))
		for id, a := range finishes(s) {
			require.Empty(t, a.Products, "build %d", id)
		}
	})
}
