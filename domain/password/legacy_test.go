package password

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/argon2"
)

func sha1Hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// hydraArgon2 makes a PHC string as Hydra's Crypt::Passphrase::Argon2
// does (16-byte key), for variant argon2id or argon2i.
func hydraArgon2(variant, pw string) string {
	salt := []byte("hydrasalt1234567")
	var key []byte
	if variant == "argon2i" {
		key = argon2.Key([]byte(pw), salt, 1, 64, 1, 16)
	} else {
		key = argon2.IDKey([]byte(pw), salt, 1, 64, 1, 16)
	}
	return fmt.Sprintf("$%s$v=19$m=64,t=1,p=1$%s$%s", variant, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// TestCheckHydraFormats: every format Hydra stores verifies the right
// password, refuses a wrong one, and asks for a rehash to argon2id.
func TestCheckHydraFormats(t *testing.T) {
	own, err := Hash("foobar", fast)
	require.NoError(t, err)
	for _, tc := range []struct {
		name    string
		encoded string
		rehash  bool
	}{
		{"SHA-1 hex", sha1Hex("foobar"), true},
		{"argon2id", hydraArgon2("argon2id", "foobar"), true},
		{"argon2i", hydraArgon2("argon2i", "foobar"), true},
		{"argon2id of SHA-1", hydraArgon2("argon2id", sha1Hex("foobar")), true},
		{"own argon2id", own, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.True(t, Known(tc.encoded))
			ok, rehash, err := Check("foobar", tc.encoded, fast)
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, tc.rehash, rehash)
			ok, _, err = Check("foobaz", tc.encoded, fast)
			require.NoError(t, err)
			require.False(t, ok)
			ok, err = Verify("foobar", tc.encoded)
			require.NoError(t, err)
			require.True(t, ok)
		})
	}
}

// TestCheckRefuses: the hex SHA-1 itself is not a password for a SHA-1
// hash, nor is the empty string for any, and text that is no hash is
// malformed, not a match. (For an argon2-of-SHA-1 hash the hex SHA-1 is
// the password argon2 was given: it verifies there, as in Hydra, until
// the first login rehashes it.)
func TestCheckRefuses(t *testing.T) {
	for _, enc := range []string{sha1Hex("foobar")} {
		for _, pw := range []string{sha1Hex("foobar"), "", "FOOBAR"} {
			ok, _, err := Check(pw, enc, fast)
			require.NoError(t, err)
			require.False(t, ok, "%q against %q", pw, enc)
		}
	}
	ok, _, err := Check("", hydraArgon2("argon2id", sha1Hex("foobar")), fast)
	require.NoError(t, err)
	require.False(t, ok)
	for _, enc := range []string{"foobar", "", "$argon2d$v=19$m=64,t=1,p=1$c2FsdA$a2V5a2V5", "$argon2i$"} {
		require.False(t, Known(enc), enc)
		_, _, err := Check("foobar", enc, fast)
		require.ErrorIs(t, err, ErrMalformed, enc)
	}
}
