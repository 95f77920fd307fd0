package outbox

import "encoding/json"

// HTTPRequest is the payload of a notification sent over HTTP (a commit
// status, a webhook). It holds no secret: Auth names the credentials the
// sender adds, the first of them it has, as the header AuthHeader
// ("Authorization" when empty); Basic makes the credential user:password
// for HTTP basic authentication. HMACKey names a secret to sign the body
// with (X-Hub-Signature-256).
type HTTPRequest struct {
	Method     string            `json:"method"`
	URL        string            `json:"url"`
	Header     map[string]string `json:"header,omitempty"`
	Auth       []string          `json:"auth,omitempty"`
	AuthHeader string            `json:"authHeader,omitempty"`
	AuthPrefix string            `json:"authPrefix,omitempty"`
	Basic      bool              `json:"basic,omitempty"`
	HMACKey    string            `json:"hmacKey,omitempty"`
	Body       json.RawMessage   `json:"body"`
}
