package logstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/logstore"
)

const drvPath = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello.drv"

func newStore(t *testing.T, opts logstore.Options) *logstore.Store {
	t.Helper()
	s, err := logstore.New(t.TempDir(), opts)
	require.NoError(t, err)
	return s
}

func readAll(t *testing.T, rc io.ReadCloser) string {
	t.Helper()
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	return string(b)
}

func TestLocation(t *testing.T) {
	t.Parallel()
	require.Equal(t, "01/23456789abcdfghijklmnpqrsvwxyz-hello.drv-2.log.zst", logstore.Location(drvPath, 2))
	require.Equal(t, "__/x-1.log.zst", logstore.Location("x", 1))
}

func TestWriteReadWhileRunningAndAfter(t *testing.T) {
	t.Parallel()
	s := newStore(t, logstore.Options{FlushInterval: time.Hour})
	w, err := s.Create(drvPath, 1)
	require.NoError(t, err)
	loc := w.Location()

	fin, err := s.Finished(loc)
	require.NoError(t, err)
	require.False(t, fin)

	_, _ = io.WriteString(w, "line one\n")
	w.Flush()
	require.Equal(t, "line one\n", readAll(t, mustOpen(t, s, loc)), "flushed bytes are readable while the log is written")
	_, _ = io.WriteString(w, "line two\n")
	require.Equal(t, "line one\n", readAll(t, mustOpen(t, s, loc)), "unflushed bytes are not yet visible")

	info, err := w.Close()
	require.NoError(t, err)
	want := "line one\nline two\n"
	sum := sha256.Sum256([]byte(want))
	require.Equal(t, logstore.Info{Location: loc, Size: int64(len(want)), SHA256: hex.EncodeToString(sum[:]),
		Received: int64(len(want)), CompressedSize: info.CompressedSize}, info)
	require.Positive(t, info.CompressedSize)
	require.Equal(t, want, readAll(t, mustOpen(t, s, loc)))
	fin, err = s.Finished(loc)
	require.NoError(t, err)
	require.True(t, fin)
	_, err = os.Stat(filepath.Join(s.Dir(), loc))
	require.NoError(t, err, "the log lives at its location under the store directory")

	again, err := w.Close()
	require.NoError(t, err)
	require.Equal(t, info, again)
}

func mustOpen(t *testing.T, s *logstore.Store, loc string) io.ReadCloser {
	t.Helper()
	rc, err := s.Open(loc)
	require.NoError(t, err)
	return rc
}

func TestLimit(t *testing.T) {
	t.Parallel()
	s := newStore(t, logstore.Options{MaxSize: 10})
	w, err := s.Create(drvPath, 1)
	require.NoError(t, err)
	n, err := w.Write([]byte("0123456"))
	require.NoError(t, err)
	require.Equal(t, 7, n)
	require.False(t, w.OverLimit())
	n, err = w.Write([]byte("789abcdef"))
	require.NoError(t, err)
	require.Equal(t, 9, n, "writes beyond the limit are accepted and dropped")
	require.True(t, w.OverLimit())
	info, err := w.Close()
	require.NoError(t, err)
	require.True(t, info.OverLimit)
	require.Equal(t, int64(10), info.Size)
	require.Equal(t, int64(16), info.Received)
	require.Equal(t, "0123456789", readAll(t, mustOpen(t, s, info.Location)))
}

func TestFollowWaitsUntilClosed(t *testing.T) {
	t.Parallel()
	s := newStore(t, logstore.Options{FlushInterval: 10 * time.Millisecond, PollInterval: 5 * time.Millisecond})
	w, err := s.Create(drvPath, 3)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc, err := s.Follow(ctx, w.Location())
	require.NoError(t, err)

	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(rc)
		rc.Close()
		got <- string(b)
	}()
	var want strings.Builder
	for i := range 50 {
		line := strings.Repeat("x", i) + "\n"
		want.WriteString(line)
		_, _ = io.WriteString(w, line)
		time.Sleep(time.Millisecond)
	}
	select {
	case b := <-got:
		t.Fatalf("follow ended before the log was closed, with %d bytes", len(b))
	case <-time.After(50 * time.Millisecond):
	}
	_, err = w.Close()
	require.NoError(t, err)
	select {
	case b := <-got:
		require.Equal(t, want.String(), b)
	case <-ctx.Done():
		t.Fatal("follow did not end after the log was closed")
	}

	// Following a finished log just reads it.
	rc, err = s.Follow(ctx, w.Location())
	require.NoError(t, err)
	require.Equal(t, want.String(), readAll(t, rc))
}

func TestFollowCancelled(t *testing.T) {
	t.Parallel()
	s := newStore(t, logstore.Options{PollInterval: 5 * time.Millisecond})
	w, err := s.Create(drvPath, 1)
	require.NoError(t, err)
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	rc, err := s.Follow(ctx, w.Location())
	require.NoError(t, err)
	defer rc.Close()
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err = io.ReadAll(rc)
	require.ErrorIs(t, err, context.Canceled)
}

func TestBadLocations(t *testing.T) {
	t.Parallel()
	s := newStore(t, logstore.Options{})
	for _, loc := range []string{"", "/etc/passwd.log.zst", "../x.log.zst", "a/../../x.log.zst", "ab/x.txt", `a\..\x.log.zst`} {
		_, err := s.Open(loc)
		require.ErrorIs(t, err, logstore.ErrInvalidLocation, loc)
		_, err = s.Follow(context.Background(), loc)
		require.ErrorIs(t, err, logstore.ErrInvalidLocation, loc)
	}
	_, err := s.Open("ab/missing.log.zst")
	require.ErrorIs(t, err, fs.ErrNotExist)
	_, err = s.Finished("ab/missing.log.zst")
	require.ErrorIs(t, err, fs.ErrNotExist)
}

func TestLargeLogCompresses(t *testing.T) {
	t.Parallel()
	s := newStore(t, logstore.Options{MaxSize: -1})
	w, err := s.Create(drvPath, 1)
	require.NoError(t, err)
	chunk := bytes.Repeat([]byte("building something interesting\n"), 1024)
	for range 256 {
		_, _ = w.Write(chunk)
	}
	info, err := w.Close()
	require.NoError(t, err)
	require.Equal(t, int64(256*len(chunk)), info.Size)
	require.Less(t, info.CompressedSize, info.Size/50)
	rc := mustOpen(t, s, info.Location)
	n, err := io.Copy(io.Discard, rc)
	require.NoError(t, err)
	require.Equal(t, info.Size, n)
	rc.Close()
}
