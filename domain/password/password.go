// Package password hashes and verifies passwords with argon2id, stored as
// PHC strings: $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<key>
// with salt and key in unpadded standard base64.
package password

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// ErrMalformed means a stored hash is not an argon2id PHC string this
// package can check.
var ErrMalformed = errors.New("malformed argon2id hash")

// Params are the argon2id cost parameters.
type Params struct {
	// Memory is in KiB.
	Memory  uint32
	Time    uint32
	Threads uint8
	SaltLen uint32
	KeyLen  uint32
}

// DefaultParams follow OWASP's argon2id recommendation (19 MiB, 2 passes,
// 1 lane).
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

var b64 = base64.RawStdEncoding

// Hash returns the PHC string of password with a fresh random salt.
func Hash(password string, p Params) (string, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("read salt: %w", err)
	}

	return HashWithSalt(password, salt, p), nil
}

// HashWithSalt returns the PHC string of password with the given salt.
func HashWithSalt(password string, salt []byte, p Params) string {
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)

	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Verify reports whether password matches encoded, an argon2id PHC
// string or one of Hydra's formats (see Check). It returns an error
// wrapping ErrMalformed if encoded is in none of them.
func Verify(password, encoded string) (bool, error) {
	ok, _, err := Check(password, encoded, DefaultParams)
	return ok, err
}

// NeedsRehash reports whether encoded was made with parameters other than
// p (or cannot be parsed), so that a successful login should store a new
// hash.
func NeedsRehash(encoded string, p Params) bool {
	q, salt, key, err := Parse(encoded)
	if err != nil {
		return true
	}

	return q.Memory != p.Memory || q.Time != p.Time || q.Threads != p.Threads ||
		uint32(len(salt)) != p.SaltLen || uint32(len(key)) != p.KeyLen
}

// Parse splits a PHC string into its parameters, salt and key.
func Parse(encoded string) (Params, []byte, []byte, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Params{}, nil, nil, fmt.Errorf("%w: want $argon2id$v=..$m=..,t=..,p=..$salt$key", ErrMalformed)
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return Params{}, nil, nil, fmt.Errorf("%w: version %q", ErrMalformed, parts[2])
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: parameters %q: %v", ErrMalformed, parts[3], err)
	}
	if p.Memory == 0 || p.Time == 0 || p.Threads == 0 || p.Memory > 4<<20 {
		return Params{}, nil, nil, fmt.Errorf("%w: parameters %q out of range", ErrMalformed, parts[3])
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: salt: %v", ErrMalformed, err)
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 4 {
		return Params{}, nil, nil, fmt.Errorf("%w: key: %v", ErrMalformed, err)
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))

	return p, salt, key, nil
}
