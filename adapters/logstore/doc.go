// Package logstore keeps build step logs as zstd-compressed files under a
// data directory, one file per step attempt:
//
//	<dir>/<first 2 chars of the drv base name>/<rest of it>-<attempt>.log.zst
//
// A log is written while its step runs and can be read at the same time:
// the writer flushes a zstd block at least every FlushInterval, Open returns
// what has been written so far and Follow keeps reading until the step's
// log is closed. While a log is being written its file carries the suffix
// ".part"; Close renames it, which is how readers know the log is complete.
//
// Logs are capped: bytes beyond the store's MaxSize are counted but not
// stored, and the log is reported as over its limit (Hydra's status 10).
package logstore
