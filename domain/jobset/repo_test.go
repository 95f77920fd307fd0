package jobset

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRepoKey(t *testing.T) {
	tests := []struct{ ref, want string }{
		{"https://github.com/acme/x", "github.com/acme/x"},
		{"https://github.com/acme/x.git", "github.com/acme/x"},
		{"https://github.com/acme/x/", "github.com/acme/x"},
		{"https://GitHub.COM./acme/x.git/", "github.com/acme/x"},
		{"http://github.com/acme/x", "github.com/acme/x"},
		{"https://user:token@github.com:443/acme/x.git", "github.com/acme/x"},
		{"ssh://git@github.com/acme/x.git", "github.com/acme/x"},
		{"ssh://git@github.com:22/acme/x", "github.com/acme/x"},
		{"git://github.com/acme/x", "github.com/acme/x"},
		{"git@github.com:acme/x.git", "github.com/acme/x"},
		{"github.com:acme/x", "github.com/acme/x"},
		{"git+https://github.com/acme/x?ref=main", "github.com/acme/x"},
		{"git+ssh://git@github.com/acme/x.git?rev=abc#frag", "github.com/acme/x"},
		{"github:acme/x", "github.com/acme/x"},
		{"github:acme/x/main", "github.com/acme/x"},
		{"github:acme/x?dir=sub", "github.com/acme/x"},
		{"gitlab:acme/x", "gitlab.com/acme/x"},
		{"github.com/acme/x", "github.com/acme/x"},
		{"https://github.com/acme/x.git main", "github.com/acme/x"},
		{"https://gitea.example.org/Acme/X.git", "gitea.example.org/Acme/X"},
		{"https://github.com/acme/x-private", "github.com/acme/x-private"},
		{"https://github.com/acme/xyz", "github.com/acme/xyz"},
		{"https://github.com/acme/x.git.git", "github.com/acme/x"},
		// No remote repository.
		{"", ""},
		{"/srv/repos/x", ""},
		{"./x", ""},
		{"file:///srv/repos/x", ""},
		{"git+file:///srv/repos/x", ""},
		{"path:/srv/x", ""},
		{"tarball:https://example.org/x.tar.gz", ""},
		{"https://github.com", ""},
		{"ftp://github.com/acme/x", ""},
		{"https://%zz/acme/x", ""},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, RepoKey(tt.ref), tt.ref)
	}
}

// TestRepoKeyMatchesOnlyItsRepo: every form of a repository's URL gets
// one key, and that of a repository whose name only starts the same does
// not.
func TestRepoKeyMatchesOnlyItsRepo(t *testing.T) {
	forms := []string{"https://github.com/acme/x.git", "git@github.com:acme/x.git", "ssh://git@github.com/acme/x", "github:acme/x", "github.com/acme/x"}
	for _, f := range forms {
		require.Equal(t, RepoKey(forms[0]), RepoKey(f), f)
	}
	for _, other := range []string{"https://github.com/acme/x-private", "https://github.com/acme/xyz", "https://github.com/acme/x/y",
		"https://github.com/evil/acme/x", "https://github.com.evil.example/acme/x", "https://evilgithub.com/acme/x"} {
		require.NotEqual(t, RepoKey(forms[0]), RepoKey(other), other)
	}
}

func FuzzRepoKey(f *testing.F) {
	for _, s := range []string{"https://github.com/acme/x.git", "git@github.com:acme/x", "github:acme/x/main", "/srv/x", "ssh://u@h:22/p/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		k := RepoKey(ref)
		if k == "" {
			return
		}
		host, path, ok := strings.Cut(k, "/")
		if !ok || host == "" || path == "" || host != strings.ToLower(host) || strings.ContainsAny(k, " \t\n?#") {
			t.Fatalf("RepoKey(%q) = %q: not host/path", ref, k)
		}
		if again := RepoKey(k); again != k {
			t.Fatalf("RepoKey(%q) = %q, but RepoKey(%q) = %q", ref, k, k, again)
		}
	})
}
