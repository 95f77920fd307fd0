package password

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/argon2"
)

// fast keeps the tests quick; the format does not depend on the cost.
var fast = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashVerify(t *testing.T) {
	h, err := Hash("correct horse", fast)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$"), h)

	ok, err := Verify("correct horse", h)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = Verify("correct horsE", h)
	require.NoError(t, err)
	require.False(t, ok)

	h2, err := Hash("correct horse", fast)
	require.NoError(t, err)
	require.NotEqual(t, h, h2, "fresh salt each time")
}

// TestKnownAnswer pins the encoding against argon2.IDKey computed
// independently here, so that a change of the PHC layout is caught.
func TestKnownAnswer(t *testing.T) {
	salt := []byte("0123456789abcdef")
	h := HashWithSalt("pw", salt, fast)
	key := argon2.IDKey([]byte("pw"), salt, 1, 64, 1, 32)
	require.Equal(t, "$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$"+b64.EncodeToString(key), h)
	require.Len(t, hex.EncodeToString(key), 64)
}

func TestParseMalformed(t *testing.T) {
	for _, s := range []string{
		"",
		"hunter2",
		"$argon2d$v=19$m=64,t=1,p=1$c2FsdA$a2V5a2V5",
		"da39a3ee5e6b4b0d3255bfef95601890afd8070",
		"DA39A3EE5E6B4B0D3255BFEF95601890AFD80709",
		"$argon2id$v=16$m=64,t=1,p=1$c2FsdA$a2V5a2V5",
		"$argon2id$v=19$m=0,t=1,p=1$c2FsdA$a2V5a2V5",
		"$argon2id$v=19$m=64,t=1$c2FsdA$a2V5a2V5",
		"$argon2id$v=19$m=64,t=1,p=1$!!$a2V5a2V5",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdA$",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdA$a2V5a2V5",
	} {
		_, err := Verify("x", s)
		require.ErrorIs(t, err, ErrMalformed, s)
		require.True(t, NeedsRehash(s, fast), s)
	}
}

func TestNeedsRehash(t *testing.T) {
	h, err := Hash("pw", fast)
	require.NoError(t, err)
	require.False(t, NeedsRehash(h, fast))
	slower := fast
	slower.Time = 2
	require.True(t, NeedsRehash(h, slower))
}

func FuzzVerify(f *testing.F) {
	f.Add("pw", "$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$c2FsdHNhbHQ")
	f.Add("", "$argon2id$v=19$m=8,t=1,p=1$$AAAAAA")
	f.Fuzz(func(t *testing.T, pw, enc string) {
		if p, _, _, err := Parse(enc); err == nil && (p.Memory > 1024 || p.Time > 4) {
			t.Skip("too costly for a fuzz iteration")
		}
		_, _ = Verify(pw, enc)
	})
}
