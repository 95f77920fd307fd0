package serve

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/nix-community/go-nix/pkg/nar"
	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/nix-community/go-nix/pkg/nixhash"
)

// ErrNotContentAddressed refuses a path whose name cannot be checked
// against its contents: an input-addressed path, which only the builder
// that made it can vouch for.
var ErrNotContentAddressed = errors.New("not content-addressed")

// VerifyContentAddress checks that the store path of info follows from
// the NAR (whose SHA-256 is narSHA256) and the content address info.CA
// claims, as Nix computes store paths: "text:sha256:…" (derivations and
// builtins.toFile), "fixed:r:sha256:…" (sources added recursively) and
// "fixed:<algo>:…" (flat fixed outputs). A path without one is
// ErrNotContentAddressed. It also checks info.NarHash against narSHA256.
func VerifyContentAddress(info PathInfo, nar []byte, narSHA256 []byte) error {
	if info.NarHash != "" {
		if want := "sha256:" + nixbase32.EncodeToString(narSHA256); info.NarHash != want && !sameHash(info.NarHash, narSHA256) {
			return fmt.Errorf("%s: NAR hash %s does not match the NAR sent (%s)", info.Path, info.NarHash, want)
		}
	}
	dir, base := path.Split(info.Path)
	dir = strings.TrimSuffix(dir, "/")
	_, name, ok := strings.Cut(base, "-")
	if !ok || dir == "" {
		return fmt.Errorf("%q is not a store path", info.Path)
	}
	method, rest, _ := strings.Cut(info.CA, ":")
	var typ string
	var digest []byte
	refs := selfless(info.References, info.Path)
	hasSelf := len(refs) != len(info.References)
	switch {
	case method == "text":
		h, err := parseCAHash(rest)
		if err != nil {
			return fmt.Errorf("%s: %w", info.Path, err)
		}
		contents, err := flatContents(nar)
		if err != nil {
			return fmt.Errorf("%s: %w", info.Path, err)
		}
		sum := sha256.Sum256(contents)
		if h.Algo() != nixhash.SHA256 || !bytes.Equal(h.Digest(), sum[:]) {
			return fmt.Errorf("%s: content address %s does not match its contents", info.Path, info.CA)
		}
		if hasSelf {
			return fmt.Errorf("%s: a text path cannot refer to itself", info.Path)
		}
		typ, digest = storeType("text", refs, false), sum[:]
	case method == "fixed" && strings.HasPrefix(rest, "r:"):
		h, err := parseCAHash(strings.TrimPrefix(rest, "r:"))
		if err != nil {
			return fmt.Errorf("%s: %w", info.Path, err)
		}
		if h.Algo() == nixhash.SHA256 {
			if !bytes.Equal(h.Digest(), narSHA256) {
				return fmt.Errorf("%s: content address %s does not match its NAR", info.Path, info.CA)
			}
			typ, digest = storeType("source", refs, hasSelf), narSHA256
			break
		}
		return fmt.Errorf("%s: recursive %s content addresses are not checked here: %w", info.Path, h.Algo(), ErrNotContentAddressed)
	case method == "fixed":
		h, err := parseCAHash(rest)
		if err != nil {
			return fmt.Errorf("%s: %w", info.Path, err)
		}
		contents, err := flatContents(nar)
		if err != nil {
			return fmt.Errorf("%s: %w", info.Path, err)
		}
		hf := h.Algo().Func().New()
		hf.Write(contents)
		if !bytes.Equal(h.Digest(), hf.Sum(nil)) {
			return fmt.Errorf("%s: content address %s does not match its contents", info.Path, info.CA)
		}
		if len(info.References) > 0 {
			return fmt.Errorf("%s: a flat fixed-output path has no references", info.Path)
		}
		inner := sha256.Sum256([]byte("fixed:out:" + h.Algo().String() + ":" + hex.EncodeToString(h.Digest()) + ":"))
		typ, digest = "output:out", inner[:]
	default:
		return fmt.Errorf("%s: %w", info.Path, ErrNotContentAddressed)
	}
	if want := makeStorePath(dir, typ, digest, name); want != info.Path {
		return fmt.Errorf("%s: its contents make it %s", info.Path, want)
	}
	return nil
}

// makeStorePath is Nix's store path of a fingerprint "TYPE:sha256:HEX:DIR:NAME".
func makeStorePath(dir, typ string, digest []byte, name string) string {
	fp := sha256.Sum256([]byte(typ + ":sha256:" + hex.EncodeToString(digest) + ":" + dir + ":" + name))
	return dir + "/" + nixbase32.EncodeToString(nixhash.CompressHash(fp[:], 20)) + "-" + name
}

// storeType is Nix's path type with its references: "TYPE:REF…[:self]".
func storeType(typ string, refs []string, self bool) string {
	refs = append([]string(nil), refs...)
	sort.Strings(refs)
	for _, r := range refs {
		typ += ":" + r
	}
	if self {
		typ += ":self"
	}
	return typ
}

func selfless(refs []string, self string) []string {
	out := make([]string, 0, len(refs))
	for _, r := range refs {
		if r != self {
			out = append(out, r)
		}
	}
	return out
}

func parseCAHash(s string) (*nixhash.Hash, error) {
	h, err := nixhash.ParseAny(s, nil)
	if err != nil {
		return nil, fmt.Errorf("content address hash %q: %w", s, err)
	}
	return &h.Hash, nil
}

func sameHash(s string, digest []byte) bool {
	h, err := nixhash.ParseAny(s, nil)
	return err == nil && h.Algo() == nixhash.SHA256 && bytes.Equal(h.Digest(), digest)
}

// flatContents returns the contents of a NAR that holds one regular file.
func flatContents(b []byte) ([]byte, error) {
	r, err := nar.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	h, err := r.Next()
	if err != nil {
		return nil, err
	}
	if h.Type != nar.TypeRegular || h.Path != "/" {
		return nil, errors.New("a flat content address needs a single regular file")
	}
	return io.ReadAll(r)
}

// CheckContentAddress is VerifyContentAddress for a path that may come
// without its content address, as in the export format, which has none:
// without info.CA it tries the addresses the contents can have (text,
// then a recursive SHA-256 source) and returns the one that makes the
// path's name, or an error wrapping ErrNotContentAddressed.
func CheckContentAddress(info PathInfo, nar []byte, narSHA256 []byte) (string, error) {
	if info.CA != "" {
		return info.CA, VerifyContentAddress(info, nar, narSHA256)
	}
	var candidates []string
	if contents, err := flatContents(nar); err == nil {
		sum := sha256.Sum256(contents)
		candidates = append(candidates, "text:sha256:"+nixbase32.EncodeToString(sum[:]))
	}
	candidates = append(candidates, "fixed:r:sha256:"+nixbase32.EncodeToString(narSHA256))
	for _, ca := range candidates {
		info.CA = ca
		if VerifyContentAddress(info, nar, narSHA256) == nil {
			return ca, nil
		}
	}
	return "", fmt.Errorf("%s: %w", info.Path, ErrNotContentAddressed)
}
