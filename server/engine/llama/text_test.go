package llama

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	yz "github.com/hybridgroup/yzma/pkg/llama"

	"github.com/servalhq/serval/integration/testsupport/ggufgen"
)

func TestUTF8BufferJoinsSplitCharacters(t *testing.T) {
	var b utf8Buffer
	euro := []byte("€") // e2 82 ac
	if got := b.write([]byte("a")); got != "a" {
		t.Errorf("got %q", got)
	}
	if got := b.write(euro[:1]); got != "" {
		t.Errorf("first byte of € emitted %q", got)
	}
	if got := b.write(euro[1:2]); got != "" {
		t.Errorf("second byte of € emitted %q", got)
	}
	if got := b.write(append(euro[2:], 'b')); got != "€b" {
		t.Errorf("got %q, want €b", got)
	}
}

func TestUTF8BufferDropsInvalidBytes(t *testing.T) {
	var b utf8Buffer
	if got := b.write([]byte{'x', 0xff, 'y', 0x80}); got != "xy" {
		t.Errorf("got %q", got)
	}
	// A start byte followed by a non-continuation byte can never complete.
	if got := b.write([]byte{0xe2, 'z'}); got != "z" {
		t.Errorf("got %q", got)
	}
	b.write([]byte{0xf0, 0x9f})
	b.flush()
	if got := b.write([]byte("ok")); got != "ok" {
		t.Errorf("after flush: %q", got)
	}
}

func FuzzUTF8Buffer(f *testing.F) {
	f.Add([]byte("héllo €"), 3)
	f.Add([]byte{0xe2, 0x82, 0xac, 0xff, 0xf0, 0x9f, 0x98, 0x80}, 1)
	f.Fuzz(func(t *testing.T, data []byte, chunk int) {
		if chunk <= 0 || chunk > 16 {
			chunk = 1
		}
		var b utf8Buffer
		var out strings.Builder
		for i := 0; i < len(data); i += chunk {
			s := b.write(data[i:min(i+chunk, len(data))])
			if !utf8.ValidString(s) {
				t.Fatalf("invalid output %q", s)
			}
			out.WriteString(s)
		}
		if utf8.Valid(data) && out.String() != string(data) && len(b.pending) == 0 {
			t.Fatalf("valid input %q came out as %q", data, out.String())
		}
		if utf8.Valid(data) && !strings.HasPrefix(string(data), out.String()) {
			t.Fatalf("valid input %q came out as %q", data, out.String())
		}
	})
}

func testModelBytes(t testing.TB) []byte {
	f, err := ggufgen.Build(ggufgen.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestParseGGUF(t *testing.T) {
	data := testModelBytes(t)
	h, err := parseGGUF(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if h.Version != 3 || h.Strings["general.name"] != "serval-test-tiny" || h.Strings["general.architecture"] != "llama" ||
		h.Uints["llama.context_length"] != 8192 || len(h.Tokens) != len(ggufgen.BuildVocab(ggufgen.Options{}).Tokens) || h.TensorCount == 0 {
		t.Errorf("header %+v", h)
	}
	for _, n := range []int{0, 3, 4, 8, 23, 100, 5000, len(data) / 2} {
		if _, err := parseGGUF(bytes.NewReader(data[:n]), int64(n)); err == nil {
			t.Errorf("file truncated to %d bytes accepted", n)
		}
	}
	bad := bytes.Clone(data)
	bad[4] = 9 // version
	if _, err := parseGGUF(bytes.NewReader(bad), int64(len(bad))); err == nil {
		t.Error("version 9 accepted")
	}
	if _, err := readGGUFHeader(os.DevNull); err == nil {
		t.Error("empty file accepted")
	}
}

func FuzzParseGGUF(f *testing.F) {
	data := testModelBytes(f)
	f.Add(data[:4096])
	f.Add([]byte("GGUF\x03\x00\x00\x00"))
	f.Add([]byte("not gguf"))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseGGUF(bytes.NewReader(b), int64(len(b))) // must not panic or hang
	})
}

func TestFindChunk(t *testing.T) {
	toks := func(s string) []yz.Token {
		out := make([]yz.Token, len(s))
		for i := range s {
			out[i] = yz.Token(s[i])
		}
		return out
	}
	cases := []struct {
		old, new string
		p        int
		k, j, m  int
	}{
		{"abcSUFFIX!", "abcxySUFFIX!", 3, 5, 3, 6}, // inserted before the suffix
		{"abcxySUFFIX!", "abcSUFFIX!", 3, 3, 5, 6}, // deleted
		{"abcSUFFIX!", "abcSUFFIX!", 9, 0, 0, 0},   // nothing after the prefix but the last token
		{"abcdef", "xyz", 0, 0, 0, 0},              // nothing shared
		{"PQabcdefgh!", "Qabcdefgh?!", 0, 0, 1, 9}, // window start moved
		{"aaSUFaaa", "aaxxSUFaaa", 2, 4, 2, 5},     // never the last token
	}
	for _, c := range cases {
		k, j, m := findChunk(toks(c.old), toks(c.new), c.p, len(c.new)-1, c.p, len(c.old))
		if m != c.m || (m > 0 && (k != c.k || j != c.j)) {
			t.Errorf("findChunk(%q, %q, %d) = %d, %d, %d; want %d, %d, %d", c.old, c.new, c.p, k, j, m, c.k, c.j, c.m)
		}
	}
}

func TestFindChunks(t *testing.T) {
	toks := func(s string) []yz.Token {
		out := make([]yz.Token, len(s))
		for i := range s {
			out[i] = yz.Token(s[i])
		}
		return out
	}
	// The window start moved by 2 and 3 characters were typed before the suffix.
	old := "<PPbodybodybody|SUFFIXSUFFIX>"
	new := "<bodybodybodyxyz|SUFFIXSUFFIX>"
	got := findChunks(toks(old), toks(new), 1, 4)
	want := []moved{{k: 1, j: 3, n: 12}, {k: 16, j: 15, n: 13}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("findChunks = %v, want %v", got, want)
	}
	if got := findChunks(toks(old), toks(new), 1, 13); len(got) != 1 || got[0].n != 13 {
		t.Errorf("with minLen 13: %v", got)
	}
}
