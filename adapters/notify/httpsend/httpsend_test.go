package httpsend_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/notify/httpsend"
	"buildledger/commands/reactors/outbox"
)

// TestErrorsNameTheHostOnly: an attempt's error is recorded in the log,
// so it must not carry the URL's path (a Slack webhook's credential) or
// the credentials sent.
func TestErrorsNameTheHostOnly(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer srv.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	s := &httpsend.Sender{Secrets: map[string]string{"k": "token-secret"}}
	for _, base := range []string{srv.URL, closed.URL} {
		payload, err := json.Marshal(outbox.HTTPRequest{Method: "POST", URL: base + "/services/T0/B0/path-secret", Auth: []string{"k"}, Body: json.RawMessage(`{}`)})
		require.NoError(t, err)
		_, err = s.Send(context.Background(), "key", payload)
		require.Error(t, err)
		require.NotContains(t, err.Error(), "path-secret")
		require.NotContains(t, err.Error(), "token-secret")
		require.Contains(t, err.Error(), "POST http://127.0.0.1")
	}
}

// TestMissingCredentialsAreNotSentWithout: a request naming credentials
// the sender lacks fails instead of going out unauthenticated.
func TestMissingCredentialsAreNotSentWithout(t *testing.T) {
	hit := false
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hit = true }))
	defer srv.Close()
	payload, err := json.Marshal(outbox.HTTPRequest{Method: "POST", URL: srv.URL, Auth: []string{"github_authorization/x"}, Body: json.RawMessage(`{}`)})
	require.NoError(t, err)
	_, err = (&httpsend.Sender{}).Send(context.Background(), "key", payload)
	require.ErrorContains(t, err, "no credentials")
	require.False(t, hit)
}
