package agent

import "github.com/servalhq/serval/context/gather"

// Point is a position as tree-sitter counts it: a zero-based row and a byte
// column.
type Point struct {
	Row    uint32
	Column uint32
}

// Edit is one text change in byte offsets and points, what incremental
// parsing needs. The lsp package computes it from a protocol change; the
// agent hands it on to its ContextSource.
type Edit struct {
	StartByte   uint32
	OldEndByte  uint32
	NewEndByte  uint32
	StartPoint  Point
	OldEndPoint Point
	NewEndPoint Point
}

// contextEdits converts edits to the context layer's type.
func contextEdits(edits []Edit) []gather.Edit {
	out := make([]gather.Edit, len(edits))
	for i, e := range edits {
		out[i] = gather.Edit{
			StartByte:   e.StartByte,
			OldEndByte:  e.OldEndByte,
			NewEndByte:  e.NewEndByte,
			StartPoint:  gather.Point(e.StartPoint),
			OldEndPoint: gather.Point(e.OldEndPoint),
			NewEndPoint: gather.Point(e.NewEndPoint),
		}
	}
	return out
}
