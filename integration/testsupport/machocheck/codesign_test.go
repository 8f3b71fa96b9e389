package machocheck

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// sign builds an ad-hoc embedded signature over code the way linkers lay
// it out: a SuperBlob holding a version 0x20400 code directory and an empty
// requirements blob, whose hash is special slot 2.
func sign(code []byte, ident string, pageShift uint8) []byte {
	be := binary.BigEndian
	reqs := be.AppendUint32(be.AppendUint32(be.AppendUint32(nil, magicRequirements), 12), 0)
	page := 1 << pageShift
	nCode := (len(code) + page - 1) / page
	const nSpecial = 2
	const header = 88
	identOff := header
	hashOff := identOff + len(ident) + 1 + nSpecial*sha256.Size
	cdLen := hashOff + nCode*sha256.Size
	cd := make([]byte, cdLen)
	be.PutUint32(cd[0:], magicCodeDirectory)
	be.PutUint32(cd[4:], uint32(cdLen))
	be.PutUint32(cd[8:], 0x20400)
	be.PutUint32(cd[12:], FlagAdhoc|FlagLinkerSigned)
	be.PutUint32(cd[16:], uint32(hashOff))
	be.PutUint32(cd[20:], uint32(identOff))
	be.PutUint32(cd[24:], nSpecial)
	be.PutUint32(cd[28:], uint32(nCode))
	be.PutUint32(cd[32:], uint32(len(code)))
	cd[36], cd[37], cd[39] = sha256.Size, hashTypeSHA256, pageShift
	copy(cd[identOff:], ident)
	reqSum := sha256.Sum256(reqs)
	copy(cd[hashOff-slotRequirements*sha256.Size:], reqSum[:])
	for i := range nCode {
		sum := sha256.Sum256(code[i*page : min((i+1)*page, len(code))])
		copy(cd[hashOff+i*sha256.Size:], sum[:])
	}
	const index = 12 + 2*8
	sb := be.AppendUint32(nil, magicEmbeddedSignature)
	sb = be.AppendUint32(sb, uint32(index+len(cd)+len(reqs)))
	sb = be.AppendUint32(sb, 2)
	sb = be.AppendUint32(be.AppendUint32(sb, slotCodeDirectory), index)
	sb = be.AppendUint32(be.AppendUint32(sb, slotRequirements), uint32(index+len(cd)))
	return append(append(sb, cd...), reqs...)
}

func testCode(n int) []byte {
	code := make([]byte, n)
	for i := range code {
		code[i] = byte(i * 7 / 3)
	}
	return code
}

func TestVerifySigned(t *testing.T) {
	code := testCode(3*4096 + 100) // a short last page
	sig, err := ParseSignature(sign(code, "serval-agent", 12))
	if err != nil {
		t.Fatal(err)
	}
	cd := sig.Directory
	if cd.Identifier != "serval-agent" || cd.PageSize != 4096 || len(cd.CodeHashes) != 4 || cd.Flags&FlagAdhoc == 0 {
		t.Errorf("code directory %+v", cd)
	}
	file := append(code, sign(code, "serval-agent", 12)...)
	if err := sig.Verify(file, uint64(len(code))); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyCatchesCorruption: a changed byte in any page, a changed hash, a
// changed requirements blob, and a signature that does not start where the
// code directory's coverage ends are each reported.
func TestVerifyCatchesCorruption(t *testing.T) {
	code := testCode(3*4096 + 100)
	for _, tc := range []struct {
		name   string
		change func(file []byte) (offset uint64)
		want   string
	}{
		{"code byte in page 2", func(f []byte) uint64 { f[2*4096+17] ^= 1; return uint64(len(code)) }, "page 2 (bytes 8192..12288)"},
		{"byte in the short last page", func(f []byte) uint64 { f[len(code)-1] ^= 0x80; return uint64(len(code)) }, "page 3"},
		{"hash of page 0", func(f []byte) uint64 {
			sig, _ := ParseSignature(f[len(code):])
			sig.Directory.CodeHashes[0][5] ^= 1 // a view into f
			return uint64(len(code))
		}, "page 0 (bytes 0..4096)"},
		{"requirements blob", func(f []byte) uint64 { f[len(f)-1] ^= 1; return uint64(len(code)) }, "slot 2 does not match"},
		{"signature elsewhere", func(f []byte) uint64 { return uint64(len(code)) + 16 }, "covers 12388 bytes, but the signature starts at 12404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := append(append([]byte(nil), code...), sign(code, "x", 12)...)
			off := tc.change(file)
			sig, err := ParseSignature(file[len(code):])
			if err != nil {
				t.Fatal(err)
			}
			err = sig.Verify(file, off)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Verify: %v, want an error with %q", err, tc.want)
			}
		})
	}
	file := append(append([]byte(nil), code...), sign(code, "x", 12)...)
	file[100] ^= 1
	sig, _ := ParseSignature(file[len(code):])
	var pe *PageError
	if err := sig.Verify(file, uint64(len(code))); !errors.As(err, &pe) || pe.Page != 0 {
		t.Errorf("a changed byte 100: %v, want a *PageError for page 0", err)
	}
}

func TestParseSignatureRejects(t *testing.T) {
	good := sign(testCode(5000), "id", 12)
	be := binary.BigEndian
	for _, tc := range []struct {
		name string
		edit func([]byte) []byte
		want string
	}{
		{"empty", func([]byte) []byte { return nil }, "shorter than a SuperBlob header"},
		{"magic", func(b []byte) []byte { be.PutUint32(b, 0xfeedface); return b }, "magic"},
		{"length past the end", func(b []byte) []byte { be.PutUint32(b[4:], uint32(len(b)+1)); return b }, "SuperBlob length"},
		{"too many blobs", func(b []byte) []byte { be.PutUint32(b[8:], 1<<30); return b }, "do not fit"},
		{"blob offset past the end", func(b []byte) []byte { be.PutUint32(b[16:], uint32(len(b))); return b }, "past the end"},
		{"code directory hash count", func(b []byte) []byte { be.PutUint32(b[28+28:], 1<<28); return b }, "do not fit"},
		{"hash type", func(b []byte) []byte { b[28+37] = 9; return b }, "hash type 9"},
		{"no code directory", func(b []byte) []byte { be.PutUint32(b[12:], 3); return b }, "no code directory"},
		{"identifier unterminated", func(b []byte) []byte { be.PutUint32(b[28+20:], uint32(len(b)-28-1)); return b }, "identifier"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSignature(tc.edit(append([]byte(nil), good...)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseSignature: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// FuzzSignature: any bytes parse or fail without panicking, and a parsed
// signature verifies or fails without panicking against any file.
func FuzzSignature(f *testing.F) {
	f.Add(sign(testCode(5000), "serval-agent", 12), uint16(5000))
	f.Add(sign(testCode(10), "x", 0), uint16(10))
	f.Add([]byte{0xfa, 0xde, 0x0c, 0xc0, 0, 0, 0, 12, 0, 0, 0, 0}, uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, codeLen uint16) {
		sig, err := ParseSignature(data)
		if err != nil {
			return
		}
		if sig.Directory == nil {
			t.Fatal("parsed without a code directory")
		}
		code := testCode(int(codeLen))
		sig.Verify(append(code, data...), uint64(codeLen))
		sig.Verify(code[:len(code)/2], uint64(codeLen))
	})
}
