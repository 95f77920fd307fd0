package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"buildledger/domain/redact"
)

// TransparencyLog serves the event log as a C2SP transparency log
// (adapters/translog): the signed checkpoint with its witnesses'
// cosignatures, the note verifier key, hash tiles and entry bundles
// (tlog-tiles), the events, and cosignatures posted by witnesses.
type TransparencyLog interface {
	Checkpoint(ctx context.Context) ([]byte, error)
	VerifierKey() string
	// Tile answers a tlog-tiles path, tile/<L>/<N>[.p/<W>] or
	// tile/entries/<N>[.p/<W>].
	Tile(ctx context.Context, path string) ([]byte, error)
	// Event finds an event by position or id.
	Event(ctx context.Context, ref string) (redact.ExportRow, error)
	// AddCosignature keeps a configured witness's cosignature of the
	// current checkpoint (the cosigned note).
	AddCosignature(ctx context.Context, note []byte) error
}

// maxCosignature bounds a posted cosigned note: a checkpoint and a few
// signature lines.
const maxCosignature = 16 << 10

// tlogRoutes mounts the transparency log under /tlog.
func (s *server) tlogRoutes(r chi.Router) {
	t := s.cfg.TransparencyLog
	text := func(w http.ResponseWriter, b []byte, immutable bool) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if immutable {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		_, _ = w.Write(b)
	}
	r.Get("/tlog/checkpoint", s.h(func(w http.ResponseWriter, r *http.Request) error {
		b, err := t.Checkpoint(r.Context())
		if err != nil {
			return err
		}
		text(w, b, false)
		return nil
	}))
	r.Get("/tlog/key", func(w http.ResponseWriter, _ *http.Request) { text(w, []byte(t.VerifierKey()+"\n"), false) })
	r.Get("/tlog/tile/*", s.h(func(w http.ResponseWriter, r *http.Request) error {
		b, err := t.Tile(r.Context(), "tile/"+chi.URLParam(r, "*"))
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		// A partial tile is replaced by a fuller one as the log grows.
		if strings.Contains(chi.URLParam(r, "*"), ".p/") {
			w.Header().Set("Cache-Control", "no-cache")
		} else {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		}
		_, _ = w.Write(b)
		return nil
	}))
	r.Get("/tlog/event/{ref}", s.h(func(w http.ResponseWriter, r *http.Request) error {
		ev, err := t.Event(r.Context(), chi.URLParam(r, "ref"))
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/json")
		return json.NewEncoder(w).Encode(ev)
	}))
	r.Post("/tlog/cosignature", s.h(func(w http.ResponseWriter, r *http.Request) error {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCosignature))
		if err != nil {
			return errBadRequest("cosignature: %v", err)
		}
		if err := t.AddCosignature(r.Context(), b); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}))
}
