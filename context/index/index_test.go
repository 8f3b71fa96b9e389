package index

import (
	"testing"

	"github.com/servalhq/serval/context/syntax"
)

func TestIndexReplaceAndLookup(t *testing.T) {
	ix := New()
	ix.SetFile("/w/p/a.go", "go", []syntax.Decl{{Name: "computeTotal", Kind: syntax.KindFunction}, {Name: "compare", Kind: syntax.KindFunction}})
	ix.SetFile("/w/p/b.go", "go", []syntax.Decl{{Name: "computeTax", Kind: syntax.KindFunction}})
	ix.SetFile("/w/q/c.go", "go", []syntax.Decl{{Name: "computeOther", Kind: syntax.KindFunction}})
	if got := len(ix.LookupPrefix("/w/p", "comput", 10)); got != 2 {
		t.Errorf("prefix lookup in /w/p found %d, want 2", got)
	}
	if got := len(ix.LookupPrefix("/w/p", "computeTax", 10)); got != 0 {
		t.Errorf("prefix lookup returned the exact name")
	}
	ix.SetFile("/w/p/a.go", "go", []syntax.Decl{{Name: "renamed", Kind: syntax.KindFunction}})
	if len(ix.Lookup("computeTotal")) != 0 || len(ix.Lookup("renamed")) != 1 {
		t.Error("replacing a file left its old symbols")
	}
	if got := len(ix.LookupPrefix("/w/p", "comput", 10)); got != 1 {
		t.Errorf("after replace, prefix lookup found %d, want 1", got)
	}
	ix.RemoveTree("/w/p")
	if files, syms := ix.Stats(); files != 1 || syms != 1 {
		t.Errorf("after RemoveTree: %d files, %d symbols, want 1, 1", files, syms)
	}
	if len(ix.byDir["/w/p"]) != 0 || len(ix.byName["computeTax"]) != 0 {
		t.Error("RemoveTree left entries behind")
	}
}
