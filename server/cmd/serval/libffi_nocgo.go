//go:build linux && !cgo

package main

// Without cgo (the release archives), serval names libffi.so.8 as a needed
// library of the executable, so a machine without it gets the dynamic
// loader's one line ("error while loading shared libraries: libffi.so.8:
// cannot open shared object file") instead of the Go panic that
// github.com/jupiterrider/ffi's package init (under yzma) prints when it
// cannot load the library. See libffi_cgo.go for cgo builds.

//go:cgo_import_dynamic _ _ "libffi.so.8"
