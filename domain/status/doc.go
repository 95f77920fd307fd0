// Package status defines Hydra's build and step status codes
// (Builds.buildStatus, BuildSteps.status) and the busy states of a running
// build step (BuildSteps.busy), with the wording Hydra's web UI uses.
//
// The numbers are a contract: read models store them unchanged so SQL
// written for Hydra keeps working.
package status
