//go:build linux && cgo

package main

// serval's in-process engine reaches llama.cpp through yzma, whose FFI
// package (github.com/jupiterrider/ffi) loads libffi.so.8 in its package
// init and panics when it is missing: a Go stack trace before any of
// serval's code runs. This constructor runs before the Go runtime starts,
// loads the library the same way (dlopen, the same name and search path),
// and when it is missing says so in one line and exits 1.

/*
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((constructor)) static void serval_require_libffi(void) {
	if (dlopen("libffi.so.8", RTLD_NOW | RTLD_GLOBAL) != NULL) {
		return;
	}
	const char *why = dlerror();
	fprintf(stderr, "serval: cannot load libffi.so.8 (%s); install libffi 3.4 or later "
		"(Debian/Ubuntu: apt-get install libffi8; Fedora: dnf install libffi)\n", why ? why : "not found");
	_exit(1);
}
*/
import "C"
