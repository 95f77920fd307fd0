package scheduler

import (
	"os"
	"sort"

	"buildledger/domain/step"
)

// Status is the queue runner's status in the shape of Hydra's old
// queue-runner status JSON (hydra-queue-runner --status), the keys
// hydra-server and dashboards read.
type Status struct {
	Status             string `json:"status"`
	Time               int64  `json:"time"`
	Uptime             int64  `json:"uptime"`
	PID                int    `json:"pid"`
	CaughtUp           bool   `json:"caughtUp"`
	NrQueuedBuilds     int    `json:"nrQueuedBuilds"`
	NrUnfinishedSteps  int    `json:"nrUnfinishedSteps"`
	NrRunnableSteps    int    `json:"nrRunnableSteps"`
	NrActiveSteps      int    `json:"nrActiveSteps"`
	NrStepsBuilding    int    `json:"nrStepsBuilding"`
	NrStepsWaiting     int    `json:"nrStepsWaiting"`
	NrUnsupportedSteps int    `json:"nrUnsupportedSteps"`
	NrBuildsDone       int    `json:"nrBuildsDone"`
	NrBuildsSucceeded  int    `json:"nrBuildsSucceeded"`
	NrBuildsFailed     int    `json:"nrBuildsFailed"`
	NrStepsStarted     int    `json:"nrStepsStarted"`
	NrStepsDone        int    `json:"nrStepsDone"`
	NrRetries          int    `json:"nrRetries"`
	MaxNrRetries       int    `json:"maxNrRetries"`
	NrDecisions        int    `json:"nrDecisions"`
	NrLeaseExpiries    int    `json:"nrLeaseExpiries"`
	NrStepsCancelled   int    `json:"nrStepsCancelled"`
	// NrBuildsHeld and NrStepsHeld count what the model holds in memory:
	// the unfinished builds and steps, and the finished ones not evicted
	// yet (Config.EvictAfter).
	NrBuildsHeld int                      `json:"nrBuildsHeld"`
	NrStepsHeld  int                      `json:"nrStepsHeld"`
	Machines     map[string]MachineStatus `json:"machines"`
	Jobsets      map[string]JobsetStatus  `json:"jobsets"`
	MachineTypes map[string]SystemStatus  `json:"machineTypes"`
}

// MachineStatus is one machine in Status.
type MachineStatus struct {
	Enabled           bool     `json:"enabled"`
	SystemTypes       []string `json:"systemTypes"`
	SupportedFeatures []string `json:"supportedFeatures"`
	MandatoryFeatures []string `json:"mandatoryFeatures"`
	MaxJobs           int      `json:"maxJobs"`
	SpeedFactor       float64  `json:"speedFactor"`
	CurrentJobs       int      `json:"currentJobs"`
	NrStepsDone       int      `json:"nrStepsDone"`
	NrStepsFailed     int      `json:"nrStepsFailed"`
	IdleSince         int64    `json:"idleSince"`
	Jobs              []string `json:"jobs"`
}

// JobsetStatus is one jobset's share usage in Status.
type JobsetStatus struct {
	ShareUsed float64 `json:"shareUsed"`
	Seconds   int64   `json:"seconds"`
	Shares    int     `json:"shares"`
}

// SystemStatus is one system's queue in Status.
type SystemStatus struct {
	Runnable int `json:"runnable"`
	Running  int `json:"running"`
}

// Status returns the scheduler's current status.
func (s *Scheduler) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.rt.Clock().Now()
	st := s.model.Status()
	st.Time, st.Uptime, st.PID, st.CaughtUp = now.Unix(), int64(now.Sub(s.started).Seconds()), os.Getpid(), s.caughtUp
	return st
}

// Status returns the model's part of the status (no times, no pid).
func (m *Model) Status() Status {
	st := Status{Status: "up", Machines: map[string]MachineStatus{}, Jobsets: map[string]JobsetStatus{},
		MachineTypes: map[string]SystemStatus{}}
	st.NrBuildsHeld, st.NrStepsHeld = len(m.builds), len(m.steps)
	for _, b := range m.builds {
		if !b.finished {
			st.NrQueuedBuilds++
		}
	}
	for _, n := range m.steps {
		if n.live > 0 && n.phase != step.Succeeded && n.phase != step.Failed {
			st.NrUnfinishedSteps++
			if n.pending > 0 {
				st.NrStepsWaiting++
			}
		}
	}
	for sys, q := range m.queues {
		st.NrRunnableSteps += len(q.steps)
		t := st.MachineTypes[sys]
		t.Runnable = len(q.steps)
		st.MachineTypes[sys] = t
		for _, n := range q.steps {
			if n.unsupportedT != 0 {
				st.NrUnsupportedSteps++
			}
		}
	}
	jobs := map[*machine][]string{}
	for n := range m.active {
		st.NrActiveSteps++
		if n.phase == step.Running {
			st.NrStepsBuilding++
		}
		t := st.MachineTypes[n.system]
		t.Running++
		st.MachineTypes[n.system] = t
		if n.machine != nil {
			jobs[n.machine] = append(jobs[n.machine], n.drv)
		}
	}
	for _, mc := range m.machines {
		if mc.removed && mc.current == 0 {
			continue
		}
		js := jobs[mc]
		sort.Strings(js)
		ms := MachineStatus{Enabled: mc.usable(), SystemTypes: mc.cfg.Systems, SupportedFeatures: mc.cfg.SupportedFeatures,
			MandatoryFeatures: mc.cfg.MandatoryFeatures, MaxJobs: mc.cfg.MaxJobs, SpeedFactor: mc.cfg.SpeedFactor,
			CurrentJobs: mc.current, NrStepsDone: mc.done, NrStepsFailed: mc.failed, Jobs: js}
		if mc.current == 0 {
			ms.IdleSince = mc.lastEnd
		}
		st.Machines[mc.name] = ms
	}
	for _, j := range m.jobsets {
		if j.name != "" {
			st.Jobsets[j.name] = JobsetStatus{ShareUsed: j.shareUsed(), Seconds: j.seconds, Shares: j.shares}
		}
	}
	c := m.stats
	st.NrBuildsDone, st.NrBuildsSucceeded, st.NrBuildsFailed = c.buildsDone, c.buildsSucceeded, c.buildsFailed
	st.NrStepsStarted, st.NrStepsDone, st.NrRetries, st.MaxNrRetries = c.stepsStarted, c.stepsDone, c.retries, c.maxRetries
	st.NrDecisions, st.NrLeaseExpiries, st.NrStepsCancelled = c.decisions, c.leaseExpiries, c.stepsCancelled
	return st
}
