// Package user is the User aggregate: its state, folded from the
// user-<name> stream, and the rules that turn commands into events.
package user

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"buildledger/domain/domainerr"
	"buildledger/domain/names"
	"buildledger/domain/password"
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
	// RoleSubmitBuilds is not Hydra's: it may submit ad-hoc builds, over
	// the remote-builder SSH port or POST /api/build.
	RoleSubmitBuilds = "submit-builds"
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
	validRoles = []string{RoleAdmin, RoleAuditor, RoleBumpToFront, RoleCancelBuild, RoleCreateProjects, RoleEvalJobset, RoleRestartJobs, RoleSubmitBuilds}
	validTypes = []string{TypeHydra, TypeGoogle, TypeGitHub, TypeLDAP}
)

// Roles returns the valid role names, sorted.
func Roles() []string { return slices.Clone(validRoles) }

// State is a user as its stream tells it. It holds the profile sealed:
// the command side opens it with the user's key when it must.
type State struct {
	// Exists is true between UserCreated and UserDeleted or UserForgotten.
	Exists bool
	// Forgotten is true after UserForgotten, until the name is created
	// again.
	Forgotten bool
	UserName  string
	// KeyID names the key that sealed Sealed; it is empty for a user whose
	// events all predate sealed profiles (their profile is in Clear).
	KeyID  string
	Sealed []byte
	// Clear is the profile of version 1 events, recorded in clear.
	Clear        Profile
	Type         string
	EmailOnError bool
	// PublicDashboard lets everyone see the user's dashboard, as in Hydra;
	// otherwise only the user and admins do.
	PublicDashboard bool
	// Roles are sorted.
	Roles []string
	// Disabled is true between UserDisabled and UserEnabled: the account
	// cannot sign in, and its sessions and tokens count for nothing.
	Disabled bool
	// Stars are the jobs the user starred, as StarKey gives them.
	Stars map[string]bool
	// Generation is the session generation: a session cookie names the
	// generation it was issued at and is refused once it changed. Every
	// event that must end sessions moves it (a password set, new roles,
	// disabling, "log out everywhere"), and so do creation, deletion and
	// forgetting, so a name created again never accepts an older cookie.
	Generation uint64
	// SSHKeys are the user's SSH public keys by fingerprint, each sealed
	// with the key named by SSHKeyIDs[fingerprint].
	SSHKeys   map[string][]byte
	SSHKeyIDs map[string]string
}

// HasRole reports whether the user exists and has role r.
func (s State) HasRole(r string) bool { return s.Exists && slices.Contains(s.Roles, r) }

// MayAuthenticate reports whether the user may sign in and use their
// sessions and tokens: they exist and are not disabled.
func (s State) MayAuthenticate() bool { return s.Exists && !s.Disabled }

// Evolve folds one event of the user's stream into s. Payloads are
// pointers, as the codec decodes them; other event types leave s unchanged.
func Evolve(s State, p events.Payload) State {
	switch e := p.(type) {
	case *events.UserCreated:
		return State{Exists: true, UserName: e.UserName, KeyID: e.KeyID, Sealed: e.Profile,
			Clear: Profile{FullName: e.FullName, EmailAddress: e.EmailAddress}, Type: e.Type, Roles: slices.Clone(e.Roles),
			Generation: s.Generation + 1}
	case *events.UserUpdated:
		s.EmailOnError, s.PublicDashboard = e.EmailOnError, e.PublicDashboard
		if e.PasswordChanged {
			s.Generation++
		}
		if e.KeyID != "" {
			s.KeyID, s.Sealed, s.Clear = e.KeyID, e.Profile, Profile{}
		} else {
			s.Clear = Profile{FullName: e.FullName, EmailAddress: e.EmailAddress}
		}
	case *events.UserRolesChanged:
		s.Roles = slices.Clone(e.Roles)
		s.Generation++
	case *events.UserDisabled:
		s.Disabled = true
		s.Generation++
	case *events.UserEnabled:
		s.Disabled = false
	case *events.UserSessionsRevoked:
		s.Generation++
	case *events.JobStarred:
		stars := maps.Clone(s.Stars)
		if stars == nil {
			stars = map[string]bool{}
		}
		stars[StarKey(e.Project, e.Jobset, e.Job)] = true
		s.Stars = stars
	case *events.JobUnstarred:
		stars := maps.Clone(s.Stars)
		delete(stars, StarKey(e.Project, e.Jobset, e.Job))
		s.Stars = stars
	case *events.UserSSHKeyAdded:
		s.SSHKeys, s.SSHKeyIDs = maps.Clone(s.SSHKeys), maps.Clone(s.SSHKeyIDs)
		if s.SSHKeys == nil {
			s.SSHKeys, s.SSHKeyIDs = map[string][]byte{}, map[string]string{}
		}
		s.SSHKeys[e.Fingerprint], s.SSHKeyIDs[e.Fingerprint] = e.Key, e.KeyID
	case *events.UserSSHKeyRemoved:
		s.SSHKeys, s.SSHKeyIDs = maps.Clone(s.SSHKeys), maps.Clone(s.SSHKeyIDs)
		delete(s.SSHKeys, e.Fingerprint)
		delete(s.SSHKeyIDs, e.Fingerprint)
	case *events.UserDeleted:
		return State{UserName: s.UserName, Generation: s.Generation + 1}
	case *events.UserForgotten:
		return State{UserName: s.UserName, Forgotten: true, Generation: s.Generation + 1}
	}
	return s
}

// Command is one of Create, Update, SetRoles, Delete, Forget, Disable,
// Enable, RevokeSessions, Star, AddSSHKey, RemoveSSHKey.
type Command interface{ userCommand() }

// Create makes a new user. PasswordHash is an already computed argon2id
// PHC string (package password); it is required for TypeHydra accounts,
// and checked here, but the event only says the user was created: the
// command side stores the hash in its credential table. Key is a fresh
// key that seals the profile. An empty Type means TypeHydra.
type Create struct {
	UserName     string
	FullName     string
	EmailAddress string
	PasswordHash string
	Type         string
	Roles        []string
	Key          Key
	// EmailOnError and PublicDashboard are Hydra's user settings; only an
	// import sets them at creation.
	EmailOnError, PublicDashboard bool
}

// Update changes a user's profile. A nil field, or an empty
// PasswordHash, keeps what the user has: a request that names only a new
// password leaves the name and address alone. Key is the key of the
// state's KeyID, or a fresh one for a user whose profile was recorded in
// clear.
type Update struct {
	UserName        string
	FullName        *string
	EmailAddress    *string
	PasswordHash    string
	EmailOnError    *bool
	PublicDashboard *bool
	Key             Key
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

// Forget erases a user's personal data: the command side destroys the
// user's keys and credential, and the event says so.
type Forget struct {
	UserName string
}

// Disable stops a user from signing in and ends their sessions; their
// tokens are refused while the account is disabled.
type Disable struct {
	UserName string
}

// Enable lets a disabled user sign in again. Sessions the disabling
// ended stay ended.
type Enable struct {
	UserName string
}

// RevokeSessions ends every session of a user ("log out everywhere").
type RevokeSessions struct {
	UserName string
}

// Star stars a job for the user (On) or takes the star back, as Hydra's
// star button: the job shows on the user's dashboard.
type Star struct {
	UserName, Project, Jobset, Job string
	On                             bool
}

// StarKey names a job in State.Stars.
func StarKey(project, jobset, job string) string { return project + "/" + jobset + "/" + job }

func (Create) userCommand()         {}
func (Star) userCommand()           {}
func (Update) userCommand()         {}
func (SetRoles) userCommand()       {}
func (Delete) userCommand()         {}
func (Forget) userCommand()         {}
func (Disable) userCommand()        {}
func (Enable) userCommand()         {}
func (RevokeSessions) userCommand() {}

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
		sealed, err := c.Key.Seal(c.UserName, Profile{FullName: strings.TrimSpace(c.FullName), EmailAddress: email})
		if err != nil {
			return nil, err
		}
		return []events.Payload{&events.UserCreated{UserName: c.UserName, Type: typ, Roles: roles,
			KeyID: c.Key.ID, Profile: sealed, EmailOnError: c.EmailOnError, PublicDashboard: c.PublicDashboard}}, nil
	case Update:
		if !s.Exists {
			return nil, domainerr.NotFound("user", c.UserName)
		}
		if err := checkHash(c.PasswordHash, false); err != nil {
			return nil, err
		}
		cur, err := s.Profile(c.Key)
		if err != nil {
			return nil, err
		}
		next, emailOnError := cur, s.EmailOnError
		if c.FullName != nil {
			next.FullName = strings.TrimSpace(*c.FullName)
		}
		if c.EmailAddress != nil {
			if next.EmailAddress, err = checkEmail(*c.EmailAddress); err != nil {
				return nil, err
			}
		}
		if c.EmailOnError != nil {
			emailOnError = *c.EmailOnError
		}
		publicDashboard := s.PublicDashboard
		if c.PublicDashboard != nil {
			publicDashboard = *c.PublicDashboard
		}
		// A profile still in clear is sealed by any update.
		if next == cur && emailOnError == s.EmailOnError && publicDashboard == s.PublicDashboard && c.PasswordHash == "" && s.KeyID != "" {
			return nil, nil
		}
		sealed, err := c.Key.Seal(s.UserName, next)
		if err != nil {
			return nil, err
		}
		return []events.Payload{&events.UserUpdated{UserName: s.UserName, KeyID: c.Key.ID, Profile: sealed,
			EmailOnError: emailOnError, PublicDashboard: publicDashboard, PasswordChanged: c.PasswordHash != ""}}, nil
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
		return []events.Payload{&events.UserRolesChanged{UserName: s.UserName, Roles: roles}}, nil
	case Delete:
		if !s.Exists {
			return nil, domainerr.NotFound("user", c.UserName)
		}
		return []events.Payload{&events.UserDeleted{UserName: s.UserName}}, nil
	case Forget:
		if !s.Exists {
			return nil, domainerr.NotFound("user", c.UserName)
		}
		return []events.Payload{&events.UserForgotten{UserName: s.UserName}}, nil
	case AddSSHKey:
		return decideAddSSHKey(s, c)
	case RemoveSSHKey:
		if !s.Exists {
			return nil, domainerr.NotFound("user", c.UserName)
		}
		if _, ok := s.SSHKeys[c.Fingerprint]; !ok {
			return nil, domainerr.NotFound("SSH key", c.Fingerprint)
		}
		return []events.Payload{&events.UserSSHKeyRemoved{UserName: s.UserName, Fingerprint: c.Fingerprint}}, nil
	case Disable:
		switch {
		case !s.Exists:
			return nil, domainerr.NotFound("user", c.UserName)
		case s.Disabled:
			return nil, nil
		}
		return []events.Payload{&events.UserDisabled{UserName: s.UserName}}, nil
	case Enable:
		switch {
		case !s.Exists:
			return nil, domainerr.NotFound("user", c.UserName)
		case !s.Disabled:
			return nil, nil
		}
		return []events.Payload{&events.UserEnabled{UserName: s.UserName}}, nil
	case RevokeSessions:
		if !s.Exists {
			return nil, domainerr.NotFound("user", c.UserName)
		}
		return []events.Payload{&events.UserSessionsRevoked{UserName: s.UserName}}, nil
	case Star:
		if !s.Exists {
			return nil, domainerr.NotFound("user", c.UserName)
		}
		if !names.Project(c.Project) || !names.Jobset(c.Jobset) || !names.Job(c.Job) {
			return nil, domainerr.Invalid("job", "invalid job %s:%s:%s", c.Project, c.Jobset, c.Job)
		}
		if s.Stars[StarKey(c.Project, c.Jobset, c.Job)] == c.On {
			return nil, nil
		}
		if c.On {
			return []events.Payload{&events.JobStarred{UserName: s.UserName, Project: c.Project, Jobset: c.Jobset, Job: c.Job}}, nil
		}
		return []events.Payload{&events.JobUnstarred{UserName: s.UserName, Project: c.Project, Jobset: c.Jobset, Job: c.Job}}, nil
	}
	return nil, domainerr.Invalid("command", "unknown user command %T", cmd)
}

// Profile returns the user's current profile: opened with k, which must
// be the key of s.KeyID, or the clear one of a user recorded before
// profiles were sealed.
func (s State) Profile(k Key) (Profile, error) {
	if s.KeyID == "" {
		return s.Clear, nil
	}
	if k.ID != s.KeyID {
		return Profile{}, fmt.Errorf("profile of %s is sealed with key %s, not %s", s.UserName, s.KeyID, k.ID)
	}
	return k.Open(s.UserName, s.Sealed)
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
	case h != "" && !password.Known(h):
		return domainerr.Invalid("password", "not an argon2id hash, nor one of Hydra's (hash the password first)")
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
