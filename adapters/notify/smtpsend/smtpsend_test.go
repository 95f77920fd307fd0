package smtpsend_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/notify/smtpsend"
	"buildledger/adapters/notify/smtptest"
	"buildledger/commands/reactors/email"
)

// TestAuthentication: against an aiosmtpd that requires SMTP AUTH, a
// sender without credentials and one with a wrong password are refused
// (and the error names no password); the right credentials deliver.
func TestAuthentication(t *testing.T) {
	srv := smtptest.StartWithAuth(t, "hydra@example.org", "s3cret-pw")
	payload, err := json.Marshal(email.Mail{To: []string{"dev@example.org"}, Subject: "Failed: Hydra job p:j:hello", Body: "body\n"})
	require.NoError(t, err)
	ctx := context.Background()
	for _, tc := range []struct {
		name, user, password string
		ok                   bool
	}{
		{"no credentials", "", "", false},
		{"wrong password", "hydra@example.org", "wrong-pw", false},
		{"right credentials", "hydra@example.org", "s3cret-pw", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &smtpsend.Sender{Server: srv.Addr, From: "hydra@example.org", Now: time.Now, Username: tc.user, Password: tc.password}
			_, err := s.Send(ctx, "k-"+tc.name, payload)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.NotContains(t, err.Error(), "pw")
			require.NotContains(t, err.Error(), "dev@example.org")
		})
	}
	msgs := srv.Messages(t)
	require.Len(t, msgs, 1)
	require.Equal(t, "dev@example.org", msgs[0].Header.Get("To"))
}

// TestTLSModes: "starttls" refuses a server that does not offer STARTTLS
// rather than send in clear; an unknown mode is refused.
func TestTLSModes(t *testing.T) {
	srv := smtptest.Start(t)
	payload, err := json.Marshal(email.Mail{To: []string{"dev@example.org"}, Subject: "s", Body: "b"})
	require.NoError(t, err)
	for _, mode := range []string{"starttls", "tls1.0"} {
		s := &smtpsend.Sender{Server: srv.Addr, From: "hydra@example.org", Now: time.Now, TLS: mode}
		_, err := s.Send(context.Background(), "k", payload)
		require.Error(t, err, mode)
	}
	require.Empty(t, srv.Messages(t))
}
