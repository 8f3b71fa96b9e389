package machocheck

import (
	"bytes"
	"encoding/binary"
	"maps"
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
	// an addend of -8 as ten bytes of SLEB128 (how ld64 writes some), then a bind
	s = append(s, 0x60, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x90)
	got, err := parseBind(s, false, testDylibs)
	if err != nil {
		t.Fatal(err)
	}
	want := []Import{{"_SecTrustEvaluate", testDylibs[1]}, {"_x", "flat lookup"}, {"_open", testDylibs[0]}}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range [][]byte{{0x13, 0x40, 'a', 0, 0x90}, {0x40, 'a'}, {0xe0}, {0x90}, {0x20}, {0x60, 0xff}, {0x60, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00}} {
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
	f.Add(exportTrie())
	f.Add([]byte{0xcf, 0xfa, 0xed, 0xfe, 0x0c, 0, 0, 0x01, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		parseBind(data, false, testDylibs)
		parseBind(data, true, testDylibs)
		parseChainedImports(data, binary.LittleEndian, testDylibs)
		parseExportTrie(data)
		Parse(data)
	})
}

// exportTrie builds: "_a" (address 0x10) with child "_ax" (a stub with a
// resolver), and "_b" re-exported from library 1.
func exportTrie() []byte {
	t := []byte{0x00, 2}                  // root: no terminal, two children
	t = append(t, "_a\x00"...)            // -> node 1
	t = append(t, 0)                      // offset, patched below
	t = append(t, "_b\x00"...)            // -> node 2
	t = append(t, 0)                      // offset, patched below
	n1 := len(t)                          //
	t = append(t, 2, 0x00, 0x10, 1)       // terminal: flags 0, address 0x10; one child
	t = append(t, "x\x00"...)             // -> node 3
	t = append(t, 0)                      // offset, patched below
	n2 := len(t)                          //
	t = append(t, 3, 0x08, 0x01, 0x00, 0) // terminal: re-export from ordinal 1 under the same name; no children
	n3 := len(t)                          //
	t = append(t, 3, 0x10, 0x20, 0x30, 0) // terminal: stub and resolver; no children
	t[5], t[9], t[n1+6] = byte(n1), byte(n2), byte(n3)
	return t
}

func TestParseExportTrie(t *testing.T) {
	got, err := parseExportTrie(exportTrie())
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]bool{"_a": true, "_ax": true, "_b": true}; !maps.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	cycle := exportTrie()
	cycle[bytes.Index(cycle, []byte("x\x00"))+2] = 0 // node 1's child is the root
	past := exportTrie()
	past[5] = 200
	unterminated := exportTrie()[:8]
	badTerminal := exportTrie()
	badTerminal[len(badTerminal)-5] = 40 // node 3's terminal size runs past the trie
	for name, bad := range map[string][]byte{"cycle": cycle, "past the end": past, "unterminated label": unterminated, "terminal size": badTerminal} {
		if _, err := parseExportTrie(bad); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
