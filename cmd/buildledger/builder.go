package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"

	"buildledger/adapters/binarycache"
	"buildledger/adapters/builder"
	"buildledger/adapters/logstore"
	"buildledger/commands"
	"buildledger/domain/domainerr"
	"buildledger/events"
)

// workerFlags are the flags of the commands that run a builder worker:
// where build outputs are uploaded (--cache) and the limits of a build.
type workerFlags struct {
	url string
	// keyFile is the signing key of a file:// cache; empty means
	// HOME/cache-key.sec, generated on first use.
	keyFile string
	// maxOutputSize and maxLogSize apply to steps that set none (0: no
	// output limit, builder.DefaultMaxLogSize).
	maxOutputSize, maxLogSize int64
	// useSubstitutes lets Nix substitute a step's inputs from its
	// configured substituters instead of building or copying them.
	useSubstitutes bool
	// nice is the nice value of the worker's local Nix commands and so
	// of the builds on localhost (builder.Config.LocalNice).
	nice int
}

func (f *workerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "cache", "", "destination of build outputs: file:///DIR (a binary cache signed with HOME/cache-key.sec; ?compression=zstd|xz|none), "+
		"s3://BUCKET?… (the same in an S3 bucket, with Nix's S3 store parameters; credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or ~/.aws/credentials) "+
		"or ssh://[user@]host[:port]?ssh-key=FILE[&base64-ssh-public-host-key=KEY][&remote-store=DIR] (imported into the host's Nix store; "+
		"without a host key ~/.ssh/known_hosts must list it); default file://HOME/cache, which up serves at /nix-cache/")
	fs.StringVar(&f.keyFile, "cache-secret-key-file", "", "signing key (Nix's name:base64 format) of a file:// or s3:// --cache; default HOME/cache-key.sec, generated on first use")
	fs.Int64Var(&f.maxOutputSize, "max-output-size", 0, "largest NAR of one build output in bytes, for builds that set none; 0: no limit")
	fs.Int64Var(&f.maxLogSize, "max-log-size", builder.DefaultMaxLogSize, "largest build log in bytes, for builds that set none")
	fs.BoolVar(&f.useSubstitutes, "use-substitutes", false, "let Nix substitute build inputs from its configured substituters (default: build or copy them)")
	fs.IntVar(&f.nice, "build-nice", builder.DefaultLocalNice, "nice value of the builds on localhost and the worker's other local nix-store commands (0: the usual priority; below the worker's own needs root)")
}

// destination returns the checked destination, by default the cache
// directory under the home.
func (f *workerFlags) destination(cfg config) (binarycache.DestinationURL, error) {
	if f.url == "" {
		dir, err := filepath.Abs(cfg.cacheDir())
		if err != nil {
			return binarycache.DestinationURL{}, fmt.Errorf("cache directory: %w", err)
		}
		return binarycache.DestinationURL{Scheme: "file", Dir: dir}, nil
	}
	d, err := binarycache.ParseDestination(f.url)
	if err != nil {
		return d, fmt.Errorf("--cache: %w", err)
	}
	if d.SecretKeyFile != "" && f.keyFile != "" {
		return d, errors.New("--cache names a secret-key and --cache-secret-key-file is given too: give the signing key once")
	}
	return d, nil
}

// logStore returns the store of step logs under HOME/logs, which the
// worker writes and the web reads (from one process or two).
func (s *system) logStore() (*logstore.Store, error) {
	return logstore.New(s.cfg.logDir(), logstore.Options{Logger: s.log})
}

// newWorker returns the builder worker, with logs under HOME/logs (where
// the web UI reads them), outputs uploaded to dest and the limits of f,
// and a function that releases dest.
func (s *system) newWorker(dest binarycache.DestinationURL, f workerFlags) (*builder.Worker, func(), error) {
	logs, err := s.logStore()
	if err != nil {
		return nil, nil, err
	}
	spool := filepath.Join(s.cfg.home, "spool")
	if err := os.MkdirAll(spool, 0o755); err != nil {
		return nil, nil, err
	}
	opts := binarycache.OpenOptions{SpoolDir: spool, Logger: s.log}
	if dest.Scheme == "file" || dest.Scheme == "s3" {
		keyFile := f.keyFile
		if dest.SecretKeyFile != "" {
			keyFile = dest.SecretKeyFile
		}
		key, err := cacheKey(s.cfg.home, keyFile)
		if err != nil {
			return nil, nil, err
		}
		opts.SecretKeys = []signature.SecretKey{key}
	}
	cache, err := binarycache.OpenDestination(dest, opts)
	if err != nil {
		return nil, nil, err
	}
	release := func() {
		if c, ok := cache.(io.Closer); ok {
			_ = c.Close()
		}
	}
	nixArgs := []string{"--option", "substituters", ""}
	if f.useSubstitutes {
		nixArgs = nil
	}
	w, err := builder.New(builder.Config{
		Runtime:       s.runtime,
		Logs:          logs,
		Cache:         cache,
		SpoolDir:      spool,
		NixStoreArgs:  nixArgs,
		MaxOutputSize: f.maxOutputSize,
		MaxLogSize:    f.maxLogSize,
		LocalNice:     f.nice,
		Logger:        s.log,
	})
	if err != nil {
		release()
		return nil, nil, err
	}
	s.log.Info("build outputs go to " + cache.URL())
	return w, release, nil
}

// cacheKey loads the binary cache's signing key: the operator's file, or
// HOME/cache-key.sec, generated (with its public half, to give to Nix as a
// trusted key) on first use.
func cacheKey(home, file string) (signature.SecretKey, error) {
	if file != "" {
		k, err := binarycache.LoadSecretKeyFile(file)
		if err != nil {
			return signature.SecretKey{}, fmt.Errorf("--cache-secret-key-file: %w", err)
		}
		return k, nil
	}
	secret := filepath.Join(home, "cache-key.sec")
	k, err := binarycache.LoadSecretKeyFile(secret)
	if err == nil {
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return signature.SecretKey{}, err
	}
	sk, _, err := binarycache.GenerateKey("buildledger-1")
	if err != nil {
		return signature.SecretKey{}, err
	}
	if err := binarycache.SaveKeyPair(sk, secret, filepath.Join(home, "cache-key.pub")); err != nil {
		return signature.SecretKey{}, fmt.Errorf("save cache signing key: %w", err)
	}
	return sk, nil
}

// ensureLocalMachine registers this machine as the localhost builder on
// first start, with the systems and features Nix builds here, as Hydra's
// builder takes them from Nix's configuration.
func (s *system) ensureLocalMachine(ctx context.Context) error {
	nc, err := readNixConfig(ctx)
	if err != nil {
		return fmt.Errorf("register the local builder: %w", err)
	}
	md := commands.NewMetadata(commands.ComponentActor("up"), s.runtime)
	_, err = s.handlers.RegisterMachine(ctx, md, commands.RegisterMachine{Name: "localhost", Config: events.MachineConfig{
		URI:               "localhost",
		Systems:           nc.systems(),
		MaxJobs:           runtime.NumCPU(),
		SpeedFactor:       1,
		SupportedFeatures: nc.Features,
		Enabled:           true,
	}})
	if err != nil && !errors.Is(err, domainerr.ErrAlreadyExists) {
		return fmt.Errorf("register the local builder: %w", err)
	}
	return nil
}

// nixConfig is what the local builder takes from `nix show-config`.
type nixConfig struct {
	System         string
	ExtraPlatforms []string
	Features       []string
}

// systems are the system Nix builds for, its extra platforms and
// "builtin" (derivations such as builtin:fetchurl), without repeats.
func (nc nixConfig) systems() []string {
	out := []string{nc.System}
	for _, s := range append(nc.ExtraPlatforms, "builtin") {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// readNixConfig asks the local Nix for its system, extra-platforms and
// system-features, the settings that decide what it may build.
func readNixConfig(ctx context.Context) (nixConfig, error) {
	out, err := exec.CommandContext(ctx, "nix", "--extra-experimental-features", "nix-command", "show-config", "--json").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nixConfig{}, fmt.Errorf("nix show-config: %w: %s", err, bytes.TrimSpace(ee.Stderr))
		}
		return nixConfig{}, fmt.Errorf("nix show-config: %w", err)
	}
	return parseNixConfig(out)
}

// parseNixConfig decodes the JSON of `nix show-config --json`.
func parseNixConfig(b []byte) (nixConfig, error) {
	var raw struct {
		System struct {
			Value string `json:"value"`
		} `json:"system"`
		ExtraPlatforms struct {
			Value []string `json:"value"`
		} `json:"extra-platforms"`
		SystemFeatures struct {
			Value []string `json:"value"`
		} `json:"system-features"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nixConfig{}, fmt.Errorf("decode nix show-config: %w", err)
	}
	if raw.System.Value == "" {
		return nixConfig{}, errors.New("nix show-config names no system")
	}
	return nixConfig{System: raw.System.Value, ExtraPlatforms: raw.ExtraPlatforms.Value, Features: raw.SystemFeatures.Value}, nil
}
