package binarycache

import (
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/ssh/sshdtest"
)

func TestParseDestination(t *testing.T) {
	tests := []struct {
		raw     string
		want    DestinationURL
		wantErr string
	}{
		{raw: "file:///var/cache/nix", want: DestinationURL{Scheme: "file", Dir: "/var/cache/nix"}},
		{raw: "file:///var/cache/nix/?compression=xz", want: DestinationURL{Scheme: "file", Dir: "/var/cache/nix", Compression: CompressionXz}},
		{raw: "ssh://nix@cache.example:2222?ssh-key=/k&remote-store=/r",
			want: DestinationURL{Scheme: "ssh", Host: "ssh://nix@cache.example:2222", KeyFile: "/k", RemoteStore: "/r"}},
		// A + of base64 stays a + (no form decoding), as in Nix.
		{raw: "ssh://cache.example?ssh-key=/k&base64-ssh-public-host-key=AAAAC3NzaC1lZDI1NTE5AAAAICv9N4cX+GksZ6r8w7P72AHGxVzmJovBS/hyy4arWXmf",
			want: DestinationURL{Scheme: "ssh", Host: "ssh://cache.example", KeyFile: "/k",
				HostKey: "AAAAC3NzaC1lZDI1NTE5AAAAICv9N4cX+GksZ6r8w7P72AHGxVzmJovBS/hyy4arWXmf"}},
		{raw: "s3://bucket", want: DestinationURL{Scheme: "s3", S3: S3Options{Bucket: "bucket"}}},
		{raw: "s3://cache?endpoint=http://127.0.0.1:9000&region=us-east-1&compression=zstd&write-nar-listing=1",
			want: DestinationURL{Scheme: "s3", S3: S3Options{Bucket: "cache", Endpoint: "127.0.0.1:9000", Insecure: true, Region: "us-east-1",
				Compression: CompressionZstd, WriteNARListing: true}}},
		{raw: "s3://nix-cache?region=eu-west-1&secret-key=/etc/k.sec&compression=xz&write-nar-listing=true&ls-compression=br&log-compression=br" +
			"&parallel-compression=1&profile=ci&multipart-chunk-size=8388608",
			want: DestinationURL{Scheme: "s3", SecretKeyFile: "/etc/k.sec", S3: S3Options{Bucket: "nix-cache", Region: "eu-west-1", Profile: "ci",
				Compression: CompressionXz, WriteNARListing: true, LsCompression: "br", LogCompression: "br", ParallelCompression: true, PartSize: 8 << 20}}},
		{raw: "s3://c?endpoint=minio.example:9000&scheme=http", want: DestinationURL{Scheme: "s3", S3: S3Options{Bucket: "c", Endpoint: "minio.example:9000", Insecure: true}}},
		{raw: "s3://c?endpoint=minio.example", want: DestinationURL{Scheme: "s3", S3: S3Options{Bucket: "c", Endpoint: "minio.example"}}},
		// Credentials never come from the URL.
		{raw: "s3://c?aws-access-key-id=AKIA&aws-secret-access-key=TOPSECRET", wantErr: `unknown parameter "aws-`},
		{raw: "s3://AKIA:TOPSECRET@c", wantErr: "want s3://BUCKET"},
		{raw: "s3://c?compression=lz4&aws-secret-access-key=TOPSECRET", wantErr: `compression "lz4"`},
		{raw: "ftp://u:TOPSECRET@h/x", wantErr: "unsupported scheme"},
		{raw: "s3://c/sub", wantErr: "want s3://BUCKET"},
		{raw: "s3://c?compression=br", wantErr: `compression "br"`},
		{raw: "s3://c?ls-compression=lz4", wantErr: `ls-compression "lz4"`},
		{raw: "s3://c?write-nar-listing=yes", wantErr: "write-nar-listing"},
		{raw: "s3://c?multipart-chunk-size=1024", wantErr: "multipart-chunk-size"},
		{raw: "s3://c?endpoint=ftp://h", wantErr: `endpoint "ftp://h"`},
		{raw: "s3://c?endpoint=https://h&scheme=http", wantErr: "endpoint"},
		{raw: "s3://c?endpoint=h/path", wantErr: "endpoint"},
		{raw: "s3://c?scheme=http", wantErr: "needs an endpoint"},
		{raw: "s3://c?scheme=gopher&endpoint=h", wantErr: `scheme "gopher"`},
		{raw: "/var/cache/nix", wantErr: `unsupported scheme ""`},
		{raw: "file://relative/dir", wantErr: "want file:///ABSOLUTE/DIR"},
		{raw: "file:///c?compression=lz4", wantErr: `compression "lz4"`},
		{raw: "file:///c?secret-key=/k", wantErr: `unknown parameter "secret-key"`},
		{raw: "ssh://cache.example", wantErr: "needs ?ssh-key=FILE"},
		{raw: "ssh://cache.example/path?ssh-key=/k", wantErr: "want ssh://[user@]host[:port]"},
		{raw: "ssh://cache.example?ssh-key=/k&base64-ssh-public-host-key=!!", wantErr: "base64-ssh-public-host-key"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := ParseDestination(tt.raw)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.NotContains(t, err.Error(), "TOPSECRET", "errors (which are logged) mask credentials")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// TestSSHDestination uploads a closure to an ssh:// destination on a real
// sshd, importing it into a chroot store there.
func TestSSHDestination(t *testing.T) {
	fx := buildFixture(t)
	srv := sshdtest.Start(t, sshdtest.Options{Env: map[string]string{"PATH": "/usr/bin:/bin"}})
	remote := filepath.Join(t.TempDir(), "remote")
	d, err := ParseDestination(srv.URI() + "?ssh-key=" + srv.ClientKeyPath + "&base64-ssh-public-host-key=" + srv.HostPublicKey +
		"&remote-store=" + remote)
	require.NoError(t, err)
	dest, err := OpenDestination(d, OpenOptions{})
	require.NoError(t, err)
	defer dest.(io.Closer).Close()
	require.Equal(t, srv.URI(), dest.URL())

	ctx := context.Background()
	ups, err := LocalStore{}.UploadClosure(ctx, dest, fx.top)
	require.NoError(t, err)
	require.Len(t, ups, 1)
	has, err := dest.Has(ctx, fx.top)
	require.NoError(t, err)
	require.True(t, has)
	runNix(t, "nix-store", "--store", remote, "--verify-path", fx.top)
	requireCopied(t, remote, fx)

	// A lost connection is dialled again.
	srv.Kill()
	srv.Restart()
	has, err = dest.Has(ctx, fx.dep)
	require.NoError(t, err)
	require.True(t, has)
}
