// Package s3test runs a real MinIO server for the tests of the s3://
// binary cache: on a loopback port, with a scratch data directory, behind
// a reverse proxy through which a test watches every request (to count
// writes, or to stop the server in the middle of an upload). The server
// is built from its Go module the first time (Install); a machine where it
// cannot be built fails the test, it does not skip it.
package s3test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Module is the MinIO server module and version the tests run.
const Module = "github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c"

// Install returns the path of the MinIO server binary, building it with
// `go install` into GOBIN (or GOPATH/bin) when it is missing or another
// version. The build takes minutes on two cores the first time; a file
// lock keeps parallel test binaries from building it twice.
func Install(ctx context.Context) (string, error) {
	gobin, err := goEnv(ctx, "GOBIN")
	if err != nil {
		return "", err
	}
	if gobin == "" {
		gopath, err := goEnv(ctx, "GOPATH")
		if err != nil {
			return "", err
		}
		gobin = filepath.Join(strings.Split(gopath, string(os.PathListSeparator))[0], "bin")
	}
	bin := filepath.Join(gobin, "minio")
	if err := os.MkdirAll(gobin, 0o755); err != nil {
		return "", fmt.Errorf("minio: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(gobin, ".minio.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("minio: lock: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("minio: lock: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if installed(ctx, bin) {
		return bin, nil
	}
	cmd := exec.CommandContext(ctx, "go", "install", Module)
	cmd.Dir = os.TempDir() // outside any module: the server's own go.mod decides
	cmd.Env = append(os.Environ(), "GOBIN="+gobin)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the MinIO server (go install %s): %w\n%s", Module, err, out)
	}
	if !installed(ctx, bin) {
		return "", fmt.Errorf("go install %s did not produce %s", Module, bin)
	}
	return bin, nil
}

// installed reports whether bin is the MinIO server of Module's version.
func installed(ctx context.Context, bin string) bool {
	out, err := exec.CommandContext(ctx, "go", "version", "-m", bin).Output()
	if err != nil {
		return false
	}
	path, version, _ := strings.Cut(Module, "@")
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == "mod" && f[1] == path && f[2] == version {
			return true
		}
	}
	return false
}

func goEnv(ctx context.Context, name string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", name).Output()
	if err != nil {
		return "", fmt.Errorf("go env %s: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Server is a running MinIO server. Clients reach it at Endpoint (the
// proxy); the server itself listens on another loopback port.
type Server struct {
	// Endpoint is host:port of the proxy, URL "http://" + Endpoint.
	Endpoint, URL string
	// AccessKey and SecretKey are the root credentials.
	AccessKey, SecretKey string

	t       testing.TB
	bin     string
	dataDir string
	backend string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	hook   func(*http.Request)
}

// Start builds (if needed) and starts a MinIO server with a fresh data
// directory; it is stopped when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	bin, err := Install(ctx)
	if err != nil {
		t.Fatalf("s3test: the s3:// tests need a real MinIO server and it cannot be built: %v", err)
	}
	s := &Server{AccessKey: "buildledger-test", SecretKey: "buildledger-test-secret", t: t, bin: bin,
		dataDir: t.TempDir(), backend: freeAddr(t)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("s3test: listen: %v", err)
	}
	target := &url.URL{Scheme: "http", Host: s.backend}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		// The request was signed for the proxy's address.
		r.Out.Host = r.In.Host
	}, ErrorLog: log.New(io.Discard, "", 0)} // a stopped server is what the tests want
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		hook := s.hook
		s.mu.Unlock()
		if hook != nil {
			hook(r)
		}
		proxy.ServeHTTP(w, r)
	}), ReadHeaderTimeout: time.Minute}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	s.Endpoint = ln.Addr().String()
	s.URL = "http://" + s.Endpoint
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// OnRequest makes f see every request before it is passed to MinIO;
// nil removes it. f may call Stop.
func (s *Server) OnRequest(f func(*http.Request)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = f
}

// Restart starts the server (again) on its port and data directory and
// waits until it answers.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	cmd := exec.Command(s.bin, "server", "--quiet", "--address", s.backend, s.dataDir)
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+s.AccessKey, "MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "HOME="+s.dataDir)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("s3test: start minio: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get("http://" + s.backend + "/minio/health/live")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-exited:
			s.cmd = nil
			s.t.Fatalf("s3test: minio exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("s3test: minio is not ready after 2 minutes: %v\n%s", err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills the server, as a crash or an outage would, and waits for it
// to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Client is a client with the root credentials.
func (s *Server) Client() *minio.Client {
	s.t.Helper()
	c, err := minio.New(s.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""), Region: "us-east-1"})
	if err != nil {
		s.t.Fatalf("s3test: client: %v", err)
	}
	return c
}

// Bucket creates bucket, readable by anyone (as a binary cache served
// over plain HTTP is), and sets the AWS_* variables of the root
// credentials for the rest of the test.
func (s *Server) Bucket(t *testing.T, bucket string) {
	t.Helper()
	ctx := context.Background()
	c := s.Client()
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		t.Fatalf("s3test: make bucket %s: %v", bucket, err)
	}
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["*"]},`+
		`"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::%s/*"]}]}`, bucket)
	if err := c.SetBucketPolicy(ctx, bucket, policy); err != nil {
		t.Fatalf("s3test: bucket policy of %s: %v", bucket, err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", s.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s.SecretKey)
}

// Objects returns the keys in bucket.
func (s *Server) Objects(t testing.TB, bucket string) []string {
	t.Helper()
	var keys []string
	for o := range s.Client().ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("s3test: list %s: %v", bucket, o.Err)
		}
		keys = append(keys, o.Key)
	}
	return keys
}

// freeAddr returns a loopback address no one listens on now.
func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("s3test: listen: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// lockedBuffer collects the server's output.
type lockedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
