// Package serve is a client of Nix's legacy serve protocol, the protocol
// spoken by `nix-store --serve [--write]` on a build machine (usually over
// SSH). The builder worker uses it to copy a step's input closure to the
// machine, build the derivation there and copy the outputs back.
//
// The protocol runs on the transport's stdin/stdout. The server's stderr is
// not part of it: Nix writes build logs and error messages there, so the
// caller must capture the transport's stderr as the log stream. Stderr and
// stdout are separate streams: the last bytes of a build's log may arrive
// after its BuildResult, and are all there once stderr has been drained.
// When the server hits an error it prints it on stderr and
// exits, which the client sees as io.ErrUnexpectedEOF.
package serve

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Protocol constants of the legacy serve protocol.
const (
	// ClientMagic opens the handshake (SERVE_MAGIC_1).
	ClientMagic = 0x390c9deb
	// ServerMagic is the server's answer (SERVE_MAGIC_2).
	ServerMagic = 0x5452eecb
	// ProtocolVersion is the version this client speaks: major 2, minor 7
	// (Nix 2.8 answers with the same).
	ProtocolVersion = 0x207
	// MinServerVersion is the oldest server version accepted (minor 4 is
	// the first with NAR hashes in path infos).
	MinServerVersion = 0x204
)

// Serve protocol command numbers.
const (
	cmdQueryValidPaths = 1
	cmdQueryPathInfos  = 2
	cmdDumpStorePath   = 3
	cmdImportPaths     = 4
	cmdExportPaths     = 5
	cmdBuildPaths      = 6
	cmdQueryClosure    = 7
	cmdBuildDerivation = 8
	cmdAddToStoreNar   = 9
	exportMagic        = 0x4558494e
	protocolMajorMask  = 0xff00
	protocolMinorMask  = 0x00ff
)

// ErrBroken is wrapped by the error of every call made after a failed one: a
// failure can leave the stream out of step, so the session must be replaced.
var ErrBroken = errors.New("serve: session unusable after an earlier error")

// Client is one serve-protocol session. Calls are serialised; a Client is
// safe for concurrent use but runs one command at a time.
type Client struct {
	rw io.ReadWriter
	r  *bufio.Reader
	w  *bufio.Writer

	serverVersion uint64

	// SpoolDir is where ExportPaths buffers each received NAR before
	// calling back (the export format sends a path's metadata after its
	// NAR). Empty means os.TempDir().
	SpoolDir string

	mu     sync.Mutex
	broken error
}

// NewClient performs the handshake on rw and returns the session. rw is the
// transport: the stdin (writes) and stdout (reads) of `nix-store --serve
// --write`. If rw has a SetDeadline method, cancelling a call's context sets
// a past deadline; otherwise, if it is an io.Closer, it is closed. Either way
// the session is unusable after a cancelled call.
func NewClient(ctx context.Context, rw io.ReadWriter) (*Client, error) {
	c := &Client{rw: rw, r: bufio.NewReaderSize(rw, 64<<10), w: bufio.NewWriterSize(rw, 64<<10)}
	err := c.call(ctx, "handshake", func() error {
		if err := writeInt(c.w, ClientMagic); err != nil {
			return err
		}
		if err := c.w.Flush(); err != nil {
			return err
		}
		magic, err := readInt(c.r)
		if err != nil {
			return fmt.Errorf("read server magic: %w", err)
		}
		if magic != ServerMagic {
			return fmt.Errorf("protocol mismatch: server magic %#x, want %#x", magic, ServerMagic)
		}
		v, err := readInt(c.r)
		if err != nil {
			return fmt.Errorf("read server version: %w", err)
		}
		if v&protocolMajorMask != ProtocolVersion&protocolMajorMask || v < MinServerVersion {
			return fmt.Errorf("unsupported server protocol version %#x", v)
		}
		c.serverVersion = v
		if err := writeInt(c.w, ProtocolVersion); err != nil {
			return err
		}
		return c.w.Flush()
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// ServerVersion is the protocol version the server announced.
func (c *Client) ServerVersion() uint64 { return c.serverVersion }

// Version is the protocol version in effect: the lower of the server's and
// ProtocolVersion.
func (c *Client) Version() uint64 { return min(c.serverVersion, ProtocolVersion) }

func (c *Client) minor() uint64 { return c.Version() & protocolMinorMask }

// Err returns the error that made the session unusable, or nil.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.broken
}

// call runs one exchange with the session lock held, interrupting the
// transport when ctx ends, and marks the session broken on error.
func (c *Client) call(ctx context.Context, what string, f func() error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return fmt.Errorf("%s: %w (%v)", what, ErrBroken, c.broken)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	stop := context.AfterFunc(ctx, c.interrupt)
	err := f()
	if !stop() {
		// The interrupt ran (or is running): report the cancellation.
		if err == nil {
			err = ctx.Err()
		} else {
			err = fmt.Errorf("%w: %v", ctx.Err(), err)
		}
	}
	if err != nil {
		c.broken = err
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func (c *Client) interrupt() {
	type deadliner interface{ SetDeadline(time.Time) error }
	if d, ok := c.rw.(deadliner); ok {
		if d.SetDeadline(time.Unix(1, 0)) == nil {
			return
		}
	}
	if cl, ok := c.rw.(io.Closer); ok {
		cl.Close()
	}
}

// spoolFile creates a temporary file for one NAR.
func (c *Client) spoolFile() (*os.File, error) {
	f, err := os.CreateTemp(c.SpoolDir, "serve-nar-*")
	if err != nil {
		return nil, fmt.Errorf("spool NAR: %w", err)
	}
	return f, nil
}
