package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"buildledger/adapters/binarycache"
	"buildledger/adapters/logstore"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/queries"
	"buildledger/commands"
	"buildledger/projections"
	"buildledger/web"
)

// The web reads step logs from the store the builder writes them to, and
// build outputs from the Nix store.
var (
	_ web.Logs    = (*logstore.Store)(nil)
	_ web.Outputs = binarycache.StoreFiles{}
)

// The web's database pool: Hydra's search allows a statement 20 s; every
// page here gets a quarter of that, and a handful of connections.
const (
	defaultWebStatementTimeout = 5 * time.Second
	defaultWebDBConns          = 8
)

// webOptions are the web server's settings beyond the shared config.
type webOptions struct {
	private bool
	// mail queues the mail of password resets; nil when this process
	// runs no delivery worker (resets answer 501).
	mail web.Mailer
	// githubSecretFile and giteaSecretFile hold the webhooks' HMAC
	// secrets (readSecretFile).
	githubSecretFile string
	giteaSecretFile  string
	baseURL          string
	// ops are the operational endpoints "up" serves (web.Config.Ops).
	ops map[string]http.Handler
	// trustedProxies name the reverse proxies whose X-Forwarded-For
	// names the client.
	trustedProxies []netip.Prefix
	// allowedHosts are names the server answers for besides the base
	// URL's host, IP addresses and localhost.
	allowedHosts []string
	// dbTimeout and dbConns bound the web's own database pool.
	dbTimeout time.Duration
	dbConns   int
	// transparencyLog, if set, is served under /tlog.
	transparencyLog web.TransparencyLog
	// provenanceKeyFile signs the builds' provenance; empty means
	// HOME/provenance-key.pem, generated on first use (provenanceKey).
	provenanceKeyFile string
	// provenanceKey is the key loaded from it.
	provenanceKey ed25519.PrivateKey
	// scmDiff answers /api/scmdiff (the evaluator's input fetcher); nil
	// answers it 501.
	scmDiff web.SCMDiff
	// adhoc, if set, takes POST /api/build.
	adhoc web.AdhocBuilds
	// sessionKeyFile signs the session cookies; empty means
	// HOME/session.key, generated on first use. Servers behind one name
	// share it, or a login on one is refused by the others.
	sessionKeyFile string
}

func (o *webOptions) register(fs *flag.FlagSet) {
	fs.BoolVar(&o.private, "private", os.Getenv("BUILDLEDGER_PRIVATE") == "1", "require login for every page; env BUILDLEDGER_PRIVATE=1")
	fs.StringVar(&o.githubSecretFile, "github-secret-file", os.Getenv("BUILDLEDGER_GITHUB_SECRET_FILE"), "file (mode 0600) holding the HMAC secret of /api/push-github; none refuses it; env BUILDLEDGER_GITHUB_SECRET_FILE")
	fs.StringVar(&o.giteaSecretFile, "gitea-secret-file", os.Getenv("BUILDLEDGER_GITEA_SECRET_FILE"), "file (mode 0600) holding the HMAC secret of /api/push-gitea; none refuses it; env BUILDLEDGER_GITEA_SECRET_FILE")
	for _, name := range []string{"github-secret", "gitea-secret"} {
		fs.Func(name, "removed: use --"+name+"-file", func(string) error {
			return fmt.Errorf("is gone, as every local user can read a process's arguments: put the secret in a file of mode 0600 and pass --%s-file", name)
		})
	}
	fs.StringVar(&o.baseURL, "base-url", os.Getenv("BUILDLEDGER_BASE_URL"), "public URL behind a proxy: same-origin checks, Secure cookies, and a host the web answers for; env BUILDLEDGER_BASE_URL")
	fs.Func("allowed-host", "a host name the web answers for besides the --base-url host, IP addresses and localhost (repeatable); other Host headers get 421", func(v string) error {
		if v == "" || strings.ContainsAny(v, "/:@ ") {
			return fmt.Errorf("want a host name, not %q", v)
		}
		o.allowedHosts = append(o.allowedHosts, v)
		return nil
	})
	fs.StringVar(&o.sessionKeyFile, "session-key-file", os.Getenv("BUILDLEDGER_SESSION_KEY_FILE"), "file (mode 0600, at least 32 bytes) whose key signs the session cookies; servers that share users share it; default HOME/session.key, generated on first use; env BUILDLEDGER_SESSION_KEY_FILE")
	fs.StringVar(&o.provenanceKeyFile, "provenance-key-file", "", "ed25519 key (PEM, PKCS #8) that signs the builds' SLSA provenance; default HOME/provenance-key.pem, generated on first use")
	fs.DurationVar(&o.dbTimeout, "web-statement-timeout", defaultWebStatementTimeout, "longest database statement of a web request; longer ones answer 503")
	fs.IntVar(&o.dbConns, "web-db-conns", defaultWebDBConns, "database connections of the web's reads, apart from the writers' (projector, scheduler, evaluator, commands)")
	fs.Func("trusted-proxy", "address or CIDR of a reverse proxy whose X-Forwarded-For names the client (repeatable)", func(v string) error {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil {
				return fmt.Errorf("want an address or a CIDR prefix: %w", err)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		o.trustedProxies = append(o.trustedProxies, p)
		return nil
	})
}

// newWeb builds the web UI and JSON API over the system's read models,
// command handlers and log store, serving the binary cache under
// /nix-cache/. The web reads through a pool of its own, bounded in
// connections and statement time, so that slow anonymous requests can
// never take the connections the projector, the scheduler and the
// commands write with.
func (s *system) newWeb(ctx context.Context, opts webOptions) (http.Handler, error) {
	hosts, err := opts.hosts(s.cfg.listen, s.log)
	if err != nil {
		return nil, err
	}
	if opts.dbTimeout <= 0 {
		opts.dbTimeout = defaultWebStatementTimeout
	}
	if opts.dbConns <= 0 {
		opts.dbConns = defaultWebDBConns
	}
	pool, err := postgres.OpenWith(ctx, s.url, postgres.PoolOptions{MaxConns: int32(min(opts.dbConns, 1000)), StatementTimeout: opts.dbTimeout})
	if err != nil {
		return nil, fmt.Errorf("web database pool: %w", err)
	}
	s.webPool = pool
	key, err := opts.sessionKey(s.cfg.home)
	if err != nil {
		return nil, err
	}
	cacheDir := s.cfg.cacheDir()
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("create binary cache dir: %w", err)
	}
	logs, err := s.logStore()
	if err != nil {
		return nil, err
	}
	githubSecret, err := webhookSecret("github", opts.githubSecretFile)
	if err != nil {
		return nil, err
	}
	giteaSecret, err := webhookSecret("gitea", opts.giteaSecretFile)
	if err != nil {
		return nil, err
	}
	return web.New(web.Config{
		Queries:       queries.New(s.webPool),
		Transient:     postgres.IsTransient,
		Accounts:      commands.NewAccounts(s.runtime, s.vault),
		AsOf:          s.asOfFunc(),
		Insights:      s.insightQueries(),
		Notifications: queries.New(s.webPool),
		Commands:      s.handlers,
		Builds:        s.handlers,
		Tokens:        s.handlers,
		SSHKeys:       s.handlers,
		Adhoc:         opts.adhoc,
		Events:        s.store,
		SCMDiff:       opts.scmDiff,
		Mail:          opts.mail,
		SessionKey:    key,
		BaseURL:       opts.baseURL,
		AllowedHosts:  hosts,
		// Behind a TLS proxy the request itself is plain HTTP.
		SecureCookies: strings.HasPrefix(strings.ToLower(opts.baseURL), "https://"),
		Private:       opts.private,
		Logs:          logs,
		Outputs:       binarycache.StoreFiles{Dir: "/nix/store"},
		Store:         binarycache.StoreInfo{},
		Bzip2:         binarycache.NewBzip2Writer,
		BinaryCache:   binarycache.NewHandler(cacheDir, s.log),
		Provenance:    queries.New(s.webPool),
		ProvenanceKey: opts.provenanceKey,
		GitHubSecret:  githubSecret,
		GiteaSecret:   giteaSecret,
		// Deliveries are written on the writers' side, as the commands
		// they guard.
		Deliveries:      postgres.NewDeliveries(s.pool),
		Settle:          s.settle,
		Logger:          s.log,
		Ops:             opts.ops,
		TrustedProxies:  opts.trustedProxies,
		TransparencyLog: opts.transparencyLog,
	})
}

// hosts returns the host names the web answers for: --allowed-host and
// the --base-url host (IP addresses and localhost always pass). Listening
// beyond loopback with neither, a browser that reaches the server by name
// is refused: the log says so.
func (o webOptions) hosts(listen string, log *slog.Logger) ([]string, error) {
	hosts := append([]string(nil), o.allowedHosts...)
	if o.baseURL != "" {
		u, err := url.Parse(o.baseURL)
		if err != nil || u.Hostname() == "" {
			return nil, fmt.Errorf("--base-url %q: want scheme://host[:port]", o.baseURL)
		}
		hosts = append(hosts, u.Hostname())
	}
	if host, _, err := net.SplitHostPort(listen); err == nil && len(hosts) == 0 {
		if ip, err := netip.ParseAddr(host); host == "" || (err == nil && !ip.IsLoopback()) {
			log.Warn("the web answers only requests addressed to an IP address or localhost: give the names it is reached by with --base-url or --allowed-host", "listen", listen)
		}
	}
	return hosts, nil
}

// settle waits until every read model has applied the log up to its
// current head, so a page shown right after an action includes it.
func (s *system) settle(ctx context.Context) error {
	head, err := s.store.Head(ctx)
	if err != nil {
		return err
	}
	db := postgres.NewReadModelDB(s.webPool)
	ps := readModels(s.vault)
	for {
		cps, err := projections.Checkpoints(ctx, db, ps)
		if err != nil {
			return err
		}
		behind := len(cps) < len(ps)
		for _, cp := range cps {
			if cp.Less(head) {
				behind = true
			}
		}
		if !behind {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// webhookSecret reads the HMAC secret of a forge's webhook from its
// --FORGE-secret-file, or returns "" (the webhook is refused) without
// one. The secret was once taken from a flag or the environment, where
// other local users (/proc/PID/cmdline) or child processes read it: such
// an environment variable is refused rather than left for children.
func webhookSecret(forge, path string) (string, error) {
	env := "BUILDLEDGER_" + strings.ToUpper(forge) + "_SECRET"
	if os.Getenv(env) != "" {
		return "", fmt.Errorf("%s is no longer read, as every child process would inherit it: put the secret in a file of mode 0600, pass --%s-secret-file, and unset %s", env, forge, env)
	}
	if path == "" {
		return "", nil
	}
	secret, err := readSecretFile(path)
	if err != nil {
		return "", fmt.Errorf("--%s-secret-file: %w", forge, err)
	}
	return secret, nil
}

// readSecretFile reads a secret from a regular file that neither group
// nor others may read or write, without its trailing newline.
func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("%s has mode %04o, open to group or others: chmod 600 it", path, perm)
	}
	b, err := io.ReadAll(io.LimitReader(f, 64<<10+1))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > 64<<10 {
		return "", fmt.Errorf("%s is longer than 64 KiB: not a secret", path)
	}
	secret := strings.TrimRight(string(b), "\r\n")
	if secret == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return secret, nil
}

// sessionKey is the key that signs session cookies: the one in
// --session-key-file, which must exist (a server that made its own would
// refuse the sessions of the others), or HOME/session.key.
func (o webOptions) sessionKey(home string) ([]byte, error) {
	if o.sessionKeyFile == "" {
		return sessionKey(filepath.Join(home, "session.key"))
	}
	key, err := readSecretFile(o.sessionKeyFile)
	if err != nil {
		return nil, fmt.Errorf("--session-key-file: %w", err)
	}
	if len(key) < 32 {
		return nil, fmt.Errorf("--session-key-file: %s holds %d bytes; want at least 32 (openssl rand -hex 32)", o.sessionKeyFile, len(key))
	}
	return []byte(key), nil
}

// sessionKey reads the key that signs session cookies, creating it on
// first use so sessions survive restarts.
func sessionKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(b) >= 32 {
		return b, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read session key: %w", err)
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("write session key: %w", err)
	}
	return b, nil
}

// queueStatusHandler serves the scheduler's status as JSON, computed at
// most once a second: it walks every build and step under the
// scheduler's lock, so polling it must not contend with dispatch.
func queueStatusHandler[S any](status func() S) http.Handler {
	var (
		mu   sync.Mutex
		at   time.Time
		body []byte
	)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if time.Since(at) >= time.Second {
			b, err := json.Marshal(status())
			if err != nil {
				mu.Unlock()
				http.Error(w, "encode status", http.StatusInternalServerError)
				return
			}
			at, body = time.Now(), b
		}
		b := body
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	})
}

// maxConnections bounds the web server's open connections, so that idle
// or slow clients cannot use up the process's file descriptors.
const maxConnections = 4096

// newHTTPServer returns the web server with its timeouts. A client may
// not trickle a request (ReadTimeout), keep an idle connection open for
// long (IdleTimeout), or hold an answer open (WriteTimeout, which the
// log stream lifts for itself: web's streamLog).
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: 10 * time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
}
