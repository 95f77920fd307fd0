package commands

import (
	"context"
	"errors"

	"buildledger/domain/domainerr"
	"buildledger/domain/names"
	"buildledger/domain/user"
)

// Vault is the command side's store of secrets outside the log: users'
// password hashes and the keys that seal their profiles. It is no
// projection: replays neither drop nor rebuild it. adapters/postgres.Vault
// implements it.
type Vault interface {
	// NewUserKey makes and stores a random profile key for a user.
	NewUserKey(ctx context.Context, userName string) (user.Key, error)
	// UserKey returns a stored key, or an error wrapping
	// user.ErrForgotten once it was destroyed.
	UserKey(ctx context.Context, keyID string) (user.Key, error)
	// SetPassword stores a user's password hash, replacing any.
	SetPassword(ctx context.Context, userName, hash string) error
	// AddPassword stores a user's password hash unless they have one, and
	// reports whether it did.
	AddPassword(ctx context.Context, userName, hash string) (bool, error)
	// ReplacePassword stores hash if the user's stored hash is still
	// old, and reports whether it did.
	ReplacePassword(ctx context.Context, userName, old, hash string) (bool, error)
	// Forget destroys every key of a user and removes their credential.
	Forget(ctx context.Context, userName string) error
}

// userSecrets checks that a command on an existing user's secrets can
// run: a vault is configured, and name is one a user can have.
func (h *Handlers) userSecrets(name string) error {
	if h.vault == nil {
		return errNoVault
	}
	if !names.User(name) {
		return domainerr.NotFound("user", name)
	}
	return nil
}

// errNoVault refuses user commands on Handlers made without a vault.
var errNoVault = errors.New("users need a vault for their secrets, and none is configured")
