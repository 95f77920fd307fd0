// Package binarycache writes and serves Nix binary caches.
//
// A binary cache is a directory (or URL) holding nix-cache-info, one
// <hashpart>.narinfo per store path and the compressed NAR files under nar/.
// FileWriter writes such a directory natively: it streams a NAR through the
// chosen compressor, hashes it, signs the narinfo with an ed25519 key in
// Nix's "name:base64" format and installs every file atomically. Handler
// serves a cache directory read-only over HTTP, LocalStore produces NARs and
// path metadata from a local Nix store, StoreFiles reads outputs and
// product files from it for the web, confined to each output, and
// SSHStore imports paths into a remote store through `nix-store --import`. ParseDestination and
// OpenDestination turn a destination URL (file:///DIR or
// ssh://[user@]host[:port]?ssh-key=FILE…, with Nix's parameter names)
// into one of the two, an SSHStore over its own SSH connection.
package binarycache
