package names

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRules(t *testing.T) {
	tests := []struct {
		name string
		fn   func(string) bool
		s    string
		want bool
	}{
		{"project", Project, "nixpkgs", true},
		{"project", Project, "_x-1_", true},
		{"project", Project, "Hydra", true},
		{"project", Project, "1abc", false},
		{"project", Project, "a.b", false},
		{"project", Project, "-a", false},
		{"project", Project, "", false},
		{"project", Project, "a b", false},
		{"project", Project, strings.Repeat("a", MaxLen+1), false},
		{"jobset", Jobset, "release-23.05", true},
		{"jobset", Jobset, "trunk", true},
		{"jobset", Jobset, ".jobsets", true},
		{"jobset", Jobset, ".other", false},
		{"jobset", Jobset, "9x", false},
		{"jobset", Jobset, "a/b", false},
		{"job", Job, "tests.foo.x86_64-linux", true},
		{"job", Job, "hello", true},
		{"job", Job, "a..b", false},
		{"job", Job, ".a", false},
		{"user", User, "alice", true},
		{"user", User, "a.b_c9", true},
		{"user", User, "Alice", false},
		{"user", User, "9a", false},
		{"user", User, "a-b", false},
		{"input", Input, "nixpkgs", true},
		{"input", Input, "src-2_x", true},
		{"input", Input, "_src", false},
		{"input", Input, "2src", false},
		{"input", Input, "a'b", false},
		{"relpath", RelPath, "release.nix", true},
		{"relpath", RelPath, "ci/release.nix", true},
		{"relpath", RelPath, "../x.nix", false},
		{"relpath", RelPath, "a/../x.nix", false},
		{"relpath", RelPath, "/etc/passwd", false},
		{"relpath", RelPath, "a//b", false},
		{"relpath", RelPath, "", false},
		{"drvfile", DrvFile, "0123456789abcdfghijklmnpqrsvwxyz-hello-2.12.drv", true},
		{"drvfile", DrvFile, "0123456789abcdfghijklmnpqrsvwxyz-hello", false},
		{"drvfile", DrvFile, "0123456789abcdfghijklmnpqrsvwxyz-..drv", false},
		{"drvfile", DrvFile, "0123456789abcdfghijklmnpqrsvwxyz-a/b.drv", false},
		{"drvfile", DrvFile, "0123456789abcdeghijklmnpqrsvwxyz-hello.drv", false},
		{"drvfile", DrvFile, "..", false},
		{"drvfile", DrvFile, "", false},
		{"storebase", StoreBase, "0123456789abcdfghijklmnpqrsvwxyz-hello-2.12", true},
		{"storebase", StoreBase, "0123456789abcdfghijklmnpqrsvwxyz-hello.drv", true},
		{"storebase", StoreBase, "--store", false},
		{"storebase", StoreBase, "0123456789abcdfghijklmnpqrsvwxyz-.hidden", false},
		{"storebase", StoreBase, "0123456789abcdfghijklmnpqrsvwxyz-a/b", false},
		{"storebase", StoreBase, "0123456789abcdeghijklmnpqrsvwxyz-e-in-hash", false},
		{"storebase", StoreBase, "0123456789abcdfghijklmnpqrsvwxyz-" + strings.Repeat("a", 212), false},
		{"system", System, "x86_64-linux", true},
		{"system", System, "linux", false},
		// Nix's compiled-in extra-platforms on x86_64 name micro-architecture levels.
		{"system", System, "x86_64-v3-linux", true},
		{"system", System, "i686-linux", true},
		{"system", System, "x86_64-linux-", false},
		{"system", System, "-linux", false},
		{"system", System, "x86_64--linux", false},
		{"system", System, "x86_64-linux,i686-linux", false},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, tt.fn(tt.s), "%s(%q)", tt.name, tt.s)
	}
}

func TestInputTypes(t *testing.T) {
	types := InputTypes()
	require.True(t, slices.IsSorted(types), "InputType uses binary search")
	for _, typ := range types {
		require.True(t, InputType(typ), typ)
	}
	require.False(t, InputType("tarball"))
	require.False(t, InputType(""))
}
