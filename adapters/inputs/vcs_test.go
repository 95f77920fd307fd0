package inputs

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/nix/daemon/daemontest"
	"buildledger/adapters/nix/eval"
	"buildledger/events"
)

// tool runs a version-control tool in dir with no user configuration.
func tool(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not on PATH (test/install-deps.sh installs it)", name)
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HGRCPATH=", "HGPLAIN=1", "HOME="+t.TempDir(), "LC_ALL=C.UTF-8")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s %v: %s", name, args, out)
	return strings.TrimSpace(string(out))
}

func write(t *testing.T, dir, file, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644))
}

func readStore(t *testing.T, storePath, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(storePath, file))
	require.NoError(t, err)
	return string(b)
}

func TestFetchHg(t *testing.T) {
	requireTools(t)
	repo := t.TempDir()
	tool(t, repo, "hg", "init")
	write(t, repo, "release.nix", "{ }: { }\n")
	tool(t, repo, "hg", "add", "release.nix")
	tool(t, repo, "hg", "commit", "-u", "t", "-m", "one")
	write(t, repo, "README", "hello\n")
	tool(t, repo, "hg", "add", "README")
	tool(t, repo, "hg", "commit", "-u", "t", "-m", "two")
	node := tool(t, repo, "hg", "log", "-r", "tip", "--template", "{node}")

	f := &Fetcher{CacheDir: t.TempDir(), Roots: []string{repo}}
	ctx := context.Background()
	got, err := f.Fetch(ctx, events.JobsetInput{Name: "src", Type: "hg", Value: repo})
	require.NoError(t, err)
	require.Equal(t, node, got.Revision)
	require.Equal(t, 1, got.RevCount, "Hydra's revCount is hg's local revision number")
	require.Equal(t, repo, got.URI)
	require.True(t, strings.HasSuffix(got.StorePath, "-hg-export"), got.StorePath)
	require.Equal(t, narHash(t, got.StorePath), got.SHA256)
	require.Equal(t, "hello\n", readStore(t, got.StorePath, "README"))
	require.NoDirExists(t, filepath.Join(got.StorePath, ".hg"))
	require.NoFileExists(t, filepath.Join(got.StorePath, ".hg_archival.txt"))

	// A new commit is pulled into the cached clone; an older revision by
	// its id; the same revision gives the same store path.
	write(t, repo, "README", "again\n")
	tool(t, repo, "hg", "commit", "-u", "t", "-m", "three")
	again, err := f.Fetch(ctx, events.JobsetInput{Name: "src", Type: "hg", Value: "file://" + repo + " default"})
	require.NoError(t, err)
	require.Equal(t, 2, again.RevCount)
	require.Equal(t, "again\n", readStore(t, again.StorePath, "README"))
	old, err := f.Fetch(ctx, events.JobsetInput{Name: "src", Type: "hg", Value: repo + " " + node[:12]})
	require.NoError(t, err)
	require.Equal(t, got.StorePath, old.StorePath)

	require.Equal(t, eval.Input{Kind: eval.KindPath, Value: again.StorePath, InputType: "hg", URI: "file://" + repo,
		Rev: again.Revision, RevCount: 2}, eval.InputOf(again))
}

func TestFetchSvn(t *testing.T) {
	requireTools(t)
	root := t.TempDir()
	tool(t, root, "svnadmin", "create", "repo")
	url := "file://" + filepath.Join(root, "repo")
	wc := filepath.Join(root, "wc")
	tool(t, root, "svn", "checkout", "-q", url, wc)
	write(t, wc, "release.nix", "{ }: { }\n")
	tool(t, wc, "svn", "add", "-q", "release.nix")
	tool(t, wc, "svn", "commit", "-q", "--username", "t", "-m", "one")
	write(t, wc, "README", "hello\n")
	tool(t, wc, "svn", "add", "-q", "README")
	tool(t, wc, "svn", "commit", "-q", "--username", "t", "-m", "two")

	f := &Fetcher{CacheDir: t.TempDir(), Roots: []string{filepath.Join(root, "repo")}}
	ctx := context.Background()
	got, err := f.Fetch(ctx, events.JobsetInput{Name: "src", Type: "svn", Value: url})
	require.NoError(t, err)
	require.Equal(t, "2", got.Revision)
	require.Equal(t, url, got.URI)
	require.Equal(t, narHash(t, got.StorePath), got.SHA256)
	require.Equal(t, "hello\n", readStore(t, got.StorePath, "README"))
	require.NoDirExists(t, filepath.Join(got.StorePath, ".svn"))

	// A given revision, through the cached working copy, and back.
	first, err := f.Fetch(ctx, events.JobsetInput{Name: "src", Type: "svn", Value: url + " 1"})
	require.NoError(t, err)
	require.Equal(t, "1", first.Revision)
	require.NoFileExists(t, filepath.Join(first.StorePath, "README"))
	write(t, wc, "README", "again\n")
	tool(t, wc, "svn", "commit", "-q", "--username", "t", "-m", "three")
	head, err := f.Fetch(ctx, events.JobsetInput{Name: "src", Type: "svn", Value: url})
	require.NoError(t, err)
	require.Equal(t, "3", head.Revision)
	require.Equal(t, "again\n", readStore(t, head.StorePath, "README"))

	// Subversion takes URLs: a plain path, even inside the roots, is refused.
	_, err = f.Fetch(ctx, events.JobsetInput{Name: "src", Type: "svn", Value: filepath.Join(root, "repo")})
	require.ErrorContains(t, err, "file:// URLs")
}

func TestFetchDarcs(t *testing.T) {
	requireTools(t)
	repo := t.TempDir()
	tool(t, repo, "darcs", "init", "-q")
	write(t, repo, "release.nix", "{ }: { }\n")
	tool(t, repo, "darcs", "add", "-q", "release.nix")
	tool(t, repo, "darcs", "record", "-q", "-a", "-A", "t", "-m", "one")
	write(t, repo, "README", "hello\n")
	tool(t, repo, "darcs", "add", "-q", "README")
	tool(t, repo, "darcs", "record", "-q", "-a", "-A", "t", "-m", "two")
	hash, err := lastPatchHash(tool(t, repo, "darcs", "log", "--last", "1", "--xml-output"))
	require.NoError(t, err)

	f := &Fetcher{CacheDir: t.TempDir(), Roots: []string{repo}}
	ctx := context.Background()
	got, err := f.Fetch(ctx, events.JobsetInput{Name: "src", Type: "darcs", Value: "file://" + repo})
	require.NoError(t, err)
	require.Equal(t, hash, got.Revision)
	require.Equal(t, 2, got.RevCount)
	require.Equal(t, narHash(t, got.StorePath), got.SHA256)
	require.Equal(t, "hello\n", readStore(t, got.StorePath, "README"))
	require.NoDirExists(t, filepath.Join(got.StorePath, "_darcs"))

	write(t, repo, "README", "hello again\n") // another size: darcs looks at sizes and times
	tool(t, repo, "darcs", "record", "-q", "-a", "-A", "t", "-m", "three")
	again, err := f.Fetch(ctx, events.JobsetInput{Name: "src", Type: "darcs", Value: repo})
	require.NoError(t, err)
	require.Equal(t, 3, again.RevCount)
	require.NotEqual(t, got.Revision, again.Revision)
	require.Equal(t, "hello again\n", readStore(t, again.StorePath, "README"))
}

// TestFetchRemoteDarcsAsEvaluationUser: a remote darcs repository (over
// plain HTTP, which darcs reads) is cloned as the evaluation user, into a
// cache of that user's.
func TestFetchRemoteDarcsAsEvaluationUser(t *testing.T) {
	requireTools(t)
	id := daemontest.Identity(t)
	repo := t.TempDir()
	tool(t, repo, "darcs", "init", "-q")
	write(t, repo, "release.nix", "{ }: { }\n")
	tool(t, repo, "darcs", "add", "-q", "release.nix")
	tool(t, repo, "darcs", "record", "-q", "-a", "-A", "t", "-m", "one")
	srv := httptest.NewServer(http.FileServer(http.Dir(repo)))
	defer srv.Close()

	cache := t.TempDir()
	f := &Fetcher{CacheDir: cache, Identity: id}
	got, err := f.Fetch(context.Background(), events.JobsetInput{Name: "src", Type: "darcs", Value: srv.URL})
	require.NoError(t, err)
	require.Equal(t, 1, got.RevCount)
	require.FileExists(t, filepath.Join(got.StorePath, "release.nix"))
	dir, err := id.Dir(cache)
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	clones, err := filepath.Glob(filepath.Join(dir, "darcs", "*"))
	require.NoError(t, err)
	require.Len(t, clones, 1)
	st, err := os.Stat(clones[0])
	require.NoError(t, err)
	require.Equal(t, id.Credential.Uid, st.Sys().(*syscall.Stat_t).Uid, "the clone is the evaluation user's")
}

// TestVCSRefused: a local repository outside the roots, a scheme the
// tool should not use, a host that ssh would take for an option, and an
// hg revision that is a revset are refused before any tool runs.
func TestVCSRefused(t *testing.T) {
	allowed, outside := t.TempDir(), t.TempDir()
	f := &Fetcher{CacheDir: t.TempDir(), Roots: []string{allowed}}
	for _, tt := range []struct{ typ, value, want string }{
		{"hg", outside, "not inside a directory the operator allows"},
		{"hg", "file://" + outside, "not inside a directory the operator allows"},
		{"svn", "file://" + outside, "not inside a directory the operator allows"},
		{"darcs", outside, "not inside a directory the operator allows"},
		{"darcs", "file://" + allowed + "/../" + filepath.Base(outside), "not inside a directory the operator allows"},
		{"hg", "relative/repo", "want a URL"},
		{"hg", "bundle:" + allowed, "want a URL"},
		{"hg", "ftp://example.org/r", "scheme ftp is not one of"},
		{"svn", "ftp://example.org/r", "scheme ftp is not one of"},
		{"darcs", "ssh://example.org/r", "scheme ssh is not one of"},
		{"darcs", "user@example.org:r", "want a URL"},
		{"hg", "ssh://-oProxyCommand=x/r", "not a host name"},
		{"svn", "svn+ssh://-oProxyCommand=x/r", "not a host name"},
		{"hg", "-R", "starts with '-'"},
		{"hg", "https://example.org/r file(x)", "want a branch"},
		{"hg", "https://example.org/r -r", "want a branch"},
		{"svn", "https://example.org/r HEAD", "want a number"},
		{"darcs", "https://example.org/r extra", "want one URI"},
	} {
		_, err := f.Fetch(context.Background(), events.JobsetInput{Name: "src", Type: tt.typ, Value: tt.value})
		require.ErrorContains(t, err, tt.want, "%s %s", tt.typ, tt.value)
	}
}
