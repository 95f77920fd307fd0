package commands

import (
	"context"

	"buildledger/domain/domainerr"
	"buildledger/domain/names"
	"buildledger/domain/streams"
	"buildledger/domain/user"
	"buildledger/events"
)

// DisableUser stops a user from signing in: UserDisabled ends their
// sessions, and their tokens are refused while it holds. Disabling a
// disabled user appends nothing.
func (h *Handlers) DisableUser(ctx context.Context, md events.Metadata, name string) (Result, error) {
	return h.userAccess(ctx, md, name, user.Disable{UserName: name})
}

// EnableUser lets a disabled user sign in again (UserEnabled).
func (h *Handlers) EnableUser(ctx context.Context, md events.Metadata, name string) (Result, error) {
	return h.userAccess(ctx, md, name, user.Enable{UserName: name})
}

// RevokeUserSessions ends every session of a user ("log out everywhere",
// UserSessionsRevoked). Their API tokens stay valid.
func (h *Handlers) RevokeUserSessions(ctx context.Context, md events.Metadata, name string) (Result, error) {
	return h.userAccess(ctx, md, name, user.RevokeSessions{UserName: name})
}

func (h *Handlers) userAccess(ctx context.Context, md events.Metadata, name string, cmd user.Command) (Result, error) {
	if !names.User(name) {
		return Result{}, domainerr.NotFound("user", name)
	}
	return Execute(ctx, h.rt, streams.User(name), UserAggregate, func(s user.State) ([]events.Payload, error) {
		return user.Decide(s, cmd)
	}, md)
}
