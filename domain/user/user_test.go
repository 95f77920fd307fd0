package user

import (
	"testing"

	"buildledger/domain/domainerr"
	"buildledger/events"

	"github.com/stretchr/testify/require"
)

const hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"

var key = Key{ID: "k1", Secret: []byte("0123456789abcdef0123456789abcdef")}

// sealedWith seals p for alice with key, as a recorded UserCreated does.
func sealedWith(t *testing.T, k Key, p Profile) []byte {
	t.Helper()
	b, err := k.Seal("alice", p)
	require.NoError(t, err)
	return b
}

// opened checks that the sealed profile of the one user event in got is
// want, and returns got without it, so the rest compares exactly.
func opened(t *testing.T, got []events.Payload, want Profile) []events.Payload {
	t.Helper()
	require.Len(t, got, 1)
	var sealed []byte
	var name string
	switch e := got[0].(type) {
	case *events.UserCreated:
		c := *e
		sealed, name, c.Profile = c.Profile, c.UserName, nil
		got = []events.Payload{&c}
	case *events.UserUpdated:
		c := *e
		sealed, name, c.Profile = c.Profile, c.UserName, nil
		got = []events.Payload{&c}
	}
	p, err := key.Open(name, sealed)
	require.NoError(t, err)
	require.Equal(t, want, p)
	return got
}

func TestDecide(t *testing.T) {
	alice := Evolve(State{}, &events.UserCreated{UserName: "alice", KeyID: key.ID,
		Profile: sealedWith(t, key, Profile{EmailAddress: "a@example.org"}), Type: TypeHydra, Roles: []string{RoleAdmin}})
	clear := Evolve(State{}, &events.UserCreated{UserName: "alice", EmailAddress: "a@example.org", Type: TypeHydra})
	gone := Evolve(alice, &events.UserDeleted{UserName: "alice"})
	forgotten := Evolve(alice, &events.UserForgotten{UserName: "alice"})
	disabled := Evolve(alice, &events.UserDisabled{UserName: "alice"})
	named := Evolve(alice, &events.UserUpdated{UserName: "alice", KeyID: key.ID, EmailOnError: true,
		Profile: sealedWith(t, key, Profile{FullName: "Alice", EmailAddress: "a@example.org"})})
	public := Evolve(alice, &events.UserUpdated{UserName: "alice", KeyID: key.ID, PublicDashboard: true,
		Profile: sealedWith(t, key, Profile{EmailAddress: "a@example.org"})})
	require.True(t, public.PublicDashboard)
	require.False(t, Evolve(public, &events.UserForgotten{UserName: "alice"}).PublicDashboard, "forgetting hides the dashboard")

	tests := []struct {
		name    string
		state   State
		cmd     Command
		want    []events.Payload
		profile Profile
		wantErr error
		field   string
	}{
		{"create", State{}, Create{UserName: "alice", FullName: " Alice ", EmailAddress: "a@example.org", PasswordHash: hash, Roles: []string{"eval-jobset", "admin", "admin"}, Key: key},
			[]events.Payload{&events.UserCreated{UserName: "alice", KeyID: "k1", Type: TypeHydra, Roles: []string{"admin", "eval-jobset"}}},
			Profile{FullName: "Alice", EmailAddress: "a@example.org"}, nil, ""},
		{"create github without password", State{}, Create{UserName: "bob", EmailAddress: "b@example.org", Type: TypeGitHub, Key: key},
			[]events.Payload{&events.UserCreated{UserName: "bob", KeyID: "k1", Type: TypeGitHub}}, Profile{EmailAddress: "b@example.org"}, nil, ""},
		{"create after delete", gone, Create{UserName: "alice", EmailAddress: "a@example.org", PasswordHash: hash, Key: key},
			[]events.Payload{&events.UserCreated{UserName: "alice", KeyID: "k1", Type: TypeHydra}}, Profile{EmailAddress: "a@example.org"}, nil, ""},
		{"create after forget", forgotten, Create{UserName: "alice", EmailAddress: "a@example.org", PasswordHash: hash, Key: key},
			[]events.Payload{&events.UserCreated{UserName: "alice", KeyID: "k1", Type: TypeHydra}}, Profile{EmailAddress: "a@example.org"}, nil, ""},
		{"create without a key", State{}, Create{UserName: "alice", EmailAddress: "a@example.org", PasswordHash: hash}, nil, Profile{}, nil, "key"},
		{"create existing", alice, Create{UserName: "alice", EmailAddress: "a@example.org", PasswordHash: hash}, nil, Profile{}, domainerr.ErrAlreadyExists, ""},
		{"create bad name", State{}, Create{UserName: "Alice", EmailAddress: "a@example.org", PasswordHash: hash}, nil, Profile{}, domainerr.ErrInvalid, "userName"},
		{"create no email", State{}, Create{UserName: "alice", PasswordHash: hash}, nil, Profile{}, domainerr.ErrInvalid, "emailAddress"},
		{"create bad email", State{}, Create{UserName: "alice", EmailAddress: "alice", PasswordHash: hash}, nil, Profile{}, domainerr.ErrInvalid, "emailAddress"},
		{"create no password", State{}, Create{UserName: "alice", EmailAddress: "a@example.org"}, nil, Profile{}, domainerr.ErrInvalid, "password"},
		{"create plain password", State{}, Create{UserName: "alice", EmailAddress: "a@example.org", PasswordHash: "hunter2"}, nil, Profile{}, domainerr.ErrInvalid, "password"},
		{"create bad role", State{}, Create{UserName: "alice", EmailAddress: "a@example.org", PasswordHash: hash, Roles: []string{"root"}}, nil, Profile{}, domainerr.ErrInvalid, "roles"},
		{"create bad type", State{}, Create{UserName: "alice", EmailAddress: "a@example.org", PasswordHash: hash, Type: "ldap"}, nil, Profile{}, domainerr.ErrInvalid, "type"},
		{"update", alice, Update{UserName: "alice", FullName: ptr("Alice A"), EmailAddress: ptr("a@example.org"), EmailOnError: ptr(true), Key: key},
			[]events.Payload{&events.UserUpdated{UserName: "alice", KeyID: "k1", EmailOnError: true}}, Profile{FullName: "Alice A", EmailAddress: "a@example.org"}, nil, ""},
		{"update password keeps the profile", named, Update{UserName: "alice", PasswordHash: hash, Key: key},
			[]events.Payload{&events.UserUpdated{UserName: "alice", KeyID: "k1", EmailOnError: true, PasswordChanged: true}},
			Profile{FullName: "Alice", EmailAddress: "a@example.org"}, nil, ""},
		{"update clears the name when asked", named, Update{UserName: "alice", FullName: ptr(""), Key: key},
			[]events.Payload{&events.UserUpdated{UserName: "alice", KeyID: "k1", EmailOnError: true}}, Profile{EmailAddress: "a@example.org"}, nil, ""},
		{"update unchanged", alice, Update{UserName: "alice", EmailAddress: ptr("a@example.org"), Key: key}, nil, Profile{}, nil, ""},
		{"make the dashboard public", alice, Update{UserName: "alice", PublicDashboard: ptr(true), Key: key},
			[]events.Payload{&events.UserUpdated{UserName: "alice", KeyID: "k1", PublicDashboard: true}}, Profile{EmailAddress: "a@example.org"}, nil, ""},
		{"other fields keep a public dashboard", public, Update{UserName: "alice", EmailOnError: ptr(true), Key: key},
			[]events.Payload{&events.UserUpdated{UserName: "alice", KeyID: "k1", EmailOnError: true, PublicDashboard: true}}, Profile{EmailAddress: "a@example.org"}, nil, ""},
		{"public dashboard unchanged", public, Update{UserName: "alice", PublicDashboard: ptr(true), Key: key}, nil, Profile{}, nil, ""},
		{"make the dashboard private", public, Update{UserName: "alice", PublicDashboard: ptr(false), Key: key},
			[]events.Payload{&events.UserUpdated{UserName: "alice", KeyID: "k1"}}, Profile{EmailAddress: "a@example.org"}, nil, ""},
		{"update nothing", alice, Update{UserName: "alice", Key: key}, nil, Profile{}, nil, ""},
		{"update seals a clear profile", clear, Update{UserName: "alice", Key: key},
			[]events.Payload{&events.UserUpdated{UserName: "alice", KeyID: "k1"}}, Profile{EmailAddress: "a@example.org"}, nil, ""},
		{"update with another key", alice, Update{UserName: "alice", EmailAddress: ptr("a@example.org"), Key: Key{ID: "k2", Secret: key.Secret}}, nil, Profile{}, nil, "key"},
		{"update forgotten", forgotten, Update{UserName: "alice", EmailAddress: ptr("a@example.org"), Key: key}, nil, Profile{}, domainerr.ErrNotFound, ""},
		{"update missing", gone, Update{UserName: "alice", EmailAddress: ptr("a@example.org")}, nil, Profile{}, domainerr.ErrNotFound, ""},
		{"update empty email", alice, Update{UserName: "alice", EmailAddress: ptr(""), Key: key}, nil, Profile{}, domainerr.ErrInvalid, "emailAddress"},
		{"set roles", alice, SetRoles{UserName: "alice", Roles: []string{"restart-jobs", "cancel-build", "bump-to-front", "create-projects"}},
			[]events.Payload{&events.UserRolesChanged{UserName: "alice", Roles: []string{"bump-to-front", "cancel-build", "create-projects", "restart-jobs"}}}, Profile{}, nil, ""},
		{"clear roles", alice, SetRoles{UserName: "alice"}, []events.Payload{&events.UserRolesChanged{UserName: "alice", Roles: []string{}}}, Profile{}, nil, ""},
		{"set roles unchanged", alice, SetRoles{UserName: "alice", Roles: []string{"admin"}}, nil, Profile{}, nil, ""},
		{"set bad role", alice, SetRoles{UserName: "alice", Roles: []string{"admin", "superuser"}}, nil, Profile{}, domainerr.ErrInvalid, "roles"},
		{"set roles missing", State{}, SetRoles{UserName: "alice"}, nil, Profile{}, domainerr.ErrNotFound, ""},
		{"delete", alice, Delete{UserName: "alice"}, []events.Payload{&events.UserDeleted{UserName: "alice"}}, Profile{}, nil, ""},
		{"delete missing", gone, Delete{UserName: "alice"}, nil, Profile{}, domainerr.ErrNotFound, ""},
		{"forget", alice, Forget{UserName: "alice"}, []events.Payload{&events.UserForgotten{UserName: "alice"}}, Profile{}, nil, ""},
		{"forget twice", forgotten, Forget{UserName: "alice"}, nil, Profile{}, domainerr.ErrNotFound, ""},
		{"disable", alice, Disable{UserName: "alice"}, []events.Payload{&events.UserDisabled{UserName: "alice"}}, Profile{}, nil, ""},
		{"disable twice", disabled, Disable{UserName: "alice"}, nil, Profile{}, nil, ""},
		{"disable missing", gone, Disable{UserName: "alice"}, nil, Profile{}, domainerr.ErrNotFound, ""},
		{"enable", disabled, Enable{UserName: "alice"}, []events.Payload{&events.UserEnabled{UserName: "alice"}}, Profile{}, nil, ""},
		{"enable an enabled user", alice, Enable{UserName: "alice"}, nil, Profile{}, nil, ""},
		{"enable missing", forgotten, Enable{UserName: "alice"}, nil, Profile{}, domainerr.ErrNotFound, ""},
		{"revoke sessions", alice, RevokeSessions{UserName: "alice"}, []events.Payload{&events.UserSessionsRevoked{UserName: "alice"}}, Profile{}, nil, ""},
		{"revoke sessions missing", gone, RevokeSessions{UserName: "alice"}, nil, Profile{}, domainerr.ErrNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decide(tt.state, tt.cmd)
			if tt.wantErr == nil && tt.field == "key" {
				require.ErrorContains(t, err, "key")
				return
			}
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				if tt.field != "" {
					var fe *domainerr.FieldError
					require.ErrorAs(t, err, &fe)
					require.Equal(t, tt.field, fe.Field)
				}
				return
			}
			require.NoError(t, err)
			if tt.profile != (Profile{}) {
				got = opened(t, got, tt.profile)
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestEvolve(t *testing.T) {
	s := Evolve(State{}, &events.UserCreated{UserName: "a", EmailAddress: "a@x", Type: TypeHydra})
	require.True(t, s.Exists)
	require.Equal(t, Profile{EmailAddress: "a@x"}, s.Clear, "a version 1 event's profile is in clear")
	s = Evolve(s, &events.UserUpdated{UserName: "a", KeyID: "k", Profile: []byte("sealed")})
	require.Equal(t, "k", s.KeyID)
	require.Equal(t, []byte("sealed"), s.Sealed)
	require.Empty(t, s.Clear, "a sealed update replaces the clear profile")
	s = Evolve(s, &events.UserRolesChanged{UserName: "a", Roles: []string{RoleAdmin}})
	require.True(t, s.HasRole(RoleAdmin))
	require.False(t, s.HasRole(RoleEvalJobset))
	s = Evolve(s, &events.UserForgotten{UserName: "a"})
	require.Equal(t, State{UserName: "a", Forgotten: true, Generation: 3}, s)
	require.False(t, s.HasRole(RoleAdmin))
}

// TestSessionGeneration: every event that must end sessions moves the
// generation, and nothing else does; a name deleted and created again
// never comes back to a generation an old cookie names.
func TestSessionGeneration(t *testing.T) {
	tests := []struct {
		event events.Payload
		moves bool
	}{
		{&events.UserUpdated{UserName: "a", KeyID: "k"}, false},
		{&events.UserUpdated{UserName: "a", KeyID: "k", PasswordChanged: true}, true},
		{&events.UserRolesChanged{UserName: "a", Roles: []string{RoleAdmin}}, true},
		{&events.UserSessionsRevoked{UserName: "a"}, true},
		{&events.UserDisabled{UserName: "a"}, true},
		{&events.UserEnabled{UserName: "a"}, false},
		{&events.UserSessionsRevoked{UserName: "a"}, true},
	}
	s := Evolve(State{}, &events.UserCreated{UserName: "a", Type: TypeHydra})
	require.Equal(t, uint64(1), s.Generation)
	for _, tt := range tests {
		before := s.Generation
		s = Evolve(s, tt.event)
		require.Equal(t, tt.moves, s.Generation != before, "%T %+v", tt.event, tt.event)
	}
	require.True(t, s.MayAuthenticate(), "enabled again")
	s = Evolve(s, &events.UserDisabled{UserName: "a"})
	require.False(t, s.MayAuthenticate())
	seen := s.Generation
	s = Evolve(Evolve(s, &events.UserDeleted{UserName: "a"}), &events.UserCreated{UserName: "a", Type: TypeHydra})
	require.Greater(t, s.Generation, seen, "created again: older cookies stay refused")
	require.True(t, s.MayAuthenticate(), "a new account is not disabled")
}

func ptr[T any](v T) *T { return &v }

func TestProfileSealing(t *testing.T) {
	sealed := sealedWith(t, key, Profile{FullName: "Alice", EmailAddress: "a@x"})
	require.NotContains(t, string(sealed), "Alice")
	p, err := key.Open("alice", sealed)
	require.NoError(t, err)
	require.Equal(t, Profile{FullName: "Alice", EmailAddress: "a@x"}, p)
	_, err = key.Open("bob", sealed)
	require.Error(t, err, "a profile sealed for alice does not open as bob's")
	_, err = Key{ID: "k1", Secret: []byte("fedcba9876543210fedcba9876543210")}.Open("alice", sealed)
	require.Error(t, err, "another key does not open it")
}

func TestDecideStar(t *testing.T) {
	alice := Evolve(State{}, &events.UserCreated{UserName: "alice", Type: TypeHydra})
	starred := Evolve(alice, &events.JobStarred{UserName: "alice", Project: "p", Jobset: "j", Job: "hello"})
	unstarred := Evolve(starred, &events.JobUnstarred{UserName: "alice", Project: "p", Jobset: "j", Job: "hello"})
	require.Empty(t, alice.Stars, "a fold never shares the map of an earlier state")
	tests := []struct {
		name  string
		state State
		cmd   Star
		want  []events.Payload
		err   error
	}{
		{"star", alice, Star{UserName: "alice", Project: "p", Jobset: "j", Job: "hello", On: true},
			[]events.Payload{&events.JobStarred{UserName: "alice", Project: "p", Jobset: "j", Job: "hello"}}, nil},
		{"star again", starred, Star{UserName: "alice", Project: "p", Jobset: "j", Job: "hello", On: true}, nil, nil},
		{"unstar", starred, Star{UserName: "alice", Project: "p", Jobset: "j", Job: "hello"},
			[]events.Payload{&events.JobUnstarred{UserName: "alice", Project: "p", Jobset: "j", Job: "hello"}}, nil},
		{"unstar what is not starred", unstarred, Star{UserName: "alice", Project: "p", Jobset: "j", Job: "hello"}, nil, nil},
		{"another job", starred, Star{UserName: "alice", Project: "p", Jobset: "j", Job: "world", On: true},
			[]events.Payload{&events.JobStarred{UserName: "alice", Project: "p", Jobset: "j", Job: "world"}}, nil},
		{"no such user", State{}, Star{UserName: "bob", Project: "p", Jobset: "j", Job: "hello", On: true}, nil, domainerr.ErrNotFound},
		{"bad job name", alice, Star{UserName: "alice", Project: "p", Jobset: "j", Job: "a/../b", On: true}, nil, domainerr.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decide(tt.state, tt.cmd)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}
