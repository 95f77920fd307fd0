// Package domainerr holds the error kinds every aggregate's Decide and the
// services return, so that callers (the web layer maps them to 409, 404,
// 422 and 429) can tell them apart with errors.Is without knowing their
// source.
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
	// ErrBusy means costly work asked for is refused for now, because
	// work of its kind is running or ran a moment ago: ask again later.
	ErrBusy = errors.New("busy")
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

// Busy returns an ErrBusy error saying what is busy and why.
func Busy(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBusy, fmt.Sprintf(format, args...))
}
