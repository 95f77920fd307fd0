package commands

import (
	"context"

	"buildledger/domain/domainerr"
	"buildledger/domain/names"
	"buildledger/domain/streams"
	"buildledger/domain/user"
	"buildledger/events"
)

// DeleteUser deletes a user. Projects the user owns keep their owner
// name; checking that is the caller's business (it needs a read model).
type DeleteUser struct {
	UserName string
}

// DeleteUser appends UserDeleted to user-<name>.
func (h *Handlers) DeleteUser(ctx context.Context, md events.Metadata, c DeleteUser) (Result, error) {
	if !names.User(c.UserName) {
		return Result{}, domainerr.NotFound("user", c.UserName)
	}
	return Execute(ctx, h.rt, streams.User(c.UserName), UserAggregate, func(s user.State) ([]events.Payload, error) {
		return user.Decide(s, user.Delete(c))
	}, md)
}
