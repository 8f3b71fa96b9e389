package syntax

import (
	"context"
	"fmt"

	sitter "github.com/smacker/go-tree-sitter"
)

// Document is one open file with its syntax tree, kept current by applying
// each editor edit to the tree and reparsing incrementally, so a keystroke
// costs a reparse of the changed region rather than of the whole file.
// It owns its tree only: each parse borrows a parser from the language's
// pool, so open documents do not each keep a parser's buffers.
// A Document is not safe for concurrent use; its owner serialises access.
type Document struct {
	lang *Language
	tree *sitter.Tree
	text []byte
}

// NewDocument parses text from scratch.
func NewDocument(ctx context.Context, lang *Language, text []byte) (*Document, error) {
	tree, err := lang.parse(ctx, nil, text)
	if err != nil {
		return nil, fmt.Errorf("parse %s document: %w", lang.Name, err)
	}
	return &Document{lang: lang, tree: tree, text: text}, nil
}

// Language is the document's grammar.
func (d *Document) Language() *Language { return d.lang }

// Text is the document's current text. Callers must not modify it.
func (d *Document) Text() []byte { return d.text }

// Root is the root node of the current tree.
func (d *Document) Root() *sitter.Node { return d.tree.RootNode() }

// Tree is the current tree; it stays valid until the next Update or Close.
func (d *Document) Tree() *sitter.Tree { return d.tree }

// Update applies edits (in order, each in the coordinates of the text left by
// the previous one) to the tree and reparses text, the full text after all
// edits, reusing every unchanged subtree of the old tree. Edits that do not
// fit the old text or do not lead to text's length are rejected with an
// error and leave the document unchanged; the caller then uses Replace.
func (d *Document) Update(ctx context.Context, edits []sitter.EditInput, text []byte) error {
	// The edits must chain from the old text's length to the new one's;
	// an edit that does not would leave nodes outside the text.
	n := uint64(len(d.text))
	for _, e := range edits {
		if e.StartIndex > e.OldEndIndex || e.StartIndex > e.NewEndIndex || uint64(e.OldEndIndex) > n {
			return fmt.Errorf("invalid edit %+v for a %d-byte text", e, n)
		}
		n = n - uint64(e.OldEndIndex-e.StartIndex) + uint64(e.NewEndIndex-e.StartIndex)
	}
	if n != uint64(len(text)) {
		return fmt.Errorf("edits lead to a %d-byte text, got %d bytes", n, len(text))
	}
	for _, e := range edits {
		editTree(d.tree, e)
	}
	tree, err := d.lang.parse(ctx, d.tree, text)
	if err != nil {
		return fmt.Errorf("reparse %s document: %w", d.lang.Name, err)
	}
	d.tree.Close()
	d.tree = tree
	d.text = text
	return nil
}

// Replace reparses text from scratch, for a change the editor sent without
// ranges (a full-document sync).
func (d *Document) Replace(ctx context.Context, text []byte) error {
	tree, err := d.lang.parse(ctx, nil, text)
	if err != nil {
		return fmt.Errorf("parse %s document: %w", d.lang.Name, err)
	}
	d.tree.Close()
	d.tree = tree
	d.text = text
	return nil
}

// Close releases the tree.
func (d *Document) Close() {
	d.tree.Close()
}
