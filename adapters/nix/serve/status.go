package serve

import "fmt"

// BuildStatus is Nix's BuildResult::Status.
type BuildStatus uint64

// Nix build result statuses, in wire order.
const (
	Built BuildStatus = iota
	Substituted
	AlreadyValid
	PermanentFailure
	InputRejected
	OutputRejected
	TransientFailure
	CachedFailure
	TimedOut
	MiscFailure
	DependencyFailed
	LogLimitExceeded
	NotDeterministic
	ResolvesToAlreadyValid
	NoSubstituters
)

var statusNames = [...]string{
	"Built", "Substituted", "AlreadyValid", "PermanentFailure", "InputRejected", "OutputRejected",
	"TransientFailure", "CachedFailure", "TimedOut", "MiscFailure", "DependencyFailed",
	"LogLimitExceeded", "NotDeterministic", "ResolvesToAlreadyValid", "NoSubstituters",
}

// String returns the Nix name of the status.
func (s BuildStatus) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("BuildStatus(%d)", uint64(s))
}

// Success reports whether the outputs are valid after a build with this status.
func (s BuildStatus) Success() bool {
	switch s {
	case Built, Substituted, AlreadyValid, ResolvesToAlreadyValid:
		return true
	}
	return false
}

// Hydra step status codes (BuildSteps.status) this package maps to.
const (
	StepSuccess          = 0
	StepFailed           = 1
	StepAborted          = 3
	StepTimedOut         = 7
	StepLogLimitExceeded = 10
	StepNotDeterministic = 12
)

// StepOutcome is how a build step ends, in Hydra's terms.
type StepOutcome struct {
	// Status is the Hydra step status code (see the Step* constants).
	Status int
	// CanRetry means the failure may be transient: re-queue with backoff.
	CanRetry bool
	// CanCache means the failure is permanent for these inputs and may be
	// recorded as a failed path.
	CanCache bool
	// IsCached means nothing was built: the outputs were already valid or
	// were substituted.
	IsCached bool
}

// StepOutcome maps a Nix build result to Hydra's step status the way Hydra's
// (C++) queue runner did: PermanentFailure, InputRejected and OutputRejected
// → 1 cacheable; TransientFailure → 1 retryable; TimedOut → 7;
// LogLimitExceeded → 10; NotDeterministic → 12 cacheable; MiscFailure → 3
// retryable; everything else (CachedFailure, DependencyFailed,
// NoSubstituters, unknown) → 3.
func (r BuildResult) StepOutcome() StepOutcome {
	switch r.Status {
	case Built:
		return StepOutcome{Status: StepSuccess}
	case Substituted, AlreadyValid, ResolvesToAlreadyValid:
		return StepOutcome{Status: StepSuccess, IsCached: true}
	case PermanentFailure, InputRejected, OutputRejected:
		return StepOutcome{Status: StepFailed, CanCache: true}
	case TransientFailure:
		return StepOutcome{Status: StepFailed, CanRetry: true}
	case TimedOut:
		return StepOutcome{Status: StepTimedOut}
	case LogLimitExceeded:
		return StepOutcome{Status: StepLogLimitExceeded}
	case NotDeterministic:
		return StepOutcome{Status: StepNotDeterministic, CanCache: true}
	case MiscFailure:
		return StepOutcome{Status: StepAborted, CanRetry: true}
	default:
		return StepOutcome{Status: StepAborted}
	}
}
