package scheduler

import (
	"buildledger/domain/status"
	"buildledger/events"
)

// Apply folds one decoded event into the model. Events the scheduler
// does not need are ignored. Apply is idempotent for the scheduler's own
// decisions: a StepDispatched it already reserved is only confirmed.
func (m *Model) Apply(p events.Payload) {
	switch e := p.(type) {
	case *events.JobsetCreated:
		m.jobsetConfig(e.ID, e.Project+":"+e.Name, e.SchedulingShares)
		m.jobsets[e.ID].verify = e.VerifyFraction
	case *events.JobsetUpdated:
		if j := m.jsByName[e.Project+":"+e.Name]; j != nil {
			j.shares, j.verify = e.SchedulingShares, e.VerifyFraction
		}
	case *events.MachineRegistered:
		m.machineConfig(e.Name, e.MachineConfig)
	case *events.MachineUpdated:
		m.machineConfig(e.Name, e.MachineConfig)
	case *events.MachineRemoved:
		if mc := m.machines[e.Name]; mc != nil {
			mc.removed = true
			m.machinesDirt = true
		}
	case *events.StepQueued:
		m.stepQueued(e)
	case *events.EvaluationFinished:
		m.evalClosed(e.EvalID)
	case *events.EvaluationFailed:
		m.evalClosed(e.EvalID)
	case *events.EvaluationClosed:
		m.evalClosed(e.EvalID)
	case *events.BuildQueued:
		m.buildQueued(e)
	case *events.BuildCached:
		m.buildEnded(e.BuildID, statusCached(e.Failed), e.Timestamp)
	case *events.StepDispatched:
		m.stepDispatched(e)
	case *events.StepStarted:
		m.stepStarted(e)
	case *events.StepFinished:
		m.stepFinished(e)
		m.sampleVerification(e)
	case *events.VerificationDispatched:
		m.verificationDispatched(e)
	case *events.VerificationEnded:
		m.verificationEnded(e)
	case *events.StepRetryScheduled:
		m.stepRequeued(e)
	case *events.FailedPathsCleared:
		clear(m.failedOutputs)
	case *events.OutputUploaded:
		m.narSizes[e.Path] = e.NarSize
		m.outputUploaded(e)
	case *events.BuildFinished:
		if b := m.builds[e.BuildID]; b != nil && e.Status == int(status.DepFailed) && e.PropagatedFrom != 0 && e.FailedDrv != "" {
			b.nr++
		}
		m.buildEnded(e.BuildID, e.Status, e.StopTime)
	case *events.BuildCancelled:
		m.buildEnded(e.BuildID, int(status.Cancelled), e.Timestamp)
		m.markOrphans()
	case *events.BuildRestarted:
		m.buildRestarted(e)
	case *events.BuildWithdrawn:
		m.buildWithdrawn(e.BuildID)
	case *events.BuildBumped:
		if b := m.builds[e.BuildID]; b != nil {
			b.globalPrio = e.GlobalPriority
			for _, s := range b.steps {
				if b.globalPrio > s.globalPrio {
					m.rekey(s, func() { s.globalPrio = b.globalPrio })
				}
			}
		}
	}
}

func statusCached(failed bool) int {
	if failed {
		return int(status.Failed)
	}
	return int(status.Success)
}

func (m *Model) jobsetConfig(id int64, name string, shares int) {
	j := m.jobsets[id]
	if j == nil {
		j = &jobset{id: id}
		m.jobsets[id] = j
	}
	j.name, j.shares = name, shares
	m.jsByName[name] = j
}

func (m *Model) jobsetOf(id int64) *jobset {
	j := m.jobsets[id]
	if j == nil {
		j = &jobset{id: id, shares: 100}
		m.jobsets[id] = j
	}
	return j
}

func (m *Model) machineConfig(name string, cfg events.MachineConfig) {
	mc := m.machines[name]
	if mc == nil {
		mc = &machine{name: name}
		m.machines[name] = mc
	}
	mc.cfg, mc.removed = cfg, false
	m.machinesDirt = true
}

// charge adds a finished step's time to its jobsets' share usage, split
// equally among them as Hydra's C++ runner did.
func (m *Model) charge(s *node, start, stop int64) {
	if start <= 0 || stop <= start || len(s.jobsets) == 0 {
		return
	}
	per := (stop - start) / int64(len(s.jobsets))
	for _, j := range s.jobsets {
		j.seconds += per
		j.window = append(j.window, charge{at: stop, seconds: per})
	}
}
