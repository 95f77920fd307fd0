package commands

import (
	"context"
	"errors"
	"fmt"

	"buildledger/domain/domainerr"
	"buildledger/domain/names"
	"buildledger/domain/password"
	"buildledger/domain/streams"
	"buildledger/domain/user"
	"buildledger/events"
)

// CreateUser creates a user. PasswordHash is an argon2id PHC string made
// with package domain/password; the password itself never reaches the
// ledger, and neither does the hash: it goes to the vault.
type CreateUser struct {
	UserName     string
	FullName     string
	EmailAddress string
	PasswordHash string
	// Type is "hydra" (default), "google", "github" or "LDAP".
	Type  string
	Roles []string
	// EmailOnError and PublicDashboard carry Hydra's settings of an
	// imported user.
	EmailOnError, PublicDashboard bool
}

// CreateUser makes the user's profile key, appends UserCreated (with the
// profile sealed) to user-<name>, and then stores the password hash. The
// hash is stored after the event, not before: a failure in between leaves
// an account without a password (an admin sets one), never a credential
// the log does not account for, nor one a racing create wrote over. A
// command refused after the key was made leaves an unused key.
func (h *Handlers) CreateUser(ctx context.Context, md events.Metadata, c CreateUser) (Result, error) {
	if h.vault == nil {
		return Result{}, errNoVault
	}
	if !names.User(c.UserName) {
		return Result{}, domainerr.Invalid("userName", "invalid user name %q: want a lowercase letter followed by lowercase letters, digits, '_' or '.'", c.UserName)
	}
	s, err := h.loadUser(ctx, c.UserName)
	if err != nil {
		return Result{}, err
	}
	if s.Exists {
		return Result{}, domainerr.AlreadyExists("user", c.UserName)
	}
	key, err := h.vault.NewUserKey(ctx, c.UserName)
	if err != nil {
		return Result{}, err
	}
	cmd := user.Create{UserName: c.UserName, FullName: c.FullName, EmailAddress: c.EmailAddress,
		PasswordHash: c.PasswordHash, Type: c.Type, Roles: c.Roles, Key: key,
		EmailOnError: c.EmailOnError, PublicDashboard: c.PublicDashboard}
	res, err := Execute(ctx, h.rt, streams.User(c.UserName), UserAggregate, func(s user.State) ([]events.Payload, error) {
		return user.Decide(s, cmd)
	}, md)
	if err != nil || c.PasswordHash == "" {
		return res, err
	}
	if err := h.vault.SetPassword(ctx, c.UserName, c.PasswordHash); err != nil {
		return res, fmt.Errorf("user %s created without its password: %w", c.UserName, err)
	}
	return res, nil
}

// ImportUser is CreateUser for a user brought over from another system
// (md.ImportedFrom and md.Source name the row): run again, it finishes
// what an interrupted run left undone. When the user exists and their
// stream holds only the UserCreated that this same row recorded, the
// password hash is stored if the vault has none, so a run killed between
// UserCreated and the hash gives the user their password on the next run.
// A user created otherwise, or changed since, is left alone, and a stored
// password is never replaced. The error is CreateUser's
// (domainerr.ErrAlreadyExists for an existing user).
func (h *Handlers) ImportUser(ctx context.Context, md events.Metadata, c CreateUser) (Result, error) {
	if md.ImportedFrom == "" || md.Source == "" {
		return Result{}, domainerr.Invalid("metadata", "an imported user needs importedFrom and source")
	}
	res, err := h.CreateUser(ctx, md, c)
	if !errors.Is(err, domainerr.ErrAlreadyExists) || c.PasswordHash == "" {
		return res, err
	}
	recs, rerr := h.rt.store.ReadStream(ctx, streams.User(c.UserName), 0, 2)
	if rerr != nil {
		return res, fmt.Errorf("user %s: %w", c.UserName, rerr)
	}
	if len(recs) != 1 || recs[0].Type != (events.UserCreated{}).EventType() ||
		recs[0].Metadata.ImportedFrom != md.ImportedFrom || recs[0].Metadata.Source != md.Source || !password.Known(c.PasswordHash) {
		return res, err
	}
	if _, perr := h.vault.AddPassword(ctx, c.UserName, c.PasswordHash); perr != nil {
		return res, fmt.Errorf("user %s: %w", c.UserName, perr)
	}
	return res, err
}
