package binarycache

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/events"
)

func TestOutputUploadedEvent(t *testing.T) {
	u := Uploaded{
		StorePath:  "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x",
		NarHash:    "sha256:n",
		NarSize:    10,
		FileHash:   "sha256:f",
		FileSize:   5,
		URL:        "nar/f.nar.zst",
		References: []string{"/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-y"},
		Signatures: []string{"k1:s1", "k2:s2"},
		CacheURL:   "file:///c",
	}
	got := u.OutputUploaded("/nix/store/cccccccccccccccccccccccccccccccc-x.drv", 7, "out")
	require.Equal(t, events.OutputUploaded{
		DrvPath:    "/nix/store/cccccccccccccccccccccccccccccccc-x.drv",
		BuildID:    7,
		OutputName: "out",
		Path:       u.StorePath,
		NarHash:    "sha256:n",
		NarSize:    10,
		FileHash:   "sha256:f",
		FileSize:   5,
		References: u.References,
		CacheURL:   "file:///c",
		Key:        "nar/f.nar.zst",
		Signature:  "k1:s1 k2:s2",
	}, got)
}

func TestNormalizeNarHash(t *testing.T) {
	const want = "sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h"
	tests := []struct {
		in      string
		wantErr bool
	}{
		{want, false},
		{"sha256-EFUdrtf6Rn0LWIJufrmg8q99aT3jGfLvd1//zaJEufY=", false},
		{"sha256:10551daed7fa467d0b58826e7eb9a0f2af7d693de319f2ef775fffcda244b9f6", false},
		{"md5:00000000000000000000000000000000", true},
		{"nonsense", true},
		{"", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := normalizeNarHash(tt.in)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, want, got)
		})
	}
}

func TestConcurrentPutSamePath(t *testing.T) {
	fx := buildFixture(t)
	ctx := context.Background()
	var nar bytes.Buffer
	require.NoError(t, LocalStore{}.DumpNAR(ctx, &nar, fx.dep))
	info, err := LocalStore{}.PathInfo(ctx, fx.dep)
	require.NoError(t, err)
	w, _ := newTestWriter(t, CompressionZstd)
	var wg sync.WaitGroup
	results := make([]Uploaded, 8)
	errs := make([]error, 8)
	for i := range results {
		wg.Go(func() {
			results[i], errs[i] = w.Put(ctx, info, bytes.NewReader(nar.Bytes()))
		})
	}
	wg.Wait()
	for i := range results {
		require.NoError(t, errs[i])
		require.Equal(t, results[0], results[i])
	}
	got, ok, err := w.Lookup(ctx, fx.dep)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, results[0], got)
}
