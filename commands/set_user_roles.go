package commands

import (
	"context"

	"buildledger/domain/domainerr"
	"buildledger/domain/names"
	"buildledger/domain/streams"
	"buildledger/domain/user"
	"buildledger/events"
)

// SetUserRoles replaces a user's roles (user.Roles lists the valid ones).
type SetUserRoles struct {
	UserName string
	Roles    []string
}

// SetUserRoles appends UserRolesChanged to user-<name>, or nothing if the
// roles are unchanged.
func (h *Handlers) SetUserRoles(ctx context.Context, md events.Metadata, c SetUserRoles) (Result, error) {
	if !names.User(c.UserName) {
		return Result{}, domainerr.NotFound("user", c.UserName)
	}
	return Execute(ctx, h.rt, streams.User(c.UserName), UserAggregate, func(s user.State) ([]events.Payload, error) {
		return user.Decide(s, user.SetRoles(c))
	}, md)
}
