package hydra

import (
	"context"
	"errors"

	"buildledger/domain/user"
	"buildledger/events"
)

// UserKeys gives the projection the keys that open users' sealed
// profiles (adapters/postgres.Vault). The keys live outside the log, so a
// replay after a user was forgotten finds the key gone and projects the
// forgotten user, not their data.
type UserKeys interface {
	UserKey(ctx context.Context, keyID string) (user.Key, error)
}

// profile opens a user event's profile: sealed with keyID, or in clear
// in a version 1 event. A destroyed key gives the forgotten user's
// profile and forgotten true.
func (w *writer) profile(userName, keyID string, sealed []byte, clear user.Profile) (user.Profile, bool, error) {
	if keyID == "" {
		return clear, false, nil
	}
	if w.keys == nil {
		return user.Profile{}, false, errors.New("a sealed user profile, and no key store to open it")
	}
	k, err := w.keys.UserKey(w.ctx, keyID)
	if errors.Is(err, user.ErrForgotten) {
		return user.Profile{FullName: user.ForgottenName}, true, nil
	}
	if err != nil {
		return user.Profile{}, false, err
	}
	p, err := k.Open(userName, sealed)
	return p, false, err
}

// userCreated writes the user with an empty password: hashes live in the
// command side's vault, which login reads.
func userCreated(w *writer, p *events.UserCreated) error {
	typ := p.Type
	if typ == "" {
		typ = "hydra"
	}
	prof, forgotten, err := w.profile(p.UserName, p.KeyID, p.Profile, user.Profile{FullName: p.FullName, EmailAddress: p.EmailAddress})
	if err != nil {
		return err
	}
	// A placeholder row made for an unknown project owner becomes the user.
	err = w.exec(`insert into Users (userName, fullName, emailAddress, password, type, forgotten, emailOnError, publicDashboard)
		values ($1, $2, $3, '', $4, $5, $6, $7)
		on conflict (userName) do update set fullName = excluded.fullName, emailAddress = excluded.emailAddress,
			password = '', type = excluded.type, forgotten = excluded.forgotten, disabled = false,
			emailOnError = excluded.emailOnError, publicDashboard = excluded.publicDashboard`,
		p.UserName, nullIfEmpty(prof.FullName), prof.EmailAddress, typ, forgotten, boolInt(p.EmailOnError), p.PublicDashboard)
	if err != nil {
		return err
	}
	return userRoles(w, p.UserName, p.Roles)
}

func userUpdated(w *writer, p *events.UserUpdated) error {
	prof, forgotten, err := w.profile(p.UserName, p.KeyID, p.Profile, user.Profile{FullName: p.FullName, EmailAddress: p.EmailAddress})
	if err != nil {
		return err
	}
	return w.exec(`update Users set fullName = $2, emailAddress = $3, emailOnError = $4, publicDashboard = $5, forgotten = $6
		where userName = $1`,
		p.UserName, nullIfEmpty(prof.FullName), prof.EmailAddress, boolInt(p.EmailOnError), p.PublicDashboard, forgotten)
}

// userForgotten keeps the row, which projects may name as their owner,
// with nothing personal in it, no roles and a private dashboard.
func userForgotten(w *writer, p *events.UserForgotten) error {
	err := w.exec(`update Users set fullName = $2, emailAddress = '', password = '', emailOnError = 0,
		publicDashboard = false, forgotten = true where userName = $1`, p.UserName, user.ForgottenName)
	if err != nil {
		return err
	}
	return userRoles(w, p.UserName, nil)
}

func userRoles(w *writer, user string, roles []string) error {
	if err := w.exec(`delete from UserRoles where userName = $1`, user); err != nil {
		return err
	}
	for _, r := range roles {
		if err := w.exec(`insert into UserRoles (userName, role) values ($1, $2) on conflict do nothing`, user, r); err != nil {
			return err
		}
	}
	return nil
}
