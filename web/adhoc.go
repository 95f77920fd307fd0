package web

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"buildledger/commands"
	"buildledger/events"
)

// SSHKeys registers users' SSH public keys for the remote-builder port
// (*commands.Handlers).
type SSHKeys interface {
	AddUserSSHKey(ctx context.Context, md events.Metadata, c commands.AddUserSSHKey) (commands.Result, error)
	RemoveUserSSHKey(ctx context.Context, md events.Metadata, c commands.RemoveUserSSHKey) (commands.Result, error)
	// UserSSHKeys returns a user's keys (authorized_keys lines) by
	// fingerprint.
	UserSSHKeys(ctx context.Context, userName string) (map[string]string, error)
}

var _ SSHKeys = (*commands.Handlers)(nil)

// AdhocBuilds takes ad-hoc builds (POST /api/build); remotebuilder.Service
// implements it.
type AdhocBuilds interface {
	// SubmitBuild imports the paths of export (a nix-store --export
	// stream; nil for none) and submits the build of drvPath, which must
	// then be in the server's store, for userName, recorded with md; via
	// is the API token's id, or "session". It returns the build's id.
	SubmitBuild(ctx context.Context, md events.Metadata, userName, via, drvPath string, export io.Reader) (int64, error)
}

// AdhocSubmission is a row of adhoc_submissions: the Submission panel
// of an ad-hoc build's page.
type AdhocSubmission struct {
	UserName string
	// Via is "ssh" or "api"; Key the SSH key's fingerprint or the API
	// token's id.
	Via, Key string
	// ClientVersion is the serve protocol version the client announced.
	ClientVersion string
	// Paths and Edges count the submitted closure's store paths and
	// references (the graph itself is in the build's events).
	Paths, Edges int
	SubmittedAt  int64
}

// maxSubmission caps the body of POST /api/build: a .drv closure, not
// a build's outputs.
const maxSubmission = 512 << 20

// sshKey is one registered key.
type sshKey struct {
	Fingerprint string `json:"fingerprint"`
	Key         string `json:"key"`
}

// sshKeysPage lists a user's SSH keys with the form that adds one
// (sshkeys.html).
type sshKeysPage struct {
	page
	UserName string
	Keys     []sshKey
}

// sshKeysOf returns the keys of user name, sorted by fingerprint.
func (s *server) sshKeysOf(r *http.Request, name string) ([]sshKey, error) {
	if err := require(r, selfOrAdmin(name)); err != nil {
		return nil, err
	}
	if s.cfg.SSHKeys == nil {
		return nil, &httpError{Status: http.StatusNotImplemented, Msg: "SSH keys are not available"}
	}
	m, err := s.cfg.SSHKeys.UserSSHKeys(r.Context(), name)
	if err != nil {
		return nil, err
	}
	keys := make([]sshKey, 0, len(m))
	for fp, line := range m {
		keys = append(keys, sshKey{Fingerprint: fp, Key: line})
	}
	slices.SortFunc(keys, func(a, b sshKey) int { return strings.Compare(a.Fingerprint, b.Fingerprint) })
	return keys, nil
}

func (s *server) sshKeysPage(w http.ResponseWriter, r *http.Request) error {
	name := chi.URLParam(r, "user")
	keys, err := s.sshKeysOf(r, name)
	if err != nil {
		return err
	}
	s.respond(w, r, keys, "sshkeys", &sshKeysPage{UserName: name, Keys: keys})
	return nil
}

// addSSHKey registers a key. A key is a credential: like an API token it
// is added from a signed-in session only, by the user or an admin.
func (s *server) addSSHKey(w http.ResponseWriter, r *http.Request) error {
	name := chi.URLParam(r, "user")
	if _, err := s.sshKeysOf(r, name); err != nil {
		return err
	}
	if who(r).Token != nil {
		return errNeedsSession("adding an SSH key")
	}
	var body struct {
		Key string `json:"key"`
	}
	if err := decodeBody(w, r, &body, func() { body.Key = r.PostForm.Get("key") }); err != nil {
		return err
	}
	if _, err := s.cfg.SSHKeys.AddUserSSHKey(r.Context(), s.metadata(r), commands.AddUserSSHKey{UserName: name, Key: body.Key}); err != nil {
		return err
	}
	s.done(w, r, http.StatusCreated, "/user/"+name+"/ssh-keys", nil)
	return nil
}

func (s *server) removeSSHKey(w http.ResponseWriter, r *http.Request) error {
	name := chi.URLParam(r, "user")
	if _, err := s.sshKeysOf(r, name); err != nil {
		return err
	}
	var body struct {
		Fingerprint string `json:"fingerprint"`
	}
	if err := decodeBody(w, r, &body, func() { body.Fingerprint = r.PostForm.Get("fingerprint") }); err != nil {
		return err
	}
	if _, err := s.cfg.SSHKeys.RemoveUserSSHKey(r.Context(), s.metadata(r), commands.RemoveUserSSHKey{UserName: name, Fingerprint: body.Fingerprint}); err != nil {
		return err
	}
	s.done(w, r, http.StatusOK, "/user/"+name+"/ssh-keys", nil)
	return nil
}

// submitted is the answer of POST /api/build.
type submitted struct {
	BuildID int64  `json:"buildId"`
	URL     string `json:"url"`
	redirect
}

// apiBuild submits an ad-hoc build: ?drv=PATH names the derivation, and
// the body is either empty (the derivation is in the server's store) or
// its closure as a nix-store --export stream
// (application/x-nix-export). The user needs the submit-builds role; a
// token, the submit scope.
func (s *server) apiBuild(w http.ResponseWriter, r *http.Request) error {
	p := who(r)
	if p == nil {
		return errLoginRequired
	}
	if s.cfg.Adhoc == nil {
		return &httpError{Status: http.StatusNotImplemented, Msg: "ad-hoc builds are not available"}
	}
	drvPath := r.URL.Query().Get("drv")
	if !strings.HasSuffix(drvPath, ".drv") {
		return errBadRequest("?drv= must name a derivation (/nix/store/…drv)")
	}
	var export io.Reader
	if r.ContentLength != 0 {
		if ct := r.Header.Get("Content-Type"); ct != "application/x-nix-export" {
			return errBadRequest("the body must be a nix-store --export stream, Content-Type application/x-nix-export, not %q", ct)
		}
		export = http.MaxBytesReader(w, r.Body, maxSubmission)
	}
	via := "session"
	if p.Token != nil {
		via = "token " + p.Token.ID
	}
	id, err := s.cfg.Adhoc.SubmitBuild(r.Context(), s.metadata(r), p.User.UserName, via, drvPath, export)
	if err != nil {
		return err
	}
	to := "/build/" + strconv.FormatInt(id, 10)
	s.done(w, r, http.StatusCreated, to, &submitted{BuildID: id, URL: s.absURL(r, to)})
	return nil
}
