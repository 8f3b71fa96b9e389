//go:build unix

package models

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive, non-blocking lock on f, so that two servers
// starting at once do not write the same partial download.
func lockFile(f *os.File) (unlock func(), err error) {
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return nil, err
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }, nil
}
