package binarycache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"

	"buildledger/adapters/ssh"
)

// DestinationURL is a parsed destination store URL, as OpenDestination
// takes it. Three forms are understood, with Nix's parameter names:
//
//	file:///DIR[?compression=zstd|xz|none]
//	ssh://[user@]host[:port]?ssh-key=FILE[&base64-ssh-public-host-key=KEY][&remote-store=DIR]
//	s3://BUCKET[?region=R][&endpoint=[http[s]://]HOST[:PORT]][&scheme=http|https][&profile=P]
//	    [&compression=zstd|xz|none][&parallel-compression=BOOL][&write-nar-listing=BOOL]
//	    [&ls-compression=C][&log-compression=C][&secret-key=FILE][&multipart-chunk-size=BYTES]
//
// file:// is a signed binary cache written natively (FileWriter), s3://
// the same in a bucket (S3Store, credentials from the environment or the
// AWS credentials file, never from the URL); ssh://
// imports the paths into the Nix store of the host (SSHStore), logging in
// with the unencrypted private key FILE, checking the host key against KEY
// (any form adapters/ssh.Target.HostKey takes) or else the known_hosts
// file, and passing DIR to the remote nix-store as --store.
type DestinationURL struct {
	// Scheme is "file" or "ssh".
	Scheme string
	// Dir is the cache directory of a file:// URL.
	Dir         string
	Compression Compression
	// Host is the ssh://[user@]host[:port] part of an ssh:// URL.
	Host        string
	KeyFile     string
	HostKey     string
	RemoteStore string
	// S3 is the bucket and its parameters of an s3:// URL (without
	// SecretKeys, Transport, SpoolDir and Logger, which OpenOptions give).
	S3 S3Options
	// SecretKeyFile is the signing key an s3:// URL names (secret-key).
	SecretKeyFile string
}

// ParseDestination parses and checks raw without touching the
// destination. An unknown scheme or parameter is an error.
func ParseDestination(raw string) (DestinationURL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return DestinationURL{}, fmt.Errorf("destination %q: %w", raw, err)
	}
	q, err := parseQuery(u.RawQuery)
	if err != nil {
		return DestinationURL{}, fmt.Errorf("destination %q: %w", u.Redacted(), err)
	}
	raw = shownURL(u)
	d := DestinationURL{Scheme: u.Scheme}
	var known []string
	switch u.Scheme {
	case "file":
		known = []string{"compression"}
		if u.Host != "" || u.Opaque != "" || !filepath.IsAbs(u.Path) {
			return DestinationURL{}, fmt.Errorf("destination %q: want file:///ABSOLUTE/DIR", raw)
		}
		d.Dir = filepath.Clean(u.Path)
		d.Compression = Compression(q.Get("compression"))
		switch d.Compression {
		case "", CompressionZstd, CompressionXz, CompressionNone:
		default:
			return DestinationURL{}, fmt.Errorf("destination %q: compression %q: want zstd, xz or none", raw, d.Compression)
		}
	case "ssh":
		known = sshParams
		if u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.Fragment != "" {
			return DestinationURL{}, fmt.Errorf("destination %q: want ssh://[user@]host[:port]?ssh-key=FILE", raw)
		}
		host := &url.URL{Scheme: "ssh", User: u.User, Host: u.Host}
		d.Host, d.KeyFile, d.HostKey, d.RemoteStore = host.String(), q.Get("ssh-key"), q.Get("base64-ssh-public-host-key"), q.Get("remote-store")
		if d.KeyFile == "" {
			return DestinationURL{}, fmt.Errorf("destination %q: an ssh:// destination needs ?ssh-key=FILE", raw)
		}
		if d.HostKey != "" {
			if _, err := ssh.ParseHostKey(d.HostKey); err != nil {
				return DestinationURL{}, fmt.Errorf("destination %q: base64-ssh-public-host-key: %w", raw, err)
			}
		}
	case "s3":
		known = s3Params
		if err := parseS3(u, q, &d); err != nil {
			return DestinationURL{}, fmt.Errorf("destination %q: %w", raw, err)
		}
	default:
		return DestinationURL{}, fmt.Errorf("destination %q: unsupported scheme %q: want file:///DIR, s3://BUCKET or ssh://[user@]host[:port]?ssh-key=FILE", raw, u.Scheme)
	}
	for name := range q {
		if !slices.Contains(known, name) {
			return DestinationURL{}, fmt.Errorf("destination %q: unknown parameter %q (want one of %v)", raw, name, known)
		}
	}
	return d, nil
}

// sshParams are the parameters an ssh:// URL takes.
var sshParams = []string{"ssh-key", "base64-ssh-public-host-key", "remote-store"}

// s3Params are the parameters of Nix's S3 store an s3:// URL takes.
var s3Params = []string{"region", "endpoint", "scheme", "profile", "compression", "parallel-compression",
	"write-nar-listing", "ls-compression", "log-compression", "secret-key", "multipart-chunk-size"}

// parseS3 reads an s3:// URL into d.S3 and d.SecretKeyFile.
func parseS3(u *url.URL, q url.Values, d *DestinationURL) error {
	if u.Host == "" || (u.Path != "" && u.Path != "/") || u.User != nil || u.Fragment != "" || u.Port() != "" {
		return errors.New("want s3://BUCKET[?PARAMETERS]")
	}
	o := S3Options{Bucket: u.Host, Region: q.Get("region"), Profile: q.Get("profile"),
		Compression: Compression(q.Get("compression")), LsCompression: q.Get("ls-compression"), LogCompression: q.Get("log-compression")}
	if o.Compression != "" && !validCompression(o.Compression) {
		return fmt.Errorf("compression %q: want zstd, xz or none", o.Compression)
	}
	for name, c := range map[string]string{"ls-compression": o.LsCompression, "log-compression": o.LogCompression} {
		if !validSideCompression(c) {
			return fmt.Errorf("%s %q: want none, br, xz or zstd", name, c)
		}
	}
	var err error
	for name, b := range map[string]*bool{"parallel-compression": &o.ParallelCompression, "write-nar-listing": &o.WriteNARListing} {
		if *b, err = parseBool(q.Get(name)); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if v := q.Get("multipart-chunk-size"); v != "" {
		if o.PartSize, err = strconv.ParseInt(v, 10, 64); err != nil || o.PartSize < s3MinPartSize {
			return fmt.Errorf("multipart-chunk-size %q: want a number of bytes of at least %d", v, s3MinPartSize)
		}
	}
	scheme := q.Get("scheme")
	if scheme != "" && scheme != "http" && scheme != "https" {
		return fmt.Errorf("scheme %q: want http or https", scheme)
	}
	if ep := q.Get("endpoint"); ep != "" {
		if s, host, ok := strings.Cut(ep, "://"); ok {
			if (s != "http" && s != "https") || (scheme != "" && scheme != s) {
				return fmt.Errorf("endpoint %q: want http://HOST[:PORT] or https://HOST[:PORT] (and no other scheme=)", ep)
			}
			scheme, ep = s, strings.TrimSuffix(host, "/")
		}
		if ep == "" || strings.ContainsAny(ep, "/?#@") {
			return fmt.Errorf("endpoint %q: want [http[s]://]HOST[:PORT]", q.Get("endpoint"))
		}
		o.Endpoint = ep
	} else if scheme == "http" {
		return errors.New("scheme=http needs an endpoint: Amazon S3 is reached over https only")
	}
	o.Insecure = scheme == "http"
	d.S3, d.SecretKeyFile = o, q.Get("secret-key")
	return nil
}

// parseBool reads a boolean store parameter as Nix does.
func parseBool(v string) (bool, error) {
	switch v {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	}
	return false, fmt.Errorf("%q is not true, false, 1 or 0", v)
}

// shownURL is the URL as errors print it: a password in it, and the
// values of parameters no destination takes (credentials typed in the
// wrong place, perhaps), are masked.
func shownURL(u *url.URL) string {
	c := *u
	if _, has := c.User.Password(); has {
		c.User = url.UserPassword(c.User.Username(), "xxxxx")
	}
	var params []string
	for _, kv := range strings.Split(c.RawQuery, "&") {
		name, _, _ := strings.Cut(kv, "=")
		if n, err := url.PathUnescape(name); err == nil && !slices.Contains(s3Params, n) && !slices.Contains(sshParams, n) {
			kv = name + "=xxxxx"
		}
		params = append(params, kv)
	}
	c.RawQuery = strings.Join(params, "&")
	return c.String()
}

// parseQuery decodes the parameters of a store URL as Nix does: percent
// escapes only, so that a '+' of a base64 key stays a '+'.
func parseQuery(raw string) (url.Values, error) {
	q := url.Values{}
	for _, kv := range strings.Split(raw, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		key, err := url.PathUnescape(k)
		if err != nil {
			return nil, fmt.Errorf("parameter %q: %w", k, err)
		}
		val, err := url.PathUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("parameter %q: %w", k, err)
		}
		q.Add(key, val)
	}
	return q, nil
}

// OpenOptions configure OpenDestination.
type OpenOptions struct {
	// SecretKeys sign the narinfos of a file:// or s3:// cache.
	SecretKeys []signature.SecretKey
	// KnownHostsFile lists the host key of an ssh:// destination without
	// base64-ssh-public-host-key; empty means ~/.ssh/known_hosts.
	KnownHostsFile string
	// SpoolDir holds the NARs an s3:// destination is uploading; the
	// system's temporary directory when empty.
	SpoolDir string
	// Transport, if set, carries an s3:// destination's requests.
	Transport http.RoundTripper
	// Logger receives the destination's log lines; slog.Default when nil.
	Logger *slog.Logger
}

// OpenDestination returns the destination d names. A file:// cache
// directory is created; an s3:// bucket must exist and credentials for it
// be found; an ssh:// destination dials on first use (and
// again after the connection is lost) and must be closed with its Close
// method (it implements io.Closer).
func OpenDestination(d DestinationURL, o OpenOptions) (Destination, error) {
	switch d.Scheme {
	case "file":
		return NewFileWriter(d.Dir, FileWriterOptions{Compression: d.Compression, SecretKeys: o.SecretKeys, Logger: o.Logger})
	case "ssh":
		t := ssh.Target{URI: d.Host, KeyFile: d.KeyFile, HostKey: d.HostKey, Logger: o.Logger}
		if t.HostKey == "" {
			t.KnownHostsFile = o.KnownHostsFile
			if t.KnownHostsFile == "" {
				t.KnownHostsFile = defaultKnownHosts()
			}
		}
		r := &sshRemote{target: t}
		return &sshDestination{SSHStore: NewSSHStore(d.Host, r.run, d.RemoteStore), remote: r}, nil
	case "s3":
		o3 := d.S3
		o3.SecretKeys, o3.SpoolDir, o3.Transport, o3.Logger = o.SecretKeys, o.SpoolDir, o.Transport, o.Logger
		return NewS3Store(o3)
	}
	return nil, fmt.Errorf("destination scheme %q: want file, s3 or ssh", d.Scheme)
}

// defaultKnownHosts is the user's OpenSSH known_hosts file, as ssh uses.
func defaultKnownHosts() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".ssh", "known_hosts")
}

// sshDestination is an SSHStore over a connection of its own.
type sshDestination struct {
	*SSHStore
	remote *sshRemote
}

// Close closes the SSH connection.
func (d *sshDestination) Close() error { return d.remote.close() }

// sshRemote runs commands over one SSH connection, dialled on first use
// and again once it is lost.
type sshRemote struct {
	target ssh.Target
	mu     sync.Mutex
	client *ssh.Client
}

func (r *sshRemote) dial(ctx context.Context) (*ssh.Client, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.client != nil {
		select {
		case <-r.client.Done():
			r.client.Close()
			r.client = nil
		default:
			return r.client, nil
		}
	}
	c, err := ssh.Dial(ctx, r.target)
	if err != nil {
		return nil, err
	}
	r.client = c
	return c, nil
}

// run is a RemoteCommand over the connection.
func (r *sshRemote) run(ctx context.Context, command string) (io.ReadWriteCloser, error) {
	c, err := r.dial(ctx)
	if err != nil {
		return nil, err
	}
	s, err := c.Run(ctx, command)
	if err != nil {
		return nil, err
	}
	return sshCommand{s}, nil
}

func (r *sshRemote) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.client == nil {
		return nil
	}
	err := r.client.Close()
	r.client = nil
	return err
}

// sshCommand is a remote command as RemoteCommand returns it: Close ends
// its input and waits for it to exit.
type sshCommand struct{ *ssh.Session }

// Close closes the command's standard input and waits for its exit.
func (s sshCommand) Close() error {
	if err := s.CloseWrite(); err != nil {
		return fmt.Errorf("close input: %w", err)
	}
	return s.Wait()
}
