package events

// Evaluation bookkeeping on the jobset's stream. They make the jobset's
// stream the index of its evaluations: an evaluator loads one stream to
// know whether an evaluation is running, the hash and id of the latest
// one, and the evaluation whose builds the next one may reuse. Appending
// EvaluationOpened at the stream's expected revision is what keeps two
// evaluations of one jobset from running at once.

// EvaluationOpened records on jobset-<project>.<jobset> that evaluation
// EvalID of the jobset began. Until the matching EvaluationClosed no other
// evaluation of the jobset begins.
type EvaluationOpened struct {
	EvalID  int64  `json:"evalId"`
	Project string `json:"project"`
	Jobset  string `json:"jobset"`
	// Host is where the evaluator runs.
	Host string `json:"host,omitempty"`
	// StartTime is the Unix time the evaluation began.
	StartTime int64 `json:"startTime"`
	// Forced is set when a forced request started the evaluation.
	Forced bool `json:"forced,omitempty"`
}

// EvaluationClosed records on jobset-<project>.<jobset> how evaluation
// EvalID ended. Outcome is "finished" (EvaluationFinished was appended to
// eval-<EvalID>), "cached" (EvaluationCached: the inputs were those of
// evaluation CachedFrom) or "failed" (EvaluationFailed).
type EvaluationClosed struct {
	EvalID  int64  `json:"evalId"`
	Project string `json:"project"`
	Jobset  string `json:"jobset"`
	Outcome string `json:"outcome"`
	// Hash is the inputs hash of a finished or cached evaluation.
	Hash string `json:"hash,omitempty"`
	// Flake is the locked flake reference of a finished evaluation.
	Flake string `json:"flake,omitempty"`
	// HasNewBuilds and NrBuilds repeat EvaluationFinished's.
	HasNewBuilds bool `json:"hasNewBuilds,omitempty"`
	NrBuilds     int  `json:"nrBuilds,omitempty"`
	// CachedFrom is the evaluation whose inputs a cached one matched.
	CachedFrom int64 `json:"cachedFrom,omitempty"`
	// Interrupted marks an evaluation closed because its evaluator
	// stopped before it finished: the request it served stays pending.
	Interrupted bool `json:"interrupted,omitempty"`
	// Timestamp is the Unix time the evaluation ended.
	Timestamp int64 `json:"timestamp"`
}

func (EvaluationOpened) EventType() string { return "EvaluationOpened" }
func (EvaluationClosed) EventType() string { return "EvaluationClosed" }
