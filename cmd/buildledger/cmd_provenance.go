package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"buildledger/domain/provenance"
)

const provenanceUsage = `usage: buildledger provenance verify FILE --pubkey K`

// runProvenance works with the signed SLSA provenance of builds
// (docs/provenance.md).
func runProvenance(_ context.Context, a *app, args []string) error {
	if len(args) == 0 {
		return errors.New(provenanceUsage)
	}
	switch args[0] {
	case "verify":
		return runProvenanceVerify(a, args[1:])
	}
	return fmt.Errorf("unknown provenance command %q\n%s", args[0], provenanceUsage)
}

// runProvenanceVerify checks a DSSE envelope (GET /build/N/provenance, or
// a cache's HASH.provenance.json) against a public key and prints the
// subjects it vouches for.
func runProvenanceVerify(a *app, args []string) error {
	var pubFile string
	fs := a.newFlagSet("provenance verify", "provenance verify FILE --pubkey K")
	fs.StringVar(&pubFile, "pubkey", "", "the provenance public key (PEM, PKIX; GET /provenance/key)")
	// The file may come before the flags, as the usage shows it.
	var file string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		file, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if file == "" && fs.NArg() == 1 {
		file = fs.Arg(0)
	} else if fs.NArg() != 0 || file == "" {
		return errors.New(provenanceUsage)
	}
	if pubFile == "" {
		return errors.New("--pubkey is required")
	}
	pub, err := readPublicKey(pubFile)
	if err != nil {
		return err
	}
	env, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read envelope: %w", err)
	}
	st, err := provenance.Verify(pub, env)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	subjects, err := provenance.Subjects(st)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "verified: %s signed by key %s\n", file, provenance.KeyID(pub))
	for _, s := range subjects {
		fmt.Fprintf(a.stdout, "subject %s\n", s)
	}
	return nil
}

// provenanceKey loads the key that signs provenance: the operator's file,
// or HOME/provenance-key.pem, generated (with its public half,
// HOME/provenance-key.pem.pub) on first use. It is not the binary cache's
// key: a leak of one does not forge the other.
func provenanceKey(home, file string) (ed25519.PrivateKey, error) {
	if file != "" {
		k, err := readPrivateKey(file)
		if err != nil {
			return nil, fmt.Errorf("--provenance-key-file: %w", err)
		}
		return k, nil
	}
	path := filepath.Join(home, "provenance-key.pem")
	k, err := readPrivateKey(path)
	if err == nil {
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	_, k, err = newKeyPair(path, path+".pub")
	return k, err
}

// newKeyPair generates an ed25519 key pair and writes it, the private
// key as PEM PKCS #8 (mode 0600) and the public key as PEM PKIX; neither
// file may exist.
func newKeyPair(keyFile, pubFile string) (ed25519.PublicKey, ed25519.PrivateKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, fmt.Errorf("encode private key: %w", err)
	}
	if err := writeNew(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), 0o600); err != nil {
		return nil, nil, err
	}
	if err := writeNew(pubFile, provenance.PublicKeyPEM(pub), 0o644); err != nil {
		return nil, nil, err
	}
	return pub, priv, nil
}
