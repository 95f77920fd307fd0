package web_test

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/domain/domainerr"
	"buildledger/domain/provenance"
	"buildledger/web"
)

// statements is a fixed set of provenance statements by build.
type statements map[int64][]byte

func (s statements) Statement(_ context.Context, id int64) ([]byte, error) {
	if p, ok := s[id]; ok {
		return p, nil
	}
	return nil, domainerr.NotFound("provenance of build", strconv.FormatInt(id, 10))
}

// TestProvenanceRoutes: a build's provenance is its statement signed with
// the provenance key, served to whoever may read the build; the key is
// served as PEM; a build without a statement, or a server without the
// key, answers with an error and signs nothing.
func TestProvenanceRoutes(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	st := []byte(`{"_type":"https://in-toto.io/Statement/v1"}`)
	with := func(c *web.Config) { c.Provenance, c.ProvenanceKey = statements{1: st}, key }

	e := newEnv(t, envOpts{cfg: with})
	anon := e.anon()
	res := anon.do("GET", "/build/1/provenance", nil)
	require.Equal(t, http.StatusOK, res.code, res.body)
	require.Equal(t, "application/json", res.header.Get("Content-Type"))
	got, err := provenance.Verify(pub, []byte(res.body))
	require.NoError(t, err)
	require.Equal(t, st, got)

	res = anon.do("GET", "/provenance/key", nil)
	require.Equal(t, http.StatusOK, res.code)
	k, err := provenance.ParsePublicKeyPEM([]byte(res.body))
	require.NoError(t, err)
	require.Equal(t, pub, k)

	require.Equal(t, http.StatusNotFound, anon.do("GET", "/build/2/provenance", nil, "Accept", "application/json").code, "a build without a statement")
	require.Equal(t, http.StatusNotFound, anon.do("GET", "/build/999/provenance", nil, "Accept", "application/json").code, "no such build")
	require.Equal(t, http.StatusNotFound, anon.do("GET", "/build/x/provenance", nil, "Accept", "application/json").code)

	private := newEnv(t, envOpts{private: true, cfg: with})
	res = private.anon().do("GET", "/build/1/provenance", nil, "Accept", "application/json")
	require.NotEqual(t, http.StatusOK, res.code, "a private server shows provenance only to those who may read the build")

	bare := newEnv(t, envOpts{})
	require.Equal(t, http.StatusNotImplemented, bare.anon().do("GET", "/build/1/provenance", nil, "Accept", "application/json").code)
	require.Equal(t, http.StatusNotImplemented, bare.anon().do("GET", "/provenance/key", nil, "Accept", "application/json").code)
}
