package web

import (
	"context"
	"crypto/ed25519"
	"net/http"

	"buildledger/domain/provenance"
)

// ProvenanceStatements reads the provenance projection's statements
// (adapters/postgres/queries.DB). A build without one is an error
// wrapping domainerr.ErrNotFound.
type ProvenanceStatements interface {
	// Statement returns the in-toto statement of a build, unsigned.
	Statement(ctx context.Context, buildID int64) ([]byte, error)
}

var errNoProvenance = &httpError{Status: http.StatusNotImplemented, Msg: "provenance is not available"}

// buildProvenance answers GET /build/N/provenance: the build's statement
// in a DSSE envelope signed with the provenance key. Whoever may read the
// build may read it (the same route rules).
func (s *server) buildProvenance(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Provenance == nil || s.cfg.ProvenanceKey == nil {
		return errNoProvenance
	}
	b, err := s.loadBuild(r)
	if err != nil {
		return err
	}
	st, err := s.cfg.Provenance.Statement(r.Context(), b.ID)
	if err != nil {
		return err
	}
	env, err := provenance.Sign(s.cfg.ProvenanceKey, st)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(env)
	return err
}

// provenanceKey answers GET /provenance/key: the public half of the
// provenance key, PEM (PKIX).
func (s *server) provenanceKey(w http.ResponseWriter, _ *http.Request) error {
	if s.cfg.ProvenanceKey == nil {
		return errNoProvenance
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	_, err := w.Write(provenance.PublicKeyPEM(s.cfg.ProvenanceKey.Public().(ed25519.PublicKey)))
	return err
}
