package serve

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Backend is what a Server answers from: a store that can also build.
// Errors end the session, as they end `nix-store --serve`; a failed build
// is a BuildResult, not an error.
type Backend interface {
	QueryValidPaths(ctx context.Context, paths []string, lock, substitute bool) ([]string, error)
	// QueryPathInfos returns the infos of the valid paths among paths.
	QueryPathInfos(ctx context.Context, paths []string) ([]PathInfo, error)
	QueryClosure(ctx context.Context, paths []string, includeOutputs bool) ([]string, error)
	DumpPath(ctx context.Context, w io.Writer, path string) error
	// AddPath adds one path the client sends (AddToStoreNar, or one entry
	// of ImportPaths). nar is readable until AddPath returns and must be
	// read to its end to accept the path.
	AddPath(ctx context.Context, info PathInfo, nar io.Reader) error
	// BuildDerivation builds drv, writing the build log to log.
	BuildDerivation(ctx context.Context, drvPath string, drv BasicDerivation, opts BuildOptions, log io.Writer) (BuildResult, error)
	// BuildPaths builds the derivations among paths (valid in the store),
	// writing the logs to log.
	BuildPaths(ctx context.Context, paths []string, opts BuildOptions, log io.Writer) (BuildResult, error)
}

// Server is the server side of one serve-protocol session, what
// `nix-store --serve [--write]` does on a build machine.
type Server struct {
	in            *input
	r             *bufio.Reader
	w             *bufio.Writer
	log           io.Writer
	write         bool
	clientVersion uint64
}

// Accept performs the server's half of the handshake on rw (the client's
// stdin and stdout); log is where build logs and error messages go (the
// session's stderr). Without write, commands that add or build are
// refused, as `nix-store --serve` without --write refuses them.
//
// Unlike nix-store, the server takes a client that closes its input
// while a build runs as gone, and cancels the build (ErrClientLeft).
func Accept(rw io.ReadWriter, log io.Writer, write bool) (*Server, error) {
	in := newInput(rw)
	s, err := accept(in, rw, log, write)
	if err != nil {
		in.close()
		return nil, err
	}
	return s, nil
}

func accept(in *input, w io.Writer, log io.Writer, write bool) (*Server, error) {
	s := &Server{in: in, r: bufio.NewReaderSize(in, 64<<10), w: bufio.NewWriterSize(w, 64<<10), log: log, write: write}
	magic, err := readInt(s.r)
	if err != nil {
		return nil, fmt.Errorf("read client magic: %w", err)
	}
	if magic != ClientMagic {
		return nil, fmt.Errorf("protocol mismatch: client magic %#x, want %#x", magic, ClientMagic)
	}
	if err := writeInt(s.w, ServerMagic); err != nil {
		return nil, err
	}
	if err := writeInt(s.w, ProtocolVersion); err != nil {
		return nil, err
	}
	if err := s.w.Flush(); err != nil {
		return nil, err
	}
	v, err := readInt(s.r)
	if err != nil {
		return nil, fmt.Errorf("read client version: %w", err)
	}
	if v&protocolMajorMask != ProtocolVersion&protocolMajorMask {
		return nil, fmt.Errorf("unsupported client protocol version %#x", v)
	}
	s.clientVersion = v
	return s, nil
}

// ClientVersion is the protocol version the client announced.
func (s *Server) ClientVersion() uint64 { return s.clientVersion }

// VersionString renders a protocol version as Nix writes it, "2.7".
func VersionString(v uint64) string {
	return fmt.Sprintf("%d.%d", (v&protocolMajorMask)>>8, v&protocolMinorMask)
}

func (s *Server) minor() uint64 { return min(s.clientVersion, ProtocolVersion) & protocolMinorMask }

// ErrReadOnly refuses a writing command in a session without --write.
var ErrReadOnly = errors.New("this session may not write to the store (--write not given)")

// Serve answers commands until the client closes its end (nil) or a
// command fails (the error, also written to the log as nix-store would).
func (s *Server) Serve(ctx context.Context, b Backend) error {
	defer s.in.close()
	for {
		cmd, err := readInt(s.r)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			if _, perr := s.r.Peek(1); errors.Is(perr, io.EOF) {
				return nil
			}
		}
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.one(ctx, b, cmd); err != nil {
			fmt.Fprintf(s.log, "error: %v\n", err)
			return err
		}
		if err := s.w.Flush(); err != nil {
			return err
		}
	}
}

func (s *Server) one(ctx context.Context, b Backend, cmd uint64) error {
	switch cmd {
	case cmdQueryValidPaths:
		lock, err := readBool(s.r)
		if err != nil {
			return err
		}
		sub, err := readBool(s.r)
		if err != nil {
			return err
		}
		paths, err := readStrings(s.r, maxPathLen)
		if err != nil {
			return err
		}
		valid, err := b.QueryValidPaths(ctx, paths, lock && s.write, sub)
		if err != nil {
			return err
		}
		return writeStrings(s.w, valid)
	case cmdQueryPathInfos:
		paths, err := readStrings(s.r, maxPathLen)
		if err != nil {
			return err
		}
		infos, err := b.QueryPathInfos(ctx, paths)
		if err != nil {
			return err
		}
		for _, info := range infos {
			if err := s.writePathInfo(info); err != nil {
				return err
			}
		}
		return writeString(s.w, "")
	case cmdDumpStorePath:
		p, err := readString(s.r, maxPathLen)
		if err != nil {
			return err
		}
		return b.DumpPath(ctx, s.w, p)
	case cmdQueryClosure:
		incl, err := readBool(s.r)
		if err != nil {
			return err
		}
		paths, err := readStrings(s.r, maxPathLen)
		if err != nil {
			return err
		}
		closure, err := b.QueryClosure(ctx, paths, incl)
		if err != nil {
			return err
		}
		return writeStrings(s.w, closure)
	case cmdExportPaths:
		if _, err := readInt(s.r); err != nil { // sign: obsolete
			return err
		}
		paths, err := readStrings(s.r, maxPathLen)
		if err != nil {
			return err
		}
		return s.export(ctx, b, paths)
	case cmdImportPaths:
		if !s.write {
			return ErrReadOnly
		}
		return s.importPaths(ctx, b)
	case cmdAddToStoreNar:
		if !s.write {
			return ErrReadOnly
		}
		return s.addToStoreNar(ctx, b)
	case cmdBuildDerivation:
		if !s.write {
			return ErrReadOnly
		}
		drvPath, err := readString(s.r, maxPathLen)
		if err != nil {
			return err
		}
		d, err := readBasicDerivation(s.r)
		if err != nil {
			return fmt.Errorf("derivation %s: %w", drvPath, err)
		}
		opts, err := s.readBuildOptions()
		if err != nil {
			return err
		}
		bctx, stop := s.in.whileClientWaits(ctx)
		res, err := b.BuildDerivation(bctx, drvPath, d, opts, s.log)
		err = buildErr(bctx, err)
		stop()
		if err != nil {
			return err
		}
		return s.writeBuildResult(res)
	case cmdBuildPaths:
		if !s.write {
			return ErrReadOnly
		}
		paths, err := readStrings(s.r, maxPathLen)
		if err != nil {
			return err
		}
		opts, err := s.readBuildOptions()
		if err != nil {
			return err
		}
		bctx, stop := s.in.whileClientWaits(ctx)
		res, err := b.BuildPaths(bctx, paths, opts, s.log)
		err = buildErr(bctx, err)
		stop()
		if err != nil {
			return err
		}
		if res.Success() {
			return writeInt(s.w, 0)
		}
		if err := writeInt(s.w, uint64(res.Status)); err != nil {
			return err
		}
		return writeString(s.w, res.ErrorMsg)
	default:
		return fmt.Errorf("unknown serve command %d", cmd)
	}
}

// buildErr names ErrClientLeft as the reason a build was cut off by it.
func buildErr(ctx context.Context, err error) error {
	if err != nil && errors.Is(context.Cause(ctx), ErrClientLeft) {
		return fmt.Errorf("%w: %w", ErrClientLeft, err)
	}
	return err
}

func (s *Server) writePathInfo(info PathInfo) error {
	if err := writeString(s.w, info.Path); err != nil {
		return err
	}
	if err := writeString(s.w, info.Deriver); err != nil {
		return err
	}
	if err := writeStrings(s.w, info.References); err != nil {
		return err
	}
	if err := writeInt(s.w, info.NarSize); err != nil { // download size
		return err
	}
	if err := writeInt(s.w, info.NarSize); err != nil {
		return err
	}
	if s.minor() >= 4 {
		if err := writeString(s.w, info.NarHash); err != nil {
			return err
		}
		if err := writeString(s.w, info.CA); err != nil {
			return err
		}
		if err := writeStrings(s.w, info.Sigs); err != nil {
			return err
		}
	}
	return nil
}

// export writes paths in the export format (references first is the
// client's business: it asks in the order it wants).
func (s *Server) export(ctx context.Context, b Backend, paths []string) error {
	infos, err := b.QueryPathInfos(ctx, paths)
	if err != nil {
		return err
	}
	if len(infos) != len(paths) {
		return fmt.Errorf("export: %d of %d paths are valid", len(infos), len(paths))
	}
	ew := NewExportWriter(s.w)
	for _, info := range infos {
		err := ew.add(info, func(w io.Writer) error { return b.DumpPath(ctx, w, info.Path) })
		if err != nil {
			return err
		}
	}
	return ew.Close()
}

// importPaths reads an export stream, handing each path to the backend.
func (s *Server) importPaths(ctx context.Context, b Backend) error {
	err := ReadExport(s.r, func(info PathInfo, nar io.Reader) error { return b.AddPath(ctx, info, nar) })
	if err != nil {
		return err
	}
	return writeInt(s.w, 1)
}

// ReadExport reads a `nix-store --export` stream from r and calls fn for
// each path, with its NAR readable until fn returns. The format sends a
// path's name after its NAR, so each NAR is spooled to a temporary file
// first (checked for well-formedness as it is).
func ReadExport(r io.Reader, fn func(info PathInfo, nar io.Reader) error) error {
	for {
		spool, err := newSpool()
		if err != nil {
			return err
		}
		info, more, err := readExportEntry(r, spool)
		if err != nil || !more {
			spool.Close()
			return err
		}
		nar, err := spool.reader()
		if err == nil {
			err = fn(info, nar)
		}
		spool.Close()
		if err != nil {
			return err
		}
	}
}

func (s *Server) addToStoreNar(ctx context.Context, b Backend) error {
	var info PathInfo
	var err error
	if info.Path, err = readString(s.r, maxPathLen); err != nil {
		return err
	}
	if info.Deriver, err = readString(s.r, maxPathLen); err != nil {
		return err
	}
	if info.NarHash, err = readString(s.r, maxNameLen); err != nil {
		return err
	}
	if info.References, err = readStrings(s.r, maxPathLen); err != nil {
		return err
	}
	if _, err = readInt(s.r); err != nil { // registration time
		return err
	}
	if info.NarSize, err = readInt(s.r); err != nil {
		return err
	}
	if _, err = readBool(s.r); err != nil { // ultimate: the client's claim, not trusted
		return err
	}
	if info.Sigs, err = readStrings(s.r, maxPathLen); err != nil {
		return err
	}
	if info.CA, err = readString(s.r, maxPathLen); err != nil {
		return err
	}
	if info.NarSize == 0 {
		return errors.New("AddToStoreNar without a NAR size")
	}
	if !strings.HasPrefix(info.NarHash, "sha256:") {
		info.NarHash = "sha256:" + info.NarHash
	}
	// The NAR is checked for well-formedness as it is read, so a NAR
	// that ends early or runs past NarSize fails here.
	nar := io.LimitReader(s.r, int64(info.NarSize))
	pr, pw := io.Pipe()
	go func() {
		_, err := copyNAR(pw, nar)
		_ = pw.CloseWithError(err)
	}()
	err = b.AddPath(ctx, info, pr)
	_ = pr.CloseWithError(errors.New("path handled"))
	if err != nil {
		return err
	}
	return writeInt(s.w, 1)
}

func (s *Server) readBuildOptions() (BuildOptions, error) {
	var o BuildOptions
	silent, err := readInt(s.r)
	if err != nil {
		return o, err
	}
	timeout, err := readInt(s.r)
	if err != nil {
		return o, err
	}
	o.MaxSilentTime, o.BuildTimeout = secondsDuration(silent), secondsDuration(timeout)
	m := s.minor()
	if m >= 2 {
		if o.MaxLogSize, err = readInt(s.r); err != nil {
			return o, err
		}
	}
	if m >= 3 {
		if o.Repeats, err = readInt(s.r); err != nil {
			return o, err
		}
		if o.EnforceDeterminism, err = readBool(s.r); err != nil {
			return o, err
		}
	}
	if m >= 7 {
		if o.KeepFailed, err = readBool(s.r); err != nil {
			return o, err
		}
	}
	return o, nil
}

func (s *Server) writeBuildResult(r BuildResult) error {
	if err := writeInt(s.w, uint64(r.Status)); err != nil {
		return err
	}
	if err := writeString(s.w, r.ErrorMsg); err != nil {
		return err
	}
	m := s.minor()
	if m >= 3 {
		for _, n := range []uint64{r.TimesBuilt, boolInt(r.IsNonDeterministic), unixSeconds(r.StartTime), unixSeconds(r.StopTime)} {
			if err := writeInt(s.w, n); err != nil {
				return err
			}
		}
	}
	if m >= 6 {
		if err := writeInt(s.w, uint64(len(r.BuiltOutputs))); err != nil {
			return err
		}
		for _, o := range r.BuiltOutputs {
			js, err := json.Marshal(o)
			if err != nil {
				return err
			}
			if err := writeString(s.w, o.ID); err != nil {
				return err
			}
			if err := writeString(s.w, string(js)); err != nil {
				return err
			}
		}
	}
	return nil
}

// readBasicDerivation reads what writeBasicDerivation writes.
func readBasicDerivation(r io.Reader) (BasicDerivation, error) {
	var d BasicDerivation
	n, err := readInt(r)
	if err != nil {
		return d, err
	}
	if n > maxListLen {
		return d, fmt.Errorf("%d outputs exceed limit", n)
	}
	d.Outputs = make(map[string]DerivationOutput, min(n, 64))
	for i := uint64(0); i < n; i++ {
		var f [4]string
		for j := range f {
			if f[j], err = readString(r, maxPathLen); err != nil {
				return d, fmt.Errorf("output: %w", err)
			}
		}
		d.Outputs[f[0]] = DerivationOutput{Path: f[1], HashAlgo: f[2], Hash: f[3]}
	}
	if d.InputSrcs, err = readStrings(r, maxPathLen); err != nil {
		return d, fmt.Errorf("input sources: %w", err)
	}
	if d.Platform, err = readString(r, maxNameLen); err != nil {
		return d, fmt.Errorf("platform: %w", err)
	}
	if d.Builder, err = readString(r, maxPathLen); err != nil {
		return d, fmt.Errorf("builder: %w", err)
	}
	if d.Args, err = readStrings(r, maxMessageLen); err != nil {
		return d, fmt.Errorf("args: %w", err)
	}
	n, err = readInt(r)
	if err != nil {
		return d, err
	}
	if n > maxListLen {
		return d, fmt.Errorf("%d environment variables exceed limit", n)
	}
	d.Env = make(map[string]string, min(n, 256))
	for i := uint64(0); i < n; i++ {
		k, err := readString(r, maxMessageLen)
		if err != nil {
			return d, fmt.Errorf("environment: %w", err)
		}
		v, err := readString(r, maxMessageLen)
		if err != nil {
			return d, fmt.Errorf("environment %s: %w", k, err)
		}
		d.Env[k] = v
	}
	return d, nil
}

func boolInt(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func secondsDuration(s uint64) time.Duration {
	if s > 1<<31 {
		s = 1 << 31
	}
	return time.Duration(s) * time.Second
}

func unixSeconds(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(t.Unix())
}

// spool is a temporary file holding one NAR of an import.
type spool struct{ f *os.File }

func newSpool() (*spool, error) {
	f, err := os.CreateTemp("", "serve-import-*")
	if err != nil {
		return nil, fmt.Errorf("spool NAR: %w", err)
	}
	return &spool{f: f}, nil
}

func (s *spool) Write(p []byte) (int, error) { return s.f.Write(p) }

// reader rewinds the spool for reading.
func (s *spool) reader() (io.Reader, error) {
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("spool NAR: %w", err)
	}
	return s.f, nil
}

// Close removes the file.
func (s *spool) Close() {
	_ = s.f.Close()
	_ = os.Remove(s.f.Name())
}
