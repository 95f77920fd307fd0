package eval

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"

	"buildledger/adapters/unixuser"
)

// Identity is whom a jobset's children (Nix evaluating it, git fetching
// its inputs) run as. The zero value is the server itself. Where the
// server is root, restrict-eval confines what Nix reads, but a hole in
// Nix, git or a fetcher would still run with root's rights over the
// server's keys, database files and every other account's files; an
// unprivileged user leaves it with that user's rights only.
type Identity struct {
	// Name is the user's name, for messages.
	Name string
	// Credential switches the child to the user; nil keeps the server's.
	Credential *syscall.Credential
	// Store is the child's NIX_REMOTE. An unprivileged user cannot write
	// the store and reaches it through a nix-daemon, as any non-root Nix
	// user does.
	Store string
}

// LookupIdentity returns the Identity of the local user name, reaching
// the store through store.
func LookupIdentity(name, store string) (Identity, error) {
	cred, err := unixuser.Lookup(name)
	if err != nil {
		return Identity{}, fmt.Errorf("evaluation user: %w", err)
	}
	if cred.Uid == 0 {
		return Identity{}, fmt.Errorf("evaluation user %s is root", name)
	}
	return Identity{Name: name, Store: store, Credential: cred}, nil
}

// IsServer reports whether children run as the server itself.
func (id Identity) IsServer() bool { return id.Credential == nil }

// Apply makes cmd run as id. It must come after cmd.Env is set, whose
// NIX_REMOTE it overrides (exec keeps the last of duplicate keys).
func (id Identity) Apply(cmd *exec.Cmd) {
	if id.IsServer() {
		return
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = id.Credential
	if id.Store != "" {
		cmd.Env = append(cmd.Env, "NIX_REMOTE="+id.Store)
	}
}

// Chown gives the directory dir and everything below it to id, so that
// its children may write there; for the server it does nothing.
func (id Identity) Chown(dir string) error {
	if id.IsServer() {
		return nil
	}
	uid, gid := int(id.Credential.Uid), int(id.Credential.Gid)
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		return fmt.Errorf("give %s to %s: %w", dir, id.Name, err)
	}
	return nil
}

// Dir is id's own directory under base, created if missing and given to
// id: children running as different users must not share one (git
// refuses a repository another user owns, and one user's cache must not
// be another's to change). Where id cannot reach base, it lies elsewhere
// (unixuser.Place), linked from base. For the server it is base itself.
func (id Identity) Dir(base string) (string, error) {
	if id.IsServer() {
		return base, nil
	}
	dir := filepath.Join(base, "as-"+strconv.FormatUint(uint64(id.Credential.Uid), 10))
	dir, err := unixuser.Place(dir, id.Credential, "", "evaluation", func(string, ...any) {})
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("directory of %s: %w", id.Name, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return "", fmt.Errorf("directory of %s: %w", id.Name, err)
	}
	if err := id.Chown(dir); err != nil {
		return "", err
	}
	return dir, nil
}
