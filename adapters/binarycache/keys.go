package binarycache

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
)

// GenerateKey creates a new ed25519 signing key pair called name, as
// `nix-store --generate-binary-cache-key name sk pk` does.
func GenerateKey(name string) (signature.SecretKey, signature.PublicKey, error) {
	if name == "" || strings.Contains(name, ":") {
		return signature.SecretKey{}, signature.PublicKey{}, fmt.Errorf("generate key: invalid key name %q", name)
	}
	sk, pk, err := signature.GenerateKeypair(name, rand.Reader)
	if err != nil {
		return signature.SecretKey{}, signature.PublicKey{}, fmt.Errorf("generate key %s: %w", name, err)
	}
	return sk, pk, nil
}

// LoadSecretKeyFile reads a secret key file in Nix's "name:base64" format.
func LoadSecretKeyFile(path string) (signature.SecretKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return signature.SecretKey{}, fmt.Errorf("read secret key: %w", err)
	}
	sk, err := signature.LoadSecretKey(strings.TrimSpace(string(b)))
	if err != nil {
		return signature.SecretKey{}, fmt.Errorf("parse secret key %s: %w", path, err)
	}
	return sk, nil
}

// LoadPublicKeyFile reads a public key file in Nix's "name:base64" format.
func LoadPublicKeyFile(path string) (signature.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return signature.PublicKey{}, fmt.Errorf("read public key: %w", err)
	}
	pk, err := signature.ParsePublicKey(strings.TrimSpace(string(b)))
	if err != nil {
		return signature.PublicKey{}, fmt.Errorf("parse public key %s: %w", path, err)
	}
	return pk, nil
}

// SaveKeyPair writes sk to secretPath (mode 0600) and its public half to
// publicPath (mode 0644), without trailing newlines, as Nix does.
func SaveKeyPair(sk signature.SecretKey, secretPath, publicPath string) error {
	if err := writeFileAtomic(secretPath, []byte(sk.String()), 0o600); err != nil {
		return fmt.Errorf("save secret key: %w", err)
	}
	if err := writeFileAtomic(publicPath, []byte(sk.ToPublicKey().String()), 0o644); err != nil {
		return fmt.Errorf("save public key: %w", err)
	}
	return nil
}

// Fingerprint returns the string Nix signs for a store path:
// "1;<storePath>;<narHash>;<narSize>;<references>" where narHash is
// "sha256:<nixbase32>" and references are full store paths, sorted and
// separated by commas.
func Fingerprint(storePath, narHash string, narSize int64, references []string) string {
	refs := sortedUnique(references)
	return "1;" + storePath + ";" + narHash + ";" + strconv.FormatInt(narSize, 10) + ";" + strings.Join(refs, ",")
}

// Sign signs the fingerprint of info (which must carry NarHash and NarSize)
// and returns the signature in "name:base64" form.
func Sign(sk signature.SecretKey, info PathInfo) (string, error) {
	narHash, err := normalizeNarHash(info.NarHash)
	if err != nil {
		return "", fmt.Errorf("sign %s: %w", info.StorePath, err)
	}
	sig, err := sk.Sign(nil, Fingerprint(info.StorePath, narHash, info.NarSize, info.References))
	if err != nil {
		return "", fmt.Errorf("sign %s: %w", info.StorePath, err)
	}
	return sig.String(), nil
}

// Verify reports whether any of sigs ("name:base64") is a valid signature
// of info by one of keys. Unparsable signatures are ignored.
func Verify(info PathInfo, sigs []string, keys []signature.PublicKey) bool {
	narHash, err := normalizeNarHash(info.NarHash)
	if err != nil {
		return false
	}
	fp := Fingerprint(info.StorePath, narHash, info.NarSize, info.References)
	for _, s := range sigs {
		sig, err := signature.ParseSignature(s)
		if err != nil {
			continue
		}
		for _, k := range keys {
			if k.Verify(fp, sig) {
				return true
			}
		}
	}
	return false
}

// writeFileAtomic writes data to a temporary file next to path, syncs it and
// renames it into place.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("create temp for %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", path, err)
	}
	return nil
}
