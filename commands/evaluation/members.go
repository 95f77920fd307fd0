package evaluation

import (
	"sort"

	"buildledger/events"
)

// prevBuild is a build of an earlier evaluation.
type prevBuild struct {
	build   int64
	drvPath string
}

// memberKey is how Hydra recognises a job's build of an earlier
// evaluation: the job name with its first output's name and path (the
// derivation path when the output path is not known, e.g. for floating
// content-addressed outputs).
func memberKey(job string, outputs []events.Output, drvPath string) string {
	o, ok := firstOutput(outputs)
	if !ok || o.Path == "" {
		return job + "\x00drv\x00" + drvPath
	}
	return job + "\x00" + o.Name + "\x00" + o.Path
}

// firstOutput is "out" if the derivation has one, else the first by name.
func firstOutput(outputs []events.Output) (events.Output, bool) {
	for _, o := range outputs {
		if o.Name == "out" {
			return o, true
		}
	}
	if len(outputs) == 0 {
		return events.Output{}, false
	}
	return outputs[0], true
}

// member is one job of an evaluation and its build.
type member struct {
	job   Job
	build int64
	isNew bool
	// cached is set for a new build whose outputs were all valid.
	cached bool
	// constituentNames and constituents are an aggregate's resolved
	// constituents: job names and their builds.
	constituentNames []string
	constituents     []int64
}

// members is an evaluation's jobs mapped to builds.
type members struct {
	members  []member // sorted by job name
	newCount int
}

// assign maps each job to the build of the previous evaluation with the
// same member key, or marks it new.
func assign(jobs []Job, prev map[string]prevBuild) members {
	ms := members{members: make([]member, len(jobs))}
	for i, j := range jobs {
		ms.members[i].job = j
		if p, ok := prev[memberKey(j.Name, j.Outputs, j.DrvPath)]; ok {
			ms.members[i].build = p.build
		} else {
			ms.members[i].isNew = true
			ms.newCount++
		}
	}
	sort.SliceStable(ms.members, func(a, b int) bool { return ms.members[a].job.Name < ms.members[b].job.Name })
	return ms
}

// number gives the new builds the ids first, first+1, … in job name order.
func (ms *members) number(first int64) {
	for i := range ms.members {
		if m := &ms.members[i]; m.isNew {
			m.build = first
			first++
		}
	}
}

// resolveConstituents gives each aggregate of ms the builds of its
// constituents among ms, by job name.
func resolveConstituents(ms []member) {
	byName := make(map[string]int64, len(ms))
	for _, m := range ms {
		byName[m.job.Name] = m.build
	}
	for i := range ms {
		m := &ms[i]
		if !m.job.IsAggregate {
			continue
		}
		for _, c := range m.job.Constituents {
			if b, ok := byName[c]; ok && c != m.job.Name {
				m.constituentNames = append(m.constituentNames, c)
				m.constituents = append(m.constituents, b)
			}
		}
	}
}

// newBuildsByDrv returns the new builds' derivations with the lowest
// build of each, in build order.
func (ms *members) newBuildsByDrv() []drvBuild {
	seen := make(map[string]bool)
	var out []drvBuild
	for _, m := range ms.byBuild() {
		if m.isNew && !seen[m.job.DrvPath] {
			seen[m.job.DrvPath] = true
			out = append(out, drvBuild{drv: m.job.DrvPath, build: m.build})
		}
	}
	return out
}

func (ms *members) byBuild() []member {
	out := append([]member(nil), ms.members...)
	sort.SliceStable(out, func(a, b int) bool { return out[a].build < out[b].build })
	return out
}

type drvBuild struct {
	drv   string
	build int64
}

// owners tells which build brought each step of a plan in.
type owners struct {
	index map[string]int // drv path → index in the plan
	build []int64        // by plan index
}

// stepOwners gives each step the lowest new build whose closure holds it.
func stepOwners(steps []Step, roots []drvBuild) owners {
	o := owners{index: make(map[string]int, len(steps)), build: make([]int64, len(steps))}
	for i, s := range steps {
		o.index[s.DrvPath] = i
	}
	var stack []int
	for _, r := range roots {
		i, ok := o.index[r.drv]
		if !ok || o.build[i] != 0 {
			continue
		}
		o.build[i] = r.build
		stack = append(stack[:0], i)
		for len(stack) > 0 {
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, d := range steps[n].InputDrvs {
				if j, ok := o.index[d]; ok && o.build[j] == 0 {
					o.build[j] = r.build
					stack = append(stack, j)
				}
			}
		}
	}
	return o
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
