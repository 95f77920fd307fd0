// Package commands is the write side of the ledger: the only package that
// appends events. A command handler loads an aggregate by folding its
// stream, asks the domain to decide, and appends the decided events with
// the stream revision it decided on. A conflicting append (another writer
// got there first) is retried from a fresh load, never overwritten.
//
// The generic parts (Runtime, Aggregate, Load, Execute, Allocator, Clock)
// are for every writer: web actions, evaluator, scheduler and builder
// workers. The configuration handlers (projects, jobsets, users, machines,
// evaluation requests) are methods of Handlers, one file each.
//
// Errors from handlers wrap domainerr.ErrAlreadyExists, ErrNotFound or
// ErrInvalid (a *domainerr.FieldError) for the caller's mistakes,
// domainerr.ErrConflict for a command the aggregate's state refuses (see
// domainerr), and ErrContention when a stream stayed contended through
// every retry.
package commands
