package binarycache

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/nix-community/go-nix/pkg/wire"
)

// RemoteCommand starts command (a shell command line) on a remote machine.
// Writes to the returned stream go to the command's standard input, reads
// come from its standard output and end with io.EOF after the command's
// output ends. Close must close standard input, wait for the command to exit
// and return an error if it failed; it is called while another goroutine
// may still be reading the remaining output. adapters/ssh provides one
// over an SSH session.
type RemoteCommand func(ctx context.Context, command string) (io.ReadWriteCloser, error)

// SSHStore is a Destination that imports paths into the Nix store of a
// remote machine with `nix-store --import`. Paths imported this way are
// not signed: the remote store does not check signatures on import.
type SSHStore struct {
	url   string
	run   RemoteCommand
	store string
}

// NewSSHStore returns an SSHStore named url (e.g. ssh://nix@cache.example)
// that runs its commands through run. remoteStore, if not empty, is passed
// to the remote nix-store as --store.
func NewSSHStore(url string, run RemoteCommand, remoteStore string) *SSHStore {
	return &SSHStore{url: url, run: run, store: remoteStore}
}

// URL returns the store's URL.
func (s *SSHStore) URL() string { return s.url }

// nixStore returns the remote nix-store command line prefix.
func (s *SSHStore) nixStore() string {
	if s.store == "" {
		return "nix-store"
	}
	return "nix-store --store " + shellQuote(s.store)
}

// Has reports whether storePath is valid in the remote store.
func (s *SSHStore) Has(ctx context.Context, storePath string) (bool, error) {
	if _, err := hashPart(storePath); err != nil {
		return false, err
	}
	out, err := s.output(ctx, s.nixStore()+" --check-validity --print-invalid "+shellQuote(storePath), nil)
	if err != nil {
		return false, fmt.Errorf("check %s on %s: %w", storePath, s.url, err)
	}
	return strings.TrimSpace(string(out)) == "", nil
}

// Put imports the NAR of info.StorePath into the remote store. If the
// remote store already has the path, it returns the remote's metadata
// without reading nar.
func (s *SSHStore) Put(ctx context.Context, info PathInfo, nar io.Reader) (Uploaded, error) {
	if err := validatePathInfo(info); err != nil {
		return Uploaded{}, fmt.Errorf("put: %w", err)
	}
	has, err := s.Has(ctx, info.StorePath)
	if err != nil {
		return Uploaded{}, err
	}
	if has {
		return s.query(ctx, info.StorePath)
	}
	narHash := sha256.New()
	narSize := &countWriter{}
	var importErr error
	_, err = s.output(ctx, s.nixStore()+" --import", func(w io.Writer) error {
		importErr = writeExport(w, info, io.TeeReader(ctxReader{ctx: ctx, r: nar}, io.MultiWriter(narHash, narSize)))
		return importErr
	})
	if importErr != nil {
		return Uploaded{}, fmt.Errorf("put %s on %s: %w", info.StorePath, s.url, importErr)
	}
	if err != nil {
		return Uploaded{}, fmt.Errorf("put %s on %s: %w", info.StorePath, s.url, err)
	}
	u := Uploaded{
		StorePath:  info.StorePath,
		NarHash:    "sha256:" + nixbase32.EncodeToString(narHash.Sum(nil)),
		NarSize:    narSize.n,
		References: sortedUnique(info.References),
		Deriver:    info.Deriver,
		CacheURL:   s.url,
	}
	return u, nil
}

// writeExport writes one path in `nix-store --export` format followed by
// the end marker.
func writeExport(w io.Writer, info PathInfo, nar io.Reader) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	if err := wire.WriteUint64(bw, 1); err != nil {
		return fmt.Errorf("write export header: %w", err)
	}
	head := make([]byte, len(narMagic))
	if _, err := io.ReadFull(nar, head); err != nil {
		return fmt.Errorf("read nar header: %w", err)
	}
	if !bytes.Equal(head, narMagic) {
		return errors.New("input is not a NAR (bad magic)")
	}
	if _, err := io.Copy(bw, io.MultiReader(bytes.NewReader(head), nar)); err != nil {
		return fmt.Errorf("write nar: %w", err)
	}
	if err := writeExportTrailer(bw, info); err != nil {
		return fmt.Errorf("write export trailer: %w", err)
	}
	if err := wire.WriteUint64(bw, 0); err != nil { // end of export
		return fmt.Errorf("write export trailer: %w", err)
	}
	return bw.Flush()
}

// query reads the metadata of a path valid in the remote store.
func (s *SSHStore) query(ctx context.Context, storePath string) (Uploaded, error) {
	q := func(flag string) string { return s.nixStore() + " --query " + flag + " " + shellQuote(storePath) }
	cmd := q("--hash") + " && echo --- && " + q("--size") + " && echo --- && " + q("--deriver") + " && echo --- && " + q("--references")
	out, err := s.output(ctx, cmd, nil)
	if err != nil {
		return Uploaded{}, fmt.Errorf("query %s on %s: %w", storePath, s.url, err)
	}
	parts := strings.Split(string(out), "---\n")
	if len(parts) != 4 {
		return Uploaded{}, fmt.Errorf("query %s on %s: unexpected output %q", storePath, s.url, out)
	}
	narHash, err := normalizeNarHash(strings.TrimSpace(parts[0]))
	if err != nil {
		return Uploaded{}, fmt.Errorf("query %s on %s: %w", storePath, s.url, err)
	}
	narSize, err := strconv.ParseInt(strings.TrimSpace(parts[1]), 10, 64)
	if err != nil {
		return Uploaded{}, fmt.Errorf("query %s on %s: nar size: %w", storePath, s.url, err)
	}
	deriver := strings.TrimSpace(parts[2])
	if deriver == "unknown-deriver" {
		deriver = ""
	}
	return Uploaded{
		StorePath:  storePath,
		NarHash:    narHash,
		NarSize:    narSize,
		References: sortedUnique(strings.Fields(parts[3])),
		Deriver:    deriver,
		CacheURL:   s.url,
	}, nil
}

// output runs command remotely, feeding its input with write (if not nil),
// and returns its standard output once it has exited.
func (s *SSHStore) output(ctx context.Context, command string, write func(io.Writer) error) ([]byte, error) {
	rwc, err := s.run(ctx, command)
	if err != nil {
		return nil, fmt.Errorf("start %q: %w", command, err)
	}
	var out bytes.Buffer
	readDone := make(chan error, 1)
	go func() {
		_, err := io.Copy(&out, rwc)
		readDone <- err
	}()
	var writeErr error
	if write != nil {
		writeErr = write(rwc)
	}
	closeErr := rwc.Close()
	readErr := <-readDone
	if writeErr != nil {
		return nil, writeErr
	}
	if closeErr != nil {
		return nil, fmt.Errorf("run %q: %w", command, closeErr)
	}
	if readErr != nil {
		return nil, fmt.Errorf("read output of %q: %w", command, readErr)
	}
	return out.Bytes(), nil
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
