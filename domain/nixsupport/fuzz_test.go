package nixsupport_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"path"
	"strconv"
	"strings"
	"testing"

	"buildledger/domain/nixsupport"
)

var fuzzLimits = nixsupport.Limits{MaxBytes: 4096, MaxLineBytes: 300}

func addSeeds(f *testing.F, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
}

func FuzzParseProducts(f *testing.F) {
	addSeeds(f,
		"file binary-dist "+out+"/bin/hello\n",
		"doc manual "+out+"/share/doc index.html\n",
		`report coverage "`+out+`/my report" index.html`+"\n",
		"nix-build none "+out+"\n\n  \n# x\n",
		"file x "+out+"/../evil\nfile x /etc/passwd\n",
		`file x "`+out+`/a"b`+"\r\n",
		"doc x "+out+" ../../x\n",
		"file x "+out+"/\xff\x00\n",
		"doc x "+out+"/share/doc index.html extra fields\n",
		`report x "`+out+`/a b" index.html "c d" /etc/passwd <e>`+"\n",
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, skipped, err := nixsupport.ParseProducts(bytes.NewReader(data), []string{out}, fuzzLimits)
		if err != nil {
			if !errors.Is(err, nixsupport.ErrTooLarge) || int64(len(data)) <= fuzzLimits.MaxBytes {
				t.Fatalf("unexpected error for %d bytes: %v", len(data), err)
			}
		} else if int64(len(data)) > fuzzLimits.MaxBytes {
			t.Fatalf("no error for %d bytes", len(data))
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		last := 0
		for _, p := range ps {
			checkProduct(t, p)
			if p.Line <= last || p.Line > lines {
				t.Fatalf("product line %d after %d, file has %d lines", p.Line, last, lines)
			}
			last = p.Line
			// Written back with a quoted path, the product reads the same.
			line := fmt.Sprintf("%s %s \"%s\" %s", p.Type, p.Subtype, p.Path, p.DefaultPath)
			again, sk, err := nixsupport.ParseProducts(strings.NewReader(line), []string{out}, nixsupport.Limits{})
			if err != nil || len(sk) != 0 || len(again) != 1 {
				t.Fatalf("re-reading %q: %v %v %v", line, again, sk, err)
			}
			again[0].Line = p.Line
			if again[0] != p {
				t.Fatalf("re-read %+v, want %+v", again[0], p)
			}
		}
		for _, s := range skipped {
			if s.Line < 1 || s.Line > lines || s.Reason == "" {
				t.Fatalf("bad skipped %+v", s)
			}
		}
	})
}

func checkProduct(t *testing.T, p nixsupport.Product) {
	t.Helper()
	if p.Output != out || (p.Path != out && !strings.HasPrefix(p.Path, out+"/")) || path.Clean(p.Path) != p.Path {
		t.Fatalf("product path %q escapes %q", p.Path, out)
	}
	for _, s := range []string{p.Type, p.Subtype} {
		if s == "" || strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != "" {
			t.Fatalf("bad type or subtype %q", s)
		}
	}
	if strings.Trim(p.Name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.@:_ -") != "" {
		t.Fatalf("bad name %q", p.Name)
	}
	if d := p.DefaultPath; d != "" {
		c := path.Clean(d)
		if strings.ContainsAny(d, "<> \t") || path.IsAbs(d) || c == ".." || strings.HasPrefix(c, "../") {
			t.Fatalf("bad default path %q", d)
		}
	}
}

func FuzzParseMetrics(f *testing.F) {
	addSeeds(f,
		"lineCoverage 18 %\n",
		"a 1\nb 2 s\na 3\n",
		"x 1e400\ny nan\nz 0x10\n",
		"a.b_c-d -1.5e-3 ms extra\n",
		"  \t\nspeed 3 MB/s\r\n",
		"x 1 s extra more\nspeed 3 MB/s 42\ny 2 ms <z> 1e400\n",
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		ms, skipped, err := nixsupport.ParseMetrics(bytes.NewReader(data), fuzzLimits)
		if err != nil && !errors.Is(err, nixsupport.ErrTooLarge) {
			t.Fatalf("unexpected error: %v", err)
		}
		seen := map[string]bool{}
		var b strings.Builder
		for _, m := range ms {
			if math.IsNaN(m.Value) || math.IsInf(m.Value, 0) {
				t.Fatalf("value %v not finite", m.Value)
			}
			if seen[m.Name] {
				t.Fatalf("name %q twice", m.Name)
			}
			seen[m.Name] = true
			fmt.Fprintf(&b, "%s %s %s\n", m.Name, strconv.FormatFloat(m.Value, 'g', -1, 64), m.Unit)
		}
		for i := 1; i < len(skipped); i++ {
			if skipped[i].Line < skipped[i-1].Line {
				t.Fatalf("skipped out of order: %+v", skipped)
			}
		}
		again, sk, err := nixsupport.ParseMetrics(strings.NewReader(b.String()), nixsupport.Limits{})
		if err != nil || len(sk) != 0 || len(again) != len(ms) {
			t.Fatalf("re-reading %q: %v %v %v", b.String(), again, sk, err)
		}
		for i := range ms {
			if again[i].Name != ms[i].Name || again[i].Value != ms[i].Value || again[i].Unit != ms[i].Unit {
				t.Fatalf("re-read %+v, want %+v", again[i], ms[i])
			}
		}
	})
}

func FuzzParseReleaseName(f *testing.F) {
	addSeeds(f, "hello-1.0\n", " x \n y", "", "a b", "\xff")
	f.Fuzz(func(t *testing.T, data []byte) {
		name, err := nixsupport.ParseReleaseName(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, nixsupport.ErrInvalidReleaseName) || name != "" {
				t.Fatalf("got %q, %v", name, err)
			}
			return
		}
		if name == "" || strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.@:_-") != "" {
			t.Fatalf("bad release name %q", name)
		}
		if !bytes.Contains(data, []byte(name)) {
			t.Fatalf("name %q not in input", name)
		}
	})
}
