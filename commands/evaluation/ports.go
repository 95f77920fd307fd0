package evaluation

import (
	"context"
	"time"

	"buildledger/events"
)

// ArgKind is how an input is passed to a legacy jobset's release function.
type ArgKind int

// The argument kinds, as Hydra passes inputs to nix-eval-jobs.
const (
	// ArgPath passes { outPath = <StorePath>; rev; … } and adds the path to
	// the search path under the input's name.
	ArgPath ArgKind = iota + 1
	// ArgString passes Value as a string (--argstr).
	ArgString
	// ArgBool passes Value ("true" or "false") as a Boolean.
	ArgBool
	// ArgNix passes Value as a Nix expression (--arg).
	ArgNix
)

// Input is a fetched jobset input: what InputFetched records and how the
// evaluator passes it.
type Input struct {
	Name      string
	Type      string
	URI       string
	Revision  string
	Value     string
	StorePath string
	// SHA256 is the NAR hash of StorePath ("sha256:…").
	SHA256         string
	ShortRevLength int
	RevCount       int
	// DependencyBuild is the build whose output a "build" input is.
	DependencyBuild int64
	// Arg is how the input is passed; ArgValue its value for ArgString,
	// ArgBool and ArgNix (ArgPath passes StorePath).
	Arg      ArgKind
	ArgValue string
	// Reads are the store paths an ArgNix value refers to (an "eval"
	// input's outputs): restricted evaluation may read only these and
	// the other inputs.
	Reads []string
	// Omit is set for an input that has nothing to pass (a "build" input
	// whose job has no successful build yet): it is neither passed nor
	// recorded, and the release function's default applies.
	Omit bool
}

// InputFetcher fetches jobset inputs.
type InputFetcher interface {
	// Fetch fetches one input of jobset project:jobset. Its error message
	// becomes the jobset's fetcherrormsg.
	Fetch(ctx context.Context, project, jobset string, in events.JobsetInput) (Input, error)
	// LockFlake returns the locked reference of a flake (Hydra's
	// `nix flake metadata --refresh`).
	LockFlake(ctx context.Context, ref string) (string, error)
}

// CacheClearer forgets what the input fetcher remembers of earlier
// fetches (deep clones, URL downloads) from before a time, when an admin
// clears the caches (VCSCachesCleared).
type CacheClearer interface {
	ForgetCachesBefore(t time.Time) error
}

// Request is one evaluation for the Evaluator: a legacy expression
// (NixExprInput, NixExprPath and Inputs) or a locked Flake.
type Request struct {
	NixExprInput string
	NixExprPath  string
	Inputs       []Input
	Flake        string
	// OnJob, if set, is called with each job as soon as Nix has evaluated
	// it, before Evaluate returns, and never from two goroutines at once,
	// so that the caller can record jobs while Nix goes on: it may take
	// its time, Nix does not wait for it. It is an early
	// notice: Result is what the evaluation found. A job passed to OnJob
	// may be missing from Result.Jobs (it turned out to share its name with
	// another attribute), and each job is passed at most once. Aggregates
	// are never passed: their constituents are known only at the end.
	OnJob func(Job)
}

// Job is one evaluated derivation.
type Job struct {
	// Name is the dotted attribute path.
	Name    string
	NixName string
	System  string
	DrvPath string
	// Outputs are sorted by name.
	Outputs []events.Output
	Meta    events.JobMeta
	// IsAggregate marks a _hydraAggregate job; Constituents are the job
	// names of its constituents.
	IsAggregate  bool
	Constituents []string
}

// Result is a whole evaluation that succeeded (single jobs may have
// failed: Errors maps their names to Nix's message).
type Result struct {
	Jobs   []Job
	Errors map[string]string
	// BrokenAggregates are the aggregates in Errors because a constituent
	// is missing, failed or unmatched, or for a dependency cycle, in the
	// order Hydra's evaluator meets them: an evaluation that would record
	// new builds fails for the first.
	BrokenAggregates []string
	Warnings         []string
	// FlakeURL is the locked flake reference evaluated.
	FlakeURL string
}

// Evaluator evaluates a jobset with Nix, writing the .drv files to the
// store. A failure of the whole evaluation is an error carrying Nix's
// message (Result.Warnings may still say more).
type Evaluator interface {
	Evaluate(ctx context.Context, req Request) (Result, error)
}

// Step is a derivation that has to be built, with its edges.
type Step struct {
	DrvPath          string
	System           string
	Outputs          []events.Output
	InputDrvs        []string
	InputSrcs        []string
	RequiredFeatures []string
	PreferLocal      bool
}

// BuildGraph plans what the new builds of evaluations need built.
type BuildGraph interface {
	// NewPlan starts the plan of one evaluation.
	NewPlan() Plan
}

// Plan is the build graph of one evaluation, planned a few roots at a time
// as Nix finds the jobs.
type Plan interface {
	// Add returns every derivation in the input closure of roots whose
	// outputs are not all valid and that no earlier Add returned, each
	// after the inputs it needs that it returns too. InputDrvs lists every
	// input that needs building, returned now or before. A root that no
	// Add has returned has all its outputs valid. After an error the Plan
	// is unusable.
	Add(ctx context.Context, roots []string) ([]Step, error)
}

// BuildStatus answers questions about builds from the read side.
type BuildStatus interface {
	// HasUnfinishedBuilds reports whether evaluation evalID has a member
	// build that is not finished (for one-at-a-time jobsets).
	HasUnfinishedBuilds(ctx context.Context, evalID int64) (bool, error)
}

// OutputScanner reads the nix-support files (products, metrics, release
// name, failed marker) of outputs that are already valid, as a builder
// does after a build, so a cached build shows them too.
type OutputScanner interface {
	Scan(ctx context.Context, buildID int64, outputs []events.Output) (Scanned, error)
}

// Scanned is what an OutputScanner found.
type Scanned struct {
	Products    []events.ProductScraped
	Metrics     []events.MetricScraped
	ReleaseName string
	Failed      bool
}

// Checks keeps the checks that found a jobset's inputs unchanged, outside
// the log: how many there were and when the latest ended. Hydra updates
// lastCheckedTime at each; an event per check would grow the log, which
// is never trimmed, by a jobset's every poll. The command side writes it,
// the read side and the Trigger read it.
type Checks interface {
	// RecordCheck counts a check of the jobset with id jobsetID that
	// ended at (Unix seconds).
	RecordCheck(ctx context.Context, jobsetID int64, at int64) error
	// LastChecks returns the time of the latest check of each jobset
	// id.
	LastChecks(ctx context.Context) (map[int64]int64, error)
}
