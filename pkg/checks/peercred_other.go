//go:build !linux

package checks

import "net"

// peerPID is Linux-only (SO_PEERCRED); elsewhere the same-daemon decision
// rests on containerd's introspection UUID alone. The probe runs on Linux
// nodes; this file keeps the plugin building for macOS and Windows.
func peerPID(net.Conn) int { return 0 }
