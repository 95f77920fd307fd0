package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"
	"golang.org/x/sync/errgroup"
)

// runServer is the web alone, for a split deployment: the projector, the
// queue runner and the evaluators run as their own processes against
// the same database, and any number of servers answer the web.
func runServer(ctx context.Context, a *app, args []string) error {
	var (
		cfg      config
		wopt     webOptions
		hc       hydraConfFlag
		endpoint string
	)
	fs := a.newFlagSet("server", "server --database-url URL [--listen ADDR] [flags]")
	cfg.register(fs, true)
	wopt.register(fs)
	hc.register(fs)
	fs.StringVar(&endpoint, "queue-runner-endpoint", "",
		"the queue runner's status address (its --status-listen, as http://HOST:PORT): /queue-runner-status shows what its /status answers; none: {\"status\":\"unknown\"}, as Hydra")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := a.logger()
	if err := hc.apply(fs, log); err != nil {
		return err
	}
	cfg.dynamicRunCommand = hc.kept.DynamicRunCommand
	status, err := queueRunnerStatus(endpoint)
	if err != nil {
		return err
	}
	return a.withLedger(ctx, cfg, func(sys *system) error {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		wopt.ops = map[string]http.Handler{
			"/healthz":             healthz(sys, log),
			"/metrics":             promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
			"/queue-runner-status": status,
		}
		site, err := sys.newWeb(ctx, wopt)
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", cfg.listen)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.listen, err)
		}
		fmt.Fprintf(a.stdout, "buildledger server is up: http://%s\n", ln.Addr())
		return serveHTTP(ctx, newHTTPServer(site), netutil.LimitListener(ln, maxConnections))
	})
}

// serveHTTP serves on ln until ctx ends, then shuts srv down, giving
// requests in flight ten seconds.
func serveHTTP(ctx context.Context, srv *http.Server, ln net.Listener) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(shutdown)
	})
	return g.Wait()
}

// queueRunnerStatus is a server's /queue-runner-status, as Hydra's web
// answers it: without an endpoint {"status":"unknown"}; with one, the
// JSON its /status gives, or {"status":"unreachable"}. The endpoint is
// the operator's, so only its scheme and host are taken from the flag.
func queueRunnerStatus(endpoint string) (http.Handler, error) {
	answer := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	if endpoint == "" {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			answer(w, map[string]string{"status": "unknown"})
		}), nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--queue-runner-endpoint: want http://HOST:PORT, not %q", endpoint)
	}
	statusURL := u.JoinPath("status").String()
	client := &http.Client{Timeout: 5 * time.Second}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var status json.RawMessage
		if err := fetchJSON(r.Context(), client, statusURL, &status); err != nil {
			answer(w, map[string]string{"status": "unreachable"})
			return
		}
		answer(w, status)
	}), nil
}

// fetchJSON GETs url into v, reading at most 16MB.
func fetchJSON(ctx context.Context, client *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(v)
}
