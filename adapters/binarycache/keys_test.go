package binarycache

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/stretchr/testify/require"
)

func TestKeyFilesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	sk, pk, err := GenerateKey("cache.example.org-1")
	require.NoError(t, err)
	skPath, pkPath := filepath.Join(dir, "sk"), filepath.Join(dir, "pk")
	require.NoError(t, SaveKeyPair(sk, skPath, pkPath))
	st, err := os.Stat(skPath)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	sk2, err := LoadSecretKeyFile(skPath)
	require.NoError(t, err)
	require.Equal(t, sk.String(), sk2.String())
	pk2, err := LoadPublicKeyFile(pkPath)
	require.NoError(t, err)
	require.Equal(t, pk, pk2)

	for _, name := range []string{"", "a:b"} {
		_, _, err := GenerateKey(name)
		require.Error(t, err, "name %q", name)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad"), []byte("name:notbase64!"), 0o600))
	_, err = LoadSecretKeyFile(filepath.Join(dir, "bad"))
	require.Error(t, err)
	_, err = LoadPublicKeyFile(filepath.Join(dir, "bad"))
	require.Error(t, err)
	_, err = LoadSecretKeyFile(filepath.Join(dir, "missing"))
	require.Error(t, err)
}

// TestSignaturesMatchNix signs the fixture with Nix itself (in a chroot
// store) and checks that our signatures are byte for byte the same, with
// both a Nix-generated key and one we generated.
func TestSignaturesMatchNix(t *testing.T) {
	fx := buildFixture(t)
	ctx := context.Background()
	dir := t.TempDir()

	nixSK, nixPK := filepath.Join(dir, "nix-sk"), filepath.Join(dir, "nix-pk")
	runNix(t, "nix-store", "--generate-binary-cache-key", "nix-made-1", nixSK, nixPK)
	ourSK, ourPK := filepath.Join(dir, "our-sk"), filepath.Join(dir, "our-pk")
	sk, _, err := GenerateKey("go-made-1")
	require.NoError(t, err)
	require.NoError(t, SaveKeyPair(sk, ourSK, ourPK))

	store := filepath.Join(dir, "store")
	runNix(t, "nix", "--extra-experimental-features", "nix-command", "copy", "--no-check-sigs", "--to", store, fx.top)
	for _, key := range []string{nixSK, ourSK} {
		runNix(t, "nix", "--extra-experimental-features", "nix-command", "store", "sign", "--store", store, "--key-file", key, fx.top)
	}
	out := runNix(t, "nix", "--extra-experimental-features", "nix-command", "path-info", "--store", store, "--json", "--sigs", fx.top)
	var infos []struct {
		Signatures []string `json:"signatures"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &infos))
	require.Len(t, infos, 1)

	info, err := LocalStore{Store: store}.PathInfo(ctx, fx.top)
	require.NoError(t, err)
	require.Equal(t, []string{fx.dep}, info.References)
	var pubs []signature.PublicKey
	for _, tc := range []struct{ sk, pk string }{{nixSK, nixPK}, {ourSK, ourPK}} {
		key, err := LoadSecretKeyFile(tc.sk)
		require.NoError(t, err)
		pub, err := LoadPublicKeyFile(tc.pk)
		require.NoError(t, err)
		require.Equal(t, pub, key.ToPublicKey())
		pubs = append(pubs, pub)
		sig, err := Sign(key, info)
		require.NoError(t, err)
		require.Contains(t, infos[0].Signatures, sig)
		require.True(t, Verify(info, []string{sig}, []signature.PublicKey{pub}))
	}
	require.True(t, Verify(info, infos[0].Signatures, pubs[:1]))
	tampered := info
	tampered.NarSize++
	require.False(t, Verify(tampered, infos[0].Signatures, pubs))
	require.False(t, Verify(info, []string{"garbage"}, pubs))
}

func TestFingerprint(t *testing.T) {
	got := Fingerprint("/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x", "sha256:h", 7,
		[]string{"/nix/store/cccccccccccccccccccccccccccccccc-c", "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-b", "/nix/store/cccccccccccccccccccccccccccccccc-c"})
	require.Equal(t, "1;/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x;sha256:h;7;/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-b,/nix/store/cccccccccccccccccccccccccccccccc-c", got)
	require.Equal(t, "1;/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x;sha256:h;0;", Fingerprint("/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x", "sha256:h", 0, nil))
}
