package events

// Build graph and execution events. Build events go to build-<id>, step
// events to step-<hash part of the drv path>.

// BuildQueued records a new build of a job.
type BuildQueued struct {
	BuildID        int64    `json:"buildId"`
	EvalID         int64    `json:"evalId"`
	JobsetID       int64    `json:"jobsetId"`
	Project        string   `json:"project"`
	Jobset         string   `json:"jobset"`
	Job            string   `json:"job"`
	NixName        string   `json:"nixName"`
	DrvPath        string   `json:"drvPath"`
	System         string   `json:"system"`
	Outputs        []Output `json:"outputs"`
	Meta           JobMeta  `json:"meta"`
	GlobalPriority int      `json:"globalPriority"`
	Timestamp      int64    `json:"timestamp"`
}

// StepQueued records a derivation that has to be built, with the edges to
// the derivations it needs: the build graph Hydra never stored.
type StepQueued struct {
	DrvPath   string   `json:"drvPath"`
	System    string   `json:"system"`
	Outputs   []Output `json:"outputs"`
	InputDrvs []string `json:"inputDrvs,omitempty"`
	// InputSrcs are the derivation's input sources, sorted: the plain
	// store paths it needs besides its input derivations' outputs, which
	// provenance names (added field, optional).
	InputSrcs        []string `json:"inputSrcs,omitempty"`
	RequiredFeatures []string `json:"requiredFeatures,omitempty"`
	PreferLocal      bool     `json:"preferLocal,omitempty"`
	// BuildID is the build whose closure brought the step in; EvalID the
	// evaluation.
	BuildID int64 `json:"buildId"`
	EvalID  int64 `json:"evalId"`
}

// BuildCached records that every output of a build was already valid
// (or, with Failed, that an output is a known permanent failure). For
// valid outputs the evaluator scrapes nix-support as a builder would:
// products and metrics come as their own events before this one.
type BuildCached struct {
	BuildID   int64    `json:"buildId"`
	Outputs   []Output `json:"outputs"`
	Failed    bool     `json:"failed,omitempty"`
	Timestamp int64    `json:"timestamp"`
	// ReleaseName is nix-support/hydra-release-name (added field, optional).
	ReleaseName string `json:"releaseName,omitempty"`
	// FailedWithOutput is set when nix-support/failed exists: status 6
	// (added field, optional).
	FailedWithOutput bool `json:"failedWithOutput,omitempty"`
}

// DispatchReason explains a scheduling decision with the values Hydra's
// order compares.
type DispatchReason struct {
	GlobalPriority int     `json:"globalPriority"`
	ShareUsed      float64 `json:"shareUsed"`
	CriticalPath   int     `json:"criticalPath"`
	Dependents     int     `json:"dependents"`
	LocalPriority  int     `json:"localPriority"`
	LowestBuildID  int64   `json:"lowestBuildId"`
	Candidates     int     `json:"candidates"`
	// Verification marks a reproducibility rebuild (VerificationDispatched):
	// it went at the lowest priority, into a slot no real step took.
	Verification bool `json:"verification,omitempty"`
}

// StepDispatched records the scheduler's decision to run a step on a
// machine. The dispatch holds a lease until LeaseUntil (Unix seconds).
type StepDispatched struct {
	DrvPath    string         `json:"drvPath"`
	BuildID    int64          `json:"buildId"`
	Machine    string         `json:"machine"`
	Attempt    int            `json:"attempt"`
	Reason     DispatchReason `json:"reason"`
	LeaseUntil int64          `json:"leaseUntil"`
	Timestamp  int64          `json:"timestamp"`
}

// StepStarted records that a builder began working on a step.
type StepStarted struct {
	DrvPath   string `json:"drvPath"`
	BuildID   int64  `json:"buildId"`
	StepNr    int    `json:"stepNr"`
	Machine   string `json:"machine"`
	Attempt   int    `json:"attempt"`
	System    string `json:"system"`
	StartTime int64  `json:"startTime"`
}

// StepLogStored records where a step's log lives; logs are never event
// payloads.
type StepLogStored struct {
	DrvPath  string `json:"drvPath"`
	BuildID  int64  `json:"buildId"`
	StepNr   int    `json:"stepNr"`
	Attempt  int    `json:"attempt"`
	Location string `json:"location"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
}

// StepFinished records the end of a step attempt with Hydra's status code.
type StepFinished struct {
	DrvPath            string   `json:"drvPath"`
	BuildID            int64    `json:"buildId"`
	StepNr             int      `json:"stepNr"`
	Machine            string   `json:"machine"`
	Attempt            int      `json:"attempt"`
	Status             int      `json:"status"`
	ErrorMsg           string   `json:"errorMsg,omitempty"`
	StartTime          int64    `json:"startTime"`
	StopTime           int64    `json:"stopTime"`
	ExitCode           int      `json:"exitCode"`
	TimesBuilt         int      `json:"timesBuilt"`
	IsNonDeterministic bool     `json:"isNonDeterministic,omitempty"`
	Overhead           int64    `json:"overhead,omitempty"`
	Outputs            []Output `json:"outputs,omitempty"`
	// ReleaseName is the output's nix-support/hydra-release-name, which
	// the build's BuildFinished carries on (added field, optional).
	ReleaseName string `json:"releaseName,omitempty"`
	// Products and Metrics are what the outputs' nix-support declared
	// when the step ran as another build's dependency, with BuildID 0: they
	// are no build's yet. The jobs of the derivation the run finishes (one
	// credited with it, and the others) get them, as ProductScraped and
	// MetricScraped on their own streams before their BuildFinished. A
	// top-level run records its build's as those events instead (added
	// fields, optional).
	Products []ProductScraped `json:"products,omitempty"`
	Metrics  []MetricScraped  `json:"metrics,omitempty"`
}

// StepRetryScheduled records that a transiently failed step will be tried
// again at RetryAt (Unix seconds).
type StepRetryScheduled struct {
	DrvPath string `json:"drvPath"`
	Attempt int    `json:"attempt"`
	RetryAt int64  `json:"retryAt"`
	Reason  string `json:"reason"`
}

// OutputUploaded records an output path copied to the destination store.
type OutputUploaded struct {
	DrvPath    string   `json:"drvPath"`
	BuildID    int64    `json:"buildId"`
	OutputName string   `json:"outputName"`
	Path       string   `json:"path"`
	NarHash    string   `json:"narHash"`
	NarSize    int64    `json:"narSize"`
	FileHash   string   `json:"fileHash,omitempty"`
	FileSize   int64    `json:"fileSize,omitempty"`
	References []string `json:"references,omitempty"`
	CacheURL   string   `json:"cacheUrl"`
	// Key is the NAR file's key in the cache (nar/<filehash>.nar.zst):
	// with CacheURL (s3://bucket) it names the object. Empty for stores
	// without files (ssh://) and in events written before it existed.
	Key       string `json:"key,omitempty"`
	Signature string `json:"signature,omitempty"`
}

// ProductScraped records one line of nix-support/hydra-build-products.
type ProductScraped struct {
	BuildID     int64  `json:"buildId"`
	ProductNr   int    `json:"productNr"`
	Type        string `json:"type"`
	Subtype     string `json:"subtype"`
	FileSize    int64  `json:"fileSize,omitempty"`
	SHA256      string `json:"sha256,omitempty"`
	Path        string `json:"path"`
	Name        string `json:"name"`
	DefaultPath string `json:"defaultPath,omitempty"`
}

// MetricScraped records one line of nix-support/hydra-metrics.
type MetricScraped struct {
	BuildID int64   `json:"buildId"`
	Name    string  `json:"name"`
	Unit    string  `json:"unit,omitempty"`
	Value   float64 `json:"value"`
}

// BuildFinished records the final status of a build.
type BuildFinished struct {
	BuildID       int64  `json:"buildId"`
	Status        int    `json:"status"`
	StartTime     int64  `json:"startTime"`
	StopTime      int64  `json:"stopTime"`
	IsCachedBuild bool   `json:"isCachedBuild"`
	Size          int64  `json:"size,omitempty"`
	ClosureSize   int64  `json:"closureSize,omitempty"`
	ReleaseName   string `json:"releaseName,omitempty"`
	// PropagatedFrom is the build whose step failed, for status 2.
	PropagatedFrom int64 `json:"propagatedFrom,omitempty"`
	// FailedDrv is the derivation whose failure caused status 2.
	FailedDrv string `json:"failedDrv,omitempty"`
	// ProductsOf is, for a build finished by a step that ran as another
	// build's top-level step (the same derivation), that build: the
	// products and metrics its builder scraped for it are this build's
	// too, as Hydra gives every build a step finishes the step's products
	// (added field, optional).
	ProductsOf int64 `json:"productsOf,omitempty"`
	// Dependents are the other builds the same failed step finishes (their
	// BuildFinished names this build in PropagatedFrom), with the status
	// each gets. The scheduler sets it on the build the step ran for and
	// appends this event before theirs, so that a notifier can tell them
	// apart from failures of their own, as Hydra's build_finished does.
	Dependents []FailedDependent `json:"dependents,omitempty"`
}

// FailedDependent is one build in BuildFinished.Dependents.
type FailedDependent struct {
	BuildID int64 `json:"buildId"`
	Status  int   `json:"status"`
}

// BuildCancelled records that a user cancelled a queued or running build.
type BuildCancelled struct {
	BuildID   int64  `json:"buildId"`
	Reason    string `json:"reason,omitempty"`
	Timestamp int64  `json:"timestamp"`
}

// BuildWithdrawn records that the evaluator takes back a build it queued
// before its evaluation ended, because the evaluation will not have it: the
// evaluation failed as a whole, or the job turned out to share its name
// with another attribute. It is appended before the evaluation's
// EvaluationFinished or EvaluationFailed, so no step of the build has run.
// Read models forget the build, as if it had never been queued.
type BuildWithdrawn struct {
	BuildID int64  `json:"buildId"`
	EvalID  int64  `json:"evalId"`
	Reason  string `json:"reason"`
}

// BuildRestarted records that a finished build goes back to the queue.
type BuildRestarted struct {
	BuildID   int64 `json:"buildId"`
	Timestamp int64 `json:"timestamp"`
}

// BuildBumped records a new global priority for a build (bump to front).
type BuildBumped struct {
	BuildID        int64 `json:"buildId"`
	GlobalPriority int   `json:"globalPriority"`
}

// BuildKept records that a build's outputs are (or are no longer) kept
// forever.
type BuildKept struct {
	BuildID int64 `json:"buildId"`
	Keep    bool  `json:"keep"`
}

func (BuildQueued) EventType() string        { return "BuildQueued" }
func (StepQueued) EventType() string         { return "StepQueued" }
func (BuildCached) EventType() string        { return "BuildCached" }
func (StepDispatched) EventType() string     { return "StepDispatched" }
func (StepStarted) EventType() string        { return "StepStarted" }
func (StepLogStored) EventType() string      { return "StepLogStored" }
func (StepFinished) EventType() string       { return "StepFinished" }
func (StepRetryScheduled) EventType() string { return "StepRetryScheduled" }
func (OutputUploaded) EventType() string     { return "OutputUploaded" }
func (ProductScraped) EventType() string     { return "ProductScraped" }
func (MetricScraped) EventType() string      { return "MetricScraped" }
func (BuildFinished) EventType() string      { return "BuildFinished" }
func (BuildCancelled) EventType() string     { return "BuildCancelled" }
func (BuildRestarted) EventType() string     { return "BuildRestarted" }
func (BuildWithdrawn) EventType() string     { return "BuildWithdrawn" }
func (BuildBumped) EventType() string        { return "BuildBumped" }
func (BuildKept) EventType() string          { return "BuildKept" }
