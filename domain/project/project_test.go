package project

import (
	"testing"

	"buildledger/domain/domainerr"
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

	tests := []struct {
		name    string
		state   State
		cmd     Command
		want    []events.Payload
		wantErr error
		field   string
	}{
		{"create", State{}, Create{Name: "nixpkgs", Config: cfg()},
			[]events.Payload{&events.ProjectCreated{Name: "nixpkgs", ProjectConfig: cfg()}}, nil, ""},
		{"create trims", State{}, Create{Name: "nixpkgs", Config: padded},
			[]events.Payload{&events.ProjectCreated{Name: "nixpkgs", ProjectConfig: cfg()}}, nil, ""},
		{"create declarative", State{}, Create{Name: "nixpkgs", Config: decl},
			[]events.Payload{&events.ProjectCreated{Name: "nixpkgs", ProjectConfig: decl}}, nil, ""},
		{"create after delete", deleted, Create{Name: "nixpkgs", Config: cfg()},
			[]events.Payload{&events.ProjectCreated{Name: "nixpkgs", ProjectConfig: cfg()}}, nil, ""},
		{"create existing", existing, Create{Name: "nixpkgs", Config: cfg()}, nil, domainerr.ErrAlreadyExists, ""},
		{"create bad name", State{}, Create{Name: "1nix", Config: cfg()}, nil, domainerr.ErrInvalid, "name"},
		{"create dotted name", State{}, Create{Name: "a.b", Config: cfg()}, nil, domainerr.ErrInvalid, "name"},
		{"create no display name", State{}, Create{Name: "x", Config: events.ProjectConfig{Owner: "alice"}}, nil, domainerr.ErrInvalid, "displayName"},
		{"create no owner", State{}, Create{Name: "x", Config: events.ProjectConfig{DisplayName: "X"}}, nil, domainerr.ErrInvalid, "owner"},
		{"create bad decl type", State{}, Create{Name: "x", Config: badDecl}, nil, domainerr.ErrInvalid, "declType"},
		{"update", existing, Update{Name: "nixpkgs", Config: changed},
			[]events.Payload{&events.ProjectUpdated{Name: "nixpkgs", ProjectConfig: changed}}, nil, ""},
		{"update unchanged", existing, Update{Name: "nixpkgs", Config: cfg()}, nil, nil, ""},
		{"update missing", State{}, Update{Name: "nixpkgs", Config: cfg()}, nil, domainerr.ErrNotFound, ""},
		{"update deleted", deleted, Update{Name: "nixpkgs", Config: cfg()}, nil, domainerr.ErrNotFound, ""},
		{"update invalid", existing, Update{Name: "nixpkgs", Config: events.ProjectConfig{Owner: "alice"}}, nil, domainerr.ErrInvalid, "displayName"},
		{"delete", existing, Delete{Name: "nixpkgs"}, []events.Payload{&events.ProjectDeleted{Name: "nixpkgs"}}, nil, ""},
		{"delete missing", deleted, Delete{Name: "nixpkgs"}, nil, domainerr.ErrNotFound, ""},
		{"members sorted and deduplicated", existing, SetMembers{Name: "nixpkgs", Members: []string{"carol", "bob", "carol"}},
			[]events.Payload{&events.ProjectMembersChanged{Project: "nixpkgs", Members: []string{"bob", "carol"}}}, nil, ""},
		{"members unchanged", withMembers, SetMembers{Name: "nixpkgs", Members: []string{"carol", "bob"}}, nil, nil, ""},
		{"members cleared", withMembers, SetMembers{Name: "nixpkgs"},
			[]events.Payload{&events.ProjectMembersChanged{Project: "nixpkgs", Members: []string{}}}, nil, ""},
		{"members invalid", existing, SetMembers{Name: "nixpkgs", Members: []string{"Bob"}}, nil, domainerr.ErrInvalid, "members"},
		{"members missing project", State{}, SetMembers{Name: "nixpkgs", Members: []string{"bob"}}, nil, domainerr.ErrNotFound, ""},
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
