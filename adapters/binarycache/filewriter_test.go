package binarycache

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nix-community/go-nix/pkg/narinfo"
	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/stretchr/testify/require"
)

// newTestWriter returns a signing FileWriter on a fresh directory.
func newTestWriter(t testing.TB, c Compression) (*FileWriter, signature.PublicKey) {
	t.Helper()
	sk, pk, err := GenerateKey("test-cache-1")
	require.NoError(t, err)
	w, err := NewFileWriter(t.TempDir(), FileWriterOptions{Compression: c, SecretKeys: []signature.SecretKey{sk}})
	require.NoError(t, err)
	return w, pk
}

func TestUploadClosureNixCopy(t *testing.T) {
	fx := buildFixture(t)
	ctx := context.Background()
	for _, c := range []Compression{CompressionZstd, CompressionXz, CompressionNone} {
		t.Run(string(c), func(t *testing.T) {
			w, pk := newTestWriter(t, c)
			ups, err := LocalStore{}.UploadClosure(ctx, w, fx.top)
			require.NoError(t, err)
			require.Len(t, ups, 1)
			u := ups[0]

			info, err := LocalStore{}.PathInfo(ctx, fx.top)
			require.NoError(t, err)
			require.Equal(t, fx.top, u.StorePath)
			require.Equal(t, info.NarHash, u.NarHash)
			require.Equal(t, info.NarSize, u.NarSize)
			require.Equal(t, []string{fx.dep}, u.References)
			require.Equal(t, info.Deriver, u.Deriver)
			require.Equal(t, string(c), u.Compression)
			require.Equal(t, w.URL(), u.CacheURL)
			require.Len(t, u.Signatures, 1)
			require.True(t, Verify(info, u.Signatures, []signature.PublicKey{pk}))
			st, err := os.Stat(filepath.Join(w.Dir(), u.URL))
			require.NoError(t, err)
			require.Equal(t, u.FileSize, st.Size())
			if c == CompressionNone {
				require.Equal(t, u.NarHash, u.FileHash)
			}

			has, err := w.Has(ctx, fx.dep)
			require.NoError(t, err)
			require.True(t, has, "the closure includes the dependency")
			ci, err := os.ReadFile(filepath.Join(w.Dir(), "nix-cache-info"))
			require.NoError(t, err)
			require.Equal(t, cacheInfo, string(ci))

			// The narinfo parses and holds base names.
			f, err := os.Open(filepath.Join(w.Dir(), fx.top[len("/nix/store/"):][:32]+".narinfo"))
			require.NoError(t, err)
			defer f.Close()
			ni, err := narinfo.Parse(f)
			require.NoError(t, err)
			require.Equal(t, []string{filepath.Base(fx.dep)}, ni.References)
			require.Equal(t, filepath.Base(info.Deriver), ni.Deriver)
			require.True(t, signature.VerifyFirst(ni.Fingerprint(), ni.Signatures, []signature.PublicKey{pk}))

			store, out, err := nixCopy(t, w.URL(), fx.top, pk.String())
			require.NoError(t, err, out)
			requireCopied(t, store, fx)
		})
	}
}

// requireCopied checks the fixture's files in a chroot store.
func requireCopied(t *testing.T, store string, fx fixture) {
	t.Helper()
	ref, err := os.ReadFile(filepath.Join(store, fx.top, "ref"))
	require.NoError(t, err)
	require.Equal(t, fx.dep+"\n", string(ref))
	st, err := os.Stat(filepath.Join(store, fx.top, "run"))
	require.NoError(t, err)
	require.NotZero(t, st.Mode()&0o100, "run stays executable")
	link, err := os.Readlink(filepath.Join(store, fx.top, "link"))
	require.NoError(t, err)
	require.Equal(t, "ref", link)
	dep, err := os.ReadFile(filepath.Join(store, fx.dep))
	require.NoError(t, err)
	require.Equal(t, "dependency\n", string(dep))
}

func TestNixRejectsBadSignatures(t *testing.T) {
	fx := buildFixture(t)
	ctx := context.Background()
	_, otherPK, err := GenerateKey("test-cache-1")
	require.NoError(t, err)

	tests := []struct {
		name    string
		tamper  func(narinfo string) string
		trusted func(pk signature.PublicKey) string
		wantErr bool
	}{
		{
			name:    "intact",
			tamper:  func(s string) string { return s },
			trusted: func(pk signature.PublicKey) string { return pk.String() },
		},
		{
			name:    "flipped signature byte",
			tamper:  flipSignature,
			trusted: func(pk signature.PublicKey) string { return pk.String() },
			wantErr: true,
		},
		{
			name: "signature removed",
			tamper: func(s string) string {
				return s[:strings.Index(s, "Sig: ")]
			},
			trusted: func(pk signature.PublicKey) string { return pk.String() },
			wantErr: true,
		},
		{
			name:    "same name, other key",
			tamper:  func(s string) string { return s },
			trusted: func(signature.PublicKey) string { return otherPK.String() },
			wantErr: true,
		},
		{
			name: "references changed",
			tamper: func(s string) string {
				return strings.Replace(s, "References: "+filepath.Base(fx.dep), "References: ", 1)
			},
			trusted: func(pk signature.PublicKey) string { return pk.String() },
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, pk := newTestWriter(t, CompressionZstd)
			_, err := LocalStore{}.UploadClosure(ctx, w, fx.top)
			require.NoError(t, err)
			p := filepath.Join(w.Dir(), filepath.Base(fx.top)[:32]+".narinfo")
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(p, []byte(tt.tamper(string(b))), 0o644))

			store, out, err := nixCopy(t, w.URL(), fx.top, tt.trusted(pk))
			if tt.wantErr {
				require.Error(t, err, "nix accepted a bad narinfo: %s", out)
				require.Contains(t, out, "lacks a valid signature")
				_, statErr := os.Stat(filepath.Join(store, fx.top))
				require.True(t, errors.Is(statErr, os.ErrNotExist))
				return
			}
			require.NoError(t, err, out)
			requireCopied(t, store, fx)
		})
	}
}

// flipSignature changes one base64 character of the first Sig line.
func flipSignature(s string) string {
	i := strings.Index(s, "Sig: ")
	j := strings.Index(s[i:], ":") + i + 1 // after "Sig:"
	j = strings.Index(s[j:], ":") + j + 1  // after "<name>:"
	b := []byte(s)
	if b[j+3] == 'A' {
		b[j+3] = 'B'
	} else {
		b[j+3] = 'A'
	}
	return string(b)
}

// failReader fails the test's expectations if Put reads from it.
type failReader struct{ read bool }

func (f *failReader) Read([]byte) (int, error) {
	f.read = true
	return 0, errors.New("must not be read")
}

func TestPutIdempotent(t *testing.T) {
	fx := buildFixture(t)
	ctx := context.Background()
	w, _ := newTestWriter(t, CompressionZstd)
	first, err := LocalStore{}.Upload(ctx, w, fx.dep)
	require.NoError(t, err)
	narinfoPath := filepath.Join(w.Dir(), filepath.Base(fx.dep)[:32]+".narinfo")
	before, err := os.Stat(narinfoPath)
	require.NoError(t, err)

	fr := &failReader{}
	again, err := w.Put(ctx, PathInfo{StorePath: fx.dep}, fr)
	require.NoError(t, err)
	require.False(t, fr.read)
	require.Equal(t, first, again)
	after, err := os.Stat(narinfoPath)
	require.NoError(t, err)
	require.Equal(t, before.ModTime(), after.ModTime())

	// A narinfo whose NAR file vanished is rewritten.
	require.NoError(t, os.Remove(filepath.Join(w.Dir(), first.URL)))
	redo, err := LocalStore{}.Upload(ctx, w, fx.dep)
	require.NoError(t, err)
	require.Equal(t, first, redo)
	_, err = os.Stat(filepath.Join(w.Dir(), first.URL))
	require.NoError(t, err)
}

func TestPutRejects(t *testing.T) {
	fx := buildFixture(t)
	ctx := context.Background()
	var nar bytes.Buffer
	require.NoError(t, LocalStore{}.DumpNAR(ctx, &nar, fx.dep))
	info, err := LocalStore{}.PathInfo(ctx, fx.dep)
	require.NoError(t, err)

	tests := []struct {
		name    string
		info    PathInfo
		nar     []byte
		wantErr string
	}{
		{"wrong nar hash", PathInfo{StorePath: fx.dep, NarHash: "sha256:" + strings.Repeat("0", 52)}, nar.Bytes(), "nar hash mismatch"},
		{"wrong nar size", PathInfo{StorePath: fx.dep, NarSize: info.NarSize + 1}, nar.Bytes(), "nar size mismatch"},
		{"not a nar", PathInfo{StorePath: fx.dep}, bytes.Repeat([]byte("x"), 100), "bad magic"},
		{"short input", PathInfo{StorePath: fx.dep}, []byte("x"), "nar header"},
		{"bad store path", PathInfo{StorePath: "/tmp/x"}, nar.Bytes(), "invalid store path"},
		{"bad reference", PathInfo{StorePath: fx.dep, References: []string{"foo"}}, nar.Bytes(), "reference"},
		{"bad deriver", PathInfo{StorePath: fx.dep, Deriver: "/nix/store/x.drv"}, nar.Bytes(), "deriver"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, _ := newTestWriter(t, CompressionZstd)
			_, err := w.Put(ctx, tt.info, bytes.NewReader(tt.nar))
			require.ErrorContains(t, err, tt.wantErr)
			has, err := w.Has(ctx, fx.dep)
			require.NoError(t, err)
			require.False(t, has, "a failed put leaves no narinfo")
			left, err := filepath.Glob(filepath.Join(w.Dir(), "nar", ".tmp-*"))
			require.NoError(t, err)
			require.Empty(t, left, "a failed put leaves no temp file")
		})
	}
}

func TestPutCancelled(t *testing.T) {
	fx := buildFixture(t)
	var nar bytes.Buffer
	require.NoError(t, LocalStore{}.DumpNAR(context.Background(), &nar, fx.dep))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w, _ := newTestWriter(t, CompressionZstd)
	_, err := w.Put(ctx, PathInfo{StorePath: fx.dep}, &nar)
	require.ErrorIs(t, err, context.Canceled)
}

func TestOpenFileURL(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		url     string
		wantErr bool
	}{
		{"file://" + dir, false},
		{"file://localhost" + dir, false},
		{"s3://bucket", true},
		{"file://host/x", true},
		{"file://", true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			w, err := OpenFileURL(tt.url, FileWriterOptions{})
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, "file://"+dir, w.URL())
		})
	}
	_, err := NewFileWriter(dir, FileWriterOptions{Compression: "bzip2"})
	require.ErrorContains(t, err, "unsupported compression")
}

func TestHasInvalidPath(t *testing.T) {
	w, _ := newTestWriter(t, CompressionZstd)
	_, err := w.Has(context.Background(), "/nix/store/../../etc/passwd")
	require.Error(t, err)
}

// TestUploadDerivationClosure uploads a derivation with its closure (input
// derivations and sources): path infos of derivations are their own, not
// their outputs', and Nix copies the derivation from the cache.
func TestUploadDerivationClosure(t *testing.T) {
	fx := buildFixture(t)
	ctx := context.Background()
	drv, err := LocalStore{}.PathInfo(ctx, fx.top)
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(drv.Deriver, ".drv"))
	closure, err := LocalStore{}.Closure(ctx, drv.Deriver)
	require.NoError(t, err)
	infos, err := LocalStore{}.PathInfos(ctx, append(closure, fx.top)...)
	require.NoError(t, err)
	require.Len(t, infos, len(closure)+1)
	for i, p := range closure {
		require.Equal(t, p, infos[i].StorePath)
		require.Empty(t, infos[i].Deriver, "%s has no deriver", p)
	}
	require.Equal(t, drv.Deriver, infos[len(infos)-1].Deriver, "an output keeps its deriver")

	w, pk := newTestWriter(t, CompressionZstd)
	ups, err := LocalStore{}.UploadClosure(ctx, w, drv.Deriver)
	require.NoError(t, err)
	require.Len(t, ups, 1)
	require.Equal(t, drv.Deriver, ups[0].StorePath)
	for _, p := range closure {
		has, err := w.Has(ctx, p)
		require.NoError(t, err)
		require.True(t, has, "%s uploaded", p)
	}
	store := t.TempDir() + "/store"
	out, err := tryNix(t, "nix", "--extra-experimental-features", "nix-command", "copy", "--derivation",
		"--from", w.URL(), "--to", store, "--option", "require-sigs", "true",
		"--option", "trusted-public-keys", pk.String(), "--option", "substituters", "", drv.Deriver)
	require.NoError(t, err, out)
	require.FileExists(t, filepath.Join(store, drv.Deriver))
}
