package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"buildledger/commands"
	"buildledger/domain/domainerr"
	"buildledger/domain/password"
)

func runUp(ctx context.Context, a *app, args []string) error {
	var (
		cfg  config
		wopt webOptions
	)
	fs := a.newFlagSet("up", "up [flags]")
	cfg.register(fs, true)
	wopt.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.home, 0o755); err != nil {
		return fmt.Errorf("create --home %s: %w", cfg.home, err)
	}
	log := a.logger()
	sys, err := openSystem(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer sys.Close()
	if err := sys.ensureAdmin(ctx, a); err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	projector, err := sys.newProjector(reg)
	if err != nil {
		return err
	}

	site, err := sys.newWeb(wopt)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/", site)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := sys.pool.Ping(r.Context()); err != nil {
			http.Error(w, "database: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.listen, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(a.stdout, "buildledger is up: http://%s\n", ln.Addr())

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return projector.Run(ctx) })
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
	err = g.Wait()
	log.Info("buildledger stopped")
	return err
}

// ensureAdmin creates the user admin on first start, with the password
// from BUILDLEDGER_ADMIN_PASSWORD or a generated one printed once.
func (s *system) ensureAdmin(ctx context.Context, a *app) error {
	pw := os.Getenv("BUILDLEDGER_ADMIN_PASSWORD")
	generated := pw == ""
	if generated {
		pw = generatePassword()
	}
	hash, err := password.Hash(pw, password.DefaultParams)
	if err != nil {
		return err
	}
	md := commands.NewMetadata(commands.ComponentActor("up"), s.runtime)
	_, err = s.handlers.CreateUser(ctx, md, commands.CreateUser{UserName: "admin", FullName: "Administrator", EmailAddress: "admin@localhost", PasswordHash: hash, Roles: []string{"admin"}})
	switch {
	case errors.Is(err, domainerr.ErrAlreadyExists):
		return nil
	case err != nil:
		return fmt.Errorf("create the admin user: %w", err)
	}
	if generated {
		fmt.Fprintf(a.stdout, "created user admin with password %s (shown once; set BUILDLEDGER_ADMIN_PASSWORD to choose it)\n", pw)
	} else {
		fmt.Fprintln(a.stdout, "created user admin with the password from BUILDLEDGER_ADMIN_PASSWORD")
	}
	return nil
}
