//go:build !unix

package models

import "os"

// lockFile does nothing where flock is unavailable.
func lockFile(*os.File) (func(), error) { return func() {}, nil }
