package status

// IsFinished reports whether c is a final status a finished build or step
// can carry: anything but Busy. Resolved is final for the step that was
// rewritten, though its build goes on.
func (c Code) IsFinished() bool {
	return c != Busy
}

// IsSuccess reports whether c is Success.
func (c Code) IsSuccess() bool {
	return c == Success
}

// HasOutputs reports whether a build with status c has outputs worth
// keeping: Success and FailedWithOutput. Hydra keeps GC roots for, and
// counts as "latest successful", builds with these statuses.
func (c Code) HasOutputs() bool {
	return c == Success || c == FailedWithOutput
}

// IsFailure reports whether c marks a failed build or step. Like Hydra's
// "restart failed builds" (buildStatus ≠ 0), every finished status other
// than Success is a failure, including unknown codes; Resolved and Busy are
// not.
func (c Code) IsFailure() bool {
	return c != Success && c != Resolved && c != Busy
}

// IsTransient reports whether a step that ended with c should be retried
// (after a back-off, up to the retry limit): only Aborted, which is what
// Hydra records for preparation, import, upload and post-processing errors
// and for a machine that went away. Cancelled is never retried.
func (c Code) IsTransient() bool {
	return c == Aborted
}

// IsAborted reports whether c is one of the statuses Hydra's "restart
// aborted builds" action picks up: Aborted, Cancelled and Unsupported.
func (c Code) IsAborted() bool {
	return c == Aborted || c == Cancelled || c == Unsupported
}

// CanRestart reports whether a finished build with status c may be
// restarted from its own page. Hydra allows that for every finished build
// whose derivation still exists, successful ones included; the caller
// checks the derivation and the build's finished flag. Busy and Resolved
// are never build statuses, so they cannot be restarted.
func (c Code) CanRestart() bool {
	return c != Busy && c != Resolved
}

// IsCacheable reports whether a permanent step failure with status c is
// remembered so the same derivation is not built again (Hydra's
// FailedPaths), given the failure was permanent: Failed and
// NotDeterministic. Whether a Failed step was permanent (and not a
// transient failure mapped to Failed) is the caller's knowledge.
func (c Code) IsCacheable() bool {
	return c == Failed || c == NotDeterministic
}
