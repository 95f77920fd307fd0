package scheduler_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/commands/reactors/scheduler"
	"buildledger/domain/verify"
	"buildledger/events"
)

// verifySim has machines a and b (one slot each) and jobset 1 with
// verifyFraction f.
func verifySim(t *testing.T, f float64) *sim {
	s := newSim(t, scheduler.Config{})
	s.machine("a", 1, 1, []string{sys}, nil, nil)
	s.machine("b", 1, 1, []string{sys}, nil, nil)
	s.apply(&events.JobsetCreated{Project: "p", Name: "j", ID: 1, JobsetConfig: events.JobsetConfig{SchedulingShares: 100, VerifyFraction: f}})
	return s
}

// built queues name as build id's top-level step, builds it on the
// machine the scheduler picks, with its upload, and returns that machine.
func (s *sim) built(id int64, name string, now int64) string {
	s.step(name, sys, nil)
	s.build(id, name, buildOpt{jobset: 1})
	ds := s.dispatch(now)
	require.Len(s.t, ds, 1)
	require.Nil(s.t, ds[0].Verify)
	s.apply(&events.OutputUploaded{DrvPath: drv(name), BuildID: id, OutputName: "out", Path: out(name)[0].Path, NarHash: "sha256:" + name})
	s.finish(ds[0], 0, now, now+1)
	return ds[0].Machine
}

func verifications(ds []scheduler.Decision) []scheduler.Decision {
	var out []scheduler.Decision
	for _, d := range ds {
		if d.Verify != nil {
			out = append(out, d)
		}
	}
	return out
}

func TestVerificationGoesToAnotherMachine(t *testing.T) {
	s := verifySim(t, 1)
	orig := s.built(1, "x", 10)
	ds := s.dispatch(20)
	require.Len(t, ds, 1)
	v := ds[0]
	require.NotNil(t, v.Verify)
	require.NotEqual(t, orig, v.Machine, "another machine than the original")
	require.Equal(t, orig, v.Verify.OriginalMachine)
	require.Equal(t, []events.VerifiedOutput{{Name: "out", Path: out("x")[0].Path, NarHash: "sha256:x"}}, v.Verify.Outputs)
	require.True(t, v.Reason.Verification, "the scheduler records it as a verification")
	require.Equal(t, 2, v.Reason.Candidates)
	require.Equal(t, 1, v.Attempt)
	require.Empty(t, s.dispatch(30), "dispatched once")

	s.apply(&events.VerificationEnded{DrvPath: v.DrvPath, Machine: v.Machine, Attempt: 1})
	require.Empty(t, s.dispatch(40), "ended: nothing more")
	for _, m := range s.m.Status().Machines {
		require.Zero(t, m.CurrentJobs, "slots freed")
	}
}

func TestVerificationNeverDelaysRealSteps(t *testing.T) {
	s := verifySim(t, 1)
	orig := s.built(1, "x", 10)
	// Two real steps come with the verification due: they take both
	// machines, and the verification waits.
	s.step("y", sys, nil)
	s.build(2, "y", buildOpt{jobset: 1})
	s.step("z", sys, nil)
	s.build(3, "z", buildOpt{jobset: 1})
	ds := s.dispatch(20)
	require.Len(t, ds, 2)
	require.Empty(t, verifications(ds))
	// The original machine frees up: the verification waits for the
	// other one. When that frees up, with no real step left, it goes.
	for _, d := range ds {
		if d.Machine == orig {
			s.finish(d, 0, 20, 21)
		}
	}
	require.Empty(t, s.dispatch(30))
	for _, d := range ds {
		if d.Machine != orig {
			s.finish(d, 0, 30, 31)
		}
	}
	ds2 := s.dispatch(40)
	require.Len(t, ds2, 1)
	require.Len(t, verifications(ds2), 1)
	require.NotEqual(t, orig, ds2[0].Machine)
}

func TestVerificationSampleAndOff(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    float64
		want bool
	}{{"off", 0, false}, {"all", 1, true}} {
		t.Run(tc.name, func(t *testing.T) {
			s := verifySim(t, tc.f)
			s.built(1, "x", 10)
			require.Equal(t, tc.want, len(verifications(s.dispatch(20))) == 1)
		})
	}
	t.Run("a failed step is not verified", func(t *testing.T) {
		s := verifySim(t, 1)
		s.step("x", sys, nil)
		s.build(1, "x", buildOpt{jobset: 1})
		ds := s.dispatch(10)
		s.finish(ds[0], 1, 10, 11)
		require.Empty(t, verifications(s.dispatch(20)))
	})
	t.Run("MaxVerifications < 0 turns them off", func(t *testing.T) {
		s := verifySim(t, 1)
		s.m = scheduler.NewModel(scheduler.Config{MaxVerifications: -1, CriticalPathEvery: -1, UnsupportedEvery: -1})
		s.machine("a", 1, 1, []string{sys}, nil, nil)
		s.machine("b", 1, 1, []string{sys}, nil, nil)
		s.apply(&events.JobsetCreated{Project: "p", Name: "j", ID: 1, JobsetConfig: events.JobsetConfig{SchedulingShares: 100, VerifyFraction: 1}})
		s.built(1, "x", 10)
		require.Empty(t, s.dispatch(20))
	})
}

func TestVerificationOnTheSameMachineOnlyWithoutAnother(t *testing.T) {
	s := newSim(t, scheduler.Config{})
	s.machine("a", 2, 1, []string{sys}, nil, nil)
	s.apply(&events.JobsetCreated{Project: "p", Name: "j", ID: 1, JobsetConfig: events.JobsetConfig{SchedulingShares: 100, VerifyFraction: 1}})
	s.built(1, "x", 10)
	vs := verifications(s.dispatch(20))
	require.Len(t, vs, 1)
	require.Equal(t, "a", vs[0].Machine)
}

func TestVerificationLeaseAndGivingUp(t *testing.T) {
	s := verifySim(t, 1)
	s.built(1, "x", 10)
	now := int64(20)
	for attempt := 1; attempt <= verify.MaxAttempts; attempt++ {
		vs := verifications(s.dispatch(now))
		require.Len(t, vs, 1, "attempt %d", attempt)
		require.Equal(t, attempt, vs[0].Attempt)
		now = vs[0].LeaseUntil + 1
	}
	require.Empty(t, s.dispatch(now), "given up after %d lost attempts", verify.MaxAttempts)
	for _, m := range s.m.Status().Machines {
		require.Zero(t, m.CurrentJobs)
	}
}

func TestVerificationSurvivesASnapshot(t *testing.T) {
	s := verifySim(t, 1)
	s.built(1, "x", 10)
	s.step("y", sys, nil)
	s.build(2, "y", buildOpt{jobset: 1})
	// y dispatched and uploaded, not finished, when the snapshot is taken.
	ds := s.dispatch(20)
	require.Len(t, ds, 2)
	s.apply(&events.OutputUploaded{DrvPath: drv("y"), BuildID: 2, OutputName: "out", Path: out("y")[0].Path, NarHash: "sha256:y"})
	snap, err := s.m.MarshalSnapshot()
	require.NoError(t, err)
	m2, err := scheduler.UnmarshalSnapshot(scheduler.Config{}, snap)
	require.NoError(t, err)
	for _, m := range []*scheduler.Model{s.m, m2} {
		t2 := &sim{t: t, m: m}
		for _, d := range ds {
			if d.Verify == nil {
				t2.finish(d, 0, 20, 21)
			} else {
				t2.apply(&events.VerificationEnded{DrvPath: d.DrvPath, Machine: d.Machine, Attempt: d.Attempt})
			}
		}
		vs := verifications(t2.dispatch(30))
		require.Len(t, vs, 1)
		require.Equal(t, "sha256:y", vs[0].Verify.Outputs[0].NarHash)
	}
}
