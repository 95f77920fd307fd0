// Package deploy runs the documented split deployment (docs/deploying.md)
// as separate processes on one machine: one Postgres, the projector, two
// evaluators, the queue runner on the Postgres command bus, two web
// servers, and three SSH builders, each a real sshd with a chroot store.
// Its tests build jobsets on it, compare what the servers answer, and
// inject faults (make chaos).
package deploy
