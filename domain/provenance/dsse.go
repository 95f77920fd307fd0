package provenance

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
)

// PayloadType is the DSSE payload type of an in-toto statement.
const PayloadType = "application/vnd.in-toto+json"

// Envelope is a DSSE envelope (JSON form).
type Envelope struct {
	PayloadType string      `json:"payloadType"`
	Payload     []byte      `json:"payload"` // base64 in JSON
	Signatures  []Signature `json:"signatures"`
}

// Signature is one DSSE signature.
type Signature struct {
	KeyID string `json:"keyid"`
	Sig   []byte `json:"sig"` // base64 in JSON
}

// PAE is DSSE's pre-authentication encoding, which is what is signed:
// "DSSEv1", the payload type and the payload, each length in decimal,
// separated by single spaces.
func PAE(payloadType string, payload []byte) []byte {
	b := make([]byte, 0, len("DSSEv1")+len(payloadType)+len(payload)+24)
	b = append(b, "DSSEv1 "...)
	b = strconv.AppendInt(b, int64(len(payloadType)), 10)
	b = append(b, ' ')
	b = append(b, payloadType...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(payload)), 10)
	b = append(b, ' ')
	return append(b, payload...)
}

// KeyID names pub: the hex SHA-256 of its PKIX (DER) encoding.
func KeyID(pub ed25519.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil { // an ed25519.PublicKey always encodes
		panic(err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// Sign returns the envelope of statement signed with key, as JSON.
// Ed25519 signatures are deterministic: the same statement and key give
// the same bytes.
func Sign(key ed25519.PrivateKey, statement []byte) ([]byte, error) {
	pub, ok := key.Public().(ed25519.PublicKey)
	if !ok {
		return nil, errors.New("provenance: key is not ed25519")
	}
	env := Envelope{PayloadType: PayloadType, Payload: statement,
		Signatures: []Signature{{KeyID: KeyID(pub), Sig: ed25519.Sign(key, PAE(PayloadType, statement))}}}
	b, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("provenance: encode envelope: %w", err)
	}
	return b, nil
}

// ErrBadSignature is returned by Verify when no signature of the envelope
// verifies with the key.
var ErrBadSignature = errors.New("provenance: no valid signature for this key")

// Verify checks that an envelope (JSON) of an in-toto statement carries a
// valid signature by pub, and returns the statement.
func Verify(pub ed25519.PublicKey, envelope []byte) ([]byte, error) {
	var env Envelope
	if err := json.Unmarshal(envelope, &env); err != nil {
		return nil, fmt.Errorf("provenance: decode envelope: %w", err)
	}
	if env.PayloadType != PayloadType {
		return nil, fmt.Errorf("provenance: payload type %q, want %q", env.PayloadType, PayloadType)
	}
	msg := PAE(env.PayloadType, env.Payload)
	for _, s := range env.Signatures {
		if ed25519.Verify(pub, msg, s.Sig) {
			return env.Payload, nil
		}
	}
	return nil, ErrBadSignature
}

// PublicKeyPEM encodes pub as a PEM "PUBLIC KEY" block (PKIX), the form
// GET /provenance/key serves and verify --pubkey reads.
func PublicKeyPEM(pub ed25519.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil { // an ed25519.PublicKey always encodes
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// ParsePublicKeyPEM reads an Ed25519 public key from a PEM "PUBLIC KEY"
// block (PKIX).
func ParsePublicKeyPEM(b []byte) (ed25519.PublicKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, errors.New("provenance: no PEM PUBLIC KEY block")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("provenance: parse public key: %w", err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("provenance: public key is %T, want ed25519", k)
	}
	return pub, nil
}

// Record is a stored statement: the build it describes, the log position
// of the BuildFinished it was made at, and its bytes.
type Record struct {
	BuildID  int64
	Position int64
	Payload  []byte
}

// Subjects returns the names (output paths) of a statement's subjects.
func Subjects(statement []byte) ([]string, error) {
	var st struct {
		Subject []struct {
			Name string `json:"name"`
		} `json:"subject"`
	}
	if err := json.Unmarshal(statement, &st); err != nil {
		return nil, fmt.Errorf("provenance: decode statement: %w", err)
	}
	out := make([]string, len(st.Subject))
	for i, s := range st.Subject {
		out[i] = s.Name
	}
	return out, nil
}
