//go:build unix

package store

import (
	"errors"
	"os"
	"syscall"
)

// errLockHeld is tryLock's answer when another process holds a conflicting lock.
var errLockHeld = errors.New("lock held by another process")

// tryLock takes a shared or exclusive lock on all of f without waiting; it is
// released when f is closed.
func tryLock(f *os.File, exclusive bool) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return errLockHeld
	}
	return err
}
