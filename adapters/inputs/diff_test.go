package inputs

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/nix/daemon/daemontest"
	"buildledger/commands/reactors/email"
	"buildledger/domain/domainerr"
)

// diffRepo makes a git repository with two commits and returns it with
// their revisions.
func diffRepo(t *testing.T) (repo, rev1, rev2 string) {
	t.Helper()
	repo = t.TempDir()
	git(t, repo, "init", "-q", "-b", "main")
	rev1 = commit(t, repo, "README", "one\n")
	rev2 = commit(t, repo, "README", "two\n")
	return repo, rev1, rev2
}

// TestDiffGit is Hydra's scmdiff for git: the log of rev1..rev2, then
// its diff; the repository is fetched when the cache lacks a revision.
func TestDiffGit(t *testing.T) {
	requireTools(t)
	repo, rev1, rev2 := diffRepo(t)
	f := &Fetcher{CacheDir: t.TempDir(), Roots: []string{repo}}
	ctx := context.Background()
	got, err := f.Diff(ctx, "git", "file://"+repo, rev1, rev2)
	require.NoError(t, err)
	require.Contains(t, got, "commit "+rev2)
	require.NotContains(t, got, "commit "+rev1, "the log starts after rev1")
	require.Contains(t, got, "-one\n+two\n")
	require.Less(t, strings.Index(got, "commit "), strings.Index(got, "diff --git"), "log first")

	// A revision of the right form the repository does not have.
	_, err = f.Diff(ctx, "git", "file://"+repo, rev1, strings.Repeat("d", 40))
	require.ErrorIs(t, err, domainerr.ErrNotFound)
}

// TestCommitsGit is Hydra's getCommits for git: the commits after rev1 up
// to rev2 with their authors, newest first; other types have none, and a
// revision a tool could read as an option is refused.
func TestCommitsGit(t *testing.T) {
	requireTools(t)
	repo, rev1, rev2 := diffRepo(t)
	rev3 := commit(t, repo, "README", "three\n")
	f := &Fetcher{CacheDir: t.TempDir(), Roots: []string{repo}}
	ctx := context.Background()
	got, err := f.Commits(ctx, "git", "file://"+repo, rev1, rev3)
	require.NoError(t, err)
	require.Equal(t, []email.Commit{{Revision: rev3, Author: "t", Email: "t@t"}, {Revision: rev2, Author: "t", Email: "t@t"}}, got)

	none, err := f.Commits(ctx, "path", repo, rev1, rev3)
	require.NoError(t, err)
	require.Empty(t, none)
	_, err = f.Commits(ctx, "git", "file://"+repo, "--output=/tmp/x", rev3)
	require.ErrorIs(t, err, domainerr.ErrInvalid)
}

// TestDiffRefused: revisions a tool could read as an option, a range, a
// path or a revset, repositories a fetch would refuse, and unknown types
// are refused before anything runs.
func TestDiffRefused(t *testing.T) {
	requireTools(t)
	repo, rev1, rev2 := diffRepo(t)
	outside := t.TempDir()
	f := &Fetcher{CacheDir: t.TempDir(), Roots: []string{repo}}
	ctx := context.Background()
	planted := filepath.Join(outside, "x")
	for _, tt := range []struct{ name, typ, uri, rev1, rev2 string }{
		{"option as rev1", "git", repo, "--output=" + planted, rev2},
		{"option as rev2", "git", repo, rev1, "--output=" + planted},
		{"short option", "git", repo, "-p", rev2},
		{"range", "git", repo, rev1 + ".." + rev2, rev2},
		{"symmetric range", "git", repo, rev1 + "..." + rev2, rev2},
		{"relative", "git", repo, "HEAD~1", rev2},
		{"path", "git", repo, rev1 + ":README", rev2},
		{"dot first", "git", repo, ".git", rev2},
		{"empty", "git", repo, "", rev2},
		{"too long", "git", repo, strings.Repeat("a", 129), rev2},
		{"space", "git", repo, rev1 + " --output=" + planted, rev2},
		{"hg revset", "hg", repo, "all()", rev2},
		{"hg file revset", "hg", repo, "file('/etc/passwd')", rev2},
		{"option as repository", "git", "--upload-pack=touch " + planted, rev1, rev2},
		{"ssh option as host", "git", "ssh://-oProxyCommand=touch " + planted + "/x", rev1, rev2},
		{"ssh option as user", "git", "ssh://-oProxyCommand=x@example.org/x", rev1, rev2},
		{"scp-like option as host", "git", "user@-oProxyCommand=x:repo", rev1, rev2},
		{"repository outside the roots", "git", "file://" + outside, rev1, rev2},
		{"relative repository", "git", "repo", rev1, rev2},
		{"hg option as repository", "hg", "--config=ui.ssh=touch " + planted, rev1, rev2},
		{"svn", "svn", repo, rev1, rev2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.Diff(ctx, tt.typ, tt.uri, tt.rev1, tt.rev2)
			require.ErrorIs(t, err, domainerr.ErrInvalid)
			require.NoFileExists(t, planted)
		})
	}
}

// TestDiffCapped: the output stops at MaxDiffBytes with a line saying so,
// and a diff past DiffTimeout is refused as busy.
func TestDiffCapped(t *testing.T) {
	requireTools(t)
	repo, rev1, _ := diffRepo(t)
	rev2 := commit(t, repo, "big", strings.Repeat("a line of a large file\n", 10000))
	f := &Fetcher{CacheDir: t.TempDir(), Roots: []string{repo}, MaxDiffBytes: 1000}
	ctx := context.Background()
	got, err := f.Diff(ctx, "git", repo, rev1, rev2)
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(got, "\n[output cut at 1000 bytes]\n"), got)
	require.Len(t, strings.TrimSuffix(got, "\n[output cut at 1000 bytes]\n"), 1000)

	f.DiffTimeout = 1 // already over when the first command starts
	_, err = f.Diff(ctx, "git", repo, rev1, rev2)
	require.ErrorIs(t, err, domainerr.ErrBusy)
}

// TestDiffHg is Hydra's scmdiff for hg: the changesets after rev1 up to
// rev2, newest first, then the diff.
func TestDiffHg(t *testing.T) {
	requireTools(t)
	repo := t.TempDir()
	tool(t, repo, "hg", "init")
	write(t, repo, "README", "one\n")
	tool(t, repo, "hg", "add", "README")
	tool(t, repo, "hg", "commit", "-u", "t", "-m", "first")
	rev1 := tool(t, repo, "hg", "log", "-r", "tip", "--template", "{node}")
	write(t, repo, "README", "two\n")
	tool(t, repo, "hg", "commit", "-u", "t", "-m", "second")
	rev2 := tool(t, repo, "hg", "log", "-r", "tip", "--template", "{node}")

	f := &Fetcher{CacheDir: t.TempDir(), Roots: []string{repo}}
	got, err := f.Diff(context.Background(), "hg", repo, rev1, rev2)
	require.NoError(t, err)
	require.Contains(t, got, "second")
	require.NotContains(t, got, "summary:     first")
	require.Contains(t, got, "-one\n+two\n")
}

// TestDiffRemoteAsEvaluationUser: a remote repository is fetched and
// diffed as the evaluation user, in that user's cache, as input fetches
// are.
func TestDiffRemoteAsEvaluationUser(t *testing.T) {
	requireTools(t)
	id := daemontest.Identity(t)
	repo, rev1, rev2 := diffRepo(t)
	bare := filepath.Join(t.TempDir(), "r.git")
	git(t, repo, "clone", "-q", "--bare", repo, bare)
	git(t, bare, "update-server-info")
	srv := httptest.NewServer(http.FileServer(http.Dir(bare)))
	defer srv.Close()
	cache := t.TempDir()
	f := &Fetcher{CacheDir: cache, Identity: id}
	got, err := f.Diff(context.Background(), "git", srv.URL+"/", rev1, rev2)
	require.NoError(t, err)
	require.Contains(t, got, "-one\n+two\n")
	dir, err := id.Dir(cache)
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	clones, err := filepath.Glob(filepath.Join(dir, "git", "*"))
	require.NoError(t, err)
	require.Len(t, clones, 1)
	st, err := os.Stat(filepath.Join(clones[0], "HEAD"))
	require.NoError(t, err)
	require.Equal(t, id.Credential.Uid, st.Sys().(*syscall.Stat_t).Uid, "the clone is the evaluation user's")
}
