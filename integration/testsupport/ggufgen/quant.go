package ggufgen

import (
	"encoding/binary"
	"math"
)

// Q8_0 as ggml stores it (block_q8_0): each block of 32 values is an f16
// scale d = max|x|/127 followed by the 32 values as int8 round(x/d).
const (
	q8Block      = 32
	q8BlockBytes = 2 + q8Block
)

// appendQ8Block appends the Q8_0 block of the 32 values in x, rounding as
// ggml's reference quantize_row_q8_0_ref does (half away from zero).
func appendQ8Block(dst []byte, x []float32) []byte {
	var amax float32
	for _, v := range x {
		amax = max(amax, float32(math.Abs(float64(v))))
	}
	d := amax / 127
	var id float32
	if d != 0 {
		id = 1 / d
	}
	dst = binary.LittleEndian.AppendUint16(dst, Float16Bits(d))
	for _, v := range x {
		dst = append(dst, byte(int8(math.Round(float64(v*id)))))
	}
	return dst
}

// DequantizeQ8_0 decodes Q8_0 blocks (for tests and tools that read back
// what WriteTo wrote).
func DequantizeQ8_0(blocks []byte) []float32 {
	out := make([]float32, 0, len(blocks)/q8BlockBytes*q8Block)
	for ; len(blocks) >= q8BlockBytes; blocks = blocks[q8BlockBytes:] {
		d := Float16Value(binary.LittleEndian.Uint16(blocks))
		for _, q := range blocks[2:q8BlockBytes] {
			out = append(out, d*float32(int8(q)))
		}
	}
	return out
}
