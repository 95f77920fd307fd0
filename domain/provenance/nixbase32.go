package provenance

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// nixBase32Alphabet is Nix's base32 alphabet (no e, o, u, t).
const nixBase32Alphabet = "0123456789abcdfghijklmnpqrsvwxyz"

// sha256Size is the length of a SHA-256 digest in bytes.
const sha256Size = 32

// SHA256Hex returns the lowercase hex digest of a Nix sha256 hash, as
// in-toto digests are written. It takes the forms Nix prints a NAR hash
// in: "sha256:" with nixbase32 (what narinfos and the ledger record),
// base16 or base64, and SRI ("sha256-" base64).
func SHA256Hex(h string) (string, error) {
	var (
		b   []byte
		err error
	)
	switch {
	case strings.HasPrefix(h, "sha256-"):
		b, err = base64.StdEncoding.DecodeString(h[len("sha256-"):])
	case strings.HasPrefix(h, "sha256:"):
		v := h[len("sha256:"):]
		switch len(v) {
		case hex.EncodedLen(sha256Size):
			b, err = hex.DecodeString(v)
		case base64.StdEncoding.EncodedLen(sha256Size):
			b, err = base64.StdEncoding.DecodeString(v)
		default:
			b, err = decodeNixBase32(v)
		}
	default:
		return "", fmt.Errorf("nar hash %q: want sha256:<nixbase32|hex> or sha256-<base64>", h)
	}
	if err != nil {
		return "", fmt.Errorf("nar hash %q: %w", h, err)
	}
	if len(b) != sha256Size {
		return "", fmt.Errorf("nar hash %q: %d bytes, want %d", h, len(b), sha256Size)
	}
	return hex.EncodeToString(b), nil
}

// decodeNixBase32 decodes Nix's base32, which reads the string from its
// last character and packs 5 bits at a time from the least significant
// bit of the first byte. Bits beyond the last byte must be zero, so that
// every digest has exactly one encoding.
func decodeNixBase32(s string) ([]byte, error) {
	n := len(s) * 5 / 8
	if (n*8+4)/5 != len(s) {
		return nil, fmt.Errorf("nixbase32: length %d is no encoded length", len(s))
	}
	out := make([]byte, n)
	for i := range len(s) {
		c := s[len(s)-1-i]
		d := strings.IndexByte(nixBase32Alphabet, c)
		if d < 0 {
			return nil, fmt.Errorf("nixbase32: invalid character %q", c)
		}
		bit := i * 5
		j, k := bit/8, uint(bit%8)
		v := uint16(d) << k
		if j < n {
			out[j] |= byte(v)
		} else if v != 0 {
			return nil, fmt.Errorf("nixbase32: non-zero padding bits")
		}
		if hi := byte(v >> 8); j+1 < n {
			out[j+1] |= hi
		} else if hi != 0 {
			return nil, fmt.Errorf("nixbase32: non-zero padding bits")
		}
	}
	return out, nil
}
