package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/netip"
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

// The web reads step logs from the store the builder writes them to.
var _ web.LogReader = (*logstore.Store)(nil)

// webOptions are the web server's settings beyond the shared config.
type webOptions struct {
	private      bool
	githubSecret string
	giteaSecret  string
	baseURL      string
	// ops are the operational endpoints "up" serves (web.Config.Ops).
	ops map[string]http.Handler
	// trustedProxies name the reverse proxies whose X-Forwarded-For
	// names the client.
	trustedProxies []netip.Prefix
}

func (o *webOptions) register(fs *flag.FlagSet) {
	fs.BoolVar(&o.private, "private", os.Getenv("BUILDLEDGER_PRIVATE") == "1", "require login for every page; env BUILDLEDGER_PRIVATE=1")
	fs.StringVar(&o.githubSecret, "github-secret", os.Getenv("BUILDLEDGER_GITHUB_SECRET"), "HMAC secret of /api/push-github; empty refuses it; env BUILDLEDGER_GITHUB_SECRET")
	fs.StringVar(&o.giteaSecret, "gitea-secret", os.Getenv("BUILDLEDGER_GITEA_SECRET"), "HMAC secret of /api/push-gitea; empty refuses it; env BUILDLEDGER_GITEA_SECRET")
	fs.StringVar(&o.baseURL, "base-url", os.Getenv("BUILDLEDGER_BASE_URL"), "public URL, for the same-origin check behind a proxy; env BUILDLEDGER_BASE_URL")
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
// /nix-cache/.
func (s *system) newWeb(opts webOptions) (http.Handler, error) {
	key, err := sessionKey(filepath.Join(s.cfg.home, "session.key"))
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
	return web.New(web.Config{
		Queries:    queries.New(s.pool),
		Accounts:   commands.NewAccounts(s.runtime, s.vault),
		AsOf:       s.asOfFunc(),
		Insights:   s.insightQueries(),
		Commands:   s.handlers,
		Builds:     s.handlers,
		Tokens:     s.handlers,
		Events:     s.store,
		SessionKey: key,
		BaseURL:    opts.baseURL,
		// Behind a TLS proxy the request itself is plain HTTP.
		SecureCookies:  strings.HasPrefix(strings.ToLower(opts.baseURL), "https://"),
		Private:        opts.private,
		Logs:           logs,
		BinaryCache:    binarycache.NewHandler(cacheDir, s.log),
		GitHubSecret:   opts.githubSecret,
		GiteaSecret:    opts.giteaSecret,
		Settle:         s.settle,
		Logger:         s.log,
		Ops:            opts.ops,
		TrustedProxies: opts.trustedProxies,
	})
}

// settle waits until every read model has applied the log up to its
// current head, so a page shown right after an action includes it.
func (s *system) settle(ctx context.Context) error {
	head, err := s.store.Head(ctx)
	if err != nil {
		return err
	}
	db := postgres.NewReadModelDB(s.pool)
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
