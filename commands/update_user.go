package commands

import (
	"context"

	"buildledger/domain/domainerr"
	"buildledger/domain/names"
	"buildledger/domain/streams"
	"buildledger/domain/user"
	"buildledger/events"
)

// UpdateUser replaces a user's profile; an empty PasswordHash keeps the
// password.
type UpdateUser struct {
	UserName     string
	FullName     string
	EmailAddress string
	PasswordHash string
	EmailOnError bool
}

// UpdateUser appends UserUpdated to user-<name>, or nothing if the profile
// is unchanged.
func (h *Handlers) UpdateUser(ctx context.Context, md events.Metadata, c UpdateUser) (Result, error) {
	if !names.User(c.UserName) {
		return Result{}, domainerr.NotFound("user", c.UserName)
	}
	return Execute(ctx, h.rt, streams.User(c.UserName), UserAggregate, func(s user.State) ([]events.Payload, error) {
		return user.Decide(s, user.Update(c))
	}, md)
}
