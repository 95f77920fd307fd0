// Package nixsupport parses the files a build leaves in
// $out/nix-support for Hydra: hydra-build-products, hydra-metrics,
// hydra-release-name and the failed marker.
//
// The parsers are pure: they read an io.Reader and never open files.
// FillFileInfo and Scan work on an fs.FS rooted at "/", so an adapter can
// pass os.DirFS("/") and tests a fstest.MapFS.
//
// Bad lines never stop a parser: each is reported as a Skipped with its
// line number and reason. Only a read error or a file over its size limit
// stops reading, and then what was parsed before is still returned.
package nixsupport
