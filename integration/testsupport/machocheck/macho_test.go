package machocheck

import (
	"encoding/binary"
	"slices"
	"testing"
)

var testDylibs = []string{"/usr/lib/libSystem.B.dylib", "/System/Library/Frameworks/Security.framework/Versions/A/Security"}

func TestParseBind(t *testing.T) {
	// ordinal 2, _SecTrustEvaluate, bind; special -2 (flat), _x, bind + skip; ordinal 1, _open, bind twice.
	s := []byte{0x12, 0x40}
	s = append(s, "_SecTrustEvaluate\x00"...)
	s = append(s, 0x90, 0x3e, 0x40)
	s = append(s, "_x\x00"...)
	s = append(s, 0xa0, 0x08, 0x11, 0x40)
	s = append(s, "_open\x00"...)
	s = append(s, 0x72, 0x10, 0x90, 0xc0, 0x02, 0x08, 0x00)
	got, err := parseBind(s, false, testDylibs)
	if err != nil {
		t.Fatal(err)
	}
	want := []Import{{"_SecTrustEvaluate", testDylibs[1]}, {"_x", "flat lookup"}, {"_open", testDylibs[0]}}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range [][]byte{{0x13, 0x40, 'a', 0, 0x90}, {0x40, 'a'}, {0xe0}, {0x90}, {0x20}} {
		if _, err := parseBind(bad, false, testDylibs); err == nil {
			t.Errorf("% x: no error", bad)
		}
	}
}

func TestParseChainedImports(t *testing.T) {
	le := binary.LittleEndian
	d := make([]byte, 28)
	le.PutUint32(d[8:], 28)    // imports
	le.PutUint32(d[12:], 28+8) // symbols
	le.PutUint32(d[16:], 2)
	le.PutUint32(d[20:], 1)
	d = le.AppendUint32(d, 2|0<<9)    // ordinal 2, name at 0
	d = le.AppendUint32(d, 0xfe|6<<9) // flat lookup, name at 6
	d = append(d, "_CFEq\x00_dyn\x00"...)
	got, err := parseChainedImports(d, le, testDylibs)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Import{{"_CFEq", testDylibs[1]}, {"_dyn", "flat lookup"}}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	le.PutUint32(d[16:], 1000)
	if _, err := parseChainedImports(d, le, testDylibs); err == nil {
		t.Error("1000 imports in a few bytes: no error")
	}
}

// FuzzMachO: the binds, chained imports and whole-file parsers take any
// bytes without panicking.
func FuzzMachO(f *testing.F) {
	f.Add([]byte{0x12, 0x40, '_', 'a', 0, 0x90, 0x00})
	f.Add([]byte{0xcf, 0xfa, 0xed, 0xfe, 0x0c, 0, 0, 0x01, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		parseBind(data, false, testDylibs)
		parseBind(data, true, testDylibs)
		parseChainedImports(data, binary.LittleEndian, testDylibs)
		Parse(data)
	})
}
