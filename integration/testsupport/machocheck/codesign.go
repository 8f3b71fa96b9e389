// Package machocheck inspects macOS executables built on Linux, where none can
// run: the embedded code signature (its code directory's page hashes against
// the file, as the kernel checks them page by page on Apple silicon), the
// minimum macOS version, the libraries loaded and the symbols bound from them,
// and Apple's text-based library stubs (.tbd) those symbols are checked
// against. Everything it reads is outside input: bounds are checked, and the
// parsers are fuzzed.
package machocheck

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
)

// Magic numbers and slot types of Apple's cs_blobs.h. Every field of a
// signature is big-endian, whatever the Mach-O's byte order.
const (
	magicEmbeddedSignature = 0xfade0cc0
	magicCodeDirectory     = 0xfade0c02
	magicRequirements      = 0xfade0c01

	slotCodeDirectory = 0
	slotRequirements  = 2
	slotEntitlements  = 5
	slotDEREntitle    = 7
	slotAltCodeDirFst = 0x1000 // alternate code directories: 0x1000..0x1004
	slotAltCodeDirLst = 0x1004

	hashTypeSHA1   = 1
	hashTypeSHA256 = 2

	// FlagAdhoc marks a signature made without a certificate (codesign -s -),
	// the kind linkers write and Apple silicon accepts for local code.
	FlagAdhoc = 0x2
	// FlagLinkerSigned marks an ad-hoc signature written by the linker.
	FlagLinkerSigned = 0x20000
)

// A Blob is one entry of the signature's SuperBlob.
type Blob struct {
	Slot  uint32 // the index's type: 0 code directory, 2 requirements, 5 entitlements, ...
	Magic uint32
	Data  []byte // the whole blob, magic and length included
}

// A CodeDirectory is the part of the signature that lists a hash per page
// of the file (code slots) and per other blob (special slots).
type CodeDirectory struct {
	Version     uint32
	Flags       uint32
	Identifier  string
	HashType    uint8
	HashSize    int
	PageSize    int // bytes; 0 means the whole file is one page
	CodeLimit   uint64
	CodeHashes  [][]byte // CodeHashes[i] covers file bytes [i*PageSize, min((i+1)*PageSize, CodeLimit))
	Special     map[uint32][]byte
	ExecSegBase uint64 // from version 0x20400
	ExecSegSize uint64
}

// Signature is a parsed embedded signature (LC_CODE_SIGNATURE's data).
type Signature struct {
	Blobs     []Blob
	Directory *CodeDirectory // the primary code directory (slot 0)
}

var be = binary.BigEndian

// maxBlobs bounds a SuperBlob's index; real ones hold under ten entries.
const maxBlobs = 64

// ParseSignature reads an embedded signature SuperBlob.
func ParseSignature(data []byte) (*Signature, error) {
	if len(data) < 12 {
		return nil, fmt.Errorf("code signature: %d bytes, shorter than a SuperBlob header", len(data))
	}
	if m := be.Uint32(data); m != magicEmbeddedSignature {
		return nil, fmt.Errorf("code signature: magic %#x, want %#x (embedded signature)", m, magicEmbeddedSignature)
	}
	length := be.Uint32(data[4:])
	if length < 12 || uint64(length) > uint64(len(data)) {
		return nil, fmt.Errorf("code signature: SuperBlob length %d outside its %d bytes", length, len(data))
	}
	data = data[:length]
	count := be.Uint32(data[8:])
	if count > maxBlobs || 12+8*uint64(count) > uint64(len(data)) {
		return nil, fmt.Errorf("code signature: %d blobs do not fit in %d bytes", count, len(data))
	}
	sig := &Signature{}
	for i := uint32(0); i < count; i++ {
		slot, off := be.Uint32(data[12+8*i:]), be.Uint32(data[16+8*i:])
		if uint64(off)+8 > uint64(len(data)) {
			return nil, fmt.Errorf("code signature: blob %d (slot %#x) at offset %d, past the end (%d)", i, slot, off, len(data))
		}
		blen := be.Uint32(data[off+4:])
		if blen < 8 || uint64(off)+uint64(blen) > uint64(len(data)) {
			return nil, fmt.Errorf("code signature: blob %d (slot %#x) length %d at offset %d, past the end (%d)", i, slot, blen, off, len(data))
		}
		sig.Blobs = append(sig.Blobs, Blob{Slot: slot, Magic: be.Uint32(data[off:]), Data: data[off : off+blen]})
	}
	for _, b := range sig.Blobs {
		if b.Slot != slotCodeDirectory {
			continue
		}
		if sig.Directory != nil {
			return nil, errors.New("code signature: two primary code directories")
		}
		cd, err := parseCodeDirectory(b.Data)
		if err != nil {
			return nil, err
		}
		sig.Directory = cd
	}
	if sig.Directory == nil {
		return nil, errors.New("code signature: no code directory")
	}
	return sig, nil
}

// parseCodeDirectory reads a CodeDirectory blob (cs_blobs.h's CS_CodeDirectory).
func parseCodeDirectory(b []byte) (*CodeDirectory, error) {
	const fixed = 44 // through spare2; later fields depend on the version
	if len(b) < fixed {
		return nil, fmt.Errorf("code directory: %d bytes, shorter than its header", len(b))
	}
	if m := be.Uint32(b); m != magicCodeDirectory {
		return nil, fmt.Errorf("code directory: magic %#x, want %#x", m, magicCodeDirectory)
	}
	cd := &CodeDirectory{
		Version:   be.Uint32(b[8:]),
		Flags:     be.Uint32(b[12:]),
		CodeLimit: uint64(be.Uint32(b[32:])),
		HashSize:  int(b[36]),
		HashType:  b[37],
	}
	hashOffset, identOffset := be.Uint32(b[16:]), be.Uint32(b[20:])
	nSpecial, nCode := be.Uint32(b[24:]), be.Uint32(b[28:])
	if shift := b[39]; shift != 0 {
		if shift > 30 {
			return nil, fmt.Errorf("code directory: page size 2^%d", shift)
		}
		cd.PageSize = 1 << shift
	}
	if cd.Version >= 0x20300 && len(b) >= 64 {
		if limit64 := be.Uint64(b[56:]); limit64 != 0 {
			cd.CodeLimit = limit64
		}
	}
	if cd.Version >= 0x20400 && len(b) >= 88 {
		cd.ExecSegBase, cd.ExecSegSize = be.Uint64(b[64:]), be.Uint64(b[72:])
	}
	switch {
	case cd.HashType == hashTypeSHA256 && cd.HashSize == sha256.Size, cd.HashType == hashTypeSHA1 && cd.HashSize == sha1.Size:
	default:
		return nil, fmt.Errorf("code directory: hash type %d of %d bytes is not SHA-256 (2, 32) or SHA-1 (1, 20)", cd.HashType, cd.HashSize)
	}
	hs := uint64(cd.HashSize)
	if uint64(hashOffset) < uint64(nSpecial)*hs || uint64(hashOffset)+uint64(nCode)*hs > uint64(len(b)) {
		return nil, fmt.Errorf("code directory: %d special and %d code hashes around offset %d do not fit in %d bytes", nSpecial, nCode, hashOffset, len(b))
	}
	if identOffset >= uint32(len(b)) {
		return nil, fmt.Errorf("code directory: identifier at %d, past the end (%d)", identOffset, len(b))
	}
	ident, _, ok := bytes.Cut(b[identOffset:], []byte{0})
	if !ok {
		return nil, errors.New("code directory: identifier is not NUL-terminated")
	}
	cd.Identifier = string(ident)
	cd.CodeHashes = make([][]byte, nCode)
	for i := range cd.CodeHashes {
		o := uint64(hashOffset) + uint64(i)*hs
		cd.CodeHashes[i] = b[o : o+hs]
	}
	cd.Special = make(map[uint32][]byte, nSpecial)
	for k := uint32(1); k <= nSpecial; k++ {
		o := uint64(hashOffset) - uint64(k)*hs
		cd.Special[k] = b[o : o+hs]
	}
	return cd, nil
}

func (cd *CodeDirectory) newHash() hash.Hash {
	if cd.HashType == hashTypeSHA1 {
		return sha1.New()
	}
	return sha256.New()
}

// A PageError is a code page whose hash does not match the code directory:
// the kernel kills the process when it faults that page in.
type PageError struct {
	Page       int
	Start, End uint64
}

func (e *PageError) Error() string {
	return fmt.Sprintf("code signature: page %d (bytes %d..%d) does not match its hash in the code directory", e.Page, e.Start, e.End)
}

// Verify checks the signature against file, the whole Mach-O it was read
// from, whose LC_CODE_SIGNATURE data starts at sigOffset: the code directory
// covers exactly the bytes before the signature, one hash per page, and each
// page and each special blob present matches its hash.
func (s *Signature) Verify(file []byte, sigOffset uint64) error {
	cd := s.Directory
	if cd.CodeLimit != sigOffset {
		return fmt.Errorf("code signature: the code directory covers %d bytes, but the signature starts at %d", cd.CodeLimit, sigOffset)
	}
	if cd.CodeLimit > uint64(len(file)) {
		return fmt.Errorf("code signature: code limit %d past the file's %d bytes", cd.CodeLimit, len(file))
	}
	page := uint64(cd.PageSize)
	if page == 0 {
		page = cd.CodeLimit
	}
	want := uint64(0)
	if cd.CodeLimit > 0 {
		want = (cd.CodeLimit + page - 1) / page
	}
	if uint64(len(cd.CodeHashes)) != want {
		return fmt.Errorf("code signature: %d code hashes for %d bytes in pages of %d, want %d", len(cd.CodeHashes), cd.CodeLimit, page, want)
	}
	h := cd.newHash()
	for i, sum := range cd.CodeHashes {
		start := uint64(i) * page
		end := min(start+page, cd.CodeLimit)
		h.Reset()
		h.Write(file[start:end])
		if !bytes.Equal(h.Sum(nil), sum) {
			return &PageError{Page: i, Start: start, End: end}
		}
	}
	for _, b := range s.Blobs {
		if b.Slot == slotCodeDirectory || (b.Slot >= slotAltCodeDirFst && b.Slot <= slotAltCodeDirLst) || b.Slot > 0xff {
			continue // code directories are not hashed in special slots; 0x10000 is the CMS signature
		}
		sum, ok := cd.Special[b.Slot]
		if !ok {
			return fmt.Errorf("code signature: blob in slot %d has no special slot in the code directory", b.Slot)
		}
		h.Reset()
		h.Write(b.Data)
		if !bytes.Equal(h.Sum(nil), sum) {
			return fmt.Errorf("code signature: blob in slot %d does not match its hash in the code directory", b.Slot)
		}
	}
	return nil
}
