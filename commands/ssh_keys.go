package commands

import (
	"context"

	"buildledger/domain/domainerr"
	"buildledger/domain/streams"
	"buildledger/domain/user"
	"buildledger/events"
)

// AddUserSSHKey registers an SSH public key (authorized_keys form) for a
// user, for the remote-builder port.
type AddUserSSHKey struct {
	UserName string
	Key      string
}

// AddUserSSHKey appends UserSSHKeyAdded to user-<name>, or nothing if the
// user has the key already. The key is sealed with the user's profile
// key, and a user recorded before profiles were sealed gets one.
func (h *Handlers) AddUserSSHKey(ctx context.Context, md events.Metadata, c AddUserSSHKey) (Result, error) {
	if err := h.userSecrets(c.UserName); err != nil {
		return Result{}, err
	}
	key, err := user.ParseSSHKey(c.Key)
	if err != nil {
		return Result{}, err
	}
	var seal user.Key
	return Execute(ctx, h.rt, streams.User(c.UserName), UserAggregate, func(s user.State) ([]events.Payload, error) {
		if !s.Exists {
			return nil, domainerr.NotFound("user", c.UserName)
		}
		var err error
		switch {
		case s.KeyID != "" && seal.ID != s.KeyID:
			seal, err = h.vault.UserKey(ctx, s.KeyID)
		case s.KeyID == "" && seal.ID == "":
			seal, err = h.vault.NewUserKey(ctx, c.UserName)
		}
		if err != nil {
			return nil, err
		}
		return user.Decide(s, user.AddSSHKey{UserName: c.UserName, Key: key, SealKey: seal})
	}, md)
}

// RemoveUserSSHKey unregisters a user's SSH key by its fingerprint.
type RemoveUserSSHKey struct {
	UserName    string
	Fingerprint string
}

// RemoveUserSSHKey appends UserSSHKeyRemoved to user-<name>.
func (h *Handlers) RemoveUserSSHKey(ctx context.Context, md events.Metadata, c RemoveUserSSHKey) (Result, error) {
	if err := h.userSecrets(c.UserName); err != nil {
		return Result{}, err
	}
	return Execute(ctx, h.rt, streams.User(c.UserName), UserAggregate, func(s user.State) ([]events.Payload, error) {
		return user.Decide(s, user.RemoveSSHKey(c))
	}, md)
}

// UserSSHKeys returns a user's registered keys (authorized_keys lines) by
// fingerprint, opened with the keys in the vault.
func (h *Handlers) UserSSHKeys(ctx context.Context, userName string) (map[string]string, error) {
	if err := h.userSecrets(userName); err != nil {
		return nil, err
	}
	l, err := Load(ctx, h.rt, streams.User(userName), UserAggregate)
	if err != nil {
		return nil, err
	}
	if !l.State.Exists {
		return nil, domainerr.NotFound("user", userName)
	}
	return l.State.SSHKeyLines(func(id string) (user.Key, error) { return h.vault.UserKey(ctx, id) })
}
