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
	aead, err := k.aead()
	if err != nil {
		return nil, err
	}
	plain, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("seal profile of %s: %w", userName, err)
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal profile of %s: %w", userName, err)
	}
	return aead.Seal(nonce, nonce, plain, k.additional(userName)), nil
}

// Open returns the profile sealed in sealed.
func (k Key) Open(userName string, sealed []byte) (Profile, error) {
	aead, err := k.aead()
	if err != nil {
		return Profile{}, err
	}
	if len(sealed) < aead.NonceSize() {
		return Profile{}, fmt.Errorf("open profile of %s: too short", userName)
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, sealed[:n], sealed[n:], k.additional(userName))
	if err != nil {
		return Profile{}, fmt.Errorf("open profile of %s with key %s: %w", userName, k.ID, err)
	}
	var p Profile
	if err := json.Unmarshal(plain, &p); err != nil {
		return Profile{}, fmt.Errorf("open profile of %s: %w", userName, err)
	}
	return p, nil
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

func (k Key) additional(userName string) []byte {
	return []byte("buildledger user profile\x00" + userName + "\x00" + k.ID)
}
