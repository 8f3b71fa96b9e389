package machocheck

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Export trie terminal flags (mach-o/loader.h's EXPORT_SYMBOL_FLAGS_*).
const (
	exportReexport         = 0x08
	exportStubAndResolver  = 0x10
	maxExportTrieDepth     = 512 // a symbol name's edges; real tries are far shallower
	maxExportTrieNodeVisit = 1e6 // guards a crafted trie whose edges share nodes
)

// parseExportTrie decodes an export trie, the prefix tree dyld searches when
// another image (or dlsym) asks this one for a symbol, into the names it
// exports. Re-exports are included under their exported name.
func parseExportTrie(trie []byte) (map[string]bool, error) {
	out := map[string]bool{}
	if len(trie) == 0 {
		return out, nil
	}
	visits := 0
	onPath := map[uint64]bool{} // the nodes of the current path: a cycle would never end
	var walk func(off uint64, prefix []byte) error
	walk = func(off uint64, prefix []byte) error {
		if visits++; visits > maxExportTrieNodeVisit {
			return errors.New("export trie: too many nodes")
		}
		if len(prefix) > maxExportTrieDepth*64 || len(onPath) > maxExportTrieDepth {
			return errors.New("export trie: too deep")
		}
		if off >= uint64(len(trie)) {
			return fmt.Errorf("export trie: node at %d, past the end (%d)", off, len(trie))
		}
		if onPath[off] {
			return fmt.Errorf("export trie: a cycle through node %d", off)
		}
		onPath[off] = true
		defer delete(onPath, off)
		s := trie[off:]
		size, n := binary.Uvarint(s)
		if n <= 0 || size > uint64(len(s)-n) {
			return fmt.Errorf("export trie: node at %d: bad terminal size", off)
		}
		if size > 0 {
			if err := checkTerminal(s[n : n+int(size)]); err != nil {
				return fmt.Errorf("export trie: %q: %w", prefix, err)
			}
			out[string(prefix)] = true
		}
		s = s[n+int(size):]
		if len(s) == 0 {
			return fmt.Errorf("export trie: node at %d has no child count", off)
		}
		children := int(s[0])
		s = s[1:]
		for range children {
			label, rest, ok := bytes.Cut(s, []byte{0})
			if !ok {
				return fmt.Errorf("export trie: node at %d: an edge label is not NUL-terminated", off)
			}
			if len(label) == 0 {
				return fmt.Errorf("export trie: node at %d: an empty edge label", off)
			}
			child, n := binary.Uvarint(rest)
			if n <= 0 {
				return fmt.Errorf("export trie: node at %d: bad child offset", off)
			}
			s = rest[n:]
			if err := walk(child, append(prefix[:len(prefix):len(prefix)], label...)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(0, nil); err != nil {
		return nil, err
	}
	return out, nil
}

// checkTerminal reads a terminal's export information: flags, then a
// re-export's ordinal and name, or an address (and a resolver's).
func checkTerminal(t []byte) error {
	flags, n := binary.Uvarint(t)
	if n <= 0 {
		return errors.New("bad flags")
	}
	t = t[n:]
	if flags&exportReexport != 0 {
		if _, n = binary.Uvarint(t); n <= 0 {
			return errors.New("bad re-export ordinal")
		}
		if bytes.IndexByte(t[n:], 0) < 0 {
			return errors.New("re-export name is not NUL-terminated")
		}
		return nil
	}
	if _, n = binary.Uvarint(t); n <= 0 {
		return errors.New("bad address")
	}
	if flags&exportStubAndResolver != 0 {
		if _, m := binary.Uvarint(t[n:]); m <= 0 {
			return errors.New("bad resolver address")
		}
	}
	return nil
}
