package translog

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// TileHeight is the height of the hash tiles, as C2SP tlog-tiles fixes it.
const TileHeight = 8

// Checkpoint is a C2SP tlog-checkpoint body: the log's origin, the tree's
// size and root hash.
type Checkpoint struct {
	Origin string
	Tree   tlog.Tree
}

// String is the checkpoint's note text.
func (c Checkpoint) String() string {
	return fmt.Sprintf("%s\n%d\n%s\n", c.Origin, c.Tree.N, base64.StdEncoding.EncodeToString(c.Tree.Hash[:]))
}

// ParseCheckpoint reads a checkpoint's note text. Extension lines after
// the root are allowed and ignored, as the spec says.
func ParseCheckpoint(text string) (Checkpoint, error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 || lines[0] == "" {
		return Checkpoint{}, errors.New("checkpoint: want an origin, a size and a root hash line")
	}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != lines[1] {
		return Checkpoint{}, fmt.Errorf("checkpoint: bad tree size %q", lines[1])
	}
	// The decoder skips newlines and carriage returns, so only the
	// canonical encoding is taken: one checkpoint, one text.
	h, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(h) != tlog.HashSize || base64.StdEncoding.EncodeToString(h) != lines[2] {
		return Checkpoint{}, fmt.Errorf("checkpoint: bad root hash %q", lines[2])
	}
	c := Checkpoint{Origin: lines[0], Tree: tlog.Tree{N: n}}
	copy(c.Tree.Hash[:], h)
	return c, nil
}

// OpenCheckpoint verifies a signed checkpoint note with the log's key and
// parses it. The note's key name must be the checkpoint's origin.
func OpenCheckpoint(msg []byte, log note.Verifier) (*note.Note, Checkpoint, error) {
	n, err := note.Open(msg, note.VerifierList(log))
	if err != nil {
		return nil, Checkpoint{}, fmt.Errorf("checkpoint: %w", err)
	}
	c, err := ParseCheckpoint(n.Text)
	if err != nil {
		return nil, Checkpoint{}, err
	}
	if c.Origin != log.Name() {
		return nil, Checkpoint{}, fmt.Errorf("checkpoint: origin %q is not the key's name %q", c.Origin, log.Name())
	}
	return n, c, nil
}

// NewSigner returns a note signer named name for an Ed25519 key (the PEM
// keys audit keygen writes), by the x/mod note key encoding.
func NewSigner(name string, key ed25519.PrivateKey) (note.Signer, error) {
	vkey, err := note.NewEd25519VerifierKey(name, key.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	// vkey is name+hash+base64(alg||pub); skey is the same with the seed.
	hash := strings.Split(vkey, "+")[1]
	skey := "PRIVATE+KEY+" + name + "+" + hash + "+" + base64.StdEncoding.EncodeToString(append([]byte{1}, key.Seed()...))
	return note.NewSigner(skey)
}

// VerifierKey is the x/mod note verifier key of name's Ed25519 key.
func VerifierKey(name string, key ed25519.PublicKey) (string, error) {
	return note.NewEd25519VerifierKey(name, key)
}

// SignCheckpoint signs c as a note with s.
func SignCheckpoint(c Checkpoint, s note.Signer) ([]byte, error) {
	return note.Sign(&note.Note{Text: c.String()}, s)
}

// algCosignatureV1 is the C2SP signed-note algorithm byte of
// tlog-cosignature/v1 signatures, which x/mod's note does not implement.
const algCosignatureV1 = 0x04

// Cosigner makes C2SP tlog-cosignature/v1 signatures: an Ed25519
// signature over "cosignature/v1", the time and the checkpoint's text,
// which says that the witness checked the checkpoint consistent with
// every one it cosigned before.
type Cosigner struct {
	name string
	key  ed25519.PrivateKey
}

// ValidName reports whether name can name a log or a witness in a signed
// note: not empty, valid UTF-8, no white space and no +, as x/mod's note
// requires of key names.
func ValidName(name string) bool {
	return name != "" && utf8.ValidString(name) && strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+")
}

// NewCosigner returns a cosigner named name with key.
func NewCosigner(name string, key ed25519.PrivateKey) *Cosigner {
	return &Cosigner{name: name, key: key}
}

// Cosign returns the signature line that cosigns the checkpoint text at
// time now.
func (c *Cosigner) Cosign(text string, now time.Time) string {
	ts := uint64(now.Unix())
	sig := ed25519.Sign(c.key, cosignedMessage(text, ts))
	pub := c.key.Public().(ed25519.PublicKey)
	b := binary.BigEndian.AppendUint32(nil, cosignatureKeyHash(c.name, pub))
	b = binary.BigEndian.AppendUint64(b, ts)
	return "— " + c.name + " " + base64.StdEncoding.EncodeToString(append(b, sig...)) + "\n"
}

// CosignatureVerifierKey is the vkey of a witness's cosignature/v1 key,
// in the note vkey form (name+hash+base64(0x04||pub)).
func CosignatureVerifierKey(name string, pub ed25519.PublicKey) string {
	return fmt.Sprintf("%s+%08x+%s", name, cosignatureKeyHash(name, pub), base64.StdEncoding.EncodeToString(append([]byte{algCosignatureV1}, pub...)))
}

// CosignatureVerifier checks one witness's cosignature lines.
type CosignatureVerifier struct {
	Name string
	hash uint32
	pub  ed25519.PublicKey
}

// NewCosignatureVerifier parses a witness's cosignature vkey.
func NewCosignatureVerifier(vkey string) (*CosignatureVerifier, error) {
	f := strings.SplitN(strings.TrimSpace(vkey), "+", 3)
	if len(f) != 3 {
		return nil, fmt.Errorf("witness key %q: want name+hash+key", vkey)
	}
	h, err1 := strconv.ParseUint(f[1], 16, 32)
	k, err2 := base64.StdEncoding.DecodeString(f[2])
	if err1 != nil || len(f[1]) != 8 || err2 != nil || len(k) != 1+ed25519.PublicKeySize || k[0] != algCosignatureV1 ||
		base64.StdEncoding.EncodeToString(k) != f[2] {
		return nil, fmt.Errorf("witness key %q: not a cosignature/v1 Ed25519 key", vkey)
	}
	if !ValidName(f[0]) {
		return nil, fmt.Errorf("witness key %q: the name %q is not a key name (no spaces or +)", vkey, f[0])
	}
	v := &CosignatureVerifier{Name: f[0], hash: uint32(h), pub: ed25519.PublicKey(k[1:])}
	if cosignatureKeyHash(v.Name, v.pub) != v.hash {
		return nil, fmt.Errorf("witness key %q: key hash does not match", vkey)
	}
	return v, nil
}

// Verify checks that line is this witness's cosignature of the checkpoint
// text, and returns its time.
func (v *CosignatureVerifier) Verify(text, line string) (time.Time, error) {
	rest, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "— "+v.Name+" ")
	if !ok {
		return time.Time{}, fmt.Errorf("cosignature: not a signature line of %s", v.Name)
	}
	b, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(b) != 4+8+ed25519.SignatureSize {
		return time.Time{}, errors.New("cosignature: malformed signature")
	}
	if binary.BigEndian.Uint32(b) != v.hash {
		return time.Time{}, errors.New("cosignature: made with another key")
	}
	ts := binary.BigEndian.Uint64(b[4:])
	if !ed25519.Verify(v.pub, cosignedMessage(text, ts), b[12:]) {
		return time.Time{}, errors.New("cosignature: signature does not verify")
	}
	return time.Unix(int64(ts), 0), nil
}

// cosignedMessage is what a cosignature/v1 signature covers.
func cosignedMessage(text string, ts uint64) []byte {
	return []byte("cosignature/v1\ntime " + strconv.FormatUint(ts, 10) + "\n" + text)
}

// cosignatureKeyHash is the signed-note key id of a cosignature/v1 key:
// the first 4 bytes of SHA-256(name || "\n" || 0x04 || key).
func cosignatureKeyHash(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.Sum256(bytes.Join([][]byte{[]byte(name + "\n"), {algCosignatureV1}, pub}, nil))
	return binary.BigEndian.Uint32(h[:4])
}

// TilePath is the C2SP tlog-tiles path of t below the log's prefix:
// tile/<L>/<N>[.p/<W>] or, for entry bundles (L -1), tile/entries/....
func TilePath(t tlog.Tile) string {
	p := strings.TrimPrefix(t.Path(), "tile/"+strconv.Itoa(TileHeight)+"/")
	return "tile/" + strings.Replace(p, "data/", "entries/", 1)
}

// ParseTilePath parses a C2SP tlog-tiles path (see TilePath).
func ParseTilePath(path string) (tlog.Tile, error) {
	rest, ok := strings.CutPrefix(path, "tile/")
	if !ok {
		return tlog.Tile{}, fmt.Errorf("malformed tile path %q", path)
	}
	if after, isData := strings.CutPrefix(rest, "entries/"); isData {
		rest = "data/" + after
	} else if strings.HasPrefix(rest, "data/") {
		return tlog.Tile{}, fmt.Errorf("malformed tile path %q", path)
	}
	t, err := tlog.ParseTilePath("tile/" + strconv.Itoa(TileHeight) + "/" + rest)
	if err != nil {
		return tlog.Tile{}, fmt.Errorf("malformed tile path %q", path)
	}
	return t, nil
}
