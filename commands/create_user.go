package commands

import (
	"context"

	"buildledger/domain/streams"
	"buildledger/domain/user"
	"buildledger/events"
)

// CreateUser creates a user. PasswordHash is an argon2id PHC string made
// with package domain/password; the password itself never reaches the
// ledger.
type CreateUser struct {
	UserName     string
	FullName     string
	EmailAddress string
	PasswordHash string
	// Type is "hydra" (default), "google", "github" or "LDAP".
	Type  string
	Roles []string
}

// CreateUser appends UserCreated to user-<name>.
func (h *Handlers) CreateUser(ctx context.Context, md events.Metadata, c CreateUser) (Result, error) {
	if _, err := user.Decide(user.State{}, user.Create(c)); err != nil {
		return Result{}, err
	}
	return Execute(ctx, h.rt, streams.User(c.UserName), UserAggregate, func(s user.State) ([]events.Payload, error) {
		return user.Decide(s, user.Create(c))
	}, md)
}
