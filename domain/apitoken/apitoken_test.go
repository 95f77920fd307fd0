package apitoken

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/domain/domainerr"
	"buildledger/events"
)

func TestAllows(t *testing.T) {
	tests := []struct {
		has, need string
		want      bool
	}{
		{ScopeRead, ScopeRead, true},
		{ScopeRead, ScopeEval, false},
		{ScopeEval, ScopeEval, true},
		{ScopeEval, ScopeAdmin, false},
		{ScopeAdmin, ScopeEval, true},
		{ScopeAdmin, ScopeAdmin, true},
		{"", ScopeRead, false},
		{"root", ScopeRead, false},
		{ScopeAdmin, "root", false},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, Allows(tt.has, tt.need), "%q needs %q", tt.has, tt.need)
	}
}

func TestDecide(t *testing.T) {
	live := Evolve(State{}, &events.APITokenCreated{ID: "t", UserName: "bob", Name: "ci", Scope: ScopeEval, TokenHash: "h"})
	revoked := Evolve(live, &events.APITokenRevoked{ID: "t", UserName: "bob"})
	tests := []struct {
		name    string
		state   State
		cmd     Command
		want    []events.Payload
		wantErr error
	}{
		{"create with the default scope", State{}, Create{ID: "t", User: "bob", Name: " ci ", TokenHash: "h", CreatedAt: 1},
			[]events.Payload{&events.APITokenCreated{ID: "t", UserName: "bob", Name: "ci", Scope: ScopeEval, TokenHash: "h", CreatedAt: 1}}, nil},
		{"create by an admin for bob", State{}, Create{ID: "t", User: "bob", Name: "ci", Scope: ScopeRead, MintedBy: "admin", TokenHash: "h"},
			[]events.Payload{&events.APITokenCreated{ID: "t", UserName: "bob", Name: "ci", Scope: ScopeRead, MintedBy: "admin", TokenHash: "h"}}, nil},
		{"create for oneself names no minter", State{}, Create{ID: "t", User: "bob", Name: "ci", Scope: ScopeAdmin, MintedBy: "bob", TokenHash: "h"},
			[]events.Payload{&events.APITokenCreated{ID: "t", UserName: "bob", Name: "ci", Scope: ScopeAdmin, TokenHash: "h"}}, nil},
		{"create existing", live, Create{ID: "t", User: "bob", Name: "ci"}, nil, domainerr.ErrAlreadyExists},
		{"create bad scope", State{}, Create{ID: "t", User: "bob", Name: "ci", Scope: "root"}, nil, domainerr.ErrInvalid},
		{"create empty name", State{}, Create{ID: "t", User: "bob", Name: "  "}, nil, domainerr.ErrInvalid},
		{"create long name", State{}, Create{ID: "t", User: "bob", Name: strings.Repeat("x", 101)}, nil, domainerr.ErrInvalid},
		{"create name forging a minter", State{}, Create{ID: "t", User: "bob", Name: "ci(by admin)"}, nil, domainerr.ErrInvalid},
		{"create name with a newline", State{}, Create{ID: "t", User: "bob", Name: "ci\nx"}, nil, domainerr.ErrInvalid},
		{"revoke", live, Revoke{ID: "t", User: "bob", RevokedAt: 2},
			[]events.Payload{&events.APITokenRevoked{ID: "t", UserName: "bob", RevokedAt: 2}}, nil},
		{"revoke twice", revoked, Revoke{ID: "t", User: "bob"}, nil, nil},
		{"revoke another user's", live, Revoke{ID: "t", User: "eve"}, nil, domainerr.ErrNotFound},
		{"revoke missing", State{}, Revoke{ID: "t", User: "bob"}, nil, domainerr.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decide(tt.state, tt.cmd)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
	require.True(t, revoked.Revoked)
	require.Equal(t, State{Exists: true, ID: "t", User: "bob", Name: "ci", Scope: ScopeEval, TokenHash: "h"}, live)
}
