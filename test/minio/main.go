// Command minio builds the MinIO server the s3:// cache tests run (see
// adapters/binarycache/s3test), unless the pinned version is installed,
// and prints its path. The test runner and install-deps.sh run it so that
// the build (minutes, once) happens before the tests' timeouts start.
package main

import (
	"context"
	"fmt"
	"os"

	"buildledger/adapters/binarycache/s3test"
)

func main() {
	bin, err := s3test.Install(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "minio:", err)
		os.Exit(1)
	}
	fmt.Println(bin)
}
