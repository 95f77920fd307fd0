package ssh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// Client is an authenticated SSH connection to one build machine.
type Client struct {
	conn *gossh.Client
	uri  string
	log  *slog.Logger
	done chan struct{}

	mu     sync.Mutex
	reason error // why the connection ended, if not by Close
	closed bool
}

// Dial connects to the machine t names, checks its host key against the
// Target's policy and logs in with the Target's key. Cancelling ctx aborts
// the dial; it does not affect the returned Client.
func Dial(ctx context.Context, t Target) (*Client, error) {
	ep, err := parseURI(t.URI)
	if err != nil {
		return nil, err
	}
	if t.KeyFile == "" {
		return nil, fmt.Errorf("dial %s: no key file given", t.URI)
	}
	pem, err := os.ReadFile(t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("dial %s: read key file: %w", t.URI, err)
	}
	signer, err := gossh.ParsePrivateKey(pem)
	if err != nil {
		var pass *gossh.PassphraseMissingError
		if errors.As(err, &pass) {
			return nil, fmt.Errorf("dial %s: key file %s is passphrase-protected; use an unencrypted key", t.URI, t.KeyFile)
		}
		return nil, fmt.Errorf("dial %s: parse key file %s: %w", t.URI, t.KeyFile, err)
	}
	policy, err := newHostKeyPolicy(t, ep.addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", t.URI, err)
	}
	timeout := t.DialTimeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	cfg := &gossh.ClientConfig{
		User:              ep.user,
		Auth:              []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback:   policy.callback,
		HostKeyAlgorithms: policy.algorithms,
		Timeout:           timeout,
	}

	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(dctx, "tcp", ep.addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", t.URI, err)
	}
	// The SSH handshake knows no context: bound it by the deadline and
	// break it off by closing the socket on cancellation.
	if dl, ok := dctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(dctx, func() { _ = nc.Close() })
	c, chans, reqs, err := gossh.NewClientConn(nc, ep.addr, cfg)
	if !stop() {
		if err == nil {
			_ = c.Close()
		}
		_ = nc.Close()
		return nil, fmt.Errorf("dial %s: %w", t.URI, context.Cause(dctx))
	}
	if err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("dial %s: %w", t.URI, err)
	}
	_ = nc.SetDeadline(time.Time{})

	log := t.Logger
	if log == nil {
		log = slog.Default()
	}
	cl := &Client{
		conn: gossh.NewClient(c, chans, reqs),
		uri:  t.URI,
		log:  log.With("machine", t.URI),
		done: make(chan struct{}),
	}
	cl.log.Debug("SSH connection established", "server", string(c.ServerVersion()))
	go func() {
		err := cl.conn.Wait()
		cl.mu.Lock()
		if cl.reason == nil && !cl.closed {
			cl.reason = fmt.Errorf("%w: %s: %v", ErrDisconnected, t.URI, err)
		}
		cl.mu.Unlock()
		close(cl.done)
	}()
	interval := t.KeepAliveInterval
	if interval == 0 {
		interval = DefaultKeepAliveInterval
	}
	if interval > 0 {
		count := t.KeepAliveCountMax
		if count <= 0 {
			count = DefaultKeepAliveCountMax
		}
		go cl.keepalive(interval, count)
	}
	return cl, nil
}

// Close closes the connection and every session on it.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	err := c.conn.Close()
	<-c.done
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("close %s: %w", c.uri, err)
	}
	return nil
}

// Wait blocks until the connection ends. It returns nil after Close and
// otherwise an error wrapping ErrDisconnected that says why.
func (c *Client) Wait() error {
	<-c.done
	return c.err()
}

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} {
	return c.done
}

// err returns why the connection ended, nil if it is open or was closed by
// Close.
func (c *Client) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

// fail records why the connection is being torn down and closes it.
func (c *Client) fail(reason error) {
	c.mu.Lock()
	if c.reason == nil && !c.closed {
		c.reason = reason
	}
	c.mu.Unlock()
	c.log.Warn("closing SSH connection", "reason", reason)
	_ = c.conn.Close()
}

// keepalive closes the connection once the machine stops answering
// keepalives (see keepAlive).
func (c *Client) keepalive(interval time.Duration, count int) {
	keepAlive(c.conn, c.done, interval, count, func(err error) {
		c.fail(fmt.Errorf("%w: %s: %v", ErrDisconnected, c.uri, err))
	})
}
