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

func requireTools(t *testing.T) {
	t.Helper()
	for _, b := range []string{"git", "nix-store", "tar"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s not on PATH", b)
		}
	}
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git %v: %s", args, out)
	return strings.TrimSpace(string(out))
}

func commit(t *testing.T, dir, file, content string) string {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644))
	git(t, dir, "add", file)
	git(t, dir, "commit", "-q", "-m", "change "+file)
	return git(t, dir, "rev-parse", "HEAD")
}

func narHash(t *testing.T, p string) string {
	t.Helper()
	out, err := exec.Command("nix-store", "--query", "--hash", p).Output()
	require.NoError(t, err)
	return "sha256:" + strings.TrimPrefix(strings.TrimSpace(string(out)), "sha256:")
}

func TestFetchGit(t *testing.T) {
	requireTools(t)
	repo := t.TempDir()
	git(t, repo, "init", "-q", "-b", "main")
	commit(t, repo, "release.nix", "{ }: { }\n")
	rev2 := commit(t, repo, "README", "hello\n")
	git(t, repo, "checkout", "-q", "-b", "feature")
	revFeature := commit(t, repo, "feature.txt", "feature\n")
	git(t, repo, "checkout", "-q", "main")

	f := &Fetcher{CacheDir: t.TempDir(), Roots: []string{repo}}
	ctx := context.Background()
	uri := "file://" + repo

	got, err := f.Fetch(ctx, events.JobsetInput{Name: "src", Type: "git", Value: uri})
	require.NoError(t, err)
	require.Equal(t, rev2, got.Revision)
	require.Equal(t, 2, got.RevCount)
	require.Equal(t, uri, got.URI)
	require.Equal(t, uri, got.Value)
	require.Equal(t, 7, got.ShortRevLength)
	require.True(t, strings.HasPrefix(got.StorePath, "/nix/store/") && strings.HasSuffix(got.StorePath, "-git-export"), got.StorePath)
	require.Equal(t, narHash(t, got.StorePath), got.SHA256)
	b, err := os.ReadFile(filepath.Join(got.StorePath, "README"))
	require.NoError(t, err)
	require.Equal(t, "hello\n", string(b))
	require.NoFileExists(t, filepath.Join(got.StorePath, "feature.txt"))
	require.NoDirExists(t, filepath.Join(got.StorePath, ".git"))

	// A branch, and a new commit seen by the next fetch through the cache.
	feat, err := f.Fetch(ctx, events.JobsetInput{Name: "src", Type: "git", Value: uri + " feature"})
	require.NoError(t, err)
	require.Equal(t, revFeature, feat.Revision)
	require.Equal(t, 3, feat.RevCount)
	require.FileExists(t, filepath.Join(feat.StorePath, "feature.txt"))

	rev3 := commit(t, repo, "README", "hello again\n")
	again, err := f.Fetch(ctx, events.JobsetInput{Name: "src", Type: "git", Value: uri + " main"})
	require.NoError(t, err)
	require.Equal(t, rev3, again.Revision)
	require.NotEqual(t, got.StorePath, again.StorePath)

	// Same commit, same store path.
	same, err := f.Fetch(ctx, events.JobsetInput{Name: "src", Type: "git", Value: uri})
	require.NoError(t, err)
	require.Equal(t, again.StorePath, same.StorePath)
	require.Equal(t, again.SHA256, same.SHA256)

	deep, err := f.Fetch(ctx, events.JobsetInput{Name: "src", Type: "git", Value: uri + " main 1"})
	require.NoError(t, err)
	require.Equal(t, rev3, deep.Revision)
	require.DirExists(t, filepath.Join(deep.StorePath, ".git"))
	// A deep clone at the same revision is the same store path (its .git
	// would differ if cloned again), until that path is gone.
	deepAgain, err := f.Fetch(ctx, events.JobsetInput{Name: "src", Type: "git", Value: uri + " main 1"})
	require.NoError(t, err)
	require.Equal(t, deep, deepAgain)
	require.NoError(t, os.WriteFile(f.deepCloneFile(uri, rev3), []byte("/nix/store/00000000000000000000000000000000-gone "+deep.SHA256), 0o600))
	refetched, err := f.Fetch(ctx, events.JobsetInput{Name: "src", Type: "git", Value: uri + " main 1"})
	require.NoError(t, err)
	require.DirExists(t, filepath.Join(refetched.StorePath, ".git"))

	in := eval.InputOf(again)
	require.Equal(t, eval.Input{Kind: eval.KindPath, Value: again.StorePath, InputType: "git", URI: uri, Rev: rev3, ShortRev: rev3[:7], RevCount: 3}, in)
}

func TestFetchErrors(t *testing.T) {
	requireTools(t)
	root := t.TempDir()
	f := &Fetcher{CacheDir: t.TempDir(), Roots: []string{root}}
	missing := "file://" + filepath.Join(root, "nope")
	outside := t.TempDir()
	git(t, outside, "init", "-q")
	escape := filepath.Join(root, "escape")
	require.NoError(t, os.Symlink(outside, escape))
	tests := []struct {
		spec events.JobsetInput
		want []string
	}{
		{events.JobsetInput{Name: "src", Type: "git", Value: missing}, []string{"fetch git input src", filepath.Join(root, "nope"), "no such file"}},
		{events.JobsetInput{Name: "src", Type: "git", Value: "file://" + outside}, []string{"fetch git input src", outside, "not inside a directory the operator allows"}},
		{events.JobsetInput{Name: "src", Type: "git", Value: outside}, []string{outside, "not inside a directory the operator allows"}},
		{events.JobsetInput{Name: "src", Type: "git", Value: "relative/repo"}, []string{"not an absolute path"}},
		{events.JobsetInput{Name: "p", Type: "path", Value: "/etc"}, []string{"fetch path input p", "/etc: not inside a directory the operator allows"}},
		{events.JobsetInput{Name: "p", Type: "path", Value: escape}, []string{escape, "not inside a directory the operator allows"}},
		{events.JobsetInput{Name: "src", Type: "git", Value: ""}, []string{"has no URI"}},
		{events.JobsetInput{Name: "src", Type: "git", Value: "file:///x -evil"}, []string{"is not a branch name"}},
		{events.JobsetInput{Name: "p", Type: "path", Value: "relative/dir"}, []string{"fetch path input p", "is not absolute"}},
		{events.JobsetInput{Name: "p", Type: "path", Value: "/does/not/exist"}, []string{"/does/not/exist", "no such file"}},
		{events.JobsetInput{Name: "b", Type: "boolean", Value: "yes"}, []string{`boolean value "yes"`}},
		{events.JobsetInput{Name: "x", Type: "bzr", Value: "x"}, []string{`unsupported input type "bzr"`}},
	}
	for _, tt := range tests {
		t.Run(tt.spec.Type+" "+tt.spec.Value, func(t *testing.T) {
			_, err := f.Fetch(context.Background(), tt.spec)
			require.Error(t, err)
			for _, w := range tt.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
	_, err := (&Fetcher{}).Fetch(context.Background(), events.JobsetInput{Name: "s", Type: "string"})
	require.ErrorContains(t, err, "CacheDir is not set")
}

// TestConfineFlake: a local flake outside the roots is refused before Nix
// copies it into the store; remote references pass.
func TestConfineFlake(t *testing.T) {
	root := t.TempDir()
	f := &Fetcher{CacheDir: t.TempDir(), Roots: []string{root}}
	for _, tt := range []struct {
		ref       string
		ok, local bool
	}{
		{"path:" + root + "?narHash=x", true, true},
		{"git+file://" + root, true, true},
		{"github:NixOS/nixpkgs", true, false},
		{"git+https://example.org/r.git", true, false},
		{"path:/etc", false, true},
		{"git+file:///root", false, true},
		{"/etc", false, true},
		{"./here", false, true},
	} {
		local, err := f.ConfineFlake(tt.ref)
		require.Equal(t, tt.ok, err == nil, "%s: %v", tt.ref, err)
		require.Equal(t, tt.local, local, tt.ref)
	}
}

func TestFetchPathAndScalars(t *testing.T) {
	requireTools(t)
	root := t.TempDir()
	f := &Fetcher{CacheDir: t.TempDir(), Roots: []string{root}}
	dir := filepath.Join(root, "jobs")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "release.nix"), []byte("{ }\n"), 0o644))
	got, err := f.Fetch(context.Background(), events.JobsetInput{Name: "jobs", Type: "path", Value: dir})
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(got.StorePath, "-jobs"), got.StorePath)
	require.FileExists(t, filepath.Join(got.StorePath, "release.nix"))
	require.Equal(t, narHash(t, got.StorePath), got.SHA256)
	require.Equal(t, dir, got.URI)
	require.Equal(t, eval.KindPath, eval.InputOf(got).Kind)

	for _, tt := range []struct {
		spec events.JobsetInput
		want eval.Input
	}{
		{events.JobsetInput{Name: "s", Type: "string", Value: "hello world"}, eval.Input{Kind: eval.KindString, Value: "hello world"}},
		{events.JobsetInput{Name: "b", Type: "boolean", Value: "false"}, eval.Input{Kind: eval.KindBool, Value: "false"}},
		{events.JobsetInput{Name: "n", Type: "nix", Value: "{ a = 1; }"}, eval.Input{Kind: eval.KindNix, Value: "{ a = 1; }"}},
	} {
		got, err := f.Fetch(context.Background(), tt.spec)
		require.NoError(t, err)
		require.Equal(t, []string{tt.spec.Name, tt.spec.Type, tt.spec.Value, tt.spec.Value},
			[]string{got.Name, got.Type, got.Value, got.ArgValue}, "nothing is fetched")
		require.Empty(t, got.StorePath)
		require.Equal(t, tt.want, eval.InputOf(got))
	}
}

func TestParseGitValue(t *testing.T) {
	g, err := parseGitValue("https://example.org/r.git release-1 1 timeout=60")
	require.NoError(t, err)
	require.Equal(t, gitValue{URI: "https://example.org/r.git", Branch: "release-1", Deep: true, Options: map[string]string{"timeout": "60"}}, g)
	g, err = parseGitValue("  /srv/repo=x  ")
	require.NoError(t, err)
	require.Equal(t, gitValue{URI: "/srv/repo=x"}, g)
	_, err = parseGitValue("a b c d")
	require.ErrorContains(t, err, "more than URI")
}

// TestFetchRemoteGitAsEvaluationUser: a git input from the network is
// fetched as the evaluation user, into a cache of that user's, and added
// to the store through its daemon; a local path input is still read as the
// server, which may read the operator's roots whatever their modes. The
// remote is a bare repository served over git's dumb HTTP.
func TestFetchRemoteGitAsEvaluationUser(t *testing.T) {
	requireTools(t)
	id := daemontest.Identity(t)
	repo := t.TempDir()
	git(t, repo, "init", "-q", "-b", "main")
	rev := commit(t, repo, "release.nix", "{ }: { }\n")
	bare := filepath.Join(t.TempDir(), "r.git")
	git(t, repo, "clone", "-q", "--bare", repo, bare)
	git(t, bare, "update-server-info")
	srv := httptest.NewServer(http.FileServer(http.Dir(bare)))
	defer srv.Close()

	root := t.TempDir() // 0700: the evaluation user cannot enter it
	require.NoError(t, os.WriteFile(filepath.Join(root, "release.nix"), []byte("{ }\n"), 0o600))
	cache := t.TempDir()
	f := &Fetcher{CacheDir: cache, Roots: []string{root}, Identity: id}
	ctx := context.Background()

	got, err := f.Fetch(ctx, events.JobsetInput{Name: "src", Type: "git", Value: srv.URL + "/"})
	require.NoError(t, err)
	require.Equal(t, rev, got.Revision)
	require.FileExists(t, filepath.Join(got.StorePath, "release.nix"))
	dir, err := id.Dir(cache)
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	clones, err := filepath.Glob(filepath.Join(dir, "git", "*"))
	require.NoError(t, err)
	require.Len(t, clones, 1)
	st, err := os.Stat(clones[0])
	require.NoError(t, err)
	require.Equal(t, id.Credential.Uid, st.Sys().(*syscall.Stat_t).Uid, "the clone is the evaluation user's")

	p, err := f.Fetch(ctx, events.JobsetInput{Name: "p", Type: "path", Value: root})
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(p.StorePath, "release.nix"))
}
