package events

// Events of builds submitted at runtime (issue 25): SSH keys of users
// (stream user-<name>) and ad-hoc submissions (stream build-<id>).

// UserSSHKeyAdded records an SSH public key a user may authenticate with
// on the remote-builder port. The key itself is personal data: it is
// sealed with the user's profile key (KeyID) as the profile is, so that
// forgetting the user shreds it; Fingerprint (OpenSSH's SHA256 form)
// is what authentication compares, and is all the log keeps in clear.
type UserSSHKeyAdded struct {
	UserName    string `json:"userName"`
	Fingerprint string `json:"fingerprint"`
	KeyID       string `json:"keyId"`
	Key         []byte `json:"key"`
}

// UserSSHKeyRemoved records that a key no longer authenticates the user.
type UserSSHKeyRemoved struct {
	UserName    string `json:"userName"`
	Fingerprint string `json:"fingerprint"`
}

// ClosureEdge is one reference of a submitted closure: From refers to To.
type ClosureEdge struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// AdhocBuildSubmitted records who submitted an ad-hoc build and how: it
// follows the build's BuildQueued on build-<id>. Via is "ssh" (the
// remote-builder port) or "api" (POST /api/build). KeyFingerprint is the
// SSH key or the API token id the request authenticated with;
// ClientVersion the serve protocol version the client announced
// ("2.7"), the only version Nix's handshake carries. Paths and Edges are
// the submitted closure's graph: every store path the build needs and
// the references among them.
type AdhocBuildSubmitted struct {
	BuildID        int64         `json:"buildId"`
	UserName       string        `json:"userName"`
	Via            string        `json:"via"`
	KeyFingerprint string        `json:"keyFingerprint,omitempty"`
	ClientVersion  string        `json:"clientVersion,omitempty"`
	DrvPath        string        `json:"drvPath"`
	Paths          []string      `json:"paths"`
	Edges          []ClosureEdge `json:"edges,omitempty"`
	Timestamp      int64         `json:"timestamp"`
}

func (UserSSHKeyAdded) EventType() string     { return "UserSSHKeyAdded" }
func (UserSSHKeyRemoved) EventType() string   { return "UserSSHKeyRemoved" }
func (AdhocBuildSubmitted) EventType() string { return "AdhocBuildSubmitted" }
