package llama

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// ggufHeader is what Serval reads of a GGUF file itself, before llama.cpp
// sees it: llama.cpp may abort the whole process on some malformed input, so
// a file is only handed over once its header, metadata and tensor
// descriptors parse and stay within the file.
type ggufHeader struct {
	Version     uint32
	TensorCount uint64
	// Strings holds the string-valued metadata (general.name,
	// general.architecture, tokenizer.chat_template, ...).
	Strings map[string]string
	// Uints holds unsigned/signed integer metadata as uint64.
	Uints map[string]uint64
	// Tokens is tokenizer.ggml.tokens, the vocabulary's token texts.
	Tokens []string
}

const (
	ggufMagic      = 0x46554747 // "GGUF" little-endian
	maxGGUFDepth   = 4          // nesting of arrays of arrays
	maxTensorDims  = 8
	maxGGMLType    = 64
	defaultGGUFAln = 32
)

// errNotGGUF is wrapped by readGGUFHeader's errors.
var errNotGGUF = errors.New("not a valid GGUF model file")

// readGGUFHeader validates the GGUF file at path and returns its metadata.
func readGGUFHeader(path string) (*ggufHeader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("model file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("model file: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("model file %s: is a directory", path)
	}
	h, err := parseGGUF(bufio.NewReaderSize(f, 1<<16), st.Size())
	if err != nil {
		return nil, fmt.Errorf("model file %s: %w: %w", path, errNotGGUF, err)
	}
	return h, nil
}

// ggufReader reads little-endian GGUF values, refusing to read past size.
type ggufReader struct {
	r    io.Reader
	pos  int64
	size int64
	buf  [8]byte
}

func (g *ggufReader) read(n int) ([]byte, error) {
	if int64(n) > g.size-g.pos {
		return nil, fmt.Errorf("truncated at byte %d", g.pos)
	}
	var b []byte
	if n <= len(g.buf) {
		b = g.buf[:n]
	} else {
		b = make([]byte, n)
	}
	if _, err := io.ReadFull(g.r, b); err != nil {
		return nil, fmt.Errorf("reading at byte %d: %w", g.pos, err)
	}
	g.pos += int64(n)
	return b, nil
}

func (g *ggufReader) u32() (uint32, error) {
	b, err := g.read(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (g *ggufReader) u64() (uint64, error) {
	b, err := g.read(8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// count reads a length and checks that at least minBytes per element remain.
func (g *ggufReader) count(minBytes int64) (int, error) {
	n, err := g.u64()
	if err != nil {
		return 0, err
	}
	if minBytes < 1 {
		minBytes = 1
	}
	if n > uint64(g.size-g.pos)/uint64(minBytes) || n > math.MaxInt32 {
		return 0, fmt.Errorf("count %d at byte %d exceeds the file", n, g.pos)
	}
	return int(n), nil
}

func (g *ggufReader) str() (string, error) {
	n, err := g.count(1)
	if err != nil {
		return "", err
	}
	b, err := g.read(n)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// GGUF value types.
const (
	gUint8, gInt8, gUint16, gInt16, gUint32, gInt32, gFloat32, gBool, gString, gArray, gUint64, gInt64, gFloat64 = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12
)

// scalarSize is the encoded size of the fixed-size types (0 for others).
func scalarSize(t uint32) int {
	switch t {
	case gUint8, gInt8, gBool:
		return 1
	case gUint16, gInt16:
		return 2
	case gUint32, gInt32, gFloat32:
		return 4
	case gUint64, gInt64, gFloat64:
		return 8
	}
	return 0
}

// value reads a value of type t. It returns a string for strings, a uint64
// for integers, a []string for string arrays, and nil for everything else
// (read and skipped).
func (g *ggufReader) value(t uint32, depth int) (any, error) {
	if n := scalarSize(t); n > 0 {
		b, err := g.read(n)
		if err != nil {
			return nil, err
		}
		switch t {
		case gUint8, gBool:
			return uint64(b[0]), nil
		case gInt8:
			return uint64(int8(b[0])), nil
		case gUint16:
			return uint64(binary.LittleEndian.Uint16(b)), nil
		case gInt16:
			return uint64(int16(binary.LittleEndian.Uint16(b))), nil
		case gUint32:
			return uint64(binary.LittleEndian.Uint32(b)), nil
		case gInt32:
			return uint64(int32(binary.LittleEndian.Uint32(b))), nil
		case gUint64, gInt64:
			return binary.LittleEndian.Uint64(b), nil
		}
		return nil, nil // floats are not needed
	}
	switch t {
	case gString:
		return g.str()
	case gArray:
		if depth >= maxGGUFDepth {
			return nil, fmt.Errorf("arrays nested deeper than %d", maxGGUFDepth)
		}
		elem, err := g.u32()
		if err != nil {
			return nil, err
		}
		size := scalarSize(elem)
		switch {
		case size > 0:
			n, err := g.count(int64(size))
			if err != nil {
				return nil, err
			}
			// Skip in bounded chunks.
			for left := int64(n) * int64(size); left > 0; {
				k := min(left, 1<<20)
				if _, err := g.read(int(k)); err != nil {
					return nil, err
				}
				left -= k
			}
			return nil, nil
		case elem == gString:
			n, err := g.count(8)
			if err != nil {
				return nil, err
			}
			out := make([]string, 0, min(n, 1<<16))
			for range n {
				s, err := g.str()
				if err != nil {
					return nil, err
				}
				out = append(out, s)
			}
			return out, nil
		case elem == gArray:
			n, err := g.count(12)
			if err != nil {
				return nil, err
			}
			for range n {
				if _, err := g.value(gArray, depth+1); err != nil {
					return nil, err
				}
			}
			return nil, nil
		}
		return nil, fmt.Errorf("unknown array element type %d at byte %d", elem, g.pos)
	}
	return nil, fmt.Errorf("unknown value type %d at byte %d", t, g.pos)
}

// parseGGUF reads and checks a GGUF header of a file of the given size.
func parseGGUF(r io.Reader, size int64) (*ggufHeader, error) {
	g := &ggufReader{r: r, size: size}
	magic, err := g.u32()
	if err != nil {
		return nil, err
	}
	if magic != ggufMagic {
		return nil, fmt.Errorf("bad magic %#08x (want \"GGUF\")", magic)
	}
	h := &ggufHeader{Strings: map[string]string{}, Uints: map[string]uint64{}}
	if h.Version, err = g.u32(); err != nil {
		return nil, err
	}
	if h.Version < 2 || h.Version > 3 {
		return nil, fmt.Errorf("unsupported GGUF version %d", h.Version)
	}
	tensors, err := g.count(24) // name length, dims count, type, offset
	if err != nil {
		return nil, err
	}
	h.TensorCount = uint64(tensors)
	kvs, err := g.count(13) // key length, type, smallest value
	if err != nil {
		return nil, err
	}
	for range kvs {
		key, err := g.str()
		if err != nil {
			return nil, err
		}
		t, err := g.u32()
		if err != nil {
			return nil, err
		}
		v, err := g.value(t, 0)
		if err != nil {
			return nil, fmt.Errorf("metadata %q: %w", key, err)
		}
		switch v := v.(type) {
		case string:
			h.Strings[key] = v
		case uint64:
			h.Uints[key] = v
		case []string:
			if key == "tokenizer.ggml.tokens" {
				h.Tokens = v
			}
		}
	}
	if _, ok := h.Strings["general.architecture"]; !ok {
		return nil, errors.New("no general.architecture in the metadata")
	}
	alignment := uint64(defaultGGUFAln)
	if a, ok := h.Uints["general.alignment"]; ok {
		if a == 0 || a > 1<<16 || a&(a-1) != 0 {
			return nil, fmt.Errorf("bad general.alignment %d", a)
		}
		alignment = a
	}
	offsets := make([]uint64, 0, min(tensors, 1<<16))
	for i := range tensors {
		name, err := g.str()
		if err != nil {
			return nil, err
		}
		nDims, err := g.u32()
		if err != nil {
			return nil, err
		}
		if nDims == 0 || nDims > maxTensorDims {
			return nil, fmt.Errorf("tensor %d %q: %d dimensions", i, name, nDims)
		}
		elems := uint64(1)
		for range nDims {
			d, err := g.u64()
			if err != nil {
				return nil, err
			}
			if d == 0 || d > uint64(size) || elems > uint64(size)/d {
				return nil, fmt.Errorf("tensor %q: dimension %d does not fit the file", name, d)
			}
			elems *= d
		}
		typ, err := g.u32()
		if err != nil {
			return nil, err
		}
		if typ >= maxGGMLType {
			return nil, fmt.Errorf("tensor %q: unknown type %d", name, typ)
		}
		off, err := g.u64()
		if err != nil {
			return nil, err
		}
		if off%alignment != 0 {
			return nil, fmt.Errorf("tensor %q: offset %d not aligned to %d", name, off, alignment)
		}
		offsets = append(offsets, off)
	}
	dataStart := (uint64(g.pos) + alignment - 1) / alignment * alignment
	for i, off := range offsets {
		if off > uint64(size) || dataStart+off > uint64(size) {
			return nil, fmt.Errorf("tensor %d: data offset %d beyond the end of the file (%d bytes)", i, off, size)
		}
	}
	return h, nil
}
