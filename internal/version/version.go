// Package version holds what the release build stamps into the binary.
package version

import "runtime"

// Set with -ldflags "-X github.com/kubectl-cadvisor-doctor/kubectl-cadvisor-doctor/internal/version.Version=v1.2.3".
var (
	// Version is the plugin's semantic version.
	Version = "v0.1.0-dev"
	// ProbeImage is the image reference `check` runs on each node unless
	// --image says otherwise. The release build sets it to the image it
	// publishes; the local e2e cluster imports its probe image under this
	// same reference so that `check` needs no --image there.
	ProbeImage = "ghcr.io/kubectl-cadvisor-doctor/probe:v0.1.0-dev"
)

// GoVersion is the Go toolchain the binary was built with.
func GoVersion() string { return runtime.Version() }
