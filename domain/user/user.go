// Package user is the User aggregate: its state, folded from the
// user-<name> stream, and the rules that turn commands into events.
package user

import (
	"slices"
	"strings"

	"buildledger/domain/domainerr"
	"buildledger/domain/names"
	"buildledger/events"
)

// Roles Hydra knows (UserRoles.role).
const (
	RoleAdmin          = "admin"
	RoleCreateProjects = "create-projects"
	RoleRestartJobs    = "restart-jobs"
	RoleBumpToFront    = "bump-to-front"
	RoleCancelBuild    = "cancel-build"
	RoleEvalJobset     = "eval-jobset"
	// RoleAuditor is not Hydra's: it may read the read models as they
	// were at a past point of the log (?asof=), which replays the log.
	RoleAuditor = "auditor"
)

// Account types (Users.type). TypeHydra accounts log in with a password;
// the others through an external provider and may have none.
const (
	TypeHydra  = "hydra"
	TypeGoogle = "google"
	TypeGitHub = "github"
	TypeLDAP   = "LDAP"
)

var (
	validRoles = []string{RoleAdmin, RoleAuditor, RoleBumpToFront, RoleCancelBuild, RoleCreateProjects, RoleEvalJobset, RoleRestartJobs}
	validTypes = []string{TypeHydra, TypeGoogle, TypeGitHub, TypeLDAP}
)

// Roles returns the valid role names, sorted.
func Roles() []string { return slices.Clone(validRoles) }

// State is a user as its stream tells it.
type State struct {
	// Exists is true between UserCreated and UserDeleted.
	Exists       bool
	UserName     string
	FullName     string
	EmailAddress string
	// PasswordHash is an argon2id PHC string, empty for external accounts.
	PasswordHash string
	Type         string
	EmailOnError bool
	// Roles are sorted.
	Roles []string
}

// HasRole reports whether the user exists and has role r.
func (s State) HasRole(r string) bool { return s.Exists && slices.Contains(s.Roles, r) }

// Evolve folds one event of the user's stream into s. It accepts payloads
// as values or pointers; other event types leave s unchanged.
func Evolve(s State, p events.Payload) State {
	switch e := deref(p).(type) {
	case events.UserCreated:
		return State{Exists: true, UserName: e.UserName, FullName: e.FullName, EmailAddress: e.EmailAddress,
			PasswordHash: e.PasswordHash, Type: e.Type, Roles: slices.Clone(e.Roles)}
	case events.UserUpdated:
		s.FullName, s.EmailAddress, s.EmailOnError = e.FullName, e.EmailAddress, e.EmailOnError
		if e.PasswordHash != "" {
			s.PasswordHash = e.PasswordHash
		}
	case events.UserRolesChanged:
		s.Roles = slices.Clone(e.Roles)
	case events.UserDeleted:
		return State{UserName: s.UserName}
	}
	return s
}

func deref(p events.Payload) events.Payload {
	switch e := p.(type) {
	case *events.UserCreated:
		return *e
	case *events.UserUpdated:
		return *e
	case *events.UserRolesChanged:
		return *e
	case *events.UserDeleted:
		return *e
	}
	return p
}

// Command is one of Create, Update, SetRoles, Delete.
type Command interface{ userCommand() }

// Create makes a new user. PasswordHash is an already computed argon2id
// PHC string (package password); it is required for TypeHydra accounts.
// An empty Type means TypeHydra.
type Create struct {
	UserName     string
	FullName     string
	EmailAddress string
	PasswordHash string
	Type         string
	Roles        []string
}

// Update replaces a user's profile. An empty PasswordHash keeps the
// password.
type Update struct {
	UserName     string
	FullName     string
	EmailAddress string
	PasswordHash string
	EmailOnError bool
}

// SetRoles replaces a user's roles.
type SetRoles struct {
	UserName string
	Roles    []string
}

// Delete removes a user.
type Delete struct {
	UserName string
}

func (Create) userCommand()   {}
func (Update) userCommand()   {}
func (SetRoles) userCommand() {}
func (Delete) userCommand()   {}

// Decide returns the events that carry out cmd on s, or an error wrapping
// domainerr.ErrAlreadyExists, ErrNotFound or ErrInvalid. An Update or
// SetRoles that changes nothing returns no events.
func Decide(s State, cmd Command) ([]events.Payload, error) {
	switch c := cmd.(type) {
	case Create:
		if !names.User(c.UserName) {
			return nil, domainerr.Invalid("userName", "invalid user name %q: want a lowercase letter followed by lowercase letters, digits, '_' or '.'", c.UserName)
		}
		typ := c.Type
		if typ == "" {
			typ = TypeHydra
		}
		if !slices.Contains(validTypes, typ) {
			return nil, domainerr.Invalid("type", "unknown account type %q, want one of %v", c.Type, validTypes)
		}
		email, err := checkEmail(c.EmailAddress)
		if err != nil {
			return nil, err
		}
		if err := checkHash(c.PasswordHash, typ == TypeHydra); err != nil {
			return nil, err
		}
		roles, err := normalizeRoles(c.Roles)
		if err != nil {
			return nil, err
		}
		if s.Exists {
			return nil, domainerr.AlreadyExists("user", c.UserName)
		}
		return []events.Payload{events.UserCreated{UserName: c.UserName, FullName: strings.TrimSpace(c.FullName),
			EmailAddress: email, PasswordHash: c.PasswordHash, Type: typ, Roles: roles}}, nil
	case Update:
		if !s.Exists {
			return nil, domainerr.NotFound("user", c.UserName)
		}
		email, err := checkEmail(c.EmailAddress)
		if err != nil {
			return nil, err
		}
		if err := checkHash(c.PasswordHash, false); err != nil {
			return nil, err
		}
		full := strings.TrimSpace(c.FullName)
		if full == s.FullName && email == s.EmailAddress && c.EmailOnError == s.EmailOnError &&
			(c.PasswordHash == "" || c.PasswordHash == s.PasswordHash) {
			return nil, nil
		}
		return []events.Payload{events.UserUpdated{UserName: s.UserName, FullName: full, EmailAddress: email,
			PasswordHash: c.PasswordHash, EmailOnError: c.EmailOnError}}, nil
	case SetRoles:
		if !s.Exists {
			return nil, domainerr.NotFound("user", c.UserName)
		}
		roles, err := normalizeRoles(c.Roles)
		if err != nil {
			return nil, err
		}
		if slices.Equal(roles, s.Roles) {
			return nil, nil
		}
		if roles == nil {
			roles = []string{}
		}
		return []events.Payload{events.UserRolesChanged{UserName: s.UserName, Roles: roles}}, nil
	case Delete:
		if !s.Exists {
			return nil, domainerr.NotFound("user", c.UserName)
		}
		return []events.Payload{events.UserDeleted{UserName: s.UserName}}, nil
	}
	return nil, domainerr.Invalid("command", "unknown user command %T", cmd)
}

func checkEmail(e string) (string, error) {
	e = strings.TrimSpace(e)
	local, domain, ok := strings.Cut(e, "@")
	if !ok || local == "" || domain == "" || strings.ContainsAny(e, " \t\r\n<>,") {
		return "", domainerr.Invalid("emailAddress", "an email address is required, got %q", e)
	}
	return e, nil
}

// checkHash accepts an argon2id PHC string; required says whether an
// empty one is refused. The password itself must never reach an event.
func checkHash(h string, required bool) error {
	switch {
	case h == "" && required:
		return domainerr.Invalid("password", "a password is required")
	case h != "" && !strings.HasPrefix(h, "$argon2id$"):
		return domainerr.Invalid("password", "not an argon2id hash (hash the password first)")
	}
	return nil
}

func normalizeRoles(roles []string) ([]string, error) {
	if len(roles) == 0 {
		return nil, nil
	}
	out := make([]string, 0, len(roles))
	for _, r := range roles {
		r = strings.TrimSpace(r)
		if !slices.Contains(validRoles, r) {
			return nil, domainerr.Invalid("roles", "unknown role %q, want one of %v", r, validRoles)
		}
		out = append(out, r)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
