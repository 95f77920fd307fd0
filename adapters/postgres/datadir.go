package postgres

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// DefaultSpareDir is where a cluster's files go when the user the cluster
// runs as cannot reach the directory asked for.
const DefaultSpareDir = "/var/lib/buildledger"

// placeDataDir returns the directory the cluster's files go in. That is
// dataDir, unless the cluster runs as owner (root started it, and initdb
// refuses root) and owner cannot reach dataDir's parent: a checkout in
// root's 0700 home, or under a 0700 temporary directory, say. Then the
// files go to a new directory under spareDir, which only owner may enter,
// and dataDir becomes a symbolic link to it, so that every buildledger
// process on the same home finds the same cluster.
func placeDataDir(dataDir string, owner *syscall.Credential, spareDir string, logf func(string, ...any)) (string, error) {
	if owner == nil {
		return dataDir, nil
	}
	if target, err := filepath.EvalSymlinks(dataDir); err == nil {
		if reachable(filepath.Dir(target), owner) {
			return target, nil
		}
		// A directory an earlier start made in the unreachable place:
		// nothing can have been written into it.
		if err := os.Remove(dataDir); err != nil {
			return "", fmt.Errorf("%s cannot be reached by the postgres user and is not empty: move it where that user can reach it: %w", dataDir, err)
		}
	}
	parent, err := filepath.EvalSymlinks(filepath.Dir(dataDir))
	if err != nil {
		return "", fmt.Errorf("postgres data dir: %w", err)
	}
	if reachable(parent, owner) {
		return dataDir, nil
	}
	if spareDir == "" {
		spareDir = DefaultSpareDir
	}
	if err := os.MkdirAll(spareDir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", spareDir, err)
	}
	spare, err := os.MkdirTemp(spareDir, "postgres-")
	if err != nil {
		return "", fmt.Errorf("postgres data dir: %w", err)
	}
	if err := os.Symlink(spare, dataDir); err != nil {
		os.Remove(spare)
		if errors.Is(err, fs.ErrExist) {
			// Another process placed it first.
			return filepath.EvalSymlinks(dataDir)
		}
		return "", fmt.Errorf("postgres data dir: %w", err)
	}
	logf("the postgres user cannot reach %s: the cluster's files go to %s (linked from %s)", parent, spare, dataDir)
	return spare, nil
}

// reachable reports whether owner may enter dir: search permission on dir
// and every directory above it, by owner, group or others as they apply
// (supplementary groups and ACLs are not considered).
func reachable(dir string, owner *syscall.Credential) bool {
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
