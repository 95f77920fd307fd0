package project

import (
	"testing"

	"buildledger/domain/domainerr"
	"buildledger/domain/domaintest"
	"buildledger/events"

	"github.com/stretchr/testify/require"
)

func cfg() events.ProjectConfig {
	return events.ProjectConfig{DisplayName: "Nixpkgs", Owner: "alice", Enabled: true}
}

func fold(ps ...events.Payload) State {
	var s State
	for _, p := range ps {
		s = Evolve(s, p)
	}
	return s
}

func TestDecide(t *testing.T) {
	existing := fold(&events.ProjectCreated{Name: "nixpkgs", ProjectConfig: cfg()})
	deleted := fold(&events.ProjectCreated{Name: "nixpkgs", ProjectConfig: cfg()}, &events.ProjectDeleted{Name: "nixpkgs"})
	withMembers := Evolve(existing, &events.ProjectMembersChanged{Project: "nixpkgs", Members: []string{"bob", "carol"}})
	changed := cfg()
	changed.Description = "the collection"
	padded := cfg()
	padded.DisplayName = "  Nixpkgs \n"
	decl := cfg()
	decl.DeclFile, decl.DeclType, decl.DeclValue = "spec.json", "git", "https://example.org/x.git"
	badDecl := decl
	badDecl.DeclType = "tarball"

	domaintest.Decide(t, Decide, []domaintest.Case[State, Command]{
		{Name: "create", State: State{}, Cmd: Create{Name: "nixpkgs", Config: cfg()},
			Want: []events.Payload{&events.ProjectCreated{Name: "nixpkgs", ProjectConfig: cfg()}}},
		{Name: "create trims", State: State{}, Cmd: Create{Name: "nixpkgs", Config: padded},
			Want: []events.Payload{&events.ProjectCreated{Name: "nixpkgs", ProjectConfig: cfg()}}},
		{Name: "create declarative", State: State{}, Cmd: Create{Name: "nixpkgs", Config: decl},
			Want: []events.Payload{&events.ProjectCreated{Name: "nixpkgs", ProjectConfig: decl}}},
		{Name: "create after delete", State: deleted, Cmd: Create{Name: "nixpkgs", Config: cfg()},
			Want: []events.Payload{&events.ProjectCreated{Name: "nixpkgs", ProjectConfig: cfg()}}},
		{Name: "create existing", State: existing, Cmd: Create{Name: "nixpkgs", Config: cfg()}, Err: domainerr.ErrAlreadyExists},
		{Name: "create bad name", State: State{}, Cmd: Create{Name: "1nix", Config: cfg()}, Err: domainerr.ErrInvalid, Field: "name"},
		{Name: "create dotted name", State: State{}, Cmd: Create{Name: "a.b", Config: cfg()}, Err: domainerr.ErrInvalid, Field: "name"},
		{Name: "create no display name", State: State{}, Cmd: Create{Name: "x", Config: events.ProjectConfig{Owner: "alice"}}, Err: domainerr.ErrInvalid, Field: "displayName"},
		{Name: "create no owner", State: State{}, Cmd: Create{Name: "x", Config: events.ProjectConfig{DisplayName: "X"}}, Err: domainerr.ErrInvalid, Field: "owner"},
		{Name: "create bad decl type", State: State{}, Cmd: Create{Name: "x", Config: badDecl}, Err: domainerr.ErrInvalid, Field: "declType"},
		{Name: "update", State: existing, Cmd: Update{Name: "nixpkgs", Config: changed},
			Want: []events.Payload{&events.ProjectUpdated{Name: "nixpkgs", ProjectConfig: changed}}},
		{Name: "update unchanged", State: existing, Cmd: Update{Name: "nixpkgs", Config: cfg()}},
		{Name: "update missing", State: State{}, Cmd: Update{Name: "nixpkgs", Config: cfg()}, Err: domainerr.ErrNotFound},
		{Name: "update deleted", State: deleted, Cmd: Update{Name: "nixpkgs", Config: cfg()}, Err: domainerr.ErrNotFound},
		{Name: "update invalid", State: existing, Cmd: Update{Name: "nixpkgs", Config: events.ProjectConfig{Owner: "alice"}}, Err: domainerr.ErrInvalid, Field: "displayName"},
		{Name: "delete", State: existing, Cmd: Delete{Name: "nixpkgs"}, Want: []events.Payload{&events.ProjectDeleted{Name: "nixpkgs"}}},
		{Name: "delete missing", State: deleted, Cmd: Delete{Name: "nixpkgs"}, Err: domainerr.ErrNotFound},
		{Name: "members sorted and deduplicated", State: existing, Cmd: SetMembers{Name: "nixpkgs", Members: []string{"carol", "bob", "carol"}},
			Want: []events.Payload{&events.ProjectMembersChanged{Project: "nixpkgs", Members: []string{"bob", "carol"}}}},
		{Name: "members unchanged", State: withMembers, Cmd: SetMembers{Name: "nixpkgs", Members: []string{"carol", "bob"}}},
		{Name: "members cleared", State: withMembers, Cmd: SetMembers{Name: "nixpkgs"},
			Want: []events.Payload{&events.ProjectMembersChanged{Project: "nixpkgs", Members: []string{}}}},
		{Name: "members invalid", State: existing, Cmd: SetMembers{Name: "nixpkgs", Members: []string{"Bob"}}, Err: domainerr.ErrInvalid, Field: "members"},
		{Name: "members missing project", State: State{}, Cmd: SetMembers{Name: "nixpkgs", Members: []string{"bob"}}, Err: domainerr.ErrNotFound},
	})
}

func TestEvolve(t *testing.T) {
	s := EvolveAt(State{}, &events.ProjectCreated{Name: "p", ProjectConfig: cfg()}, events.At(5))
	require.True(t, s.Exists)
	require.Equal(t, events.At(5), s.CreatedAt)
	s = EvolveAt(s, &events.ProjectMembersChanged{Project: "p", Members: []string{"bob"}}, events.At(6))
	require.Equal(t, []string{"bob"}, s.Members)
	require.Equal(t, events.At(5), s.CreatedAt, "only ProjectCreated stamps")
	s = Evolve(s, &events.ProjectDeleted{Name: "p"})
	require.False(t, s.Exists)
	require.Empty(t, s.Members)
	s = EvolveAt(s, &events.ProjectCreated{Name: "p", ProjectConfig: cfg()}, events.At(9))
	require.True(t, s.Exists)
	require.Equal(t, events.At(9), s.CreatedAt)
	require.Empty(t, s.Members, "a new incarnation has no members")
}

func TestRename(t *testing.T) {
	existing := fold(&events.ProjectCreated{Name: "nixpkgs", ProjectConfig: cfg()},
		&events.ProjectMembersChanged{Project: "nixpkgs", Members: []string{"bob"}})
	taken := fold(&events.ProjectCreated{Name: "nix", ProjectConfig: cfg()})
	freed := Evolve(taken, &events.ProjectDeleted{Name: "nix"})
	changed := cfg()
	changed.Description = "the collection"
	tests := []struct {
		name   string
		from   State
		target State
		to     string
		cfg    events.ProjectConfig
		err    error
	}{
		{name: "rename", from: existing, to: "nix", cfg: changed},
		{name: "to a freed name", from: existing, target: freed, to: "nix", cfg: cfg()},
		{name: "taken", from: existing, target: taken, to: "nix", cfg: cfg(), err: domainerr.ErrAlreadyExists},
		{name: "missing", to: "nix", cfg: cfg(), err: domainerr.ErrNotFound},
		{name: "invalid name", from: existing, to: "1nix", cfg: cfg(), err: domainerr.ErrInvalid},
		{name: "dotted name", from: existing, to: "a.b", cfg: cfg(), err: domainerr.ErrInvalid},
		{name: "itself", from: existing, to: "nixpkgs", cfg: cfg(), err: domainerr.ErrInvalid},
		{name: "invalid config", from: existing, to: "nix", cfg: events.ProjectConfig{Owner: "alice"}, err: domainerr.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			created, deleted, err := Rename(tt.from, tt.target, "nixpkgs", tt.to, tt.cfg)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, []events.Payload{
				&events.ProjectCreated{Name: "nix", RenamedFrom: "nixpkgs", ProjectConfig: tt.cfg},
				&events.ProjectMembersChanged{Project: "nix", Members: []string{"bob"}},
			}, created)
			require.Equal(t, []events.Payload{&events.ProjectDeleted{Name: "nixpkgs", RenamedTo: "nix"}}, deleted)
			old := Evolve(tt.from, deleted[0])
			require.False(t, old.Exists)
			require.Equal(t, "nix", old.RenamedTo)
		})
	}
}
