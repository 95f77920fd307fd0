package redact

import (
	"strings"
	"testing"
)

// FuzzSuspect checks the fast test against the case-folding pattern it
// stands for: they must agree on every input, or a credential could skip
// the rules.
func FuzzSuspect(f *testing.F) {
	for _, s := range []string{
		`{"buildId":3,"drvPath":"/nix/store/a-b.drv"}`,
		`{"uri":"ssh://git@h/x"}`,
		`{"PassWordHash":"x"}`, `API-KEY=1`, `Access_Key: z`, `GHP_abc`, `x GitHub_PAT_1`, `GLPAT-q`, `blt_Z`,
		"ſecret=1", "toKen: 2", "\u212a", `{"fullName":"Zoë"}`, "", "pw", "api key",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, want := suspect(data), suspectFolded.Match(data); got != want {
			t.Fatalf("suspect(%q) = %v, the pattern says %v", data, got, want)
		}
	})
}

func TestSuspect(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{`{"buildId":3,"drvPath":"/nix/store/a-b.drv"}`, false},
		{`{"uri":"ssh://git@h/x"}`, true},
		{`{"note":"SECRET=x"}`, true},
		{`{"note":"ApI_kEy"}`, true},
		// Unicode folding: ſ (long s) is an s, as the rules' (?i) sees it.
		{`{"note":"ſecret=x"}`, true},
		{`{"name":"Zoë"}`, false},
	} {
		if got := suspect([]byte(tc.in)); got != tc.want {
			t.Errorf("suspect(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// BenchmarkSuspect is the audit log's cost per clean event of a real
// run's size (about a kilobyte of JSON).
func BenchmarkSuspect(b *testing.B) {
	data := []byte(`{"buildId":1234,"drvPath":"/nix/store/0123456789abcdfghijklmnpqrsvwxyz-pkg-1.0.drv","outputs":{"out":"/nix/store/0123456789abcdfghijklmnpqrsvwxyz-pkg-1.0"},` +
		strings.Repeat(`"k":"/nix/store/0123456789abcdfghijklmnpqrsvwxyz-dep-2.0",`, 14) + `"system":"x86_64-linux"}`)
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			suspect(data)
		}
	})
	b.Run("pattern", func(b *testing.B) {
		for b.Loop() {
			suspectFolded.Match(data)
		}
	})
}
