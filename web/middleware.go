package web

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxQuery bounds the query string; longer ones are refused with 414.
const maxQuery = 4096

// limits refuses oversized URLs before any work is done.
func (s *server) limits(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.URL.RawQuery) > maxQuery || len(r.URL.Path) > 2*maxQuery {
			s.fail(w, r, &httpError{Status: http.StatusRequestURITooLong, Msg: "request URI too long"})
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "same-origin")
		w.Header().Set("X-Frame-Options", "DENY")
		if s.cfg.SecureCookies || r.TLS != nil {
			w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// hosts refuses requests addressed to a host name the server does not
// answer for (421 Misdirected Request). A DNS rebinding attack makes a
// browser send its own name, which an IP address or "localhost" never
// is; the names configured (AllowedHosts) pass.
func (s *server) hosts(next http.Handler) http.Handler {
	allowed := map[string]bool{"localhost": true}
	for _, h := range s.cfg.AllowedHosts {
		allowed[hostName(h)] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := hostName(r.Host)
		if _, err := netip.ParseAddr(h); err != nil && h != "" && !allowed[h] {
			s.fail(w, r, &httpError{Status: http.StatusMisdirectedRequest, Msg: "this server does not answer for host " + strconv.Quote(h)})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hostName is the host of a Host header without its port, brackets and
// final dot, in lower case.
func hostName(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), ".")
	return strings.ToLower(h)
}

// recoverer turns a handler panic into a 500.
func (s *server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("handler panic", "path", r.URL.Path, "panic", v)
				s.fail(w, r, &httpError{Status: http.StatusInternalServerError, Msg: "internal server error"})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// limiter allows n events per window and key (fixed windows).
type limiter struct {
	mu     sync.Mutex
	n      int
	window time.Duration
	now    func() time.Time
	seen   map[string]*bucket
}

type bucket struct {
	start time.Time
	count int
}

func newLimiter(n int, window time.Duration, now func() time.Time) *limiter {
	return &limiter{n: n, window: window, now: now, seen: map[string]*bucket{}}
}

// allow records an event for key and reports whether it is within the
// limit.
func (l *limiter) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.seen) > 10000 {
		for k, b := range l.seen {
			if now.Sub(b.start) >= l.window {
				delete(l.seen, k)
			}
		}
	}
	b := l.seen[key]
	if b == nil || now.Sub(b.start) >= l.window {
		b = &bucket{start: now}
		l.seen[key] = b
	}
	b.count++
	return b.count <= l.n
}

// clientAddr is the request's client IP: its remote address, or, when
// that is a trusted proxy, the last address in X-Forwarded-For that is
// not one (the proxies append; a client can forge only the addresses
// before the first trusted proxy's).
func (s *server) clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if !s.trusted(host) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if hop != "" && !s.trusted(hop) {
			return hop
		}
	}
	return host
}

// trusted reports whether addr is one of the trusted proxies.
func (s *server) trusted(addr string) bool {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}
