package nixsupport_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"

	"buildledger/domain/nixsupport"
)

const out = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello-1.0"
const doc = "/nix/store/zyxwvsrqpnmlkjihgfdcba9876543210-hello-1.0-doc"

func TestParseProducts(t *testing.T) {
	tests := []struct {
		name   string
		line   string
		want   *nixsupport.Product // nil: the line is skipped
		reason string              // part of the skip reason
	}{
		{"file", "file binary-dist " + out + "/bin/hello",
			&nixsupport.Product{Type: "file", Subtype: "binary-dist", Path: out + "/bin/hello", Name: "hello", Output: out}, ""},
		{"default path", "doc manual " + out + "/share/doc manual.html",
			&nixsupport.Product{Type: "doc", Subtype: "manual", Path: out + "/share/doc", DefaultPath: "manual.html", Name: "doc", Output: out}, ""},
		{"quoted with spaces", `report coverage "` + out + `/my report" index.html`,
			&nixsupport.Product{Type: "report", Subtype: "coverage", Path: out + "/my report", DefaultPath: "index.html", Name: "my report", Output: out}, ""},
		{"quoted with tab and angle brackets", "file x \"" + out + "/a\t<b>\"",
			&nixsupport.Product{Type: "file", Subtype: "x", Path: out + "/a\t<b>", Output: out}, ""},
		{"output root has no name", "nix-build none " + out,
			&nixsupport.Product{Type: "nix-build", Subtype: "none", Path: out, Output: out}, ""},
		{"second output", "file iso " + doc + "/x.iso",
			&nixsupport.Product{Type: "file", Subtype: "iso", Path: doc + "/x.iso", Name: "x.iso", Output: doc}, ""},
		{"cleaned path", "file x " + out + "//a/./b/../c",
			&nixsupport.Product{Type: "file", Subtype: "x", Path: out + "/a/c", Name: "c", Output: out}, ""},
		{"name with odd characters is blanked", "file x " + out + "/a+b",
			&nixsupport.Product{Type: "file", Subtype: "x", Path: out + "/a+b", Output: out}, ""},
		{"name with allowed characters", `file x "` + out + `/a.b@c:d_e f-g"`,
			&nixsupport.Product{Type: "file", Subtype: "x", Path: out + "/a.b@c:d_e f-g", Name: "a.b@c:d_e f-g", Output: out}, ""},
		{"surrounding white space", "  \tfile  x\t" + out + "/f \r",
			&nixsupport.Product{Type: "file", Subtype: "x", Path: out + "/f", Name: "f", Output: out}, ""},
		{"default path with quote is kept", "doc x " + out + " a\"b",
			&nixsupport.Product{Type: "doc", Subtype: "x", Path: out, DefaultPath: `a"b`, Output: out}, ""},
		// Hydra's queue runner ignores what follows the default path.
		{"extra field is ignored", "doc x " + out + " index.html more",
			&nixsupport.Product{Type: "doc", Subtype: "x", Path: out, DefaultPath: "index.html", Output: out}, ""},
		{"extra fields after a quoted path are ignored", `report coverage "` + out + `/my report" index.html  a	b "c d"`,
			&nixsupport.Product{Type: "report", Subtype: "coverage", Path: out + "/my report", DefaultPath: "index.html", Name: "my report", Output: out}, ""},
		{"an ignored field may hold anything", "file x " + out + "/f index.html /etc/passwd <evil> ../..",
			&nixsupport.Product{Type: "file", Subtype: "x", Path: out + "/f", DefaultPath: "index.html", Name: "f", Output: out}, ""},

		{"too few fields", "file " + out, nil, "expected TYPE SUBTYPE PATH"},
		{"one field", "file", nil, "expected TYPE SUBTYPE PATH"},
		{"bad type", "fi/le x " + out, nil, "type"},
		{"bad subtype", "file x.y " + out, nil, "subtype"},
		{"relative path", "file x nix/store/foo", nil, "not absolute"},
		{"other store path", "file x /nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-evil/f", nil, "outside"},
		{"prefix is not containment", "file x " + out + "-evil/f", nil, "outside"},
		{"dot-dot escape", "file x " + out + "/../aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-evil", nil, "outside"},
		{"etc", "file x /etc/passwd", nil, "outside"},
		{"unterminated quote", `file x "` + out + `/a b`, nil, "closing quote"},
		{"empty quote", `file x "" y`, nil, "empty"},
		{"no space after quote", `file x "` + out + `/a"b`, nil, "white space after"},
		{"quote in bare path", "file x " + out + `/a"b`, nil, `'"'`},
		{"angle in bare path", "file x " + out + "/a<b", nil, `'<'`},
		{"angle in default", "doc x " + out + " <a>", nil, "default path"},
		{"absolute default", "doc x " + out + " /etc/passwd", nil, "leaves the product"},
		{"climbing default", "doc x " + out + " a/../../b", nil, "leaves the product"},
		{"comment", "# file x " + out, nil, "type"},
		{"invalid utf-8", "file x " + out + "/\xff", nil, "UTF-8"},
		{"nul", "file x " + out + "/a\x00b", nil, "NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, skipped, err := nixsupport.ParseProducts(strings.NewReader("\n"+tt.line+"\n"), []string{out, doc + "/"}, nixsupport.Limits{})
			require.NoError(t, err)
			if tt.want == nil {
				require.Empty(t, ps)
				require.Len(t, skipped, 1)
				require.Equal(t, 2, skipped[0].Line)
				require.Contains(t, skipped[0].Reason, tt.reason)
				return
			}
			require.Empty(t, skipped)
			tt.want.Line = 2
			require.Equal(t, []nixsupport.Product{*tt.want}, ps)
		})
	}
}

func TestParseProductsKeepsGoodLinesAroundBadOnes(t *testing.T) {
	in := strings.Join([]string{
		"file a " + out + "/a",
		"garbage",
		"",
		"   ",
		"file b /etc/shadow",
		"file c " + out + "/c",
	}, "\n") // no final newline
	ps, skipped, err := nixsupport.ParseProducts(strings.NewReader(in), []string{out}, nixsupport.Limits{})
	require.NoError(t, err)
	require.Len(t, ps, 2)
	require.Equal(t, []int{1, 6}, []int{ps[0].Line, ps[1].Line})
	require.Len(t, skipped, 2)
	require.Equal(t, []int{2, 5}, []int{skipped[0].Line, skipped[1].Line})
	require.Equal(t, "garbage", skipped[0].Text)
}

func TestParseProductsNoOutputsRejectsEverything(t *testing.T) {
	ps, skipped, err := nixsupport.ParseProducts(strings.NewReader("file a "+out+"/a\n"), nil, nixsupport.Limits{})
	require.NoError(t, err)
	require.Empty(t, ps)
	require.Len(t, skipped, 1)
}

func TestParseProductsSizeLimit(t *testing.T) {
	good := "file a " + out + "/a\n"
	// 10 MB of garbage after one good line: reading stops at the limit.
	r := io.MultiReader(strings.NewReader(good), &endless{b: 'x'})
	ps, _, err := nixsupport.ParseProducts(r, []string{out}, nixsupport.Limits{MaxBytes: 10 << 20})
	require.ErrorIs(t, err, nixsupport.ErrTooLarge)
	require.Contains(t, err.Error(), "hydra-build-products")
	require.Len(t, ps, 1)

	// A line cut by the limit is dropped, not parsed half.
	in := good + "file b " + out + "/bbbbbbbbbbbbbb\n"
	ps, skipped, err := nixsupport.ParseProducts(strings.NewReader(in), []string{out}, nixsupport.Limits{MaxBytes: int64(len(good) + 20)})
	require.ErrorIs(t, err, nixsupport.ErrTooLarge)
	require.Len(t, ps, 1)
	require.Empty(t, skipped)

	// Exactly at the limit is fine.
	ps, _, err = nixsupport.ParseProducts(strings.NewReader(in), []string{out}, nixsupport.Limits{MaxBytes: int64(len(in))})
	require.NoError(t, err)
	require.Len(t, ps, 2)
}

func TestParseProductsLongLine(t *testing.T) {
	in := "file a " + out + "/" + strings.Repeat("a", 300) + "\nfile b " + out + "/b\n"
	ps, skipped, err := nixsupport.ParseProducts(strings.NewReader(in), []string{out}, nixsupport.Limits{MaxLineBytes: 100})
	require.NoError(t, err)
	require.Len(t, ps, 1)
	require.Equal(t, "b", ps[0].Name)
	require.Len(t, skipped, 1)
	require.Equal(t, 1, skipped[0].Line)
	require.Contains(t, skipped[0].Reason, "longer than 100 bytes")
	require.LessOrEqual(t, len(skipped[0].Text), 200)
}

func TestParseProductsReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	r := io.MultiReader(strings.NewReader("file a "+out+"/a\nfile b "+out+"/b"), iotest.ErrReader(boom))
	ps, _, err := nixsupport.ParseProducts(r, []string{out}, nixsupport.Limits{})
	require.ErrorIs(t, err, boom)
	require.Contains(t, err.Error(), "read line 2")
	require.Len(t, ps, 1, "the unterminated line before the error is dropped")
}

func TestImplicitProduct(t *testing.T) {
	tests := []struct {
		output, path string
		want         nixsupport.Product
	}{
		{"out", out, nixsupport.Product{Type: "nix-build", Path: out, Name: "hello-1.0", Output: out}},
		{"doc", doc, nixsupport.Product{Type: "nix-build", Subtype: "doc", Path: doc, Name: "hello-1.0-doc", Output: doc}},
		{"out", "/tmp/weird/", nixsupport.Product{Type: "nix-build", Path: "/tmp/weird", Name: "weird", Output: "/tmp/weird"}},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, nixsupport.ImplicitProduct(tt.output, tt.path))
	}
}

func TestProductEvent(t *testing.T) {
	p := nixsupport.Product{Type: "file", Subtype: "iso", Path: out + "/x.iso", Name: "x.iso", DefaultPath: "d", FileSize: 3, SHA256: "ab", Line: 4, Output: out}
	ev := p.Event(7, 2)
	require.Equal(t, int64(7), ev.BuildID)
	require.Equal(t, 2, ev.ProductNr)
	require.Equal(t, "file", ev.Type)
	require.Equal(t, "iso", ev.Subtype)
	require.Equal(t, out+"/x.iso", ev.Path)
	require.Equal(t, "x.iso", ev.Name)
	require.Equal(t, "d", ev.DefaultPath)
	require.Equal(t, int64(3), ev.FileSize)
	require.Equal(t, "ab", ev.SHA256)
}

// endless is a reader that never ends.
type endless struct{ b byte }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = e.b
	}
	return len(p), nil
}
