package events

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// chainMetaCases are metadata texts the in-place scan decodes, and texts it
// must leave to json.Unmarshal.
var chainMetaCases = []struct {
	name    string
	raw     string
	scanned bool // decoded in place
}{
	{"sealed", `{"actor":"user:a","host":"h","prevHash":"ab12","hash":"cd34"}`, true},
	{"every field", `{"actor":"a","correlationId":"c","causationId":"k","host":"h","prevHash":"p","hash":"x"}`, true},
	{"white space", " \t\n{ \"actor\" :\r\n\"a\" , \"hash\": \"x\" }\n", true},
	{"imported", `{"actor":"import:hydra","importedFrom":"hydra","source":"builds:7","occurredAt":"2021-05-01T10:00:00Z","hash":"x"}`, true},
	{"empty object", `{}`, true},
	{"empty object with space", ` { } `, true},
	{"empty value", `{"actor":"","hash":"x"}`, true},
	{"escaped value", `{"actor":"user:\"a\"","hash":"x"}`, false},
	{"unicode escape", `{"actor":"\u003cadmin\u003e","hash":"x"}`, false},
	{"non-ASCII value", `{"actor":"user:jürgen","hash":"x"}`, false},
	{"key in other case", `{"Actor":"a","hash":"x"}`, false},
	{"key in other case after the key", `{"actor":"a","ACTOR":"b"}`, false},
	{"repeated key", `{"hash":"x","hash":"y"}`, false},
	{"null value", `{"actor":"a","actor":null}`, false},
	{"unknown key", `{"actor":"a","extra":{"n":[1,2]}}`, false},
	{"number value", `{"actor":5}`, false},
	{"not an object", `["actor","a"]`, false},
	{"string", `"actor"`, false},
	{"trailing comma", `{"actor":"a",}`, false},
	{"missing colon", `{"actor" "a"}`, false},
	{"unterminated", `{"actor":"a"`, false},
	{"unterminated string", `{"actor":"a`, false},
	{"trailing text", `{"actor":"a"} x`, false},
	{"two objects", `{}{}`, false},
	{"control character", "{\"actor\":\"a\tb\"}", false},
	{"empty", ``, false},
}

func TestDecodeChainMetaMatchesUnmarshal(t *testing.T) {
	for _, tc := range chainMetaCases {
		t.Run(tc.name, func(t *testing.T) {
			_, scanned := scanChainMeta([]byte(tc.raw))
			require.Equal(t, tc.scanned, scanned)
			requireDecodesAsUnmarshal(t, []byte(tc.raw))
		})
	}
}

// FuzzDecodeChainMeta checks decodeChainMeta against json.Unmarshal.
func FuzzDecodeChainMeta(f *testing.F) {
	for _, tc := range chainMetaCases {
		f.Add([]byte(tc.raw))
	}
	f.Fuzz(requireDecodesAsUnmarshal)
}

// requireDecodesAsUnmarshal checks that decodeChainMeta and ParseMetadata
// give what json.Unmarshal into a Metadata gives, error or fields.
func requireDecodesAsUnmarshal(t *testing.T, raw []byte) {
	var want Metadata
	wantErr := json.Unmarshal(raw, &want)
	got, err := decodeChainMeta(raw)
	if wantErr != nil {
		require.Error(t, err, "json.Unmarshal fails with %v", wantErr)
		_, err = ParseMetadata(raw)
		require.Error(t, err, "json.Unmarshal fails with %v", wantErr)
		return
	}
	require.NoError(t, err)
	require.Equal(t, want, got.metadata())
	parsed, err := ParseMetadata(raw)
	require.NoError(t, err)
	require.Equal(t, want, parsed)
}
