// Package apitoken is the API token aggregate: a token's state, folded
// from its apitoken-<id> stream, its scopes, and the rules that turn
// commands into events. Only a hash of a token's secret is recorded.
package apitoken

import (
	"slices"
	"strings"
	"unicode"

	"buildledger/domain/domainerr"
	"buildledger/events"
)

// Scopes bound what a token may do, within what its user may do. Each
// includes the ones before it.
const (
	// ScopeRead may only read (GET, HEAD).
	ScopeRead = "read"
	// ScopeSubmit may also submit ad-hoc builds (POST /api/build), for a
	// user with the submit-builds role.
	ScopeSubmit = "submit"
	// ScopeEval may also trigger evaluations and push notifications, and
	// restart, cancel, bump and keep builds: what CI needs.
	ScopeEval = "eval"
	// ScopeAdmin may do everything its user may, but mint tokens and set
	// passwords, which need a signed-in session whatever the scope.
	ScopeAdmin = "admin"
	// DefaultScope is the scope of a token minted without one: enough for
	// CI, not enough to change configuration or accounts. Tokens recorded
	// before scopes existed have the same (events' upcaster of
	// APITokenCreated version 1).
	DefaultScope = ScopeEval
)

// scopes are in increasing order of power.
var scopes = []string{ScopeRead, ScopeSubmit, ScopeEval, ScopeAdmin}

// Scopes returns the scope names, weakest first.
func Scopes() []string { return slices.Clone(scopes) }

// ParseScope checks a scope name; an empty one is DefaultScope.
func ParseScope(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return DefaultScope, nil
	}
	if !slices.Contains(scopes, s) {
		return "", domainerr.Invalid("scope", "unknown scope %q, want one of %v", s, scopes)
	}
	return s, nil
}

// Allows reports whether a token of scope has may do what needs scope
// need. An unknown scope allows nothing.
func Allows(has, need string) bool {
	h, n := slices.Index(scopes, has), slices.Index(scopes, need)
	return h >= 0 && n >= 0 && h >= n
}

// State is a token as its stream tells it.
type State struct {
	Exists  bool
	Revoked bool
	ID      string
	// User is the token's owner: it acts with their rights.
	User string
	Name string
	// Scope is one of the Scope constants.
	Scope string
	// MintedBy names the admin who minted the token for User, or is empty
	// when User minted it.
	MintedBy string
	// TokenHash is the hex SHA-256 of the secret.
	TokenHash string
}

// Evolve folds one event of a token's stream into s. Payloads are
// pointers, as the codec decodes them.
func Evolve(s State, p events.Payload) State {
	switch e := p.(type) {
	case *events.APITokenCreated:
		return State{Exists: true, ID: e.ID, User: e.UserName, Name: e.Name, Scope: e.Scope, MintedBy: e.MintedBy, TokenHash: e.TokenHash}
	case *events.APITokenRevoked:
		s.Revoked = true
	}
	return s
}

// Command is Create or Revoke.
type Command interface{ tokenCommand() }

// Create records a new token. MintedBy is the user minting it when that
// is not User (an admin); Scope empty means DefaultScope.
type Create struct {
	ID        string
	User      string
	Name      string
	Scope     string
	MintedBy  string
	TokenHash string
	// CreatedAt is a Unix time.
	CreatedAt int64
}

// Revoke ends a token of User.
type Revoke struct {
	ID   string
	User string
	// RevokedAt is a Unix time.
	RevokedAt int64
}

func (Create) tokenCommand() {}
func (Revoke) tokenCommand() {}

// Decide returns the events that carry out cmd on s. Revoking a token of
// another user is not found; revoking twice does nothing.
func Decide(s State, cmd Command) ([]events.Payload, error) {
	switch c := cmd.(type) {
	case Create:
		if s.Exists {
			return nil, domainerr.AlreadyExists("api token", c.ID)
		}
		name, err := checkName(c.Name)
		if err != nil {
			return nil, err
		}
		scope, err := ParseScope(c.Scope)
		if err != nil {
			return nil, err
		}
		mintedBy := c.MintedBy
		if mintedBy == c.User {
			mintedBy = ""
		}
		return []events.Payload{&events.APITokenCreated{ID: c.ID, UserName: c.User, Name: name, Scope: scope,
			MintedBy: mintedBy, TokenHash: c.TokenHash, CreatedAt: c.CreatedAt}}, nil
	case Revoke:
		switch {
		case !s.Exists || s.User != c.User:
			return nil, domainerr.NotFound("api token", c.ID)
		case s.Revoked:
			return nil, nil
		}
		return []events.Payload{&events.APITokenRevoked{ID: s.ID, UserName: s.User, RevokedAt: c.RevokedAt}}, nil
	}
	return nil, domainerr.Invalid("command", "unknown api token command %T", cmd)
}

// checkName accepts 1 to 100 printable characters without parentheses:
// the name is part of the actor of everything the token does, where
// "(by admin)" names who minted it, so a name cannot pretend to that.
func checkName(n string) (string, error) {
	n = strings.TrimSpace(n)
	if n == "" || len([]rune(n)) > 100 || strings.ContainsAny(n, "()") ||
		strings.ContainsFunc(n, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return "", domainerr.Invalid("name", "a token needs a name of 1 to 100 printable characters, without parentheses")
	}
	return n, nil
}
