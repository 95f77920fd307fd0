package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"buildledger/domain/domainerr"
	"buildledger/domain/user"
)

// Vault keeps the command side's secrets in schema vault: users' password
// hashes and the keys that seal their profiles. It implements
// commands.Vault and the projections' key port (hydra.UserKeys).
type Vault struct {
	pool *pgxpool.Pool
}

// NewVault returns the vault of the database pool connects to.
func NewVault(pool *pgxpool.Pool) *Vault { return &Vault{pool: pool} }

// NewUserKey makes and stores a random profile key for user.
func (v *Vault) NewUserKey(ctx context.Context, userName string) (user.Key, error) {
	k := user.Key{ID: uuid.NewString(), Secret: make([]byte, user.KeySize)}
	if _, err := rand.Read(k.Secret); err != nil {
		return user.Key{}, fmt.Errorf("new key of %s: %w", userName, err)
	}
	if _, err := v.pool.Exec(ctx, `insert into vault.user_keys (key_id, user_name, secret) values ($1, $2, $3)`,
		k.ID, userName, k.Secret); err != nil {
		return user.Key{}, fmt.Errorf("store key of %s: %w", userName, err)
	}
	return k, nil
}

// UserKey returns the key keyID, or an error wrapping user.ErrForgotten
// when it was destroyed (or never stored).
func (v *Vault) UserKey(ctx context.Context, keyID string) (user.Key, error) {
	var secret []byte
	err := v.pool.QueryRow(ctx, `select secret from vault.user_keys where key_id = $1`, keyID).Scan(&secret)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && secret == nil) {
		return user.Key{}, fmt.Errorf("key %s: %w", keyID, user.ErrForgotten)
	}
	if err != nil {
		return user.Key{}, fmt.Errorf("read key %s: %w", keyID, err)
	}
	return user.Key{ID: keyID, Secret: secret}, nil
}

// Forget destroys every profile key of userName and removes the user's
// credential, in one transaction.
func (v *Vault) Forget(ctx context.Context, userName string) error {
	return Transact(ctx, v.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `update vault.user_keys set secret = null, destroyed_at = now()
			where user_name = $1 and secret is not null`, userName); err != nil {
			return fmt.Errorf("destroy keys of %s: %w", userName, err)
		}
		if _, err := tx.Exec(ctx, `delete from vault.credentials where user_name = $1`, userName); err != nil {
			return fmt.Errorf("remove credential of %s: %w", userName, err)
		}
		return nil
	})
}

// SetPassword stores userName's password hash, replacing any.
func (v *Vault) SetPassword(ctx context.Context, userName, hash string) error {
	if hash == "" {
		return domainerr.Invalid("password", "empty password hash")
	}
	_, err := v.pool.Exec(ctx, `insert into vault.credentials (user_name, password_hash) values ($1, $2)
		on conflict (user_name) do update set password_hash = excluded.password_hash, updated_at = now()`, userName, hash)
	if err != nil {
		return fmt.Errorf("store credential of %s: %w", userName, err)
	}
	return nil
}

// AddPassword stores userName's password hash unless a credential of
// theirs is stored, and reports whether it stored it.
func (v *Vault) AddPassword(ctx context.Context, userName, hash string) (bool, error) {
	if hash == "" {
		return false, domainerr.Invalid("password", "empty password hash")
	}
	tag, err := v.pool.Exec(ctx, `insert into vault.credentials (user_name, password_hash) values ($1, $2)
		on conflict (user_name) do nothing`, userName, hash)
	if err != nil {
		return false, fmt.Errorf("store credential of %s: %w", userName, err)
	}
	return tag.RowsAffected() == 1, nil
}

// ReplacePassword stores hash as userName's password hash if the stored
// one is still old, in one statement, so that a password set meanwhile
// is not overwritten.
func (v *Vault) ReplacePassword(ctx context.Context, userName, old, hash string) (bool, error) {
	tag, err := v.pool.Exec(ctx, `update vault.credentials set password_hash = $3, updated_at = now()
		where user_name = $1 and password_hash = $2`, userName, old, hash)
	if err != nil {
		return false, fmt.Errorf("replace credential of %s: %w", userName, err)
	}
	return tag.RowsAffected() == 1, nil
}

// TokenUsed records that API token id was last used at (never moving it
// back); it implements commands.TokenUse.
func (v *Vault) TokenUsed(ctx context.Context, id string, at time.Time) error {
	_, err := v.pool.Exec(ctx, `insert into vault.api_token_use (token_id, last_used_at) values ($1, $2)
		on conflict (token_id) do update set last_used_at = greatest(api_token_use.last_used_at, excluded.last_used_at)`, id, at.UTC())
	if err != nil {
		return fmt.Errorf("record use of api token %s: %w", id, err)
	}
	return nil
}
