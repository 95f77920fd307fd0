package events

// Evaluation events. EvaluationRequested and EvaluationCached go to the
// jobset's stream; the others to eval-<id>.

// EvaluationRequested records that someone or something asked for an
// evaluation of a jobset. Reason is "push", "webhook", "schedule", "ui",
// "cli" or "api".
type EvaluationRequested struct {
	Project string `json:"project"`
	Jobset  string `json:"jobset"`
	Reason  string `json:"reason"`
	// Force evaluates even if the inputs did not change.
	Force bool `json:"force,omitempty"`
	// At is the Unix time of the request (Hydra's triggerTime).
	At int64 `json:"at"`
}

// EvaluationStarted records the start of an evaluation, with its id.
type EvaluationStarted struct {
	EvalID   int64  `json:"evalId"`
	Project  string `json:"project"`
	Jobset   string `json:"jobset"`
	JobsetID int64  `json:"jobsetId"`
	// StartTime is the Unix time the evaluation began.
	StartTime int64 `json:"startTime"`
}

// InputFetched records one fetched input of an evaluation.
type InputFetched struct {
	EvalID         int64  `json:"evalId"`
	Name           string `json:"name"`
	AltNr          int    `json:"altNr"`
	Type           string `json:"type"`
	URI            string `json:"uri,omitempty"`
	Revision       string `json:"revision,omitempty"`
	Value          string `json:"value,omitempty"`
	StorePath      string `json:"storePath,omitempty"`
	SHA256         string `json:"sha256,omitempty"`
	ShortRevLength int    `json:"shortRevLength,omitempty"`
	// DependencyBuild is the build whose output a "build" input is.
	DependencyBuild int64 `json:"dependencyBuild,omitempty"`
}

// Output is one named output of a derivation.
type Output struct {
	Name string `json:"name"`
	Path string `json:"path"`
}

// JobMeta is the part of a job's meta attribute Hydra records.
type JobMeta struct {
	Description string `json:"description,omitempty"`
	License     string `json:"license,omitempty"`
	Homepage    string `json:"homepage,omitempty"`
	Maintainers string `json:"maintainers,omitempty"`
	// Timeout and MaxSilent are 0 when meta lacks them (Hydra's NULL):
	// the scheduler's defaults apply.
	Timeout            int  `json:"timeout"`
	MaxSilent          int  `json:"maxSilent"`
	SchedulingPriority int  `json:"schedulingPriority"`
	IsChannel          bool `json:"isChannel,omitempty"`
}

// JobEvaluated records one job of an evaluation and the build it maps to:
// a new build (IsNew) or the build of the previous evaluation with the same
// output path.
type JobEvaluated struct {
	EvalID  int64    `json:"evalId"`
	Job     string   `json:"job"`
	NixName string   `json:"nixName"`
	System  string   `json:"system"`
	DrvPath string   `json:"drvPath"`
	Outputs []Output `json:"outputs"`
	Meta    JobMeta  `json:"meta"`
	BuildID int64    `json:"buildId"`
	IsNew   bool     `json:"isNew"`
	// Constituents are the job names of an aggregate job; ConstituentBuilds
	// their build ids.
	Constituents      []string `json:"constituents,omitempty"`
	ConstituentBuilds []int64  `json:"constituentBuilds,omitempty"`
}

// JobEvaluationFailed records that one attribute failed to evaluate; the
// other jobs are unaffected.
type JobEvaluationFailed struct {
	EvalID int64  `json:"evalId"`
	Job    string `json:"job"`
	Error  string `json:"error"`
}

// EvaluationFinished closes a successful evaluation.
type EvaluationFinished struct {
	EvalID       int64  `json:"evalId"`
	Project      string `json:"project"`
	Jobset       string `json:"jobset"`
	JobsetID     int64  `json:"jobsetId"`
	Hash         string `json:"hash"`
	Timestamp    int64  `json:"timestamp"`
	CheckoutTime int64  `json:"checkoutTime"`
	EvalTime     int64  `json:"evalTime"`
	NrJobs       int    `json:"nrJobs"`
	NrBuilds     int    `json:"nrBuilds"`
	NrNewBuilds  int    `json:"nrNewBuilds"`
	NrErrors     int    `json:"nrErrors"`
	// NrCachedBuilds counts the new builds whose outputs were already
	// valid, NrSteps the derivations queued; both were added later, so
	// older events lack them.
	NrCachedBuilds int  `json:"nrCachedBuilds,omitempty"`
	NrSteps        int  `json:"nrSteps,omitempty"`
	HasNewBuilds   bool `json:"hasNewBuilds"`
	// ErrorMsg and ErrorTime are the evaluation's errors as one text,
	// when they were recorded so rather than as JobEvaluationFailed
	// events (an import of Hydra's EvaluationErrors; added fields,
	// optional).
	ErrorMsg     string `json:"errorMsg,omitempty"`
	ErrorTime    int64  `json:"errorTime,omitempty"`
	Flake        string `json:"flake,omitempty"`
	NixExprInput string `json:"nixExprInput,omitempty"`
	NixExprPath  string `json:"nixExprPath,omitempty"`
}

// EvaluationCached records that the inputs were unchanged since EvalID, so
// no new evaluation was made. It goes to the jobset's stream, and only
// when the check answers a request or follows a failure: other checks are
// not recorded in the log. (Older logs have one on eval-<id> of every
// check, inside an evaluation opened for it.)
type EvaluationCached struct {
	Project   string `json:"project"`
	Jobset    string `json:"jobset"`
	EvalID    int64  `json:"evalId"`
	Hash      string `json:"hash"`
	Timestamp int64  `json:"timestamp"`
	// StartTime is the Unix time the check began: a request made before
	// it is answered. Older events lack it.
	StartTime int64 `json:"startTime,omitempty"`
}

// EvaluationFailed records that an evaluation failed as a whole. Phase is
// "fetch" (Hydra's fetcherrormsg) or "eval" (errormsg).
type EvaluationFailed struct {
	EvalID  int64  `json:"evalId"`
	Project string `json:"project"`
	Jobset  string `json:"jobset"`
	Phase   string `json:"phase"`
	Error   string `json:"error"`
	// Interrupted marks a failure recorded because the evaluator stopped
	// before it finished: the jobset's request stays pending.
	Interrupted bool  `json:"interrupted,omitempty"`
	Timestamp   int64 `json:"timestamp"`
}

func (EvaluationRequested) EventType() string { return "EvaluationRequested" }
func (EvaluationStarted) EventType() string   { return "EvaluationStarted" }
func (InputFetched) EventType() string        { return "InputFetched" }
func (JobEvaluated) EventType() string        { return "JobEvaluated" }
func (JobEvaluationFailed) EventType() string { return "JobEvaluationFailed" }
func (EvaluationFinished) EventType() string  { return "EvaluationFinished" }
func (EvaluationCached) EventType() string    { return "EvaluationCached" }
func (EvaluationFailed) EventType() string    { return "EvaluationFailed" }
