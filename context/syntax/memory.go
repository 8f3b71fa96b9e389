package syntax

/*
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
static void serval_release_memory(void) { malloc_trim(0); }
#else
static void serval_release_memory(void) {}
#endif
*/
import "C"

// ReleaseMemory gives the free pages of the C heap back to the operating
// system. A tree is thousands of small allocations spread over glibc's
// per-thread arenas; once closed, glibc keeps their pages resident for
// reuse, so a process that drops trees keeps its peak resident size unless
// it trims. It calls glibc's malloc_trim (tens of microseconds when there
// is little to return, about a millisecond after many trees were freed)
// and does nothing with other C libraries.
func ReleaseMemory() {
	C.serval_release_memory()
}
