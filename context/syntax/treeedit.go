package syntax

/*
#include <stdint.h>

// The layout of tree-sitter's TSPoint and TSInputEdit (api.h). The symbol
// ts_tree_edit comes from the go-tree-sitter package linked into the binary.
typedef struct { uint32_t row; uint32_t column; } serval_point;
typedef struct {
	uint32_t start_byte;
	uint32_t old_end_byte;
	uint32_t new_end_byte;
	serval_point start_point;
	serval_point old_end_point;
	serval_point new_end_point;
} serval_input_edit;

void ts_tree_edit(void *self, const serval_input_edit *edit);
void ts_query_cursor_set_max_start_depth(void *self, uint32_t max_start_depth);
*/
import "C"

import (
	"unsafe"

	sitter "github.com/smacker/go-tree-sitter"
)

// editTree applies e to tree. go-tree-sitter's Tree.Edit (at the version
// pinned in go.mod) passes OldEndPoint where tree-sitter expects
// NewEndPoint, which leaves every node after an edit that adds or removes
// lines with a wrong row; this calls ts_tree_edit with the right fields.
func editTree(tree *sitter.Tree, e sitter.EditInput) {
	// sitter.BaseTree's first field is the *C.TSTree (bindings.go).
	ctree := *(*unsafe.Pointer)(unsafe.Pointer(tree.BaseTree))
	in := C.serval_input_edit{
		start_byte:    C.uint32_t(e.StartIndex),
		old_end_byte:  C.uint32_t(e.OldEndIndex),
		new_end_byte:  C.uint32_t(e.NewEndIndex),
		start_point:   C.serval_point{row: C.uint32_t(e.StartPoint.Row), column: C.uint32_t(e.StartPoint.Column)},
		old_end_point: C.serval_point{row: C.uint32_t(e.OldEndPoint.Row), column: C.uint32_t(e.OldEndPoint.Column)},
		new_end_point: C.serval_point{row: C.uint32_t(e.NewEndPoint.Row), column: C.uint32_t(e.NewEndPoint.Column)},
	}
	C.ts_tree_edit(ctree, &in)
}

// setMaxStartDepth limits the depth below the start node at which query
// matches may begin, which lets the cursor skip function bodies when
// looking for declarations. go-tree-sitter does not expose it.
func setMaxStartDepth(qc *sitter.QueryCursor, depth uint32) {
	// sitter.QueryCursor's first field is the *C.TSQueryCursor (bindings.go).
	cqc := *(*unsafe.Pointer)(unsafe.Pointer(qc))
	C.ts_query_cursor_set_max_start_depth(cqc, C.uint32_t(depth))
}
