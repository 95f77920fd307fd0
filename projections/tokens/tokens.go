// Package tokens projects API token events into the ledger read model
// api_tokens (id, owner, name, scope, who minted it, hash of the secret,
// created and revoked times). The web finds a token here by its hash;
// whether it still holds, it reads from the token's stream.
package tokens

import (
	"context"
	"fmt"
	"time"

	"buildledger/events"
	"buildledger/projections"
)

// Projection writes api_tokens.
type Projection struct{}

var _ projections.Projection = Projection{}

// Name implements projections.Projection.
func (Projection) Name() string { return "api_tokens" }

// UsesMetadata implements projections.MetadataUser: it reads none.
func (Projection) UsesMetadata() bool { return false }

// Version implements projections.Projection.
func (Projection) Version() int { return 1 }

// Apply implements projections.Projection.
func (Projection) Apply(ctx context.Context, tx projections.Tx, batch []projections.Event) error {
	for _, ev := range batch {
		var err error
		switch p := ev.Payload.(type) {
		case *events.APITokenCreated:
			err = tx.Exec(ctx, `insert into api_tokens (id, user_name, name, scope, minted_by, token_hash, created_at)
				values ($1, $2, $3, $4, nullif($5, ''), $6, $7) on conflict (id) do nothing`,
				p.ID, p.UserName, p.Name, p.Scope, p.MintedBy, p.TokenHash, time.Unix(p.CreatedAt, 0).UTC())
		case *events.APITokenRevoked:
			err = tx.Exec(ctx, `update api_tokens set revoked_at = $2 where id = $1 and revoked_at is null`,
				p.ID, time.Unix(p.RevokedAt, 0).UTC())
		case *events.UserDeleted:
			err = revokeAll(ctx, tx, p.UserName, ev.RecordedAt)
		case *events.UserForgotten:
			err = revokeAll(ctx, tx, p.UserName, ev.RecordedAt)
		}
		if err != nil {
			return fmt.Errorf("api_tokens: event %s (%s): %w", ev.ID, ev.Type, err)
		}
	}
	return nil
}

// revokeAll revokes every token of a user who is gone or forgotten.
func revokeAll(ctx context.Context, tx projections.Tx, userName string, at time.Time) error {
	return tx.Exec(ctx, `update api_tokens set revoked_at = $2 where user_name = $1 and revoked_at is null`,
		userName, at.UTC())
}
