package scheduler

import (
	"slices"

	"buildledger/domain/step"
	"buildledger/events"
)

// Model is the scheduler's in-memory queue: builds, steps and their
// edges, runnable steps per system, machines and jobset shares. It is a
// pure data structure: Apply folds events, Decide makes dispatch decisions
// and Actions lists the follow-ups (finish builds, retry, requeue, abort)
// the events call for. Times are Unix seconds passed in by the caller.
// A Model is not safe for concurrent use.
type Model struct {
	cfg      Config
	steps    map[string]*node
	builds   map[int64]*build
	jobsets  map[int64]*jobset
	jsByName map[string]*jobset
	machines map[string]*machine
	queues   map[string]*queue
	// waiting maps a derivation not (yet) queued to the steps that name
	// it as input, and to builds whose top-level step it is.
	waitingSteps  map[string][]*node
	waitingBuilds map[string][]*build
	openEvals     map[int64][]*node
	closedEvals   map[int64]bool
	failedOutputs map[string]bool
	narSizes      map[string]int64
	active        map[*node]struct{}

	// verifies are the reproducibility rebuilds to run or running, by
	// derivation; uploads the NAR hashes of sampled steps between their
	// OutputUploaded and StepFinished.
	verifies map[string]*verification
	uploads  map[string][]events.VerifiedOutput

	// ended are the finished builds Evict has still to forget.
	ended []*build

	finishes map[int64]*pendingFinish
	requeues map[*node]*pendingRequeue
	// unsent maps a step to the attempt whose command was not sent
	// while its StepDispatched was still to come (Unsent).
	unsent map[string]int

	graphDirty   bool
	lastCritical int64
	lastUnsup    int64
	machineList  []*machine
	bySystem     map[string][]*machine
	machinesDirt bool
	mark         uint32
	stats        counters
}

// counters are totals for the status page.
type counters struct {
	stepsDone, stepsStarted, retries, maxRetries, buildsDone, buildsSucceeded, buildsFailed int
	unsupportedAborted, decisions, leaseExpiries, stepsCancelled                            int
	verified, verifyGivenUp                                                                 int
}

type pendingFinish struct {
	ev events.BuildFinished
	// scraped, for a build credited with a dependency's run, is recorded
	// before ev (ProductScraped and MetricScraped with ev's build).
	scraped   *scraped
	notBefore int64
}

// scraped is what a step's outputs declared in nix-support: products
// and metrics (StepFinished.Products and Metrics).
type scraped struct {
	Products []events.ProductScraped `json:"products,omitempty"`
	Metrics  []events.MetricScraped  `json:"metrics,omitempty"`
}

// newScraped returns what e carries, nil when nothing.
func newScraped(e *events.StepFinished) *scraped {
	if len(e.Products) == 0 && len(e.Metrics) == 0 {
		return nil
	}
	return &scraped{Products: e.Products, Metrics: e.Metrics}
}

// forBuild returns sc's products and metrics as build id's; nil for nil.
func (sc *scraped) forBuild(id int64) *scraped {
	if sc == nil {
		return nil
	}
	out := &scraped{Products: slices.Clone(sc.Products), Metrics: slices.Clone(sc.Metrics)}
	for i := range out.Products {
		out.Products[i].BuildID = id
	}
	for i := range out.Metrics {
		out.Metrics[i].BuildID = id
	}
	return out
}

// uncredit ends s's run's credit: no build will be credited with it.
func (s *node) uncredit() { s.creditEval, s.scraped = 0, nil }

type pendingRequeue struct {
	ev        events.StepRetryScheduled
	notBefore int64
}

// NewModel returns an empty model with cfg (zero fields take defaults).
func NewModel(cfg Config) *Model {
	return &Model{
		cfg: cfg.withDefaults(), steps: map[string]*node{}, builds: map[int64]*build{},
		jobsets: map[int64]*jobset{}, jsByName: map[string]*jobset{}, machines: map[string]*machine{},
		queues: map[string]*queue{}, waitingSteps: map[string][]*node{}, waitingBuilds: map[string][]*build{},
		failedOutputs: map[string]bool{}, openEvals: map[int64][]*node{}, closedEvals: map[int64]bool{}, narSizes: map[string]int64{}, active: map[*node]struct{}{},
		finishes: map[int64]*pendingFinish{}, requeues: map[*node]*pendingRequeue{}, unsent: map[string]int{},
		verifies: map[string]*verification{}, uploads: map[string][]events.VerifiedOutput{},
	}
}

// node is a step in the model.
type node struct {
	drv         string
	system      string
	features    []string
	preferLocal bool
	outputs     []events.Output

	phase   step.Phase
	attempt int
	tries   int
	status  int
	// releaseName is what the last successful attempt scraped from
	// nix-support/hydra-release-name.
	releaseName string
	retryAt     int64
	leaseUntil  int64 // as the events set it
	// leaseAsked is when Actions may ask again for the follow-up of an
	// expired lease (it leaves leaseUntil as the events set it).
	leaseAsked int64
	startTime  int64
	// stopTime is when the attempt that succeeded or failed for good
	// ended. creditEval is the evaluation of the build that run was for:
	// after a success, while no build whose top-level step it is has
	// been credited with it (creditRun); after a failure, for good, as
	// every build of that evaluation fails with it (checkBuild).
	stopTime   int64
	creditEval int64
	// scraped is what the outputs of that successful run declared in
	// nix-support, when it ran as a dependency: the build credited with
	// the run gets it. nil otherwise, and always with creditEval 0.
	scraped  *scraped
	buildID  int64 // representative build of the current attempt
	machine  *machine
	reserved bool // decided here, StepDispatched not yet seen
	// giveUp is why a dispatched attempt no worker will take is given up
	// at once, before its lease ends: dispatched by the process before
	// this one, whose workers died with it (step.ReasonLost), or its
	// command not sent (step.ReasonUnsent). Empty otherwise.
	giveUp string

	inputs  []*node
	rdeps   []*node
	pending int // inputs not yet succeeded
	builds  []*build
	live    int // unfinished builds among builds

	globalPrio  int
	localPrio   int
	lowestBuild int64
	jobsets     []*jobset
	critical    int

	sys          *queue
	qidx         int
	grp          *group
	hidx         int    // index in grp.steps, -1 while out of it
	sig          string // the jobsets' group key
	unsupportedT int64  // when it was first seen unsupported, 0 if not
	abortAt      int64  // an abort was asked for until then
	nr           int    // BuildSteps number of the dispatched or running attempt
	snap         int    // its number in the snapshot being written, plus one
	// orphan: a build was cancelled while this attempt was dispatched or
	// running and no unfinished build needed it any more (Hydra aborts
	// such steps); cancelAt is when the cancel may be asked for again.
	orphan   bool
	cancelAt int64
	evalOpen int64 // the evaluation that queued it has not closed yet
	// waitsOn names the inputs not in the model when it was queued (its
	// entries in Model.waitingSteps, dropped when it is evicted).
	waitsOn []string
	mark    uint32
}

// build is a queued build in the model.
type build struct {
	id     int64
	eval   int64 // the evaluation that queued it
	jobset *jobset
	drv    string
	top    *node
	// steps are the steps it needs now, in the order it came to need
	// them.
	steps []*node
	// held maps every step whose builds list it to whether it needs
	// that step now. A finished build stays listed until it is evicted.
	// A map, not a search of the step's list: stdenv's list holds every
	// build queued before it was built.
	held       map[*node]bool
	globalPrio int
	localPrio  int
	maxSilent  int
	timeout    int
	outputs    []events.Output
	finished   bool
	status     int
	nr         int   // BuildSteps numbers used by recorded events
	reservedNr int   // numbers handed to decisions not yet recorded
	doneAt     int64 // when it finished, for Evict
	snap       int   // its number in the snapshot being written, plus one
	ended      bool  // in Model.ended
}

// jobset is a jobset's share bookkeeping.
type jobset struct {
	id      int64
	name    string
	shares  int
	seconds int64
	window  []charge // ordered by time
	used    float64
	// verify is the jobset's verifyFraction.
	verify float64
}

type charge struct {
	at      int64
	seconds int64
}

// shareUsed returns seconds / shares.
func (j *jobset) shareUsed() float64 {
	return float64(j.seconds) / float64(max(j.shares, 1))
}
