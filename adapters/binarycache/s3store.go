package binarycache

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path"
	"runtime"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/ulikunitz/xz"
)

// S3Options configure an S3Store. The bucket and endpoint come from an
// s3:// destination URL; credentials never do (see NewS3Store).
type S3Options struct {
	// Bucket holds the cache at its root.
	Bucket string
	// Region is the bucket's region; us-east-1 when empty, as in Nix.
	Region string
	// Endpoint is host[:port] of an S3-compatible server; empty means
	// Amazon S3. Insecure talks plain HTTP to it.
	Endpoint string
	Insecure bool
	// Profile names the profile of the AWS credentials file to use;
	// empty means the environment first, then AWS_PROFILE or "default".
	Profile string
	// Compression of NAR files; zstd when empty. ParallelCompression
	// lets zstd use every core (xz is always single-threaded).
	Compression         Compression
	ParallelCompression bool
	// WriteNARListing uploads <hashpart>.ls beside each narinfo,
	// compressed with LsCompression; build logs are compressed with
	// LogCompression. Both are sent with a Content-Encoding header, which
	// Nix's HTTP client decodes.
	WriteNARListing bool
	LsCompression   string
	LogCompression  string
	// PartSize is the size of the parts of a multipart upload; NARs
	// larger than one part are uploaded in parts, PartThreads at a time.
	// Defaults: 16 MiB and 4.
	PartSize    int64
	PartThreads int
	// SecretKeys sign every narinfo written.
	SecretKeys []signature.SecretKey
	// SpoolDir holds each compressed NAR while it is uploaded; the
	// system's temporary directory when empty.
	SpoolDir string
	// Transport, if set, carries the HTTP requests (tests watch them).
	Transport http.RoundTripper
	// Logger receives one debug line per upload; slog.Default when nil.
	Logger *slog.Logger
}

// S3Store is a Destination writing a binary cache into an S3 bucket, laid
// out as Nix's S3 store writes it: nix-cache-info, <hashpart>.narinfo,
// nar/<filehash>.nar.<ext>, <hashpart>.ls and log/<drv>. Every object is
// written whole or not at all, the NAR before the narinfo that names it,
// so a reader never sees a narinfo without its NAR. An object already
// there with the same content is not sent again. Each request is retried
// with exponential backoff by the client library; a Put that still fails
// leaves nothing a client would read. It is safe for concurrent use.
type S3Store struct {
	client  *minio.Client
	opts    S3Options
	log     *slog.Logger
	encoder narEncoder
	// infoMu guards infoDone, set once nix-cache-info is in the bucket.
	infoMu   sync.Mutex
	infoDone bool
}

var _ Destination = (*S3Store)(nil)
var _ LogUploader = (*S3Store)(nil)

// s3PartSize is the default part size of multipart uploads; S3 takes no
// part under 5 MiB.
const (
	s3PartSize    = 16 << 20
	s3MinPartSize = 5 << 20
)

// NewS3Store returns an S3Store. Its credentials come from the
// environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN) or from the AWS credentials file (o.Profile, or
// AWS_PROFILE, in AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials); with
// a profile, from that profile only. Finding none is an error.
func NewS3Store(o S3Options) (*S3Store, error) {
	if o.Bucket == "" {
		return nil, errors.New("s3 cache: no bucket")
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.Compression == "" {
		o.Compression = CompressionZstd
	}
	if !validCompression(o.Compression) {
		return nil, fmt.Errorf("s3 cache: unsupported compression %q", o.Compression)
	}
	for _, c := range []string{o.LsCompression, o.LogCompression} {
		if !validSideCompression(c) {
			return nil, fmt.Errorf("s3 cache: unsupported ls or log compression %q", c)
		}
	}
	if o.PartSize == 0 {
		o.PartSize = s3PartSize
	}
	if o.PartSize < s3MinPartSize {
		return nil, fmt.Errorf("s3 cache: part size %d is under S3's minimum of 5 MiB", o.PartSize)
	}
	if o.PartThreads <= 0 {
		o.PartThreads = 4
	}
	endpoint, secure := o.Endpoint, !o.Insecure
	if endpoint == "" {
		endpoint, secure = "s3.amazonaws.com", true
	}
	providers := []credentials.Provider{&credentials.EnvAWS{}, &credentials.FileAWSCredentials{}}
	if o.Profile != "" {
		providers = []credentials.Provider{&credentials.FileAWSCredentials{Profile: o.Profile}}
	}
	creds := credentials.NewChainCredentials(providers)
	if v, err := creds.Get(); err != nil || v.AccessKeyID == "" {
		return nil, fmt.Errorf("s3 cache s3://%s: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "+
			"or give ?profile= of the AWS credentials file (AWS_SHARED_CREDENTIALS_FILE, default ~/.aws/credentials)", o.Bucket)
	}
	client, err := minio.New(endpoint, &minio.Options{Creds: creds, Secure: secure, Region: o.Region, Transport: o.Transport})
	if err != nil {
		return nil, fmt.Errorf("s3 cache s3://%s: %w", o.Bucket, err)
	}
	client.SetAppInfo("buildledger", "1")
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	level := zstd.WithEncoderConcurrency(1)
	if o.ParallelCompression {
		level = zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0))
	}
	return &S3Store{client: client, opts: o, log: log, encoder: newNAREncoder(o.Compression, level)}, nil
}

// URL names the bucket (and the server, if not Amazon's), without
// anything secret: it goes into OutputUploaded events.
func (s *S3Store) URL() string {
	if s.opts.Endpoint == "" {
		return "s3://" + s.opts.Bucket
	}
	return "s3://" + s.opts.Bucket + "?endpoint=" + s.opts.Endpoint
}

// Has reports whether the bucket holds a narinfo for storePath.
func (s *S3Store) Has(ctx context.Context, storePath string) (bool, error) {
	hp, err := hashPart(storePath)
	if err != nil {
		return false, err
	}
	_, ok, err := s.stat(ctx, hp+".narinfo")
	return ok, err
}

// Lookup returns what the bucket holds for storePath; ok is false when
// the narinfo or its NAR is missing.
func (s *S3Store) Lookup(ctx context.Context, storePath string) (u Uploaded, ok bool, err error) {
	hp, err := hashPart(storePath)
	if err != nil {
		return Uploaded{}, false, err
	}
	body, ok, err := s.get(ctx, hp+".narinfo")
	if err != nil || !ok {
		return Uploaded{}, false, err
	}
	ni, prov, err := readNarInfo(storePath, bytes.NewReader(body))
	if err != nil {
		return Uploaded{}, false, fmt.Errorf("%w: %w", errUnreadableNarInfo, err)
	}
	if _, ok, err := s.stat(ctx, ni.URL); err != nil || !ok {
		return Uploaded{}, false, err
	}
	u = uploadedFromNarInfo(ni, s.URL())
	u.Provenance = prov
	return u, true, nil
}

// Put compresses nar into the spool directory, then uploads the NAR (in
// parts when large), the listing and, last, the signed narinfo. If the
// bucket already holds info.StorePath, Put returns what is there without
// reading nar.
func (s *S3Store) Put(ctx context.Context, info PathInfo, nar io.Reader) (Uploaded, error) {
	if err := validatePathInfo(info); err != nil {
		return Uploaded{}, fmt.Errorf("put: %w", err)
	}
	existing, ok, err := s.Lookup(ctx, info.StorePath)
	switch {
	case errors.Is(err, errUnreadableNarInfo):
		s.log.Warn("binary cache: rewriting unreadable entry", "path", info.StorePath, "err", err)
	case err != nil:
		return Uploaded{}, fmt.Errorf("put %s: %w", info.StorePath, err)
	case ok:
		return existing, nil
	}
	if err := s.ensureCacheInfo(ctx); err != nil {
		return Uploaded{}, err
	}
	spool, err := os.CreateTemp(s.opts.SpoolDir, "s3-*.nar")
	if err != nil {
		return Uploaded{}, fmt.Errorf("put %s: spool: %w", info.StorePath, err)
	}
	defer os.Remove(spool.Name())
	defer spool.Close()
	stored, listing, err := s.encode(ctx, nar, spool)
	if err != nil {
		return Uploaded{}, fmt.Errorf("put %s: %w", info.StorePath, err)
	}
	u, err := completeUpload(info, stored, s.opts.SecretKeys)
	if err != nil {
		return Uploaded{}, fmt.Errorf("put %s: %w", info.StorePath, err)
	}
	u.CacheURL = s.URL()
	if err := s.putNAR(ctx, u, spool); err != nil {
		return Uploaded{}, fmt.Errorf("put %s: %w", info.StorePath, err)
	}
	hp, _ := hashPart(info.StorePath)
	if listing != nil {
		if err := s.putSmall(ctx, hp+".ls", listing, "application/json", s.opts.LsCompression); err != nil {
			return Uploaded{}, fmt.Errorf("put %s: %w", info.StorePath, err)
		}
	}
	if err := s.putSmall(ctx, hp+".narinfo", []byte(FormatNarInfo(u)), "text/x-nix-narinfo", ""); err != nil {
		return Uploaded{}, fmt.Errorf("put %s: %w", info.StorePath, err)
	}
	s.log.Debug("binary cache: uploaded", "path", u.StorePath, "narSize", u.NarSize, "fileSize", u.FileSize, "cache", u.CacheURL, "key", u.URL)
	return u, nil
}

// encode compresses nar into spool and, with WriteNARListing, lists it
// on the way.
func (s *S3Store) encode(ctx context.Context, nar io.Reader, spool *os.File) (Uploaded, []byte, error) {
	if !s.opts.WriteNARListing {
		u, err := s.encoder.encode(ctx, nar, spool, nil)
		return u, nil, err
	}
	pr, pw := io.Pipe()
	type result struct {
		listing []byte
		err     error
	}
	done := make(chan result, 1)
	go func() {
		l, err := narListing(pr)
		_ = pr.CloseWithError(errAbandonedListing)
		done <- result{l, err}
	}()
	u, err := s.encoder.encode(ctx, nar, spool, pw)
	_ = pw.CloseWithError(err)
	r := <-done
	if err != nil {
		return Uploaded{}, nil, err
	}
	if r.err != nil {
		return Uploaded{}, nil, r.err
	}
	return u, r.listing, nil
}

// errUnreadableNarInfo marks a narinfo in the bucket that is not one
// for its path: Put writes it again rather than fail for ever.
var errUnreadableNarInfo = errors.New("unreadable narinfo")

// errAbandonedListing ends a NAR copy whose listing failed.
var errAbandonedListing = errors.New("nar listing ended")

// putNAR uploads the spooled NAR file under u.URL unless an object of the
// same size is there: the key is the file's hash, so it is the same file.
func (s *S3Store) putNAR(ctx context.Context, u Uploaded, spool *os.File) error {
	if info, ok, err := s.stat(ctx, u.URL); err != nil {
		return err
	} else if ok && info.Size == u.FileSize {
		return nil
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewind spooled nar: %w", err)
	}
	_, err := s.client.PutObject(ctx, s.opts.Bucket, u.URL, spool, u.FileSize, minio.PutObjectOptions{
		ContentType: "application/x-nix-nar",
		PartSize:    uint64(s.opts.PartSize),
		NumThreads:  uint(s.opts.PartThreads),
	})
	if err != nil {
		return fmt.Errorf("upload %s to s3://%s: %w", u.URL, s.opts.Bucket, err)
	}
	return nil
}

// PutLog uploads the build log of drvPath as log/<drv name>, as Nix's
// `nix store copy-log` does, so `nix log --store` finds it.
func (s *S3Store) PutLog(ctx context.Context, drvPath string, log io.Reader) error {
	if _, err := hashPart(drvPath); err != nil {
		return fmt.Errorf("put log: %w", err)
	}
	b, err := io.ReadAll(ctxReader{ctx: ctx, r: log})
	if err != nil {
		return fmt.Errorf("put log of %s: %w", drvPath, err)
	}
	if err := s.putSmall(ctx, "log/"+path.Base(drvPath), b, "text/plain; charset=utf-8", s.opts.LogCompression); err != nil {
		return fmt.Errorf("put log of %s: %w", drvPath, err)
	}
	return nil
}

// ensureCacheInfo writes nix-cache-info once per process; putSmall skips
// it when the bucket holds the same file.
func (s *S3Store) ensureCacheInfo(ctx context.Context) error {
	s.infoMu.Lock()
	defer s.infoMu.Unlock()
	if s.infoDone {
		return nil
	}
	if err := s.putSmall(ctx, "nix-cache-info", []byte(cacheInfo), "text/x-nix-cache-info", ""); err != nil {
		return fmt.Errorf("write nix-cache-info: %w", err)
	}
	s.infoDone = true
	return nil
}

// putSmall uploads body under key, compressed with encoding ("" or
// "none" for none), unless the object there has the same content (its
// ETag is the MD5 of what a single PUT sent).
func (s *S3Store) putSmall(ctx context.Context, key string, body []byte, contentType, encoding string) error {
	body, err := compressSide(encoding, body)
	if err != nil {
		return fmt.Errorf("compress %s: %w", key, err)
	}
	sum := md5.Sum(body)
	if info, ok, err := s.stat(ctx, key); err != nil {
		return err
	} else if ok && strings.Trim(info.ETag, `"`) == hex.EncodeToString(sum[:]) {
		return nil
	}
	opts := minio.PutObjectOptions{ContentType: contentType, DisableMultipart: true, SendContentMd5: true}
	if encoding != "" && encoding != "none" {
		opts.ContentEncoding = encoding
	}
	if _, err := s.client.PutObject(ctx, s.opts.Bucket, key, bytes.NewReader(body), int64(len(body)), opts); err != nil {
		return fmt.Errorf("upload %s to s3://%s: %w", key, s.opts.Bucket, err)
	}
	return nil
}

// stat returns the object key's metadata; ok is false when there is none.
func (s *S3Store) stat(ctx context.Context, key string) (minio.ObjectInfo, bool, error) {
	info, err := s.client.StatObject(ctx, s.opts.Bucket, key, minio.StatObjectOptions{})
	if err != nil {
		if minio.ToErrorResponse(err).StatusCode == http.StatusNotFound {
			return minio.ObjectInfo{}, false, nil
		}
		return minio.ObjectInfo{}, false, fmt.Errorf("stat %s in s3://%s: %w", key, s.opts.Bucket, err)
	}
	return info, true, nil
}

// get returns the object key; ok is false when there is none.
func (s *S3Store) get(ctx context.Context, key string) ([]byte, bool, error) {
	obj, err := s.client.GetObject(ctx, s.opts.Bucket, key, minio.GetObjectOptions{})
	if err == nil {
		defer obj.Close()
		var b []byte
		if b, err = io.ReadAll(io.LimitReader(obj, 1<<20)); err == nil {
			return b, true, nil
		}
	}
	if minio.ToErrorResponse(err).StatusCode == http.StatusNotFound {
		return nil, false, nil
	}
	return nil, false, fmt.Errorf("get %s from s3://%s: %w", key, s.opts.Bucket, err)
}

// validSideCompression reports whether c is a compression of listings
// and logs: one Nix's HTTP client decodes from Content-Encoding.
func validSideCompression(c string) bool {
	switch c {
	case "", "none", "br", "xz", "zstd":
		return true
	}
	return false
}

// validCompression reports whether c is a NAR compression.
func validCompression(c Compression) bool {
	switch c {
	case CompressionZstd, CompressionXz, CompressionNone:
		return true
	}
	return false
}

// compressSide compresses a listing or log with c.
func compressSide(c string, b []byte) ([]byte, error) {
	var buf bytes.Buffer
	var w io.WriteCloser
	switch c {
	case "", "none":
		return b, nil
	case "br":
		w = brotli.NewWriterLevel(&buf, brotli.DefaultCompression)
	case "xz":
		xw, err := xz.NewWriter(&buf)
		if err != nil {
			return nil, err
		}
		w = xw
	case "zstd":
		zw, err := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		w = zw
	default:
		return nil, fmt.Errorf("unsupported compression %q", c)
	}
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
