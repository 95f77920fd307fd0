package commands

import (
	"context"

	"buildledger/domain/domainerr"
	"buildledger/domain/streams"
	"buildledger/domain/user"
	"buildledger/events"
)

// ForgetUser erases a user's personal data (crypto-shredding).
type ForgetUser struct {
	UserName string
}

// ForgetUser destroys the user's profile keys and credential in the
// vault, then appends UserForgotten to user-<name>. The keys go first, on
// every attempt: a key a racing UpdateUser made is destroyed by the retry
// its append forces, and a failed append still leaves the data
// unreadable. The profiles sealed in the log stay there, unreadable, so
// the hash chain still verifies.
func (h *Handlers) ForgetUser(ctx context.Context, md events.Metadata, c ForgetUser) (Result, error) {
	if err := h.userSecrets(c.UserName); err != nil {
		return Result{}, err
	}
	return Execute(ctx, h.rt, streams.User(c.UserName), UserAggregate, func(s user.State) ([]events.Payload, error) {
		if !s.Exists {
			return nil, domainerr.NotFound("user", c.UserName)
		}
		if err := h.vault.Forget(ctx, c.UserName); err != nil {
			return nil, err
		}
		return user.Decide(s, user.Forget(c))
	}, md)
}
