package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// runSubmit is "buildledger submit FILE.drv": it sends the derivation's
// closure (nix-store --export of nix-store -qR) to POST /api/build with an
// API token of scope submit, and prints the build's id and URL.
func runSubmit(ctx context.Context, a *app, args []string) error {
	var server, tokenFile string
	fs := a.newFlagSet("submit", "submit FILE.drv [--url URL] [--token-file FILE]")
	fs.StringVar(&server, "url", envOr("BUILDLEDGER_URL", "http://127.0.0.1:3000"), "the server's web URL; env BUILDLEDGER_URL")
	fs.StringVar(&tokenFile, "token-file", "", "file holding an API token of scope submit (or more); default env BUILDLEDGER_TOKEN")
	var pos []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		pos, args = append(pos, args[0]), args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	pos = append(pos, fs.Args()...)
	if len(pos) != 1 {
		fs.Usage()
		return errors.New("want one FILE.drv")
	}
	token := strings.TrimSpace(os.Getenv("BUILDLEDGER_TOKEN"))
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return fmt.Errorf("read --token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	if token == "" {
		return errors.New("no API token: give --token-file FILE or set BUILDLEDGER_TOKEN (a token of scope submit, from /user/NAME/tokens)")
	}
	drvPath, err := filepath.EvalSymlinks(pos[0])
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	if !strings.HasPrefix(drvPath, "/nix/store/") || !strings.HasSuffix(drvPath, ".drv") {
		return fmt.Errorf("%s is not a derivation in /nix/store (make one with nix-instantiate)", pos[0])
	}
	closure, err := exec.CommandContext(ctx, "nix-store", "-qR", drvPath).Output()
	if err != nil {
		return fmt.Errorf("closure of %s: %w", drvPath, err)
	}
	export := exec.CommandContext(ctx, "nix-store", append([]string{"--export"}, strings.Fields(string(closure))...)...)
	var stderr bytes.Buffer
	export.Stderr = &stderr
	body, err := export.StdoutPipe()
	if err != nil {
		return err
	}
	if err := export.Start(); err != nil {
		return fmt.Errorf("nix-store --export: %w", err)
	}
	u := strings.TrimSuffix(server, "/") + "/api/build?drv=" + url.QueryEscape(drvPath)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, body)
	if err != nil {
		_ = export.Process.Kill()
		_ = export.Wait()
		return err
	}
	req.Header.Set("Content-Type", "application/x-nix-export")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if werr := export.Wait(); werr != nil && err == nil {
		return fmt.Errorf("nix-store --export: %w: %s", werr, stderr.String())
	}
	if err != nil {
		return fmt.Errorf("POST %s: %w", u, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST /api/build: %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	var out struct {
		BuildID int64  `json:"buildId"`
		URL     string `json:"url"`
	}
	if err := json.Unmarshal(msg, &out); err != nil {
		return fmt.Errorf("POST /api/build: %w", err)
	}
	fmt.Fprintf(a.stdout, "build %d: %s\n", out.BuildID, out.URL)
	return nil
}
