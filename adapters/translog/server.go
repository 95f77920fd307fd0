package translog

import (
	"context"

	"buildledger/domain/redact"
	"buildledger/events"
	"buildledger/web"
)

var _ web.TransparencyLog = (*Server)(nil)

// Server is the web's port to the transparency log (web.TransparencyLog).
type Server struct {
	Tree  *Tree
	Store events.Store
	// VKey is Key's text form.
	VKey string
	// Witnesses are the witnesses whose cosignatures the log accepts.
	Witnesses []*CosignatureVerifier
}

// Checkpoint returns the published checkpoint with its cosignatures.
func (s *Server) Checkpoint(ctx context.Context) ([]byte, error) { return s.Tree.Checkpoint(ctx) }

// VerifierKey returns the log's note verifier key.
func (s *Server) VerifierKey() string { return s.VKey }

// Tile returns a hash tile or an entry bundle.
func (s *Server) Tile(ctx context.Context, path string) ([]byte, error) {
	return s.Tree.Tile(ctx, path)
}

// Event returns an event as events export writes it.
func (s *Server) Event(ctx context.Context, ref string) (redact.ExportRow, error) {
	r, err := s.Tree.Event(ctx, s.Store, ref)
	if err != nil {
		return redact.ExportRow{}, err
	}
	return redact.Export(r), nil
}

// AddCosignature keeps a configured witness's cosignature.
func (s *Server) AddCosignature(ctx context.Context, cosigned []byte) error {
	return s.Tree.AddCosignature(ctx, cosigned, s.Witnesses)
}
