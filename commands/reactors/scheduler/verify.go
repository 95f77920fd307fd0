package scheduler

import (
	"sort"

	"buildledger/domain/status"
	"buildledger/domain/verify"
	"buildledger/events"
)

// verification is a reproducibility rebuild the model holds: from the
// StepFinished of a sampled derivation (see verify.Sampled and the
// jobsets' verifyFraction) until its VerificationEnded, or until it is
// given up after verify.MaxAttempts lost attempts. It copies what it
// needs of the step, which Evict may forget first.
type verification struct {
	drv         string
	system      string
	features    []string
	preferLocal bool
	original    string
	outputs     []events.VerifiedOutput
	attempt     int
	machine     *machine // while dispatched or reserved
	leaseUntil  int64
	reserved    bool // decided here, VerificationDispatched not yet seen
}

// VerifyDecision is the part of a Decision that makes it a verification.
type VerifyDecision struct {
	OriginalMachine string
	Outputs         []events.VerifiedOutput
}

// VerificationDispatched returns the event that records the verification d
// at now.
func (d Decision) VerificationDispatched(now int64) events.VerificationDispatched {
	return events.VerificationDispatched{DrvPath: d.DrvPath, Machine: d.Machine, OriginalMachine: d.Verify.OriginalMachine,
		Attempt: d.Attempt, Outputs: d.Verify.Outputs, Reason: d.Reason, LeaseUntil: d.LeaseUntil, Timestamp: now}
}

// verifyFraction returns the largest verifyFraction of s's jobsets.
func verifyFraction(s *node) float64 {
	f := 0.0
	for _, j := range s.jobsets {
		f = max(f, j.verify)
	}
	return f
}

// outputUploaded keeps the NAR hash of an output of a sampled step until
// its StepFinished.
func (m *Model) outputUploaded(e *events.OutputUploaded) {
	s := m.steps[e.DrvPath]
	if s == nil || !verify.Sampled(e.DrvPath, verifyFraction(s)) {
		return
	}
	m.uploads[e.DrvPath] = append(m.uploads[e.DrvPath], events.VerifiedOutput{Name: e.OutputName, Path: e.Path, NarHash: e.NarHash})
}

// sampleVerification starts the verification of a sampled step that a
// machine built (a build, not a cached or aborted one), with the hashes
// its uploads recorded.
func (m *Model) sampleVerification(e *events.StepFinished) {
	outs := m.uploads[e.DrvPath]
	delete(m.uploads, e.DrvPath)
	s := m.steps[e.DrvPath]
	code := status.Code(e.Status)
	if len(outs) == 0 || s == nil || e.Machine == "" || (code != status.Success && code != status.FailedWithOutput) {
		return
	}
	if m.verifies[e.DrvPath] != nil {
		return
	}
	m.verifies[e.DrvPath] = &verification{drv: s.drv, system: s.system, features: s.features, preferLocal: s.preferLocal,
		original: e.Machine, outputs: outs}
}

func (m *Model) verificationDispatched(e *events.VerificationDispatched) {
	v := m.verifies[e.DrvPath]
	if v == nil {
		return
	}
	if v.reserved && (v.machine == nil || v.machine.name != e.Machine) || !v.reserved && v.machine != nil {
		m.freeVerification(v)
	}
	if v.machine == nil {
		if mc := m.machines[e.Machine]; mc != nil {
			mc.current++
			mc.verifying++
			v.machine = mc
		}
	}
	v.reserved, v.attempt, v.leaseUntil = false, e.Attempt, e.LeaseUntil
}

func (m *Model) verificationEnded(e *events.VerificationEnded) {
	v := m.verifies[e.DrvPath]
	if v == nil || e.Attempt != v.attempt {
		return
	}
	m.freeVerification(v)
	delete(m.verifies, e.DrvPath)
	m.stats.verified++
}

func (m *Model) freeVerification(v *verification) {
	if v.machine != nil {
		v.machine.current--
		v.machine.verifying--
		v.machine = nil
	}
	v.reserved = false
}

// decideVerifications dispatches verifications into the slots the real
// steps of this pass left free: it runs after them, so a machine still
// free has no runnable step it could take. A machine runs one
// verification at a time, at most Config.MaxVerifications run in all,
// and each goes to another machine than the one that built the
// derivation, unless no other machine could take it. A verification
// whose lease ran out without its result is freed and dispatched again,
// up to verify.MaxAttempts, then given up.
func (m *Model) decideVerifications(now int64, limit int) []Decision {
	if m.cfg.MaxVerifications < 0 || len(m.verifies) == 0 {
		return nil
	}
	running := 0
	drvs := make([]string, 0, len(m.verifies))
	for d, v := range m.verifies {
		if v.machine != nil && !v.reserved && v.leaseUntil <= now {
			m.freeVerification(v)
			if v.attempt >= verify.MaxAttempts {
				delete(m.verifies, d)
				m.stats.verifyGivenUp++
				continue
			}
		}
		if v.machine != nil {
			running++
			continue
		}
		drvs = append(drvs, d)
	}
	sort.Strings(drvs)
	var out []Decision
	for _, d := range drvs {
		if running >= m.cfg.MaxVerifications || (limit > 0 && len(out) >= limit) {
			break
		}
		v := m.verifies[d]
		mc, n := m.pickVerifier(v)
		if mc == nil {
			continue
		}
		v.machine, v.reserved = mc, true
		mc.current++
		mc.verifying++
		running++
		m.stats.decisions++
		out = append(out, Decision{DrvPath: v.drv, System: v.system, Attempt: v.attempt + 1, Machine: mc.name,
			MachineConfig: mc.cfg, Reason: events.DispatchReason{Verification: true, Candidates: n},
			LeaseUntil: now + int64(m.cfg.Timeout) + m.cfg.RunningGrace, Timeout: m.cfg.Timeout, MaxSilent: m.cfg.MaxSilent,
			MaxLogSize: m.cfg.MaxLogSize, MaxOutputSize: m.cfg.MaxOutputSize,
			Verify: &VerifyDecision{OriginalMachine: v.original, Outputs: v.outputs}})
	}
	return out
}

// pickVerifier returns the machine for v, or nil when none may take it
// now, and how many machines could take it at all.
func (m *Model) pickVerifier(v *verification) (*machine, int) {
	probe := &node{features: v.features, preferLocal: v.preferLocal}
	var best, original *machine
	n, others := 0, 0
	for _, mc := range m.candidates(v.system) {
		if !mc.usable() || !mc.supportsFeatures(probe) {
			continue
		}
		n++
		if mc.name != v.original {
			others++
		}
		if !mc.free() || mc.verifying > 0 {
			continue
		}
		if mc.name == v.original {
			original = mc
			continue
		}
		if best == nil || better(mc, best) {
			best = mc
		}
	}
	if best == nil && others == 0 {
		best = original
	}
	return best, n
}

// releaseVerification undoes the reservation of the verification d after
// recording it failed.
func (m *Model) releaseVerification(d Decision) {
	v := m.verifies[d.DrvPath]
	if v == nil || !v.reserved || v.attempt+1 != d.Attempt {
		return
	}
	m.freeVerification(v)
}
