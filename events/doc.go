// Package events defines the ledger's vocabulary: the envelope every event
// travels in, the Store port that event stores implement, the stable type
// names and schema versions of every event, and the JSON codec that turns
// payloads into envelopes and back (with upcasting of old versions).
//
// The type names and field names declared here are the contract with
// auditors and analysts: they are never renamed. A change of shape gets a
// new schema version and an upcaster registered in the Codec.
//
// This package imports the standard library and, for the codec,
// github.com/go-json-experiment/json, nothing else (test/layers keeps it
// so).
package events
