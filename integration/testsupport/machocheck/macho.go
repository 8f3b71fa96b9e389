package machocheck

import (
	"bytes"
	"debug/macho"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
)

// Load commands debug/macho leaves as raw bytes.
const (
	lcCodeSignature   = 0x1d
	lcVersionMinMacOS = 0x24
	lcBuildVersion    = 0x32
	lcLoadDylib       = 0xc
	lcLoadWeakDylib   = 0x80000018
	lcReexportDylib   = 0x8000001f
	lcLazyLoadDylib   = 0x20
	lcLoadUpwardDylib = 0x80000023
	lcDyldInfo        = 0x22
	lcDyldInfoOnly    = 0x80000022
	lcChainedFixups   = 0x80000034
	lcExportsTrie     = 0x80000033
	lcIDDylib         = 0xd
	lcRpath           = 0x8000001c
	lcLoadDylinker    = 0xe

	platformMacOS = 1
)

// An Import is a symbol the binary binds at launch, and where from.
type Import struct {
	Name    string // with its leading underscore
	Library string // the install name, or "flat lookup", "main executable", "weak coalescing"
}

// Binary is what a launch on macOS depends on, read from a Mach-O file.
type Binary struct {
	File        *macho.File
	Data        []byte
	InstallName string   // a dylib's own (LC_ID_DYLIB), "" for others
	Dylibs      []string // install names, in load-command order (ordinal i+1)
	Dylinker    string
	Rpaths      []string
	Platform    uint32 // LC_BUILD_VERSION's; 1 is macOS
	MinOS       string // "12.0" (LC_BUILD_VERSION or LC_VERSION_MIN_MACOSX), "" when absent
	SigOffset   uint64 // LC_CODE_SIGNATURE's data, 0 when unsigned
	SigSize     uint64
	Imports     []Import
	Exports     map[string]bool // what its export trie offers other images and dlsym
}

// Read parses the Mach-O at path (a thin one: universal files are refused).
func Read(path string) (*Binary, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

// Parse reads a thin Mach-O file's load commands and binds.
func Parse(data []byte) (*Binary, error) {
	f, err := macho.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	b := &Binary{File: f, Data: data}
	var bind [][]byte
	var fixups, trie []byte
	bo := f.ByteOrder
	for _, l := range f.Loads {
		raw := l.Raw()
		if len(raw) < 8 {
			return nil, fmt.Errorf("a load command of %d bytes", len(raw))
		}
		switch cmd := bo.Uint32(raw); cmd {
		case lcLoadDylib, lcLoadWeakDylib, lcReexportDylib, lcLazyLoadDylib, lcLoadUpwardDylib:
			name, err := cString(raw, 8, bo)
			if err != nil {
				return nil, fmt.Errorf("dylib command: %w", err)
			}
			b.Dylibs = append(b.Dylibs, name)
		case lcIDDylib:
			if b.InstallName, err = cString(raw, 8, bo); err != nil {
				return nil, fmt.Errorf("id dylib command: %w", err)
			}
		case lcExportsTrie:
			if len(raw) < 16 {
				return nil, errors.New("short LC_DYLD_EXPORTS_TRIE")
			}
			if trie, err = span(data, bo.Uint32(raw[8:]), bo.Uint32(raw[12:])); err != nil {
				return nil, fmt.Errorf("LC_DYLD_EXPORTS_TRIE: %w", err)
			}
		case lcLoadDylinker:
			if b.Dylinker, err = cString(raw, 8, bo); err != nil {
				return nil, fmt.Errorf("dylinker command: %w", err)
			}
		case lcRpath:
			rp, err := cString(raw, 8, bo)
			if err != nil {
				return nil, fmt.Errorf("rpath command: %w", err)
			}
			b.Rpaths = append(b.Rpaths, rp)
		case lcBuildVersion:
			if len(raw) < 16 {
				return nil, errors.New("short LC_BUILD_VERSION")
			}
			b.Platform, b.MinOS = bo.Uint32(raw[8:]), version(bo.Uint32(raw[12:]))
		case lcVersionMinMacOS:
			if len(raw) < 12 {
				return nil, errors.New("short LC_VERSION_MIN_MACOSX")
			}
			b.Platform, b.MinOS = platformMacOS, version(bo.Uint32(raw[8:]))
		case lcCodeSignature:
			if len(raw) < 16 {
				return nil, errors.New("short LC_CODE_SIGNATURE")
			}
			b.SigOffset, b.SigSize = uint64(bo.Uint32(raw[8:])), uint64(bo.Uint32(raw[12:]))
			if b.SigOffset+b.SigSize > uint64(len(data)) {
				return nil, fmt.Errorf("the code signature (%d bytes at %d) is past the end of the file (%d)", b.SigSize, b.SigOffset, len(data))
			}
		case lcDyldInfo, lcDyldInfoOnly:
			if len(raw) < 48 {
				return nil, errors.New("short LC_DYLD_INFO")
			}
			// bind, weak bind, lazy bind: (offset, size) at 16, 24, 32.
			for _, at := range []int{16, 24, 32} {
				s, err := span(data, bo.Uint32(raw[at:]), bo.Uint32(raw[at+4:]))
				if err != nil {
					return nil, fmt.Errorf("LC_DYLD_INFO: %w", err)
				}
				bind = append(bind, s)
			}
			if trie, err = span(data, bo.Uint32(raw[40:]), bo.Uint32(raw[44:])); err != nil {
				return nil, fmt.Errorf("LC_DYLD_INFO exports: %w", err)
			}
		case lcChainedFixups:
			if len(raw) < 16 {
				return nil, errors.New("short LC_DYLD_CHAINED_FIXUPS")
			}
			if fixups, err = span(data, bo.Uint32(raw[8:]), bo.Uint32(raw[12:])); err != nil {
				return nil, fmt.Errorf("LC_DYLD_CHAINED_FIXUPS: %w", err)
			}
		}
	}
	for i, stream := range bind {
		imports, err := parseBind(stream, i == 1, b.Dylibs)
		if err != nil {
			return nil, err
		}
		b.Imports = append(b.Imports, imports...)
	}
	if fixups != nil {
		imports, err := parseChainedImports(fixups, bo, b.Dylibs)
		if err != nil {
			return nil, err
		}
		b.Imports = append(b.Imports, imports...)
	}
	if b.Exports, err = parseExportTrie(trie); err != nil {
		return nil, err
	}
	return b, nil
}

// Signature parses the embedded code signature, or says there is none.
func (b *Binary) Signature() (*Signature, error) {
	if b.SigSize == 0 {
		return nil, errors.New("no LC_CODE_SIGNATURE")
	}
	return ParseSignature(b.Data[b.SigOffset : b.SigOffset+b.SigSize])
}

func span(data []byte, off, size uint32) ([]byte, error) {
	if uint64(off)+uint64(size) > uint64(len(data)) {
		return nil, fmt.Errorf("%d bytes at %d, past the end of the file (%d)", size, off, len(data))
	}
	return data[off : off+size], nil
}

// cString reads the NUL-terminated string a load command points to with the
// 32-bit offset at field.
func cString(raw []byte, field int, bo binary.ByteOrder) (string, error) {
	off := bo.Uint32(raw[field:])
	if off >= uint32(len(raw)) {
		return "", fmt.Errorf("string at %d past the command's %d bytes", off, len(raw))
	}
	s, _, ok := bytes.Cut(raw[off:], []byte{0})
	if !ok {
		return "", errors.New("string is not NUL-terminated")
	}
	return string(s), nil
}

// version formats Mach-O's xxxx.yy.zz nibble-packed version.
func version(v uint32) string {
	s := fmt.Sprintf("%d.%d", v>>16, (v>>8)&0xff)
	if v&0xff != 0 {
		s += fmt.Sprintf(".%d", v&0xff)
	}
	return s
}

// library names a bind ordinal: 1..n the dylibs in load order, 0 and below dyld's special ones.
func library(ordinal int64, dylibs []string) (string, error) {
	switch {
	case ordinal == 0:
		return "this image", nil
	case ordinal == -1:
		return "main executable", nil
	case ordinal == -2:
		return "flat lookup", nil
	case ordinal == -3:
		return "weak coalescing", nil
	case ordinal > 0 && ordinal <= int64(len(dylibs)):
		return dylibs[ordinal-1], nil
	}
	return "", fmt.Errorf("bind ordinal %d: the binary loads %d libraries", ordinal, len(dylibs))
}

// parseBind decodes one of LC_DYLD_INFO's bind opcode streams (mach-o/loader.h's
// BIND_OPCODE_*) into the symbols it binds. Weak binds name no library.
func parseBind(s []byte, weak bool, dylibs []string) ([]Import, error) {
	var (
		out     []Import
		ordinal int64
		name    string
		seen    = map[Import]bool{}
	)
	uleb := func() (uint64, error) {
		v, n := binary.Uvarint(s)
		if n <= 0 {
			return 0, errors.New("bind opcodes: bad ULEB128")
		}
		s = s[n:]
		return v, nil
	}
	skipSLEB := func() error {
		for i, c := range s {
			if c&0x80 == 0 && i < 10 {
				s = s[i+1:]
				return nil
			}
		}
		return errors.New("bind opcodes: bad SLEB128")
	}
	record := func() error {
		lib := "weak coalescing"
		if !weak {
			var err error
			if lib, err = library(ordinal, dylibs); err != nil {
				return fmt.Errorf("bind opcodes: %s: %w", name, err)
			}
		}
		if name == "" {
			return errors.New("bind opcodes: a bind with no symbol")
		}
		if imp := (Import{name, lib}); !seen[imp] {
			seen[imp] = true
			out = append(out, imp)
		}
		return nil
	}
	for len(s) > 0 {
		op, imm := s[0]&0xf0, s[0]&0x0f
		s = s[1:]
		var err error
		switch op {
		case 0x00: // DONE: ends an entry of the lazy stream, which goes on
		case 0x10: // SET_DYLIB_ORDINAL_IMM
			ordinal = int64(imm)
		case 0x20: // SET_DYLIB_ORDINAL_ULEB
			var v uint64
			if v, err = uleb(); v > 0xffff {
				err = fmt.Errorf("bind opcodes: ordinal %d", v)
			}
			ordinal = int64(v)
		case 0x30: // SET_DYLIB_SPECIAL_IMM
			ordinal = 0
			if imm != 0 {
				ordinal = int64(int8(0xf0 | imm))
			}
		case 0x40: // SET_SYMBOL_TRAILING_FLAGS_IMM
			sym, rest, ok := bytes.Cut(s, []byte{0})
			if !ok {
				return nil, errors.New("bind opcodes: symbol name is not NUL-terminated")
			}
			name, s = string(sym), rest
		case 0x50: // SET_TYPE_IMM
		case 0x60: // SET_ADDEND_SLEB: a negative addend takes all ten bytes, which Uvarint calls an overflow
			err = skipSLEB()
		case 0x70, 0x80: // SET_SEGMENT_AND_OFFSET_ULEB, ADD_ADDR_ULEB
			_, err = uleb()
		case 0x90, 0xb0: // DO_BIND, DO_BIND_ADD_ADDR_IMM_SCALED
			err = record()
		case 0xa0: // DO_BIND_ADD_ADDR_ULEB
			if err = record(); err == nil {
				_, err = uleb()
			}
		case 0xc0: // DO_BIND_ULEB_TIMES_SKIPPING_ULEB
			if err = record(); err == nil {
				if _, err = uleb(); err == nil {
					_, err = uleb()
				}
			}
		case 0xd0: // THREADED: SET_BIND_ORDINAL_TABLE_SIZE_ULEB (imm 0) or APPLY (imm 1)
			if imm == 0 {
				_, err = uleb()
			}
		default:
			err = fmt.Errorf("bind opcodes: unknown opcode %#x", op)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// parseChainedImports reads the imports table of LC_DYLD_CHAINED_FIXUPS
// (mach-o/fixup-chains.h), the newer form of binds.
func parseChainedImports(d []byte, bo binary.ByteOrder, dylibs []string) ([]Import, error) {
	if len(d) < 28 {
		return nil, errors.New("chained fixups: short header")
	}
	importsOff, symbolsOff := bo.Uint32(d[8:]), bo.Uint32(d[12:])
	count, format, symFormat := bo.Uint32(d[16:]), bo.Uint32(d[20:]), bo.Uint32(d[24:])
	if symFormat != 0 {
		return nil, fmt.Errorf("chained fixups: compressed symbol names (format %d)", symFormat)
	}
	size := map[uint32]uint64{1: 4, 2: 8, 3: 16}[format]
	if size == 0 {
		return nil, fmt.Errorf("chained fixups: unknown imports format %d", format)
	}
	if uint64(importsOff)+uint64(count)*size > uint64(len(d)) || uint64(symbolsOff) > uint64(len(d)) {
		return nil, fmt.Errorf("chained fixups: %d imports do not fit in %d bytes", count, len(d))
	}
	var out []Import
	for i := uint64(0); i < uint64(count); i++ {
		e := d[uint64(importsOff)+i*size:]
		var ordinal int64
		var nameOff uint64
		if format == 3 {
			v := bo.Uint64(e)
			ordinal, nameOff = int64(int16(v&0xffff)), v>>32
		} else {
			v := bo.Uint32(e)
			ordinal, nameOff = int64(int8(v&0xff)), uint64(v>>9)
		}
		at := uint64(symbolsOff) + nameOff
		if at >= uint64(len(d)) {
			return nil, fmt.Errorf("chained fixups: import %d's name at %d, past the end", i, at)
		}
		name, _, ok := bytes.Cut(d[at:], []byte{0})
		if !ok {
			return nil, fmt.Errorf("chained fixups: import %d's name is not NUL-terminated", i)
		}
		lib, err := library(ordinal, dylibs)
		if err != nil {
			return nil, fmt.Errorf("chained fixups: %s: %w", name, err)
		}
		out = append(out, Import{string(name), lib})
	}
	return out, nil
}
