package scheduler

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"

	"buildledger/domain/step"
	"buildledger/events"
)

// snapshotVersion is the format of the model's snapshots. Bump it
// whenever a field is added, removed or changes meaning, or the fold
// changes what it keeps: snapshots of another version are not used.
const snapshotVersion = 5

// modelState is what a snapshot keeps of a Model: what the fold of the
// events gave, with steps and builds numbered (their index in Steps and
// Builds) so that the edges between them survive. What Decide and
// Actions keep for themselves is left out and starts again as after a
// fold of the whole log: reservations (a decision not recorded yet),
// when a follow-up may be asked for again, since when a step is
// unsupported, critical paths. Pointers (reverse dependencies, the
// queues and their heaps, the open evaluations, the active steps, the
// steps whose builds list a build, machine loads) are rebuilt on load.
type modelState struct {
	// Config is the configuration of the fold: one with another folds
	// the same events differently.
	Config   Config         `json:"config"`
	Steps    []stepState    `json:"steps"`
	Builds   []buildState   `json:"builds"`
	Jobsets  []jobsetState  `json:"jobsets"`
	Machines []machineState `json:"machines"`
	// Queues names the systems that have a queue (the status lists
	// them, runnable steps or not).
	Queues []string `json:"queues"`
	// JobsetNames maps "project:jobset" to a jobset id.
	JobsetNames   map[string]int64 `json:"jobsetNames"`
	WaitingSteps  map[string][]int `json:"waitingSteps"`
	WaitingBuilds map[string][]int `json:"waitingBuilds"`
	ClosedEvals   []int64          `json:"closedEvals"`
	FailedOutputs []string         `json:"failedOutputs"`
	NarSizes      map[string]int64 `json:"narSizes"`
	// Finishes and Requeues are the follow-ups whose event has not come.
	Finishes []finishState  `json:"finishes"`
	Requeues []requeueState `json:"requeues"`
	Stats    statsState     `json:"stats"`
	// Verifications are the reproducibility rebuilds held (version 2),
	// Uploads the hashes of sampled steps not finished yet.
	Verifications []verificationState                `json:"verifications,omitempty"`
	Uploads       map[string][]events.VerifiedOutput `json:"uploads,omitempty"`
}

// finishState is a pending finish: the event, and for a credited build
// what goes before it. Scraped is an added field, so a snapshot of
// version 5 without it reads the same.
type finishState struct {
	events.BuildFinished
	Scraped *scraped `json:"scraped,omitempty"`
}

// verificationState is a verification; Machine is set while it is
// dispatched (a reservation is not kept).
type verificationState struct {
	Drv         string                  `json:"drv"`
	System      string                  `json:"system"`
	Features    []string                `json:"features,omitempty"`
	PreferLocal bool                    `json:"preferLocal,omitempty"`
	Original    string                  `json:"original"`
	Outputs     []events.VerifiedOutput `json:"outputs"`
	Attempt     int                     `json:"attempt,omitempty"`
	Machine     string                  `json:"machine,omitempty"`
	LeaseUntil  int64                   `json:"leaseUntil,omitempty"`
}

// stepState is a node. Detached is a node the model no longer holds
// (Evict forgot it) that a build it holds still names as its top-level
// step.
type stepState struct {
	Drv         string          `json:"drv"`
	Detached    bool            `json:"detached,omitempty"`
	System      string          `json:"system"`
	Features    []string        `json:"features"`
	PreferLocal bool            `json:"preferLocal,omitempty"`
	Outputs     []events.Output `json:"outputs"`
	Phase       step.Phase      `json:"phase"`
	Attempt     int             `json:"attempt,omitempty"`
	Tries       int             `json:"tries,omitempty"`
	Status      int             `json:"status,omitempty"`
	ReleaseName string          `json:"releaseName,omitempty"`
	RetryAt     int64           `json:"retryAt,omitempty"`
	LeaseUntil  int64           `json:"leaseUntil,omitempty"`
	StartTime   int64           `json:"startTime,omitempty"`
	StopTime    int64           `json:"stopTime,omitempty"`
	CreditEval  int64           `json:"creditEval,omitempty"`
	Scraped     *scraped        `json:"scraped,omitempty"`
	BuildID     int64           `json:"buildId,omitempty"`
	Machine     string          `json:"machine,omitempty"`
	Nr          int             `json:"nr,omitempty"`
	Inputs      []int           `json:"inputs,omitempty"`
	WaitsOn     []string        `json:"waitsOn,omitempty"`
	Pending     int             `json:"pending,omitempty"`
	Builds      []int           `json:"builds,omitempty"`
	Live        int             `json:"live,omitempty"`
	GlobalPrio  int             `json:"globalPrio,omitempty"`
	LocalPrio   int             `json:"localPrio,omitempty"`
	LowestBuild int64           `json:"lowestBuild,omitempty"`
	Jobsets     []int64         `json:"jobsets,omitempty"`
	Orphan      bool            `json:"orphan,omitempty"`
	EvalOpen    int64           `json:"evalOpen,omitempty"`
}

// buildState is a build; Detached is one the model no longer holds that
// a step still lists. Top is -1 while its top-level step is not queued.
type buildState struct {
	ID         int64           `json:"id"`
	Eval       int64           `json:"eval,omitempty"`
	Detached   bool            `json:"detached,omitempty"`
	Jobset     int64           `json:"jobset"`
	Drv        string          `json:"drv"`
	Top        int             `json:"top"`
	Steps      []int           `json:"steps,omitempty"`
	GlobalPrio int             `json:"globalPrio,omitempty"`
	LocalPrio  int             `json:"localPrio,omitempty"`
	MaxSilent  int             `json:"maxSilent,omitempty"`
	Timeout    int             `json:"timeout,omitempty"`
	Outputs    []events.Output `json:"outputs"`
	Finished   bool            `json:"finished,omitempty"`
	Status     int             `json:"status,omitempty"`
	Nr         int             `json:"nr,omitempty"`
	DoneAt     int64           `json:"doneAt,omitempty"`
}

type jobsetState struct {
	ID      int64  `json:"id"`
	Name    string `json:"name,omitempty"`
	Shares  int    `json:"shares"`
	Seconds int64  `json:"seconds"`
	// Verify is the jobset's verifyFraction.
	Verify float64 `json:"verify,omitempty"`
	// Window is the charges of the last 24 hours, as [time, seconds].
	Window [][2]int64 `json:"window,omitempty"`
}

type machineState struct {
	Name    string               `json:"name"`
	Config  events.MachineConfig `json:"config"`
	Removed bool                 `json:"removed,omitempty"`
	Done    int                  `json:"done,omitempty"`
	Failed  int                  `json:"failed,omitempty"`
	LastEnd int64                `json:"lastEnd,omitempty"`
}

type requeueState struct {
	Step  int                       `json:"step"`
	Event events.StepRetryScheduled `json:"event"`
}

type statsState struct {
	StepsDone          int `json:"stepsDone,omitempty"`
	StepsStarted       int `json:"stepsStarted,omitempty"`
	Retries            int `json:"retries,omitempty"`
	MaxRetries         int `json:"maxRetries,omitempty"`
	BuildsDone         int `json:"buildsDone,omitempty"`
	BuildsSucceeded    int `json:"buildsSucceeded,omitempty"`
	BuildsFailed       int `json:"buildsFailed,omitempty"`
	UnsupportedAborted int `json:"unsupportedAborted,omitempty"`
	Decisions          int `json:"decisions,omitempty"`
	LeaseExpiries      int `json:"leaseExpiries,omitempty"`
	StepsCancelled     int `json:"stepsCancelled,omitempty"`
	Verified           int `json:"verified,omitempty"`
	VerifyGivenUp      int `json:"verifyGivenUp,omitempty"`
}

// MarshalSnapshot encodes the model as a snapshot (a gzipped stream of
// JSON values in the format snapshotVersion), for UnmarshalSnapshot.
func (m *Model) MarshalSnapshot() ([]byte, error) {
	var b bytes.Buffer
	if err := m.writeSnapshot(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// snapshotHeader is the first JSON value of a snapshot: the state but
// its steps and builds, which follow it one JSON value each, NrSteps
// steps then NrBuilds builds.
type snapshotHeader struct {
	modelState
	NrSteps  int `json:"nrSteps"`
	NrBuilds int `json:"nrBuilds"`
}

// writeSnapshot writes the model to w, gzipped: its header, then each
// step and each build as a JSON value of its own, made as it is
// written. The caller holds the model still meanwhile. A copy of the
// model to encode after letting it go (what the scheduler did before)
// held 250 MB at 100,000 queued jobs, half the model again
// (BenchmarkSnapshotSave), for about the same time under the lock;
// written a value at a time, only the compressed bytes are held, about
// a seventeenth of the JSON. The same model gives the same bytes.
func (m *Model) writeSnapshot(w io.Writer) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	nodes, builds := m.numbered()
	defer unnumber(nodes, builds)
	enc := json.NewEncoder(zw)
	err = enc.Encode(snapshotHeader{modelState: m.header(), NrSteps: len(nodes), NrBuilds: len(builds)})
	// One value of each, reused: a value passed to Encode is copied to
	// the heap, 100 MB of garbage at 300,000 steps.
	var ss stepState
	for i := 0; err == nil && i < len(nodes); i++ {
		m.stepState(&ss, nodes[i])
		err = enc.Encode(&ss)
	}
	var bs buildState
	for i := 0; err == nil && i < len(builds); i++ {
		m.buildState(&bs, builds[i])
		err = enc.Encode(&bs)
	}
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	return nil
}

// readState reads what writeSnapshot wrote, before its gzip: the header,
// its steps and builds (appended to any the header holds), and nothing
// after them.
func readState(r io.Reader) (modelState, error) {
	dec := json.NewDecoder(r)
	var h snapshotHeader
	if err := dec.Decode(&h); err != nil {
		return modelState{}, fmt.Errorf("%w: header: %w", errSnapshot, err)
	}
	st := h.modelState
	for range h.NrSteps {
		var s stepState
		if err := dec.Decode(&s); err != nil {
			return modelState{}, fmt.Errorf("%w: step %d: %w", errSnapshot, len(st.Steps), err)
		}
		st.Steps = append(st.Steps, s)
	}
	for range h.NrBuilds {
		var b buildState
		if err := dec.Decode(&b); err != nil {
			return modelState{}, fmt.Errorf("%w: build %d: %w", errSnapshot, len(st.Builds), err)
		}
		st.Builds = append(st.Builds, b)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return modelState{}, invalid("more after its %d steps and %d builds", h.NrSteps, h.NrBuilds)
	}
	return st, nil
}

// numbered lists and numbers (their snap fields) the model's steps (the
// held ones by derivation, then the detached ones as they are met) and
// builds (the held ones by id, then the detached ones), so the same
// model gives the same snapshot. A field, not a map: a snapshot looks
// up a number for every build a step lists, millions at nixpkgs' size.
func (m *Model) numbered() (nodes []*node, builds []*build) {
	nodes, builds = make([]*node, 0, len(m.steps)), make([]*build, 0, len(m.builds))
	node := func(s *node) {
		if s.snap == 0 {
			nodes = append(nodes, s)
			s.snap = len(nodes)
		}
	}
	build := func(b *build) {
		if b.snap == 0 {
			builds = append(builds, b)
			b.snap = len(builds)
		}
	}
	drvs := make([]string, 0, len(m.steps))
	for d := range m.steps {
		drvs = append(drvs, d)
	}
	sort.Strings(drvs)
	for _, d := range drvs {
		node(m.steps[d])
	}
	ids := make([]int64, 0, len(m.builds))
	for id := range m.builds {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		build(m.builds[id])
	}
	// What a step or build names may add detached ones: walk both lists
	// until neither grows, in the order stepState and buildState name
	// them.
	for ni, bi := 0, 0; ni < len(nodes) || bi < len(builds); {
		for ; ni < len(nodes); ni++ {
			for _, d := range nodes[ni].inputs {
				node(d)
			}
			for _, b := range nodes[ni].builds {
				build(b)
			}
		}
		for ; bi < len(builds); bi++ {
			if top := builds[bi].top; top != nil {
				node(top)
			}
			for _, s := range builds[bi].steps {
				node(s)
			}
		}
	}
	return nodes, builds
}

// unnumber clears the numbers numbered gave.
func unnumber(nodes []*node, builds []*build) {
	for _, s := range nodes {
		s.snap = 0
	}
	for _, b := range builds {
		b.snap = 0
	}
}

// header is what a snapshot keeps of the model but its steps and
// builds, which it names by the numbers numbered gave them. It shares nothing the model
// changes in place.
func (m *Model) header() modelState {
	st := modelState{Config: m.cfg, JobsetNames: map[string]int64{}, WaitingSteps: map[string][]int{},
		WaitingBuilds: map[string][]int{}, NarSizes: maps.Clone(m.narSizes)}
	for _, j := range sortedJobsets(m.jobsets) {
		js := jobsetState{ID: j.id, Name: j.name, Shares: j.shares, Seconds: j.seconds, Verify: j.verify}
		for _, c := range j.window {
			js.Window = append(js.Window, [2]int64{c.at, c.seconds})
		}
		st.Jobsets = append(st.Jobsets, js)
	}
	for sys := range m.queues {
		st.Queues = append(st.Queues, sys)
	}
	sort.Strings(st.Queues)
	for name, j := range m.jsByName {
		st.JobsetNames[name] = j.id
	}
	names := make([]string, 0, len(m.machines))
	for n := range m.machines {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		mc := m.machines[n]
		st.Machines = append(st.Machines, machineState{Name: mc.name, Config: mc.cfg, Removed: mc.removed,
			Done: mc.done, Failed: mc.failed, LastEnd: mc.lastEnd})
	}
	for d, ss := range m.waitingSteps {
		for _, s := range ss {
			st.WaitingSteps[d] = append(st.WaitingSteps[d], s.snap-1)
		}
	}
	for d, bs := range m.waitingBuilds {
		for _, b := range bs {
			st.WaitingBuilds[d] = append(st.WaitingBuilds[d], b.snap-1)
		}
	}
	for id := range m.closedEvals {
		st.ClosedEvals = append(st.ClosedEvals, id)
	}
	slices.Sort(st.ClosedEvals)
	for p := range m.failedOutputs {
		st.FailedOutputs = append(st.FailedOutputs, p)
	}
	sort.Strings(st.FailedOutputs)
	for _, f := range m.finishes {
		st.Finishes = append(st.Finishes, finishState{BuildFinished: f.ev, Scraped: f.scraped})
	}
	sort.Slice(st.Finishes, func(i, j int) bool { return st.Finishes[i].BuildID < st.Finishes[j].BuildID })
	for s, r := range m.requeues {
		st.Requeues = append(st.Requeues, requeueState{Step: s.snap - 1, Event: r.ev})
	}
	sort.Slice(st.Requeues, func(i, j int) bool { return st.Requeues[i].Step < st.Requeues[j].Step })
	for _, v := range m.verifies {
		vs := verificationState{Drv: v.drv, System: v.system, Features: v.features, PreferLocal: v.preferLocal,
			Original: v.original, Outputs: v.outputs, Attempt: v.attempt}
		if v.machine != nil && !v.reserved {
			vs.Machine, vs.LeaseUntil = v.machine.name, v.leaseUntil
		}
		st.Verifications = append(st.Verifications, vs)
	}
	sort.Slice(st.Verifications, func(i, j int) bool { return st.Verifications[i].Drv < st.Verifications[j].Drv })
	if len(m.uploads) > 0 {
		st.Uploads = maps.Clone(m.uploads)
	}
	c := m.stats
	st.Stats = statsState{StepsDone: c.stepsDone, StepsStarted: c.stepsStarted, Retries: c.retries, MaxRetries: c.maxRetries,
		BuildsDone: c.buildsDone, BuildsSucceeded: c.buildsSucceeded, BuildsFailed: c.buildsFailed,
		UnsupportedAborted: c.unsupportedAborted, Decisions: c.decisions, LeaseExpiries: c.leaseExpiries,
		Verified: c.verified, VerifyGivenUp: c.verifyGivenUp,
		StepsCancelled: c.stepsCancelled}
	return st
}

// stepState sets ss to what a snapshot keeps of s, naming steps and
// builds by their numbers. It reuses ss's lists and shares s's: ss is
// encoded before the model changes.
func (m *Model) stepState(ss *stepState, s *node) {
	inputs, bs, js := ss.Inputs[:0], ss.Builds[:0], ss.Jobsets[:0]
	*ss = stepState{Drv: s.drv, Detached: m.steps[s.drv] != s, System: s.system, Features: s.features,
		PreferLocal: s.preferLocal, Outputs: s.outputs, Phase: s.phase, Attempt: s.attempt, Tries: s.tries, Status: s.status,
		ReleaseName: s.releaseName, RetryAt: s.retryAt, LeaseUntil: s.leaseUntil, StartTime: s.startTime, StopTime: s.stopTime, CreditEval: s.creditEval, Scraped: s.scraped, BuildID: s.buildID,
		Nr: s.nr, WaitsOn: s.waitsOn, Pending: s.pending, Live: s.live, GlobalPrio: s.globalPrio, LocalPrio: s.localPrio,
		LowestBuild: s.lowestBuild, Orphan: s.orphan, EvalOpen: s.evalOpen}
	if s.machine != nil && !s.reserved {
		// A reservation is a decision not recorded yet: its
		// StepDispatched, if it comes, is after the snapshot.
		ss.Machine = s.machine.name
	}
	for _, d := range s.inputs {
		inputs = append(inputs, d.snap-1)
	}
	for _, b := range s.builds {
		bs = append(bs, b.snap-1)
	}
	for _, j := range s.jobsets {
		js = append(js, j.id)
	}
	ss.Inputs, ss.Builds, ss.Jobsets = inputs, bs, js
}

// buildState sets bs to what a snapshot keeps of b, reusing its list of
// steps.
func (m *Model) buildState(bs *buildState, b *build) {
	steps := bs.Steps[:0]
	*bs = buildState{ID: b.id, Eval: b.eval, Detached: m.builds[b.id] != b, Jobset: b.jobset.id, Drv: b.drv, Top: -1,
		GlobalPrio: b.globalPrio, LocalPrio: b.localPrio, MaxSilent: b.maxSilent, Timeout: b.timeout, Outputs: b.outputs,
		Finished: b.finished, Status: b.status, Nr: b.nr, DoneAt: b.doneAt}
	if b.top != nil {
		bs.Top = b.top.snap - 1
	}
	for _, s := range b.steps {
		steps = append(steps, s.snap-1)
	}
	bs.Steps = steps
}

func sortedJobsets(js map[int64]*jobset) []*jobset {
	out := make([]*jobset, 0, len(js))
	for _, j := range js {
		out = append(out, j)
	}
	sort.Slice(out, func(i, k int) bool { return out[i].id < out[k].id })
	return out
}

// errSnapshot marks a snapshot that does not describe a model.
var errSnapshot = errors.New("invalid scheduler snapshot")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errSnapshot, fmt.Sprintf(format, args...))
}

// UnmarshalSnapshot rebuilds a model with cfg from a snapshot made by
// MarshalSnapshot. It refuses a snapshot of a model with another
// configuration, or one whose numbers do not hold together; the caller
// then folds the whole log instead.
func UnmarshalSnapshot(cfg Config, data []byte) (*Model, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errSnapshot, err)
	}
	return unmarshalState(cfg, zr)
}

// unmarshalState reads a snapshot's stream, under its gzip.
func unmarshalState(cfg Config, r io.Reader) (*Model, error) {
	st, err := readState(r)
	if err != nil {
		return nil, err
	}
	m := NewModel(cfg)
	if st.Config != m.cfg {
		return nil, invalid("taken with another configuration (%+v, not %+v)", st.Config, m.cfg)
	}
	if err := m.load(&st); err != nil {
		return nil, err
	}
	return m, nil
}

// load fills the empty model m from st and rebuilds the pointers.
func (m *Model) load(st *modelState) error {
	for _, js := range st.Jobsets {
		if m.jobsets[js.ID] != nil {
			return invalid("jobset %d twice", js.ID)
		}
		j := &jobset{id: js.ID, name: js.Name, shares: js.Shares, seconds: js.Seconds, verify: js.Verify}
		for _, c := range js.Window {
			j.window = append(j.window, charge{at: c[0], seconds: c[1]})
		}
		j.used = j.shareUsed()
		m.jobsets[js.ID] = j
	}
	for name, id := range st.JobsetNames {
		if m.jsByName[name] = m.jobsets[id]; m.jsByName[name] == nil {
			return invalid("jobset name %q names no jobset", name)
		}
	}
	for _, ms := range st.Machines {
		if m.machines[ms.Name] != nil {
			return invalid("machine %q twice", ms.Name)
		}
		m.machines[ms.Name] = &machine{name: ms.Name, cfg: ms.Config, removed: ms.Removed, done: ms.Done,
			failed: ms.Failed, lastEnd: ms.LastEnd}
	}
	m.machinesDirt = true
	for _, sys := range st.Queues {
		m.queues[sys] = newQueue(sys)
	}
	nodes := make([]*node, len(st.Steps))
	for i := range st.Steps {
		nodes[i] = &node{qidx: -1, hidx: -1}
	}
	builds := make([]*build, len(st.Builds))
	for i, bs := range st.Builds {
		j := m.jobsets[bs.Jobset]
		if j == nil {
			return invalid("build %d: no jobset %d", bs.ID, bs.Jobset)
		}
		b := &build{id: bs.ID, eval: bs.Eval, jobset: j, drv: bs.Drv, globalPrio: bs.GlobalPrio, localPrio: bs.LocalPrio,
			maxSilent: bs.MaxSilent, timeout: bs.Timeout, outputs: bs.Outputs, finished: bs.Finished, status: bs.Status,
			nr: bs.Nr, doneAt: bs.DoneAt}
		if bs.Top >= 0 {
			if bs.Top >= len(nodes) {
				return invalid("build %d: no step %d", bs.ID, bs.Top)
			}
			b.top = nodes[bs.Top]
		}
		for _, k := range bs.Steps {
			if k < 0 || k >= len(nodes) {
				return invalid("build %d: no step %d", bs.ID, k)
			}
			s := nodes[k]
			if b.held[s] {
				return invalid("build %d: step %d twice", bs.ID, k)
			}
			if b.held == nil {
				b.held = map[*node]bool{}
			}
			b.held[s] = true
			b.steps = append(b.steps, s)
		}
		builds[i] = b
		if bs.Detached {
			continue
		}
		if m.builds[b.id] != nil {
			return invalid("build %d twice", b.id)
		}
		m.builds[b.id] = b
		if b.finished {
			b.ended = true
			m.ended = append(m.ended, b)
		}
	}
	for i, ss := range st.Steps {
		if err := m.loadStep(nodes[i], ss, nodes, builds); err != nil {
			return fmt.Errorf("step %d (%s): %w", i, ss.Drv, err)
		}
	}
	for d, ks := range st.WaitingSteps {
		for _, k := range ks {
			if k < 0 || k >= len(nodes) || st.Steps[k].Detached {
				return invalid("steps waiting for %s: no step %d", d, k)
			}
			m.waitingSteps[d] = append(m.waitingSteps[d], nodes[k])
		}
	}
	for d, ks := range st.WaitingBuilds {
		for _, k := range ks {
			if k < 0 || k >= len(builds) || st.Builds[k].Detached {
				return invalid("builds waiting for %s: no build %d", d, k)
			}
			m.waitingBuilds[d] = append(m.waitingBuilds[d], builds[k])
		}
	}
	for _, id := range st.ClosedEvals {
		m.closedEvals[id] = true
	}
	for _, p := range st.FailedOutputs {
		m.failedOutputs[p] = true
	}
	if st.NarSizes != nil {
		m.narSizes = st.NarSizes
	}
	for _, f := range st.Finishes {
		if m.builds[f.BuildID] == nil {
			return invalid("finish of build %d, which is not held", f.BuildID)
		}
		m.finishes[f.BuildID] = &pendingFinish{ev: f.BuildFinished, scraped: f.Scraped}
	}
	for _, r := range st.Requeues {
		if r.Step < 0 || r.Step >= len(nodes) || st.Steps[r.Step].Detached {
			return invalid("requeue of step %d, which is not held", r.Step)
		}
		m.requeues[nodes[r.Step]] = &pendingRequeue{ev: r.Event}
	}
	c := st.Stats
	m.stats = counters{stepsDone: c.StepsDone, stepsStarted: c.StepsStarted, retries: c.Retries, maxRetries: c.MaxRetries,
		buildsDone: c.BuildsDone, buildsSucceeded: c.BuildsSucceeded, buildsFailed: c.BuildsFailed,
		unsupportedAborted: c.UnsupportedAborted, decisions: c.Decisions, leaseExpiries: c.LeaseExpiries,
		stepsCancelled: c.StepsCancelled, verified: c.Verified, verifyGivenUp: c.VerifyGivenUp}
	for _, vs := range st.Verifications {
		if m.verifies[vs.Drv] != nil {
			return invalid("verification of %s twice", vs.Drv)
		}
		v := &verification{drv: vs.Drv, system: vs.System, features: vs.Features, preferLocal: vs.PreferLocal,
			original: vs.Original, outputs: vs.Outputs, attempt: vs.Attempt, leaseUntil: vs.LeaseUntil}
		if vs.Machine != "" {
			mc := m.machines[vs.Machine]
			if mc == nil {
				return invalid("verification of %s on machine %s, which is not held", vs.Drv, vs.Machine)
			}
			v.machine = mc
			mc.current++
			mc.verifying++
		}
		m.verifies[vs.Drv] = v
	}
	if st.Uploads != nil {
		m.uploads = st.Uploads
	}
	// Reverse edges, what each build is held by, machine loads, then the
	// queues.
	for i, s := range nodes {
		if st.Steps[i].Detached {
			continue
		}
		for _, d := range s.inputs {
			d.rdeps = append(d.rdeps, s)
		}
		if s.machine != nil {
			s.machine.current++
		}
	}
	for _, s := range nodes {
		for _, b := range s.builds {
			if _, ok := b.held[s]; !ok {
				if b.held == nil {
					b.held = map[*node]bool{}
				}
				b.held[s] = false
			}
		}
	}
	for i, s := range nodes {
		if !st.Steps[i].Detached {
			m.refresh(s)
		}
	}
	m.graphDirty = len(m.steps) > 0
	return nil
}

// loadStep fills node s from ss.
func (m *Model) loadStep(s *node, ss stepState, nodes []*node, builds []*build) error {
	if ss.Phase < step.Unknown || ss.Phase > step.Failed {
		return invalid("phase %d", ss.Phase)
	}
	s.drv, s.system, s.features, s.preferLocal, s.outputs = ss.Drv, ss.System, ss.Features, ss.PreferLocal, ss.Outputs
	s.phase, s.attempt, s.tries, s.status, s.releaseName = ss.Phase, ss.Attempt, ss.Tries, ss.Status, ss.ReleaseName
	s.retryAt, s.leaseUntil, s.startTime, s.stopTime, s.buildID, s.nr = ss.RetryAt, ss.LeaseUntil, ss.StartTime, ss.StopTime, ss.BuildID, ss.Nr
	s.creditEval, s.scraped = ss.CreditEval, ss.Scraped
	if s.scraped != nil && s.creditEval == 0 {
		return invalid("step %s holds products of a run no build can be credited with", s.drv)
	}
	s.waitsOn, s.globalPrio, s.localPrio, s.lowestBuild, s.orphan = ss.WaitsOn, ss.GlobalPrio, ss.LocalPrio, ss.LowestBuild, ss.Orphan
	for _, k := range ss.Builds {
		if k < 0 || k >= len(builds) {
			return invalid("no build %d", k)
		}
		s.builds = append(s.builds, builds[k])
	}
	for _, id := range ss.Jobsets {
		j := m.jobsets[id]
		if j == nil {
			return invalid("no jobset %d", id)
		}
		s.jobsets = append(s.jobsets, j)
	}
	s.sig = signature(s.jobsets)
	if ss.Detached {
		// Forgotten by Evict: a build still names it, nothing else.
		return nil
	}
	if m.steps[s.drv] != nil {
		return invalid("held twice")
	}
	m.steps[s.drv] = s
	for _, k := range ss.Inputs {
		if k < 0 || k >= len(nodes) {
			return invalid("no input %d", k)
		}
		s.inputs = append(s.inputs, nodes[k])
	}
	if ss.Pending < 0 || ss.Pending > len(s.inputs) || ss.Live < 0 || ss.Live > len(s.builds) {
		return invalid("pending %d of %d inputs, live %d of %d builds", ss.Pending, len(s.inputs), ss.Live, len(s.builds))
	}
	s.pending, s.live = ss.Pending, ss.Live
	if ss.EvalOpen != 0 {
		s.evalOpen = ss.EvalOpen
		m.openEvals[s.evalOpen] = append(m.openEvals[s.evalOpen], s)
	}
	if ss.Machine != "" {
		if s.machine = m.machines[ss.Machine]; s.machine == nil {
			return invalid("no machine %q", ss.Machine)
		}
	}
	if s.phase == step.Dispatched || s.phase == step.Running {
		m.active[s] = struct{}{}
	}
	return nil
}
