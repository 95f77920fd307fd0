// Package domainerr holds the error kinds every aggregate's Decide and the
// services return, so that callers (the web layer maps them to 409, 404,
// 422 and 429) can tell them apart with errors.Is without knowing their
// source.
//
// ErrConflict is a command refused because of the state the aggregate is
// in, not because of the command's input: restarting a build that has
// not finished, cancelling, bumping or finishing one that has, a step
// event for an attempt that is not the step's current one or in the
// wrong phase, requesting an evaluation of a disabled jobset, opening an
// evaluation of a jobset that has one open. The same command may succeed
// later; an ErrInvalid one never does.
package domainerr

import (
	"errors"
	"fmt"
)

var (
	// ErrAlreadyExists means a command tried to create something that
	// exists.
	ErrAlreadyExists = errors.New("already exists")
	// ErrNotFound means a command addressed something that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalid means a command's input breaks a validation rule. Errors
	// of this kind are *FieldError values naming the field.
	ErrInvalid = errors.New("invalid input")
	// ErrConflict means the aggregate is in the wrong state for the
	// command (see the package doc).
	ErrConflict = errors.New("conflict")
	// ErrBusy means costly work asked for is refused for now, because
	// work of its kind is running or ran a moment ago: ask again later.
	ErrBusy = errors.New("busy")
	// ErrForbidden means the command is never allowed to its actor,
	// whatever the input: editing by hand a jobset a declarative
	// project's spec owns.
	ErrForbidden = errors.New("forbidden")
)

// FieldError is an ErrInvalid error about one field of a command.
type FieldError struct {
	// Field is the name of the offending field, as the API spells it
	// (e.g. "schedulingShares", "inputs.src.type").
	Field string
	// Msg says what is wrong, for humans.
	Msg string
}

// Error returns "invalid input: FIELD: MSG".
func (e *FieldError) Error() string {
	return fmt.Sprintf("%v: %s: %s", ErrInvalid, e.Field, e.Msg)
}

// Unwrap returns ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// Invalid returns a *FieldError for field with a formatted message.
func Invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// AlreadyExists returns an error wrapping ErrAlreadyExists that names what
// exists, e.g. AlreadyExists("project", "nixpkgs").
func AlreadyExists(kind, name string) error {
	return fmt.Errorf("%s %q: %w", kind, name, ErrAlreadyExists)
}

// NotFound returns an error wrapping ErrNotFound that names what is
// missing, e.g. NotFound("jobset", "nixpkgs:trunk").
func NotFound(kind, name string) error {
	return fmt.Errorf("%s %q: %w", kind, name, ErrNotFound)
}

// Conflict returns an ErrConflict error saying which state refused the
// command, e.g. Conflict("build %d has not finished", id).
func Conflict(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrConflict, fmt.Sprintf(format, args...))
}

// Busy returns an ErrBusy error saying what is busy and why.
func Busy(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBusy, fmt.Sprintf(format, args...))
}

// Forbidden returns an ErrForbidden error with a message.
func Forbidden(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrForbidden, fmt.Sprintf(format, args...))
}
