// Package priority starts a child process at a nice value, so that batch
// work (an evaluation, a build) yields the CPU to the web server, the
// projector and Postgres on the same machine.
package priority
