package llama

import (
	"strings"
	"unicode/utf8"
)

// utf8Buffer turns the byte pieces of generated tokens into valid UTF-8:
// a character split across tokens is held back until it is complete, and
// bytes that can never start or continue a valid character are dropped.
type utf8Buffer struct {
	pending []byte
}

// write appends piece and returns the text that is now complete and valid.
func (b *utf8Buffer) write(piece []byte) string {
	b.pending = append(b.pending, piece...)
	var out strings.Builder
	p := b.pending
	for len(p) > 0 {
		if !utf8.FullRune(p) {
			break // an incomplete character: wait for its next bytes
		}
		r, size := utf8.DecodeRune(p)
		if r == utf8.RuneError && size == 1 {
			p = p[1:] // invalid: drop the byte
			continue
		}
		out.Write(p[:size])
		p = p[size:]
	}
	b.pending = append(b.pending[:0], p...)
	return out.String()
}

// flush drops an incomplete trailing character; nothing valid is left to emit.
func (b *utf8Buffer) flush() { b.pending = b.pending[:0] }

// commonPrefix returns the length of the longest common prefix of a and b.
func commonPrefix[T comparable](a, b []T) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
