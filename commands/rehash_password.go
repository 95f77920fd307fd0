package commands

import (
	"context"
	"fmt"

	"buildledger/domain/domainerr"
	"buildledger/domain/password"
)

// RehashPassword replaces a user's stored password hash by a new hash
// of the same password: an imported Hydra hash (SHA-1, argon2,
// argon2 of SHA-1) or an argon2id hash with old parameters becomes an
// argon2id hash with today's, at the first login that proves the
// password (password.Check says when).
type RehashPassword struct {
	UserName string
	// Old is the hash the login verified; New replaces it only if the
	// vault still holds Old, so that a password changed meanwhile is
	// kept.
	Old, New string
}

// RehashPassword stores c.New in the vault. It records no event: the
// password is the same, so the user's sessions stay, and a hash never
// enters the log. It reports whether the hash was replaced.
func (h *Handlers) RehashPassword(ctx context.Context, c RehashPassword) (bool, error) {
	if err := h.userSecrets(c.UserName); err != nil {
		return false, err
	}
	if c.Old == "" || c.New == "" || !password.Known(c.New) {
		return false, domainerr.Invalid("password", "a rehash needs the old and a new password hash")
	}
	ok, err := h.vault.ReplacePassword(ctx, c.UserName, c.Old, c.New)
	if err != nil {
		return false, fmt.Errorf("rehash password of %s: %w", c.UserName, err)
	}
	return ok, nil
}
