package commands

import (
	"context"
	"fmt"

	"buildledger/domain/domainerr"
	"buildledger/domain/streams"
	"buildledger/domain/user"
	"buildledger/events"
)

// UpdateUser changes a user's profile: nil fields and an empty
// PasswordHash keep what the user has. PublicDashboard shows the user's
// dashboard to everyone (Hydra's publicDashboard).
type UpdateUser struct {
	UserName        string
	FullName        *string
	EmailAddress    *string
	PasswordHash    string
	EmailOnError    *bool
	PublicDashboard *bool
}

// UpdateUser appends UserUpdated to user-<name>, or nothing if the profile
// is unchanged, and then stores a new password hash in the vault (after
// the event, as CreateUser does). The profile is sealed with the user's
// key; a user recorded before profiles were sealed gets one.
func (h *Handlers) UpdateUser(ctx context.Context, md events.Metadata, c UpdateUser) (Result, error) {
	if err := h.userSecrets(c.UserName); err != nil {
		return Result{}, err
	}
	var key user.Key
	res, err := Execute(ctx, h.rt, streams.User(c.UserName), UserAggregate, func(s user.State) ([]events.Payload, error) {
		if !s.Exists {
			return nil, domainerr.NotFound("user", c.UserName)
		}
		var err error
		switch {
		case s.KeyID != "" && key.ID != s.KeyID:
			key, err = h.vault.UserKey(ctx, s.KeyID)
		case s.KeyID == "" && key.ID == "":
			key, err = h.vault.NewUserKey(ctx, c.UserName)
		}
		if err != nil {
			return nil, err
		}
		return user.Decide(s, user.Update{UserName: c.UserName, FullName: c.FullName, EmailAddress: c.EmailAddress,
			PasswordHash: c.PasswordHash, EmailOnError: c.EmailOnError, PublicDashboard: c.PublicDashboard, Key: key})
	}, md)
	if err != nil || c.PasswordHash == "" || len(res.Events) == 0 {
		return res, err
	}
	if err := h.vault.SetPassword(ctx, c.UserName, c.PasswordHash); err != nil {
		return res, fmt.Errorf("password of %s not changed: %w", c.UserName, err)
	}
	return res, nil
}
