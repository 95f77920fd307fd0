package hydraimport

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"
)

// copyBytes is a binary COPY stream of rows of (int4, text) fields; a
// nil field is NULL.
func copyBytes(rows ...[]*string) []byte {
	var b bytes.Buffer
	b.Write(copySignature)
	b.Write(make([]byte, 8))
	for _, r := range rows {
		_ = binary.Write(&b, binary.BigEndian, int16(len(r)))
		for _, f := range r {
			if f == nil {
				_ = binary.Write(&b, binary.BigEndian, int32(-1))
				continue
			}
			_ = binary.Write(&b, binary.BigEndian, int32(len(*f)))
			b.WriteString(*f)
		}
	}
	_ = binary.Write(&b, binary.BigEndian, int16(-1))
	return b.Bytes()
}

func ptr(s string) *string { return &s }

// decodeAll reads every row of a stream of (int4, text) rows.
func decodeAll(data []byte) ([]string, error) {
	r := newCopyRows("t", []uint32{pgtype.Int4OID, pgtype.TextOID}, bytes.NewReader(data), func() error { return nil })
	if err := r.header(); err != nil {
		return nil, err
	}
	var out []string
	for {
		ok, err := r.next()
		if err != nil || !ok {
			return out, err
		}
		var (
			id   int32
			text *string
		)
		if err := r.scan(&id, &text); err != nil {
			return out, err
		}
		out = append(out, string(rune('0'+id%10))+":"+str(text))
	}
}

func TestCopyRows(t *testing.T) {
	one := string([]byte{0, 0, 0, 1})
	for _, tc := range []struct {
		name    string
		data    []byte
		want    []string
		wantErr string
	}{
		{name: "rows and a NULL", data: copyBytes([]*string{ptr(one), ptr("ünï")}, []*string{ptr(one), nil}), want: []string{"1:ünï", "1:"}},
		{name: "no rows", data: copyBytes(), want: nil},
		{name: "not COPY", data: []byte("PGCOPY\nxxxxxxxxxxxxxxxxxxx"), wantErr: "not a binary COPY stream"},
		{name: "cut short", data: copyBytes([]*string{ptr(one), ptr("abc")})[:25], wantErr: "ended early"},
		{name: "wrong width", data: copyBytes([]*string{ptr(one)}), wantErr: "a row of 1 fields, want 2"},
		{name: "bad int4", data: copyBytes([]*string{ptr("12"), ptr("x")}), wantErr: "column 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeAll(tc.data)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

// FuzzCopyRows feeds the decoder arbitrary streams: it returns rows or an
// error, never panics, and never makes a field larger than its input.
func FuzzCopyRows(f *testing.F) {
	one := string([]byte{0, 0, 0, 1})
	f.Add(copyBytes([]*string{ptr(one), ptr("ünï")}, []*string{ptr(one), nil}))
	f.Add(copyBytes())
	f.Add(append(copyBytes()[:19], 0, 2, 0x7f, 0xff, 0xff, 0xff))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = decodeAll(data)
	})
}
