package binarycache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"github.com/minio/minio-go/v7"
	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/binarycache/s3test"
	"buildledger/adapters/nix/nixtest"
)

// s3Cache starts MinIO with an anonymously readable bucket "cache" and
// opens the s3:// destination params (after the endpoint) names, signed
// with a fresh key whose public half it returns.
func s3Cache(t *testing.T, params string) (*s3test.Server, *S3Store, string) {
	t.Helper()
	srv := s3test.Start(t)
	srv.Bucket(t, "cache")
	sk, pk, err := GenerateKey("s3-test-1")
	require.NoError(t, err)
	d, err := ParseDestination("s3://cache?endpoint=http://" + srv.Endpoint + params)
	require.NoError(t, err)
	dest, err := OpenDestination(d, OpenOptions{SecretKeys: []signature.SecretKey{sk}, SpoolDir: t.TempDir()})
	require.NoError(t, err)
	return srv, dest.(*S3Store), pk.String()
}

// writes counts the requests that write to the bucket, by key.
type writes struct {
	mu   sync.Mutex
	keys []string
}

func (w *writes) watch(r *http.Request) {
	if r.Method == http.MethodPut || r.Method == http.MethodPost || r.Method == http.MethodDelete {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.keys = append(w.keys, strings.TrimPrefix(r.URL.Path, "/cache/"))
	}
}

func (w *writes) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	k := w.keys
	w.keys = nil
	return k
}

// TestS3Destination uploads a closure and its derivation's log to a real
// MinIO with the parameters of the issue, then Nix reads the bucket as a
// plain HTTP binary cache: the paths copy with the key trusted, the .ls
// listing points at each file's bytes in the NAR, and `nix log` reads the
// brotli-compressed log.
func TestS3Destination(t *testing.T) {
	fx := buildFixture(t)
	srv, dest, pub := s3Cache(t, "&region=us-east-1&compression=zstd&write-nar-listing=1&ls-compression=br&log-compression=br&parallel-compression=true")
	require.Equal(t, "s3://cache?endpoint="+srv.Endpoint, dest.URL(), "the URL names bucket and server, nothing secret")
	ctx := context.Background()
	ups, err := LocalStore{}.UploadClosure(ctx, dest, fx.top)
	require.NoError(t, err)
	require.Len(t, ups, 1)
	require.Equal(t, dest.URL(), ups[0].CacheURL)
	require.True(t, strings.HasPrefix(ups[0].URL, "nar/") && strings.HasSuffix(ups[0].URL, ".nar.zst"), ups[0].URL)
	ev := ups[0].OutputUploaded("/nix/store/00000000000000000000000000000000-x.drv", 1, "out")
	require.Equal(t, ups[0].URL, ev.Key, "the event names the NAR's key in the bucket")

	cacheURL := srv.URL + "/cache"
	store, out, err := nixCopy(t, cacheURL, fx.top, pub)
	require.NoError(t, err, out)
	requireCopied(t, store, fx)

	hp, _ := hashPart(fx.top)
	objects := srv.Objects(t, "cache")
	for _, want := range []string{"nix-cache-info", hp + ".narinfo", hp + ".ls", ups[0].URL} {
		require.Contains(t, objects, want)
	}

	// The listing names each regular file's offset in the NAR.
	nar := httpGet(t, cacheURL+"/"+ups[0].URL, "")
	zr, err := zstd.NewReader(bytes.NewReader(nar))
	require.NoError(t, err)
	plain, err := io.ReadAll(zr)
	require.NoError(t, err)
	ls := httpGet(t, cacheURL+"/"+hp+".ls", "br")
	ls, err = io.ReadAll(brotli.NewReader(bytes.NewReader(ls)))
	require.NoError(t, err)
	var listing struct {
		Version int
		Root    listingNode
	}
	require.NoError(t, json.Unmarshal(ls, &listing))
	require.Equal(t, 1, listing.Version)
	run := listing.Root.Entries["run"]
	require.True(t, run.Executable)
	require.Equal(t, "#!/bin/sh\necho hi\n", string(plain[*run.NAROffset:*run.NAROffset+*run.Size]))
	require.Equal(t, "ref", listing.Root.Entries["link"].Target)

	// The log goes to log/<drv name>, which `nix log` reads.
	drv := strings.TrimSpace(runNix(t, "nix-store", "--query", "--deriver", fx.top))
	_, err = LocalStore{}.UploadClosure(ctx, dest, drv)
	require.NoError(t, err)
	require.NoError(t, dest.PutLog(ctx, drv, strings.NewReader("building top\nall good\n")))
	log, err := tryNix(t, "nix", "--extra-experimental-features", "nix-command", "log", "--store", cacheURL, drv)
	require.NoError(t, err, log)
	require.Equal(t, "building top\nall good\n", log)

	// Every log-compression is one Nix decodes from Content-Encoding.
	for _, c := range []string{"xz", "zstd", "none"} {
		d, err := ParseDestination("s3://cache?endpoint=http://" + srv.Endpoint + "&log-compression=" + c)
		require.NoError(t, err)
		other, err := OpenDestination(d, OpenOptions{})
		require.NoError(t, err)
		want := "log compressed with " + c + "\n"
		require.NoError(t, other.(LogUploader).PutLog(ctx, drv, strings.NewReader(want)))
		log, err := tryNix(t, "nix", "--extra-experimental-features", "nix-command", "log", "--store", cacheURL, drv)
		require.NoError(t, err, log)
		require.Equal(t, want, log, c)
	}
}

// httpGet reads url anonymously and checks its Content-Encoding.
func httpGet(t *testing.T, url, encoding string) []byte {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, url)
	require.Equal(t, encoding, resp.Header.Get("Content-Encoding"), url)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return b
}

// failingReader fails the test if read: a Put of a path the cache holds
// must not read the NAR.
type failingReader struct{ t *testing.T }

func (f failingReader) Read([]byte) (int, error) {
	f.t.Error("the NAR was read")
	return 0, errors.New("not to be read")
}

// TestS3Idempotent: uploading the same closure again writes nothing, and
// after a narinfo is lost the NAR (same content, same key) is not sent
// again; only the narinfo is.
func TestS3Idempotent(t *testing.T) {
	fx := buildFixture(t)
	srv, dest, pub := s3Cache(t, "&write-nar-listing=1")
	var w writes
	srv.OnRequest(w.watch)
	ctx := context.Background()
	first, err := LocalStore{}.UploadClosure(ctx, dest, fx.top)
	require.NoError(t, err)
	written := w.take()
	require.NotEmpty(t, written)
	hp, _ := hashPart(fx.top)
	for _, k := range written {
		require.Equal(t, 1, countOf(written, k), "%s written twice in one upload: %v", k, written)
	}

	again, err := LocalStore{}.UploadClosure(ctx, dest, fx.top)
	require.NoError(t, err)
	require.Equal(t, first, again)
	infos, err := LocalStore{}.PathInfos(ctx, fx.top)
	require.NoError(t, err)
	u, err := dest.Put(ctx, infos[0], failingReader{t})
	require.NoError(t, err)
	require.Equal(t, first[0], u)
	require.Empty(t, w.take(), "a second upload of the same paths writes no object")

	// A fresh store (another process) with the narinfo gone.
	require.NoError(t, srv.Client().RemoveObject(ctx, "cache", hp+".narinfo", minio.RemoveObjectOptions{}))
	w.take()
	d, err := ParseDestination("s3://cache?endpoint=http://" + srv.Endpoint + "&write-nar-listing=1")
	require.NoError(t, err)
	fresh, err := OpenDestination(d, OpenOptions{SecretKeys: dest.opts.SecretKeys})
	require.NoError(t, err)
	u, err = LocalStore{}.upload(ctx, fresh, infos[0])
	require.NoError(t, err)
	require.Equal(t, first[0], u)
	require.Equal(t, []string{hp + ".narinfo"}, w.take(), "only the lost narinfo is written again")

	// A narinfo that is not one for its path is written again, not
	// trusted and not a failure for ever.
	_, err = srv.Client().PutObject(ctx, "cache", hp+".narinfo", strings.NewReader("StorePath: /nix/store/garbage\n"), -1, minio.PutObjectOptions{})
	require.NoError(t, err)
	w.take()
	u, err = fresh.Put(ctx, infos[0], &lazyDump{t: t, path: fx.top})
	require.NoError(t, err)
	require.Equal(t, first[0], u)
	require.Equal(t, []string{hp + ".narinfo"}, w.take())
	_, out, err := nixCopy(t, srv.URL+"/cache", fx.top, pub)
	require.NoError(t, err, out)
}

// lazyDump reads the NAR of path from the local store.
type lazyDump struct {
	t    *testing.T
	path string
	r    io.Reader
}

func (l *lazyDump) Read(p []byte) (int, error) {
	if l.r == nil {
		out, err := exec.Command("nix-store", "--dump", l.path).Output()
		require.NoError(l.t, err)
		l.r = bytes.NewReader(out)
	}
	return l.r.Read(p)
}

func countOf(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

// bigExpr is a 12 MB output of random bytes: three 5 MiB parts.
const bigExpr = `derivation {
  name = "blcache-s3-big";
  system = builtins.currentSystem;
  builder = "` + nixtest.Sh + `";
  args = [ "sh" "-c" "head -c 12000000 /dev/urandom > $out" ];
}`

// TestS3StoppedMidUpload stops MinIO while the second part of a
// multipart NAR upload is on its way: Put fails after the client's
// retries and the bucket holds no narinfo for the path (nor any narinfo
// without its NAR). Once MinIO is back the same Put succeeds and Nix
// copies the path.
func TestS3StoppedMidUpload(t *testing.T) {
	requireNix(t)
	big := strings.TrimSpace(runNix(t, "nix-build", "--no-out-link", "-E", bigExpr))
	srv, dest, pub := s3Cache(t, "&multipart-chunk-size=5242880&compression=none")
	var once sync.Once
	stopped := make(chan struct{})
	srv.OnRequest(func(r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/nar/") && r.URL.Query().Get("partNumber") == "2" {
			once.Do(func() { srv.Stop(); close(stopped) })
		}
	})
	ctx := context.Background()
	_, err := LocalStore{}.UploadClosure(ctx, dest, big)
	require.Error(t, err)
	<-stopped
	srv.Restart()
	has, err := dest.Has(ctx, big)
	require.NoError(t, err)
	require.False(t, has, "no narinfo for a path whose upload failed")
	requireNoNarInfoWithoutNAR(t, srv)

	srv.OnRequest(nil)
	ups, err := LocalStore{}.UploadClosure(ctx, dest, big)
	require.NoError(t, err)
	require.Greater(t, ups[0].FileSize, int64(12000000), "the whole NAR, uncompressed")
	requireNoNarInfoWithoutNAR(t, srv)
	store, out, err := nixCopy(t, srv.URL+"/cache", big, pub)
	require.NoError(t, err, out)
	st, err := os.Stat(filepath.Join(store, big))
	require.NoError(t, err)
	require.Equal(t, int64(12000000), st.Size())
}

// requireNoNarInfoWithoutNAR checks that every narinfo in the bucket
// names a NAR that is there.
func requireNoNarInfoWithoutNAR(t *testing.T, srv *s3test.Server) {
	t.Helper()
	objects := srv.Objects(t, "cache")
	for _, k := range objects {
		if !strings.HasSuffix(k, ".narinfo") {
			continue
		}
		body := httpGet(t, srv.URL+"/cache/"+k, "")
		var url string
		for _, line := range strings.Split(string(body), "\n") {
			if v, ok := strings.CutPrefix(line, "URL: "); ok {
				url = v
			}
		}
		require.True(t, slices.Contains(objects, url), "%s names %q, which is not in the bucket", k, url)
	}
}

// TestS3Credentials: credentials come from the environment or a profile
// of the AWS credentials file; without any, opening fails and says where
// to put them. None is taken from the URL.
func TestS3Credentials(t *testing.T) {
	srv := s3test.Start(t)
	srv.Bucket(t, "cache")
	fx := buildFixture(t)
	ctx := context.Background()
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("HOME", t.TempDir())
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	d, err := ParseDestination("s3://cache?endpoint=http://" + srv.Endpoint)
	require.NoError(t, err)
	_, err = OpenDestination(d, OpenOptions{})
	require.ErrorContains(t, err, "no credentials: set AWS_ACCESS_KEY_ID")

	creds := filepath.Join(t.TempDir(), "credentials")
	require.NoError(t, os.WriteFile(creds, []byte("[ci]\naws_access_key_id = "+srv.AccessKey+"\naws_secret_access_key = "+srv.SecretKey+"\n"), 0o600))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", creds)
	d, err = ParseDestination("s3://cache?endpoint=http://" + srv.Endpoint + "&profile=ci")
	require.NoError(t, err)
	dest, err := OpenDestination(d, OpenOptions{})
	require.NoError(t, err)
	_, err = LocalStore{}.UploadClosure(ctx, dest, fx.dep)
	require.NoError(t, err)
	has, err := dest.Has(ctx, fx.dep)
	require.NoError(t, err)
	require.True(t, has)
	require.NotContains(t, dest.URL(), "ci")
}

// TestNARListing lists a real NAR: every regular file's offset points at
// its bytes.
func TestNARListing(t *testing.T) {
	fx := buildFixture(t)
	nar, err := exec.Command("nix-store", "--dump", fx.top).Output()
	require.NoError(t, err)
	b, err := narListing(bytes.NewReader(nar))
	require.NoError(t, err)
	var l struct {
		Version int
		Root    listingNode
	}
	require.NoError(t, json.Unmarshal(b, &l))
	require.Equal(t, "directory", string(l.Root.Type))
	ref := l.Root.Entries["ref"]
	require.False(t, ref.Executable)
	require.Equal(t, fx.dep+"\n", string(nar[*ref.NAROffset:*ref.NAROffset+*ref.Size]))
	require.Equal(t, "symlink", string(l.Root.Entries["link"].Type))
	require.NotContains(t, string(b), `"entries":null`)

	_, err = narListing(strings.NewReader("not a nar"))
	require.Error(t, err)
}
