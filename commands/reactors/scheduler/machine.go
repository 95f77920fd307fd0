package scheduler

import (
	"slices"
	"sort"

	"buildledger/events"
)

// BuiltinSystem is the system of derivations Nix builds itself
// (builtin:fetchurl, …); any machine takes them.
const BuiltinSystem = "builtin"

// machine is a build machine and its slots.
type machine struct {
	name    string
	cfg     events.MachineConfig
	removed bool
	current int // dispatched + running steps and verifications
	// verifying counts the verifications among current.
	verifying int
	done      int
	failed    int
	lastEnd   int64
}

func (m *machine) usable() bool {
	return !m.removed && m.cfg.Enabled && m.cfg.MaxJobs > 0
}

func (m *machine) free() bool { return m.usable() && m.current < m.cfg.MaxJobs }

func (m *machine) speed() float64 {
	if m.cfg.SpeedFactor <= 0 {
		return 1
	}
	return m.cfg.SpeedFactor
}

// supportsSystem reports whether m builds system.
func (m *machine) supportsSystem(system string) bool {
	return system == BuiltinSystem || slices.Contains(m.cfg.Systems, system)
}

// supportsFeatures applies Nix's rule: every mandatory feature of the
// machine is required by the step ("local" also by preferLocalBuild), and
// every required feature is supported or mandatory.
func (m *machine) supportsFeatures(s *node) bool {
	for _, f := range m.cfg.MandatoryFeatures {
		if !slices.Contains(s.features, f) && !(f == "local" && s.preferLocal) {
			return false
		}
	}
	for _, f := range s.features {
		if !slices.Contains(m.cfg.SupportedFeatures, f) && !slices.Contains(m.cfg.MandatoryFeatures, f) {
			return false
		}
	}
	return true
}

// better reports whether a is a better choice than b: fewer jobs per
// speed, then faster, then by name.
func better(a, b *machine) bool {
	la, lb := float64(a.current)/a.speed(), float64(b.current)/b.speed()
	if la != lb {
		return la < lb
	}
	if a.speed() != b.speed() {
		return a.speed() > b.speed()
	}
	return a.name < b.name
}

// pick returns the best machine among cands with a free slot that fits s,
// or nil.
func pick(s *node, cands []*machine) *machine {
	var best *machine
	for _, m := range cands {
		if !m.free() || !m.supportsFeatures(s) {
			continue
		}
		if best == nil || better(m, best) {
			best = m
		}
	}
	return best
}

// refreshMachines rebuilds the per-system machine lists.
func (m *Model) refreshMachines() {
	if !m.machinesDirt {
		return
	}
	m.machinesDirt = false
	m.machineList = m.machineList[:0]
	for _, mc := range m.machines {
		if !mc.removed {
			m.machineList = append(m.machineList, mc)
		}
	}
	sort.Slice(m.machineList, func(i, j int) bool { return m.machineList[i].name < m.machineList[j].name })
	m.bySystem = map[string][]*machine{BuiltinSystem: m.machineList}
	for _, mc := range m.machineList {
		for _, sys := range mc.cfg.Systems {
			m.bySystem[sys] = append(m.bySystem[sys], mc)
		}
	}
}

func (m *Model) candidates(system string) []*machine {
	m.refreshMachines()
	return m.bySystem[system]
}
