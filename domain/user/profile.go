package user

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
)

// ForgottenName is what every view shows in place of a forgotten user's
// full name.
const ForgottenName = "forgotten user"

// ErrForgotten means a profile's key was destroyed: the user was
// forgotten, and the profile can never be read again.
var ErrForgotten = errors.New("user forgotten: profile key destroyed")

// KeySize is the length of a profile key: AES-256.
const KeySize = 32

// Profile is the personal data of a user. Events carry it sealed with the
// user's own key (Key.Seal), never in clear, so that destroying the key
// erases it from the immutable log (crypto-shredding).
type Profile struct {
	FullName     string `json:"fullName,omitempty"`
	EmailAddress string `json:"emailAddress"`
}

// Key is a user's profile key, kept outside the log (the command side's
// key table). ID is recorded in events; Secret never is.
type Key struct {
	ID     string
	Secret []byte
}

// Seal returns p encrypted with AES-GCM under k, a random nonce first.
// The additional data binds the ciphertext to the user and the key id, so
// a sealed profile cannot be replayed into another user's event.
func (k Key) Seal(userName string, p Profile) ([]byte, error) {
	plain, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("seal profile of %s: %w", userName, err)
	}
	return k.seal(userName, "profile", plain)
}

// Open returns the profile sealed in sealed.
func (k Key) Open(userName string, sealed []byte) (Profile, error) {
	plain, err := k.open(userName, "profile", sealed)
	if err != nil {
		return Profile{}, err
	}
	var p Profile
	if err := json.Unmarshal(plain, &p); err != nil {
		return Profile{}, fmt.Errorf("open profile of %s: %w", userName, err)
	}
	return p, nil
}

// seal encrypts plain, one kind of the user's personal data (what: the
// profile, an SSH key), bound to the user, the key id and the kind.
func (k Key) seal(userName, what string, plain []byte) ([]byte, error) {
	aead, err := k.aead()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal %s of %s: %w", what, userName, err)
	}
	return aead.Seal(nonce, nonce, plain, k.additional(userName, what)), nil
}

func (k Key) open(userName, what string, sealed []byte) ([]byte, error) {
	aead, err := k.aead()
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize() {
		return nil, fmt.Errorf("open %s of %s: too short", what, userName)
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, sealed[:n], sealed[n:], k.additional(userName, what))
	if err != nil {
		return nil, fmt.Errorf("open %s of %s with key %s: %w", what, userName, k.ID, err)
	}
	return plain, nil
}

func (k Key) aead() (cipher.AEAD, error) {
	if len(k.Secret) != KeySize {
		return nil, fmt.Errorf("profile key %s: %d bytes, want %d", k.ID, len(k.Secret), KeySize)
	}
	block, err := aes.NewCipher(k.Secret)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// additional is the AEAD's additional data. A profile's is what it was
// before other kinds were sealed, so that sealed profiles still open.
func (k Key) additional(userName, what string) []byte {
	if what == "profile" {
		return []byte("buildledger user profile\x00" + userName + "\x00" + k.ID)
	}
	return []byte("buildledger user " + what + "\x00" + userName + "\x00" + k.ID)
}
