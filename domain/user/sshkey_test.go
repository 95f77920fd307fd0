package user_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/domain/domainerr"
	"buildledger/domain/user"
	"buildledger/events"
)

// testKey and its fingerprint as ssh-keygen -lf prints it.
const (
	testKey   = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPQijcovB+hrAprKNr9wUSnEOq2BINBx4i39dULCD8hN test@host"
	testKeyFP = "SHA256:mq2ekg6UM8oInWsOQND3D6oQrKEyebVyRkrssWPr8po"
)

func TestParseSSHKey(t *testing.T) {
	k, err := user.ParseSSHKey("  " + testKey + "\n")
	require.NoError(t, err)
	require.Equal(t, testKeyFP, k.Fingerprint)
	require.Equal(t, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPQijcovB+hrAprKNr9wUSnEOq2BINBx4i39dULCD8hN", k.Line, "the comment is dropped")
	for name, bad := range map[string]string{
		"empty":          "",
		"no blob":        "ssh-ed25519",
		"private key":    "-----BEGIN OPENSSH PRIVATE KEY-----",
		"dsa":            "ssh-dss AAAAB3NzaC1kc3MAAACBAP",
		"not base64":     "ssh-ed25519 !!!!",
		"type mismatch":  "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIPQijcovB+hrAprKNr9wUSnEOq2BINBx4i39dULCD8hN",
		"short blob":     "ssh-ed25519 AAAA",
		"length overrun": "ssh-ed25519 AAAA/3NzaC1lZDI1NTE5",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := user.ParseSSHKey(bad)
			require.ErrorIs(t, err, domainerr.ErrInvalid)
		})
	}
}

func TestSSHKeysAreSealedAndNeedTheRole(t *testing.T) {
	key := user.Key{ID: "k1", Secret: bytes.Repeat([]byte{7}, user.KeySize)}
	k, err := user.ParseSSHKey(testKey)
	require.NoError(t, err)
	s := user.Evolve(user.State{}, &events.UserCreated{UserName: "alice", KeyID: "k1", Roles: []string{}})
	evs, err := user.Decide(s, user.AddSSHKey{UserName: "alice", Key: k, SealKey: key})
	require.NoError(t, err)
	require.Len(t, evs, 1)
	added := evs[0].(*events.UserSSHKeyAdded)
	require.Equal(t, testKeyFP, added.Fingerprint)
	require.NotContains(t, string(added.Key), "AAAAC3NzaC1lZDI1NTE5", "the key is sealed, not in clear")
	s = user.Evolve(s, added)

	again, err := user.Decide(s, user.AddSSHKey{UserName: "alice", Key: k, SealKey: key})
	require.NoError(t, err)
	require.Empty(t, again, "adding a key twice records nothing")

	lines, err := s.SSHKeyLines(func(string) (user.Key, error) { return key, nil })
	require.NoError(t, err)
	require.Equal(t, map[string]string{testKeyFP: k.Line}, lines)

	require.False(t, s.MaySubmitWith(testKeyFP), "no submit-builds role")
	s = user.Evolve(s, &events.UserRolesChanged{UserName: "alice", Roles: []string{user.RoleSubmitBuilds}})
	require.True(t, s.MaySubmitWith(testKeyFP))
	require.False(t, s.MaySubmitWith("SHA256:other"))
	s = user.Evolve(s, &events.UserDisabled{UserName: "alice"})
	require.False(t, s.MaySubmitWith(testKeyFP), "disabled")
	s = user.Evolve(s, &events.UserEnabled{UserName: "alice"})
	s = user.Evolve(s, &events.UserSSHKeyRemoved{UserName: "alice", Fingerprint: testKeyFP})
	require.False(t, s.MaySubmitWith(testKeyFP), "removed")

	_, err = user.Decide(user.State{}, user.AddSSHKey{UserName: "bob", Key: k, SealKey: key})
	require.ErrorIs(t, err, domainerr.ErrNotFound)
}
