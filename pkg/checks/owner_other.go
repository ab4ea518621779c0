//go:build !unix

package checks

import "io/fs"

// fileOwner: files have no uid/gid here. The probe only runs on Linux nodes,
// but the plugin binary that contains it is built for Windows too.
func fileOwner(fs.FileInfo) (uid, gid *uint32) { return nil, nil }
