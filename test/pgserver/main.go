// Command pgserver starts a private, non-durable PostgreSQL cluster in the
// directory given as its argument, for test runs, and prints its URL. The
// cluster keeps running after pgserver exits; stop it with pg_ctl.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"buildledger/adapters/postgres"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: pgserver DATADIR")
		os.Exit(2)
	}
	ctx := context.Background()
	c, err := postgres.StartCluster(ctx, postgres.ClusterOptions{DataDir: os.Args[1]})
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgserver:", err)
		os.Exit(1)
	}
	if err := postgres.WaitReady(ctx, c.AdminURL("postgres"), 30*time.Second); err != nil {
		fmt.Fprintln(os.Stderr, "pgserver:", err)
		os.Exit(1)
	}
	fmt.Println(c.AdminURL("postgres"))
}
