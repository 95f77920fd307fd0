package password

import (
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Hydra's stored hashes, which an import brings along (Hydra's
// Users.password): the hex SHA-1 of the password (Hydra before argon2),
// an argon2 PHC string of the password, or an argon2 PHC string of the
// hex SHA-1 of the password (what Hydra made of SHA-1 hashes set
// through its API). Hydra's argon2 is argon2id with 16-byte keys; argon2i
// is accepted too, as older libraries made it.

// Check verifies password against encoded, in any format this package
// knows, and tells whether a successful login should store a new hash
// made with p: always for Hydra's formats, and for argon2id made with
// other parameters. err wraps ErrMalformed when encoded is in no known
// format.
func Check(password, encoded string, p Params) (ok, rehash bool, err error) {
	if isSHA1Hex(encoded) {
		sum := sha1.Sum([]byte(password))
		want := hex.EncodeToString(sum[:])
		return subtle.ConstantTimeCompare([]byte(want), []byte(encoded)) == 1, true, nil
	}
	variant, q, salt, key, err := parseArgon2(encoded)
	if err != nil {
		return false, false, err
	}
	if argon2Matches(variant, password, q, salt, key) {
		return true, variant != "argon2id" || NeedsRehash(encoded, p), nil
	}
	sum := sha1.Sum([]byte(password))
	if argon2Matches(variant, hex.EncodeToString(sum[:]), q, salt, key) {
		return true, true, nil
	}
	return false, false, nil
}

// Known reports whether encoded is a hash in a format Check verifies.
// It is how commands tell a hash from a password sent in its place.
func Known(encoded string) bool {
	if isSHA1Hex(encoded) {
		return true
	}
	_, _, _, _, err := parseArgon2(encoded)
	return err == nil
}

func argon2Matches(variant, password string, p Params, salt, key []byte) bool {
	var got []byte
	switch variant {
	case "argon2id":
		got = argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	case "argon2i":
		got = argon2.Key([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	default:
		return false
	}
	return subtle.ConstantTimeCompare(got, key) == 1
}

// parseArgon2 parses an argon2id or argon2i PHC string.
func parseArgon2(encoded string) (variant string, p Params, salt, key []byte, err error) {
	variant, rest, ok := strings.Cut(strings.TrimPrefix(encoded, "$"), "$")
	if !ok || !strings.HasPrefix(encoded, "$") || (variant != "argon2id" && variant != "argon2i") {
		return "", Params{}, nil, nil, fmt.Errorf("%w: want an argon2id or argon2i PHC string or a hex SHA-1", ErrMalformed)
	}
	p, salt, key, err = Parse("$argon2id$" + rest)
	return variant, p, salt, key, err
}

func isSHA1Hex(s string) bool {
	if len(s) != 2*sha1.Size {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
