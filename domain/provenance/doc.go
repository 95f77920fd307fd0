// Package provenance builds the SLSA v1 provenance of a finished build as
// an in-toto Statement v1, and signs and verifies it as a DSSE envelope
// (Ed25519). It is pure: the projection in projections/provenance feeds it
// what the log recorded, so a replay gives the same statement, byte for
// byte. docs/provenance.md describes every field.
package provenance
