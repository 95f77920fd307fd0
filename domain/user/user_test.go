package user

import (
	"testing"

	"buildledger/domain/domainerr"
	"buildledger/events"

	"github.com/stretchr/testify/require"
)

const hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"

func TestDecide(t *testing.T) {
	alice := Evolve(State{}, &events.UserCreated{UserName: "alice", EmailAddress: "a@example.org", PasswordHash: hash, Type: TypeHydra, Roles: []string{RoleAdmin}})
	gone := Evolve(alice, events.UserDeleted{UserName: "alice"})

	tests := []struct {
		name    string
		state   State
		cmd     Command
		want    []events.Payload
		wantErr error
		field   string
	}{
		{"create", State{}, Create{UserName: "alice", FullName: " Alice ", EmailAddress: "a@example.org", PasswordHash: hash, Roles: []string{"eval-jobset", "admin", "admin"}},
			[]events.Payload{events.UserCreated{UserName: "alice", FullName: "Alice", EmailAddress: "a@example.org", PasswordHash: hash, Type: TypeHydra, Roles: []string{"admin", "eval-jobset"}}}, nil, ""},
		{"create github without password", State{}, Create{UserName: "bob", EmailAddress: "b@example.org", Type: TypeGitHub},
			[]events.Payload{events.UserCreated{UserName: "bob", EmailAddress: "b@example.org", Type: TypeGitHub}}, nil, ""},
		{"create after delete", gone, Create{UserName: "alice", EmailAddress: "a@example.org", PasswordHash: hash},
			[]events.Payload{events.UserCreated{UserName: "alice", EmailAddress: "a@example.org", PasswordHash: hash, Type: TypeHydra}}, nil, ""},
		{"create existing", alice, Create{UserName: "alice", EmailAddress: "a@example.org", PasswordHash: hash}, nil, domainerr.ErrAlreadyExists, ""},
		{"create bad name", State{}, Create{UserName: "Alice", EmailAddress: "a@example.org", PasswordHash: hash}, nil, domainerr.ErrInvalid, "userName"},
		{"create no email", State{}, Create{UserName: "alice", PasswordHash: hash}, nil, domainerr.ErrInvalid, "emailAddress"},
		{"create bad email", State{}, Create{UserName: "alice", EmailAddress: "alice", PasswordHash: hash}, nil, domainerr.ErrInvalid, "emailAddress"},
		{"create no password", State{}, Create{UserName: "alice", EmailAddress: "a@example.org"}, nil, domainerr.ErrInvalid, "password"},
		{"create plain password", State{}, Create{UserName: "alice", EmailAddress: "a@example.org", PasswordHash: "hunter2"}, nil, domainerr.ErrInvalid, "password"},
		{"create bad role", State{}, Create{UserName: "alice", EmailAddress: "a@example.org", PasswordHash: hash, Roles: []string{"root"}}, nil, domainerr.ErrInvalid, "roles"},
		{"create bad type", State{}, Create{UserName: "alice", EmailAddress: "a@example.org", PasswordHash: hash, Type: "ldap"}, nil, domainerr.ErrInvalid, "type"},
		{"update", alice, Update{UserName: "alice", FullName: "Alice A", EmailAddress: "a@example.org", EmailOnError: true},
			[]events.Payload{events.UserUpdated{UserName: "alice", FullName: "Alice A", EmailAddress: "a@example.org", EmailOnError: true}}, nil, ""},
		{"update password", alice, Update{UserName: "alice", EmailAddress: "a@example.org", PasswordHash: hash + "x"},
			[]events.Payload{events.UserUpdated{UserName: "alice", EmailAddress: "a@example.org", PasswordHash: hash + "x"}}, nil, ""},
		{"update unchanged", alice, Update{UserName: "alice", EmailAddress: "a@example.org"}, nil, nil, ""},
		{"update missing", gone, Update{UserName: "alice", EmailAddress: "a@example.org"}, nil, domainerr.ErrNotFound, ""},
		{"update no email", alice, Update{UserName: "alice"}, nil, domainerr.ErrInvalid, "emailAddress"},
		{"set roles", alice, SetRoles{UserName: "alice", Roles: []string{"restart-jobs", "cancel-build", "bump-to-front", "create-projects"}},
			[]events.Payload{events.UserRolesChanged{UserName: "alice", Roles: []string{"bump-to-front", "cancel-build", "create-projects", "restart-jobs"}}}, nil, ""},
		{"clear roles", alice, SetRoles{UserName: "alice"}, []events.Payload{events.UserRolesChanged{UserName: "alice", Roles: []string{}}}, nil, ""},
		{"set roles unchanged", alice, SetRoles{UserName: "alice", Roles: []string{"admin"}}, nil, nil, ""},
		{"set bad role", alice, SetRoles{UserName: "alice", Roles: []string{"admin", "superuser"}}, nil, domainerr.ErrInvalid, "roles"},
		{"set roles missing", State{}, SetRoles{UserName: "alice"}, nil, domainerr.ErrNotFound, ""},
		{"delete", alice, Delete{UserName: "alice"}, []events.Payload{events.UserDeleted{UserName: "alice"}}, nil, ""},
		{"delete missing", gone, Delete{UserName: "alice"}, nil, domainerr.ErrNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decide(tt.state, tt.cmd)
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
			require.Equal(t, tt.want, got)
		})
	}
}

func TestEvolve(t *testing.T) {
	s := Evolve(State{}, events.UserCreated{UserName: "a", EmailAddress: "a@x", PasswordHash: "h1", Type: TypeHydra})
	require.True(t, s.Exists)
	s = Evolve(s, &events.UserUpdated{UserName: "a", EmailAddress: "b@x"})
	require.Equal(t, "h1", s.PasswordHash, "empty hash keeps the password")
	require.Equal(t, "b@x", s.EmailAddress)
	s = Evolve(s, events.UserUpdated{UserName: "a", EmailAddress: "b@x", PasswordHash: "h2"})
	require.Equal(t, "h2", s.PasswordHash)
	s = Evolve(s, events.UserRolesChanged{UserName: "a", Roles: []string{RoleAdmin}})
	require.True(t, s.HasRole(RoleAdmin))
	require.False(t, s.HasRole(RoleEvalJobset))
	s = Evolve(s, events.UserDeleted{UserName: "a"})
	require.False(t, s.Exists)
	require.False(t, s.HasRole(RoleAdmin))
	require.Empty(t, s.PasswordHash)
}
