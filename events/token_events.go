package events

// API token events, on stream apitoken-<id>. Only a hash of a token's
// secret is ever recorded.

// APITokenCreated records a new API token of a user (version 2).
//
// Version 1 had no scope: its upcaster gives such tokens scope "eval"
// (domain/apitoken.DefaultScope).
type APITokenCreated struct {
	ID       string `json:"id"`
	UserName string `json:"userName"`
	Name     string `json:"name"`
	// Scope is "read", "eval" or "admin" (domain/apitoken).
	Scope string `json:"scope"`
	// MintedBy names the admin who minted the token for UserName; empty
	// when UserName minted it.
	MintedBy string `json:"mintedBy,omitempty"`
	// TokenHash is the hex SHA-256 of the secret.
	TokenHash string `json:"tokenHash"`
	// CreatedAt is a Unix time.
	CreatedAt int64 `json:"createdAt"`
}

// APITokenRevoked records that a token no longer authenticates.
type APITokenRevoked struct {
	ID       string `json:"id"`
	UserName string `json:"userName"`
	// RevokedAt is a Unix time.
	RevokedAt int64 `json:"revokedAt"`
}

func (APITokenCreated) EventType() string { return "APITokenCreated" }
func (APITokenRevoked) EventType() string { return "APITokenRevoked" }
