package ssh

import (
	"fmt"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// keepAlive sends a keepalive@openssh.com request on conn every interval
// until done is closed, and calls fail once count intervals pass without
// a reply or a request fails. Any reply, even a refusal, proves the peer
// is there. Clients and the server use it alike: a peer that vanished
// (machine off, network gone) leaves a TCP connection that stays open
// for many minutes otherwise.
func keepAlive(conn gossh.Conn, done <-chan struct{}, interval time.Duration, count int, fail func(error)) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	replies := make(chan error, 1)
	pending, missed := false, 0
	for {
		select {
		case <-done:
			return
		case err := <-replies:
			pending, missed = false, 0
			if err != nil {
				fail(fmt.Errorf("keepalive failed: %w", err))
				return
			}
		case <-tick.C:
			if pending {
				missed++
				if missed >= count {
					fail(fmt.Errorf("no answer to %d keepalives in %s", count, time.Duration(count)*interval))
					return
				}
				continue
			}
			pending = true
			go func() {
				_, _, err := conn.SendRequest("keepalive@openssh.com", true, nil)
				replies <- err
			}()
		}
	}
}
