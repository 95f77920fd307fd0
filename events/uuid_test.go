package events_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/events"
)

func TestParseUUID(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want [16]byte
		ok   bool
	}{
		{"00112233-4455-6677-8899-aabbccddeeff", [16]byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}, true},
		{"00000000-0000-0000-0000-000000000000", [16]byte{}, true},
		{"00112233-4455-6677-8899-AABBCCDDEEFF", [16]byte{}, false}, // not canonical
		{"0011223344556677-8899-aabbccddeeff", [16]byte{}, false},
		{"00112233-4455-6677-8899-aabbccddeef", [16]byte{}, false},
		{"x", [16]byte{}, false},
		{"", [16]byte{}, false},
	} {
		got, ok := events.ParseUUID(tc.in)
		require.Equal(t, tc.ok, ok, tc.in)
		require.Equal(t, tc.want, got, tc.in)
	}
	id := events.NewID(time.Now())
	b, ok := events.ParseUUID(id)
	require.True(t, ok)
	require.Equal(t, id, string(events.AppendUUID(nil, b)))
}

// FuzzParseUUID checks that ParseUUID takes exactly what IsUUID accepts,
// and gives back bytes that AppendUUID writes as the same text.
func FuzzParseUUID(f *testing.F) {
	f.Add("00112233-4455-6677-8899-aabbccddeeff")
	f.Add("00112233-4455-6677-8899-aabbccddeeFF")
	f.Add("g0112233-4455-6677-8899-aabbccddeeff")
	f.Fuzz(func(t *testing.T, s string) {
		b, ok := events.ParseUUID(s)
		if ok != events.IsUUID(s) {
			t.Fatalf("ParseUUID(%q) ok = %v, IsUUID = %v", s, ok, !ok)
		}
		if ok && string(events.AppendUUID(nil, b)) != s {
			t.Fatalf("ParseUUID(%q) = %x, which formats as %s", s, b, events.AppendUUID(nil, b))
		}
	})
}

func TestNameID(t *testing.T) {
	// The RFC 9562 example: "www.example.com" in the DNS namespace.
	id, ok := events.NameID("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "www.example.com")
	require.True(t, ok)
	require.Equal(t, "2ed6657d-e927-568b-95e1-2665a8aea6a2", id)
	again, _ := events.NameID("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "www.example.com")
	require.Equal(t, id, again)
	other, _ := events.NameID("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "www.example.org")
	require.NotEqual(t, id, other)
	_, ok = events.NameID("not a uuid", "x")
	require.False(t, ok)
}

func TestOrderedNameID(t *testing.T) {
	const ns = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
	tests := []struct {
		name    string
		ordinal uint64
		text    string
		ok      bool
	}{
		{"small ordinal", 1, "builds:1/BuildQueued", true},
		{"largest ordinal", 1<<48 - 1, "x", true},
		{"ordinal too large", 1 << 48, "x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, ok := events.OrderedNameID(ns, tt.ordinal, tt.text)
			require.Equal(t, tt.ok, ok)
			if !ok {
				return
			}
			again, _ := events.OrderedNameID(ns, tt.ordinal, tt.text)
			require.Equal(t, id, again)
			u, ok := events.ParseUUID(id)
			require.True(t, ok)
			require.Equal(t, byte(0x80), u[6]&0xf0, "version 8")
			require.Equal(t, byte(0x80), u[8]&0xc0, "RFC 9562 variant")
		})
	}
	_, ok := events.OrderedNameID("not a uuid", 1, "x")
	require.False(t, ok)
	// Ids sort by their ordinal first, whatever their names.
	a, _ := events.OrderedNameID(ns, 255, "zzz")
	b, _ := events.OrderedNameID(ns, 256, "aaa")
	require.Less(t, a, b)
	other, _ := events.OrderedNameID(ns, 255, "zzy")
	require.NotEqual(t, a, other)
}
