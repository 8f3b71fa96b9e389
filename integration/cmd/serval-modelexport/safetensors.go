package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"sort"
)

// maxHeaderBytes bounds a safetensors header (the format's own limit is
// 100 MB; ours are a few kilobytes).
const maxHeaderBytes = 1 << 20

// stTensor is one float32 tensor of a safetensors file, shape in PyTorch
// order (the slowest-varying dimension first).
type stTensor struct {
	Name  string
	Shape []uint64
	Data  []float32
}

// parseSafetensors reads a safetensors file holding only F32 tensors, in
// header order of their data offsets, with the string metadata.
func parseSafetensors(b []byte) ([]stTensor, map[string]string, error) {
	if len(b) < 8 {
		return nil, nil, fmt.Errorf("safetensors: %d bytes is too short for a header", len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	if n > maxHeaderBytes || n > uint64(len(b)-8) {
		return nil, nil, fmt.Errorf("safetensors: header of %d bytes does not fit in a file of %d", n, len(b))
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &header); err != nil {
		return nil, nil, fmt.Errorf("safetensors: header: %w", err)
	}
	data := b[8+n:]
	meta := map[string]string{}
	var out []stTensor
	var offsets []uint64
	for name, raw := range header {
		if name == "__metadata__" {
			if err := json.Unmarshal(raw, &meta); err != nil {
				return nil, nil, fmt.Errorf("safetensors: metadata: %w", err)
			}
			continue
		}
		var d struct {
			DType   string   `json:"dtype"`
			Shape   []uint64 `json:"shape"`
			Offsets []uint64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: %w", name, err)
		}
		if d.DType != "F32" {
			return nil, nil, fmt.Errorf("safetensors: tensor %q is %s; only F32 is supported", name, d.DType)
		}
		if len(d.Offsets) != 2 || d.Offsets[0] > d.Offsets[1] || d.Offsets[1] > uint64(len(data)) {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: data offsets %v outside %d bytes of data", name, d.Offsets, len(data))
		}
		count := uint64(1)
		for _, s := range d.Shape {
			if s != 0 && count > math.MaxUint32/s {
				return nil, nil, fmt.Errorf("safetensors: tensor %q: shape %v is too large", name, d.Shape)
			}
			count *= s
		}
		if 4*count != d.Offsets[1]-d.Offsets[0] {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: shape %v needs %d bytes, has %d", name, d.Shape, 4*count, d.Offsets[1]-d.Offsets[0])
		}
		t := stTensor{Name: name, Shape: d.Shape, Data: make([]float32, count)}
		raw32 := data[d.Offsets[0]:d.Offsets[1]]
		for i := range t.Data {
			t.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw32[4*i:]))
		}
		out = append(out, t)
		offsets = append(offsets, d.Offsets[0])
	}
	idx := make([]int, len(out))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return offsets[idx[a]] < offsets[idx[b]] })
	sorted := make([]stTensor, len(out))
	for i, j := range idx {
		sorted[i] = out[j]
	}
	return sorted, meta, nil
}
