package user

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"slices"
	"strings"

	"buildledger/domain/domainerr"
	"buildledger/events"
)

// MaxSSHKeys caps the keys one user may register.
const MaxSSHKeys = 32

// sshKeyTypes are the public key types the remote-builder port accepts
// (those x/crypto/ssh's server verifies). DSA and RSA-SHA1-only clients
// are not listed because the server refuses them anyway.
var sshKeyTypes = []string{
	"ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
	"sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
}

// SSHKey is a public key in the authorized_keys form.
type SSHKey struct {
	// Line is "TYPE BASE64" without comment or options: the comment is
	// dropped because it is often a user@host the key does not need.
	Line string
	// Fingerprint is OpenSSH's "SHA256:" form: the unpadded base64 of the
	// SHA-256 of the key blob.
	Fingerprint string
}

// ParseSSHKey reads one public key in authorized_keys form ("TYPE BASE64
// [COMMENT]"). It checks the blob names the same type as the line; the
// SSH server parses the key fully when a client presents it.
func ParseSSHKey(text string) (SSHKey, error) {
	fields := strings.Fields(strings.TrimSpace(text))
	if len(fields) < 2 {
		return SSHKey{}, domainerr.Invalid("key", "want an SSH public key as in authorized_keys: TYPE BASE64 [COMMENT]")
	}
	typ := fields[0]
	if !slices.Contains(sshKeyTypes, typ) {
		return SSHKey{}, domainerr.Invalid("key", "unsupported SSH key type %q, want one of %v", typ, sshKeyTypes)
	}
	blob, err := base64.StdEncoding.DecodeString(fields[1])
	if err != nil {
		return SSHKey{}, domainerr.Invalid("key", "SSH key is not base64: %v", err)
	}
	if len(blob) < 4 || len(blob) > 16<<10 {
		return SSHKey{}, domainerr.Invalid("key", "SSH key blob of %d bytes", len(blob))
	}
	n := binary.BigEndian.Uint32(blob)
	if uint64(n) > uint64(len(blob)-4) || string(blob[4:4+n]) != typ {
		return SSHKey{}, domainerr.Invalid("key", "SSH key blob is not a %s key", typ)
	}
	return SSHKey{Line: typ + " " + fields[1], Fingerprint: Fingerprint(blob)}, nil
}

// Fingerprint is OpenSSH's SHA256 fingerprint of a public key blob (the
// wire form), the same as x/crypto/ssh's FingerprintSHA256.
func Fingerprint(blob []byte) string {
	sum := sha256.Sum256(blob)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// AddSSHKey registers Key for the user, sealed with SealKey (the user's
// profile key).
type AddSSHKey struct {
	UserName string
	Key      SSHKey
	SealKey  Key
}

// RemoveSSHKey unregisters the key with the given fingerprint.
type RemoveSSHKey struct {
	UserName    string
	Fingerprint string
}

func (AddSSHKey) userCommand()    {}
func (RemoveSSHKey) userCommand() {}

func decideAddSSHKey(s State, c AddSSHKey) ([]events.Payload, error) {
	switch {
	case !s.Exists:
		return nil, domainerr.NotFound("user", c.UserName)
	case s.SSHKeys[c.Key.Fingerprint] != nil:
		return nil, nil
	case len(s.SSHKeys) >= MaxSSHKeys:
		return nil, domainerr.Invalid("key", "user %s has %d SSH keys already, the most allowed", s.UserName, MaxSSHKeys)
	}
	sealed, err := c.SealKey.seal(s.UserName, "ssh key", []byte(c.Key.Line))
	if err != nil {
		return nil, err
	}
	return []events.Payload{&events.UserSSHKeyAdded{UserName: s.UserName, Fingerprint: c.Key.Fingerprint,
		KeyID: c.SealKey.ID, Key: sealed}}, nil
}

// MaySubmitWith reports whether the user may submit builds authenticated
// by the SSH key with this fingerprint: they may authenticate, have the
// submit-builds role (or are an admin), and registered the key.
func (s State) MaySubmitWith(fingerprint string) bool {
	return s.MayAuthenticate() && (s.HasRole(RoleSubmitBuilds) || s.HasRole(RoleAdmin)) && s.SSHKeys[fingerprint] != nil
}

// SSHKeyLines opens the user's registered keys, by fingerprint, with the
// keys key returns for a key id.
func (s State) SSHKeyLines(key func(id string) (Key, error)) (map[string]string, error) {
	out := make(map[string]string, len(s.SSHKeys))
	for fp, sealed := range s.SSHKeys {
		k, err := key(s.SSHKeyIDs[fp])
		if err != nil {
			return nil, err
		}
		plain, err := k.open(s.UserName, "ssh key", sealed)
		if err != nil {
			return nil, err
		}
		out[fp] = string(plain)
	}
	return out, nil
}
