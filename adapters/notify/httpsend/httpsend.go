// Package httpsend delivers the outbox's HTTP notifications (commit
// statuses, webhooks): it adds the credentials the request names, from
// the secrets hydra.conf holds, signs webhook bodies, and sends.
package httpsend

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"buildledger/commands/reactors/outbox"
)

// Sender sends outbox.HTTPRequest payloads. It implements outbox.Sender.
type Sender struct {
	// Client sends; nil is http.DefaultClient.
	Client *http.Client
	// Secrets are the credentials by the names requests give
	// ("github_authorization/owner", "gitea_authorization/owner",
	// "gitlab_authorization/project", "githubstatus/0", "bitbucket",
	// "webhook/project").
	Secrets map[string]string
	// UserAgent is sent with every request.
	UserAgent string
}

var _ outbox.Sender = (*Sender)(nil)

// Send implements outbox.Sender. The notification's key goes out as
// Idempotency-Key, so a receiver that keeps keys can drop the one
// duplicate a crash between send and record may cause.
func (s *Sender) Send(ctx context.Context, key string, payload []byte) (string, error) {
	var r outbox.HTTPRequest
	if err := json.Unmarshal(payload, &r); err != nil {
		return "", fmt.Errorf("decode request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return "", errors.New("the request's URL does not parse")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	if s.UserAgent != "" {
		req.Header.Set("User-Agent", s.UserAgent)
	}
	for k, v := range r.Header {
		req.Header.Set(k, v)
	}
	if len(r.Auth) > 0 {
		secret, ok := s.secret(r.Auth)
		if !ok {
			return "", fmt.Errorf("no credentials configured for %v", r.Auth)
		}
		switch {
		case r.Basic:
			req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(secret)))
		case r.AuthHeader != "":
			req.Header.Set(r.AuthHeader, r.AuthPrefix+secret)
		default:
			req.Header.Set("Authorization", r.AuthPrefix+secret)
		}
	}
	if r.HMACKey != "" {
		secret, ok := s.Secrets[r.HMACKey]
		if !ok {
			return "", fmt.Errorf("no signing secret configured for %s", r.HMACKey)
		}
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(r.Body)
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	}
	client := s.Client
	if client == nil {
		client = http.DefaultClient
	}
	// Errors are recorded in the log: they name the host, never the
	// whole URL, which can be a credential (a Slack webhook's path).
	where := r.Method + " " + req.URL.Scheme + "://" + req.URL.Host
	resp, err := client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return "", fmt.Errorf("%s: %w", where, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("%s: %s: %s", where, resp.Status, bytes.TrimSpace(body))
	}
	return resp.Status, nil
}

func (s *Sender) secret(refs []string) (string, bool) {
	for _, ref := range refs {
		if v, ok := s.Secrets[ref]; ok && v != "" {
			return v, true
		}
	}
	return "", false
}
