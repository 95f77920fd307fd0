package events

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"time"
)

// NewID returns a new UUID version 7: time-ordered, so ids of events appended
// together sort together.
func NewID(now time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[6:]) // crypto/rand.Read never fails on supported platforms.
	ms := uint64(now.UnixMilli())
	for i := 0; i < 6; i++ {
		b[i] = byte(ms >> (40 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b)
}

// NameID returns the UUID version 5 (RFC 9562) of name in namespace, a
// UUID in canonical form: the same pair always gives the same id. An
// importer derives each event's id from the row it came from, so that
// appending it again is a no-op (a repeated id is one); ok is false when
// namespace is not a UUID.
func NameID(namespace, name string) (id string, ok bool) {
	ns, ok := ParseUUID(namespace)
	if !ok {
		return "", false
	}
	h := sha1.New()
	h.Write(ns[:])
	h.Write([]byte(name))
	var b [16]byte
	copy(b[:], h.Sum(nil))
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b), true
}

// OrderedNameID is NameID for a name that comes with an ordinal, such as
// the id of the row it was made from: a UUID version 8 (RFC 9562's custom
// layout) whose first 48 bits are the ordinal, like version 7's
// timestamp, and whose other 74 free bits come from the SHA-1 of
// namespace and name. Ids of rows appended in order then land next to
// each other in the log's id index; version 5 ids land anywhere, and an
// import of millions of rows spent its time reading index pages back in.
// The same triple always gives the same id; ok is false when namespace is
// not a UUID or ordinal does not fit in 48 bits.
func OrderedNameID(namespace string, ordinal uint64, name string) (id string, ok bool) {
	ns, ok := ParseUUID(namespace)
	if !ok || ordinal >= 1<<48 {
		return "", false
	}
	h := sha1.New()
	h.Write(ns[:])
	h.Write([]byte(name))
	var b [16]byte
	copy(b[6:], h.Sum(nil))
	for i := 0; i < 6; i++ {
		b[i] = byte(ordinal >> (40 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x80
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b), true
}

func formatUUID(b [16]byte) string {
	var s [36]byte
	return string(AppendUUID(s[:0], b))
}

// AppendUUID appends the canonical lowercase 8-4-4-4-12 text of the UUID
// b to dst, as Postgres prints a uuid.
func AppendUUID(dst []byte, b [16]byte) []byte {
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return append(dst, s[:]...)
}

// IsUUID reports whether s is a UUID in canonical lowercase 8-4-4-4-12 form.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// ParseUUID returns the bytes of s, a UUID in the form IsUUID accepts; ok
// is false for any other s. A driver writes a [16]byte to a uuid column
// as it is, where a string must be parsed, and pgx does that only after
// its binary encoding of the string has failed with a formatted error.
func ParseUUID(s string) (b [16]byte, ok bool) {
	if !IsUUID(s) {
		return b, false
	}
	var digits [32]byte
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '-' {
			digits[n] = s[i]
			n++
		}
	}
	_, err := hex.Decode(b[:], digits[:])
	return b, err == nil
}
