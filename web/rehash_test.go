package web_test

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/argon2"

	"buildledger/commands"
	"buildledger/domain/password"
	"buildledger/domain/streams"
)

// hydraHashes are the hashes a Hydra import brings along for the
// password "hydra-password": the hex SHA-1 (Hydra before argon2), an
// argon2id PHC string with Hydra's 16-byte key, and argon2id of the hex
// SHA-1 (what Hydra made of SHA-1 hashes set through its API).
func hydraHashes(pw string) map[string]string {
	sum := sha1.Sum([]byte(pw))
	sha := hex.EncodeToString(sum[:])
	phc := func(secret string) string {
		salt := []byte("hydrasalt1234567")
		key := argon2.IDKey([]byte(secret), salt, 1, 64, 1, 16)
		b64 := base64.RawStdEncoding
		return fmt.Sprintf("$argon2id$v=19$m=64,t=1,p=1$%s$%s", b64.EncodeToString(salt), b64.EncodeToString(key))
	}
	return map[string]string{"sha1": sha, "argon2": phc(pw), "argon2-of-sha1": phc(sha)}
}

// TestLoginRehashesHydraHashes: a user imported with a Hydra hash signs
// in with their password, and that first login replaces the hash in the
// vault by an argon2id hash made with today's parameters, as Hydra's
// check_password does. No event records it (the hash never enters the
// log, and the password is the same, so sessions stay); a wrong password
// changes nothing.
func TestLoginRehashesHydraHashes(t *testing.T) {
	e := newEnv(t, envOpts{})
	const pw = "hydra-password"
	for name, hash := range hydraHashes(pw) {
		t.Run(name, func(t *testing.T) {
			userName := "imported_" + strings.ReplaceAll(name, "-", "")
			_, err := e.h.CreateUser(e.ctx, e.md(), commands.CreateUser{UserName: userName,
				EmailAddress: userName + "@example.org", PasswordHash: hash})
			require.NoError(t, err)
			e.catchUp()
			stored := func() string {
				var h string
				require.NoError(t, e.pool.QueryRow(e.ctx, `select password_hash from vault.credentials where user_name = $1`,
					userName).Scan(&h))
				return h
			}
			events := func() int {
				evs, err := e.store.ReadStream(e.ctx, streams.User(userName), 0, 100)
				require.NoError(t, err)
				return len(evs)
			}
			before := events()

			res := e.anon().do("POST", "/login", map[string]string{"username": userName, "password": "wrong-password"})
			require.Equal(t, http.StatusForbidden, res.code)
			require.Equal(t, hash, stored(), "a failed login keeps the hash")

			res = e.anon().do("POST", "/login", map[string]string{"username": userName, "password": pw})
			require.Equal(t, http.StatusFound, res.code, res.body)
			now := stored()
			require.NotEqual(t, hash, now)
			require.True(t, strings.HasPrefix(now, "$argon2id$v=19$m=19456,t=2,p=1$"), now)
			ok, rehash, err := password.Check(pw, now, password.DefaultParams)
			require.NoError(t, err)
			require.True(t, ok)
			require.False(t, rehash, "today's hash needs no other")
			require.Equal(t, before, events(), "no event")
			var inLog int
			require.NoError(t, e.pool.QueryRow(e.ctx, `select count(*) from ledger.events where data::text like '%' || $1 || '%'
				or data::text like '%' || $2 || '%'`, hash, now).Scan(&inLog))
			require.Zero(t, inLog, "neither hash is in the log")

			res = e.anon().do("POST", "/login", map[string]string{"username": userName, "password": pw})
			require.Equal(t, http.StatusFound, res.code, "the new hash verifies")
			require.Equal(t, now, stored(), "and is kept")
		})
	}
}

// TestRehashKeepsAPasswordChangedMeanwhile: the rehash replaces only the
// hash the login verified, so a password set between the verification
// and the rehash stays.
func TestRehashKeepsAPasswordChangedMeanwhile(t *testing.T) {
	e := newEnv(t, envOpts{})
	old := hydraHashes("hydra-password")["sha1"]
	_, err := e.h.CreateUser(e.ctx, e.md(), commands.CreateUser{UserName: "racer", EmailAddress: "racer@example.org",
		PasswordHash: old})
	require.NoError(t, err)
	changed, err := password.Hash("changed-meanwhile", fastHash)
	require.NoError(t, err)
	_, err = e.h.UpdateUser(e.ctx, e.md(), commands.UpdateUser{UserName: "racer", PasswordHash: changed})
	require.NoError(t, err)
	rehashed, err := password.Hash("hydra-password", fastHash)
	require.NoError(t, err)
	ok, err := e.h.RehashPassword(e.ctx, commands.RehashPassword{UserName: "racer", Old: old, New: rehashed})
	require.NoError(t, err)
	require.False(t, ok)
	var h string
	require.NoError(t, e.pool.QueryRow(e.ctx, `select password_hash from vault.credentials where user_name = 'racer'`).Scan(&h))
	require.Equal(t, changed, h)
	_, err = e.h.RehashPassword(e.ctx, commands.RehashPassword{UserName: "racer", Old: changed, New: "not a hash"})
	require.Error(t, err, "only a hash is stored")
}
