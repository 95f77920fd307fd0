package apitoken

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/domain/domainerr"
	"buildledger/domain/domaintest"
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
	domaintest.Decide(t, Decide, []domaintest.Case[State, Command]{
		{Name: "create with the default scope", State: State{}, Cmd: Create{ID: "t", User: "bob", Name: " ci ", TokenHash: "h", CreatedAt: 1},
			Want: []events.Payload{&events.APITokenCreated{ID: "t", UserName: "bob", Name: "ci", Scope: ScopeEval, TokenHash: "h", CreatedAt: 1}}},
		{Name: "create by an admin for bob", State: State{}, Cmd: Create{ID: "t", User: "bob", Name: "ci", Scope: ScopeRead, MintedBy: "admin", TokenHash: "h"},
			Want: []events.Payload{&events.APITokenCreated{ID: "t", UserName: "bob", Name: "ci", Scope: ScopeRead, MintedBy: "admin", TokenHash: "h"}}},
		{Name: "create for oneself names no minter", State: State{}, Cmd: Create{ID: "t", User: "bob", Name: "ci", Scope: ScopeAdmin, MintedBy: "bob", TokenHash: "h"},
			Want: []events.Payload{&events.APITokenCreated{ID: "t", UserName: "bob", Name: "ci", Scope: ScopeAdmin, TokenHash: "h"}}},
		{Name: "create existing", State: live, Cmd: Create{ID: "t", User: "bob", Name: "ci"}, Err: domainerr.ErrAlreadyExists},
		{Name: "create bad scope", State: State{}, Cmd: Create{ID: "t", User: "bob", Name: "ci", Scope: "root"}, Err: domainerr.ErrInvalid},
		{Name: "create empty name", State: State{}, Cmd: Create{ID: "t", User: "bob", Name: "  "}, Err: domainerr.ErrInvalid},
		{Name: "create long name", State: State{}, Cmd: Create{ID: "t", User: "bob", Name: strings.Repeat("x", 101)}, Err: domainerr.ErrInvalid},
		{Name: "create name forging a minter", State: State{}, Cmd: Create{ID: "t", User: "bob", Name: "ci(by admin)"}, Err: domainerr.ErrInvalid},
		{Name: "create name with a newline", State: State{}, Cmd: Create{ID: "t", User: "bob", Name: "ci\nx"}, Err: domainerr.ErrInvalid},
		{Name: "revoke", State: live, Cmd: Revoke{ID: "t", User: "bob", RevokedAt: 2},
			Want: []events.Payload{&events.APITokenRevoked{ID: "t", UserName: "bob", RevokedAt: 2}}},
		{Name: "revoke twice", State: revoked, Cmd: Revoke{ID: "t", User: "bob"}},
		{Name: "revoke another user's", State: live, Cmd: Revoke{ID: "t", User: "eve"}, Err: domainerr.ErrNotFound},
		{Name: "revoke missing", State: State{}, Cmd: Revoke{ID: "t", User: "bob"}, Err: domainerr.ErrNotFound},
	})
	require.True(t, revoked.Revoked)
	require.Equal(t, State{Exists: true, ID: "t", User: "bob", Name: "ci", Scope: ScopeEval, TokenHash: "h"}, live)
}
