package status

import "strconv"

// Code is a Hydra build or step status, as stored in Builds.buildStatus and
// BuildSteps.status.
type Code int

// The status codes Hydra defines. Some apply to builds only, some to steps
// only; see each constant.
const (
	// Success means the build or step produced its outputs.
	Success Code = 0
	// Failed means the builder exited non-zero or failed permanently.
	Failed Code = 1
	// DepFailed means a dependency of the build failed (builds only).
	DepFailed Code = 2
	// Aborted is a miscellaneous, usually transient failure: the machine
	// vanished, the derivation was garbage-collected, copying failed.
	Aborted Code = 3
	// Cancelled means a user cancelled the build.
	Cancelled Code = 4
	// Obsolete is a status Hydra defines but no longer writes.
	Obsolete Code = 5
	// FailedWithOutput means the build succeeded for Nix but its output
	// contains nix-support/failed (builds only).
	FailedWithOutput Code = 6
	// TimedOut means the build exceeded its timeout or max silent time.
	TimedOut Code = 7
	// CachedFailure means the step failed before and the failure was
	// remembered in FailedPaths (steps only).
	CachedFailure Code = 8
	// Unsupported means no machine supports the step's system and
	// required features.
	Unsupported Code = 9
	// LogLimitExceeded means the build log grew over the limit.
	LogLimitExceeded Code = 10
	// NarSizeLimitExceeded means an output's NAR grew over the limit.
	NarSizeLimitExceeded Code = 11
	// NotDeterministic means a repeated build gave different outputs.
	NotDeterministic Code = 12
	// Resolved means a content-addressed step was rewritten into another
	// derivation, which is built instead (steps only).
	Resolved Code = 13
	// Busy is the in-memory status of a running step; Hydra stores it as
	// status NULL with busy ≠ 0.
	Busy Code = 100
)

// Codes returns every code Hydra defines, in numeric order.
func Codes() []Code {
	return []Code{
		Success, Failed, DepFailed, Aborted, Cancelled, Obsolete,
		FailedWithOutput, TimedOut, CachedFailure, Unsupported,
		LogLimitExceeded, NarSizeLimitExceeded, NotDeterministic,
		Resolved, Busy,
	}
}

// Known reports whether c is one of the codes Hydra defines.
func (c Code) Known() bool {
	return (c >= Success && c <= Resolved) || c == Busy
}

// String returns the short wording of Hydra's UI for c ("Succeeded",
// "Dependency failed", …). Like Hydra, it renders an unknown code as
// "Failed".
func (c Code) String() string {
	switch c {
	case Success:
		return "Succeeded"
	case Failed:
		return "Failed"
	case DepFailed:
		return "Dependency failed"
	case Aborted:
		return "Aborted"
	case Cancelled:
		return "Cancelled by user"
	case Obsolete:
		return "Obsolete"
	case FailedWithOutput:
		return "Failed with output"
	case TimedOut:
		return "Timed out"
	case CachedFailure:
		return "Cached failure"
	case Unsupported:
		return "Unsupported system type"
	case LogLimitExceeded:
		return "Log limit exceeded"
	case NarSizeLimitExceeded:
		return "Output limit exceeded"
	case NotDeterministic:
		return "Non-deterministic build"
	case Resolved:
		return "Resolved"
	case Busy:
		return "Build in progress"
	}
	return "Failed"
}

// Description returns the longer sentence Hydra's build page shows for a
// finished build with status c. Unknown codes read as an aborted build,
// as on Hydra's build page.
func (c Code) Description() string {
	switch c {
	case Success:
		return "Success"
	case Failed:
		return "Build returned a non-zero exit code"
	case DepFailed:
		return "A dependency of the build failed"
	case Cancelled:
		return "Cancelled by user"
	case FailedWithOutput:
		return "Build failed with output"
	case TimedOut:
		return "Timed out"
	case CachedFailure:
		return "Cached failure"
	case Unsupported:
		return "Unsupported system type"
	case LogLimitExceeded:
		return "Log limit exceeded"
	case NarSizeLimitExceeded:
		return "Output limit exceeded"
	case NotDeterministic:
		return "Non-deterministic build"
	case Resolved:
		return "Resolved to another derivation"
	case Busy:
		return "Build in progress"
	}
	return "Aborted"
}

// GoString returns c as Go source, e.g. "status.DepFailed" or
// "status.Code(42)", so test failures name the constant.
func (c Code) GoString() string {
	names := map[Code]string{
		Success: "Success", Failed: "Failed", DepFailed: "DepFailed",
		Aborted: "Aborted", Cancelled: "Cancelled", Obsolete: "Obsolete",
		FailedWithOutput: "FailedWithOutput", TimedOut: "TimedOut",
		CachedFailure: "CachedFailure", Unsupported: "Unsupported",
		LogLimitExceeded: "LogLimitExceeded", NarSizeLimitExceeded: "NarSizeLimitExceeded",
		NotDeterministic: "NotDeterministic", Resolved: "Resolved", Busy: "Busy",
	}
	if n, ok := names[c]; ok {
		return "status." + n
	}
	return "status.Code(" + strconv.Itoa(int(c)) + ")"
}
