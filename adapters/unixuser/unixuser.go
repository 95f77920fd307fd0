// Package unixuser is what a server running as root needs to hand work
// to an unprivileged system user (the postgres user its cluster runs as,
// the user evaluation runs as): who the user is, and a directory that
// user can reach.
package unixuser

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// Lookup returns the credential of the local user name: its uid and
// primary gid, with no supplementary groups.
func Lookup(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("uid of %s: %w", name, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("gid of %s: %w", name, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// DefaultSpareDir is where Place puts a directory the user cannot reach
// where it was asked for.
const DefaultSpareDir = "/var/lib/buildledger"

// Place returns where the directory dir, for the user owner, goes. That
// is dir, unless owner cannot reach dir's parent: a checkout in root's
// 0700 home, or under a 0700 temporary directory, say. Then it is a new
// directory under spareDir (empty means DefaultSpareDir), named after
// what, which only root may enter until the caller gives it to owner;
// and dir becomes a symbolic link to it, so that every buildledger
// process on the same home finds the same place. A nil owner is the
// server itself, which reaches dir.
func Place(dir string, owner *syscall.Credential, spareDir, what string, logf func(string, ...any)) (string, error) {
	if owner == nil {
		return dir, nil
	}
	if target, err := filepath.EvalSymlinks(dir); err == nil {
		if Reachable(filepath.Dir(target), owner) {
			return target, nil
		}
		// A directory an earlier start made in the unreachable place:
		// nothing can have been written into it.
		if err := os.Remove(dir); err != nil {
			return "", fmt.Errorf("%s cannot be reached by the %s user and is not empty: move it where that user can reach it: %w", dir, what, err)
		}
	}
	parent, err := filepath.EvalSymlinks(filepath.Dir(dir))
	if err != nil {
		return "", fmt.Errorf("%s directory: %w", what, err)
	}
	if Reachable(parent, owner) {
		return dir, nil
	}
	if spareDir == "" {
		spareDir = DefaultSpareDir
	}
	if err := os.MkdirAll(spareDir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", spareDir, err)
	}
	spare, err := os.MkdirTemp(spareDir, what+"-")
	if err != nil {
		return "", fmt.Errorf("%s directory: %w", what, err)
	}
	if err := os.Symlink(spare, dir); err != nil {
		os.Remove(spare)
		if errors.Is(err, fs.ErrExist) {
			// Another process placed it first.
			return filepath.EvalSymlinks(dir)
		}
		return "", fmt.Errorf("%s directory: %w", what, err)
	}
	logf("the %s user cannot reach %s: its files go to %s (linked from %s)", what, parent, spare, dir)
	return spare, nil
}

// Reachable reports whether owner may enter dir: search permission on dir
// and every directory above it, by owner, group or others as they apply
// (supplementary groups and ACLs are not considered).
func Reachable(dir string, owner *syscall.Credential) bool {
	for {
		st, err := os.Stat(dir)
		if err != nil {
			return false
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		if !ok {
			return false
		}
		bit := fs.FileMode(0o001)
		switch {
		case sys.Uid == owner.Uid:
			bit = 0o100
		case sys.Gid == owner.Gid:
			bit = 0o010
		}
		if st.Mode().Perm()&bit == 0 {
			return false
		}
		if dir == "/" {
			return true
		}
		dir = filepath.Dir(dir)
	}
}
