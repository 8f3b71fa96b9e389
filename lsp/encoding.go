package lsp

import (
	"unicode/utf8"
)

// PositionEncoding is the unit in which a Position's character offset counts,
// negotiated in initialize (LSP 3.17 general.positionEncodings).
type PositionEncoding string

// The position encodings LSP defines. UTF-16 is the protocol's default and the
// only one every client must support.
const (
	UTF8  PositionEncoding = "utf-8"
	UTF16 PositionEncoding = "utf-16"
	UTF32 PositionEncoding = "utf-32"
)

// NegotiateEncoding picks the encoding from the ones a client offers: UTF-8
// when offered (no conversion at all), else UTF-16 (mandatory for clients),
// except that a client offering only UTF-32 gets UTF-32.
func NegotiateEncoding(offered []string) PositionEncoding {
	var utf16, utf32 bool
	for _, o := range offered {
		switch PositionEncoding(o) {
		case UTF8:
			return UTF8
		case UTF16:
			utf16 = true
		case UTF32:
			utf32 = true
		}
	}
	if utf32 && !utf16 {
		return UTF32
	}
	return UTF16
}

// unitsOf is how many units of enc the rune r takes.
func unitsOf(r rune, size int, enc PositionEncoding) int {
	switch enc {
	case UTF8:
		return size
	case UTF32:
		return 1
	default:
		if r >= 0x10000 && r != utf8.RuneError {
			return 2 // a surrogate pair
		}
		return 1
	}
}

// byteOffsetInLine converts a character offset counted in enc into a byte
// offset within line (the line's content without its terminator). Offsets
// past the end clamp to the end, as the LSP specification asks; an offset
// that falls inside a character (half a surrogate pair, or inside a UTF-8
// sequence) snaps back to the start of that character.
func byteOffsetInLine(line []byte, character uint32, enc PositionEncoding) int {
	want := int(character)
	// ASCII prefix: one byte is one unit in every encoding.
	i := 0
	for i < len(line) && i < want && line[i] < utf8.RuneSelf {
		i++
	}
	if i == want || i == len(line) {
		return i
	}
	units := i
	for i < len(line) {
		r, size := utf8.DecodeRune(line[i:])
		n := unitsOf(r, size, enc)
		if units+n > want {
			return i
		}
		units += n
		i += size
		if units == want {
			return i
		}
	}
	return len(line)
}

// unitsInLine counts the units of enc in line[:byteOffset].
func unitsInLine(line []byte, byteOffset int, enc PositionEncoding) uint32 {
	if byteOffset > len(line) {
		byteOffset = len(line)
	}
	if enc == UTF8 {
		return uint32(byteOffset)
	}
	i := 0
	for i < byteOffset && line[i] < utf8.RuneSelf {
		i++
	}
	units := i
	for i < byteOffset {
		r, size := utf8.DecodeRune(line[i:])
		units += unitsOf(r, size, enc)
		i += size
	}
	return uint32(units)
}

// UnitsInString counts the units of enc in s; the agent uses it to turn a
// client's "accepted length" into bytes of the suggestion.
func UnitsInString(s string, enc PositionEncoding) int {
	return int(unitsInLine([]byte(s), len(s), enc))
}
