package commands

import (
	"context"
	"strings"

	"buildledger/domain/domainerr"
	"buildledger/domain/names"
)

// requireUser returns an ErrInvalid error about field unless name is an
// existing user. Invalid names are left to the domain's validation.
func (h *Handlers) requireUser(ctx context.Context, field, name string) error {
	name = strings.TrimSpace(name)
	if !names.User(name) {
		return nil
	}
	u, err := h.loadUser(ctx, name)
	if err != nil {
		return err
	}
	if !u.Exists {
		return domainerr.Invalid(field, "the user name %q does not exist", name)
	}
	return nil
}
