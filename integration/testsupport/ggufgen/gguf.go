package ggufgen

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// GGUF value types, as numbered by the GGUF specification.
const (
	typeUint8   uint32 = 0
	typeInt8    uint32 = 1
	typeUint16  uint32 = 2
	typeInt16   uint32 = 3
	typeUint32  uint32 = 4
	typeInt32   uint32 = 5
	typeFloat32 uint32 = 6
	typeBool    uint32 = 7
	typeString  uint32 = 8
	typeArray   uint32 = 9
	typeUint64  uint32 = 10
	typeInt64   uint32 = 11
	typeFloat64 uint32 = 12
)

// TensorType is how a tensor's values are stored (ggml's GGML_TYPE_*).
type TensorType uint32

const (
	F32  TensorType = 0 // 4 bytes a value
	F16  TensorType = 1 // IEEE half precision, 2 bytes a value
	Q8_0 TensorType = 8 // blocks of 32 values: an f16 scale and 32 int8 (34 bytes)
)

// String is the type's name as llama.cpp's tools spell it.
func (t TensorType) String() string {
	switch t {
	case F32:
		return "f32"
	case F16:
		return "f16"
	case Q8_0:
		return "q8_0"
	}
	return fmt.Sprintf("type%d", uint32(t))
}

// blockValues is how many values one block of t holds (1 for F32 and F16).
func (t TensorType) blockValues() uint64 {
	if t == Q8_0 {
		return q8Block
	}
	return 1
}

// bytesPer is the size of n values of type t (n a multiple of blockValues).
func (t TensorType) bytesPer(n uint64) uint64 {
	switch t {
	case F16:
		return 2 * n
	case Q8_0:
		return n / q8Block * q8BlockBytes
	}
	return 4 * n
}

// Alignment is the alignment of tensor data (GGUF's default, general.alignment).
const Alignment = 32

// KV is one metadata entry. Value must be one of: string, bool, uint8, int8,
// uint16, int16, uint32, int32, uint64, int64, float32, float64, or a slice
// of one of those ([]string, []int32, []float32, ...).
type KV struct {
	Key   string
	Value any
}

// Tensor is one tensor. Dims are in ggml order: Dims[0] is the length of
// a row (the fastest-varying index), so a [n_embd, n_vocab] matrix has
// n_vocab rows of n_embd values laid out one after the other in Data.
// Type is how the file stores Data (the zero value is F32).
//
// A tensor too large to hold in memory leaves Data nil and sets Rows, which
// WriteTo calls once per row, in order, to fill it: a 1.5B-parameter model
// is written holding one row at a time.
type Tensor struct {
	Name string
	Dims []uint64
	Data []float32
	Rows func(row []float32)
	Type TensorType
}

func (t Tensor) values() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// File is the content of a GGUF v3 file of f32, f16 and q8_0 tensors.
type File struct {
	KVs     []KV
	Tensors []Tensor
}

// WriteTo writes f in the GGUF v3 format.
func (f *File) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	bw := bufio.NewWriter(cw)
	e := &encoder{w: bw}

	e.u32(0x46554747) // "GGUF" read as a little-endian uint32
	e.u32(3)
	e.u64(uint64(len(f.Tensors)))
	e.u64(uint64(len(f.KVs)))
	for _, kv := range f.KVs {
		e.str(kv.Key)
		e.value(kv.Value)
	}
	var offset uint64
	for _, t := range f.Tensors {
		n := t.values()
		if t.Rows == nil && n != uint64(len(t.Data)) {
			return 0, fmt.Errorf("ggufgen: tensor %s: dims %v need %d values, have %d", t.Name, t.Dims, n, len(t.Data))
		}
		if len(t.Dims) == 0 || t.Rows != nil && t.Data != nil {
			return 0, fmt.Errorf("ggufgen: tensor %s: needs dims and one of Data or Rows", t.Name)
		}
		e.str(t.Name)
		e.u32(uint32(len(t.Dims)))
		for _, d := range t.Dims {
			e.u64(d)
		}
		if t.Type != F32 && t.Type != F16 && t.Type != Q8_0 {
			return 0, fmt.Errorf("ggufgen: tensor %s: unsupported type %d", t.Name, t.Type)
		}
		if t.Dims[0]%t.Type.blockValues() != 0 {
			return 0, fmt.Errorf("ggufgen: tensor %s: rows of %d values do not fill %s blocks of %d", t.Name, t.Dims[0], t.Type, t.Type.blockValues())
		}
		e.u32(uint32(t.Type))
		e.u64(offset)
		offset = align(offset + t.Type.bytesPer(n))
	}
	if e.err != nil {
		return 0, e.err
	}
	if err := bw.Flush(); err != nil {
		return cw.n, err
	}
	e.pad(cw.n)
	var out []byte
	for _, t := range f.Tensors {
		rowLen := t.Dims[0]
		if t.Rows == nil {
			for row := t.Data; len(row) > 0; row = row[rowLen:] {
				out = encodeRow(out[:0], t.Type, row[:rowLen])
				e.write(out)
			}
		} else {
			row := make([]float32, rowLen)
			for range t.values() / rowLen {
				t.Rows(row)
				out = encodeRow(out[:0], t.Type, row)
				e.write(out)
			}
		}
		e.pad(cw.n + int64(bw.Buffered()))
	}
	if e.err != nil {
		return cw.n, e.err
	}
	err := bw.Flush()
	return cw.n, err
}

// encodeRow appends row's values as stored in a tensor of type t.
func encodeRow(dst []byte, t TensorType, row []float32) []byte {
	switch t {
	case F16:
		for _, v := range row {
			dst = binary.LittleEndian.AppendUint16(dst, Float16Bits(v))
		}
	case Q8_0:
		for b := row; len(b) > 0; b = b[q8Block:] {
			dst = appendQ8Block(dst, b[:q8Block])
		}
	default:
		for _, v := range row {
			dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(v))
		}
	}
	return dst
}

func align(n uint64) uint64 { return (n + Alignment - 1) / Alignment * Alignment }

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// encoder writes little-endian GGUF primitives, remembering the first error.
type encoder struct {
	w   *bufio.Writer
	err error
	buf [8]byte
}

func (e *encoder) write(p []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(p)
	}
}

func (e *encoder) u8(v uint8) { e.write([]byte{v}) }
func (e *encoder) u16(v uint16) {
	binary.LittleEndian.PutUint16(e.buf[:2], v)
	e.write(e.buf[:2])
}
func (e *encoder) u32(v uint32) {
	binary.LittleEndian.PutUint32(e.buf[:4], v)
	e.write(e.buf[:4])
}
func (e *encoder) u64(v uint64) {
	binary.LittleEndian.PutUint64(e.buf[:8], v)
	e.write(e.buf[:8])
}
func (e *encoder) str(s string) {
	e.u64(uint64(len(s)))
	e.write([]byte(s))
}

// pad writes zero bytes until position pos is aligned.
func (e *encoder) pad(pos int64) {
	if n := int64(align(uint64(pos))) - pos; n > 0 {
		e.write(make([]byte, n))
	}
}

func (e *encoder) value(v any) {
	switch v := v.(type) {
	case string:
		e.u32(typeString)
		e.str(v)
	case bool:
		e.u32(typeBool)
		if v {
			e.u8(1)
		} else {
			e.u8(0)
		}
	case uint8:
		e.u32(typeUint8)
		e.u8(v)
	case int8:
		e.u32(typeInt8)
		e.u8(uint8(v))
	case uint16:
		e.u32(typeUint16)
		e.u16(v)
	case int16:
		e.u32(typeInt16)
		e.u16(uint16(v))
	case uint32:
		e.u32(typeUint32)
		e.u32(v)
	case int32:
		e.u32(typeInt32)
		e.u32(uint32(v))
	case uint64:
		e.u32(typeUint64)
		e.u64(v)
	case int64:
		e.u32(typeInt64)
		e.u64(uint64(v))
	case float32:
		e.u32(typeFloat32)
		e.u32(math.Float32bits(v))
	case float64:
		e.u32(typeFloat64)
		e.u64(math.Float64bits(v))
	case []string:
		e.array(typeString, len(v))
		for _, s := range v {
			e.str(s)
		}
	case []int32:
		e.array(typeInt32, len(v))
		for _, x := range v {
			e.u32(uint32(x))
		}
	case []uint32:
		e.array(typeUint32, len(v))
		for _, x := range v {
			e.u32(x)
		}
	case []float32:
		e.array(typeFloat32, len(v))
		for _, x := range v {
			e.u32(math.Float32bits(x))
		}
	default:
		if e.err == nil {
			e.err = fmt.Errorf("ggufgen: unsupported metadata value type %T", v)
		}
	}
}

func (e *encoder) array(elem uint32, n int) {
	e.u32(typeArray)
	e.u32(elem)
	e.u64(uint64(n))
}

// Float16Bits returns the IEEE 754 half-precision encoding of f, rounded to
// nearest even; values beyond the half range become ±Inf.
func Float16Bits(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23&0xff) - 127 + 15
	mant := b & 0x7fffff
	switch {
	case b&0x7fffffff == 0:
		return sign
	case int32(b>>23&0xff) == 0xff: // Inf or NaN
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	case exp >= 0x1f:
		return sign | 0x7c00
	case exp <= 0: // subnormal half, or zero
		if exp < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - exp)
		half := mant >> shift
		rem := mant & (1<<shift - 1)
		if mid := uint32(1) << (shift - 1); rem > mid || (rem == mid && half&1 == 1) {
			half++
		}
		return sign | uint16(half)
	}
	half := uint32(exp)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && half&1 == 1) {
		half++ // a carry into the exponent is still correct (up to Inf)
	}
	return sign | uint16(half)
}

// Float16Value decodes an IEEE 754 half-precision value.
func Float16Value(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
		return float32(math.Copysign(float64(mant)*math.Pow(2, -24), float64(math.Float32frombits(sign|0x3f800000))))
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	}
	return math.Float32frombits(sign | (exp-15+127)<<23 | mant<<13)
}
