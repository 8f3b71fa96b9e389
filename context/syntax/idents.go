package syntax

import (
	"bytes"

	sitter "github.com/smacker/go-tree-sitter"
)

// Role says how an identifier near the cursor is used, which decides how
// much its definition is worth to the model.
type Role int

// Roles, most useful first.
const (
	RoleCall     Role = iota // called: f(, x.f(
	RoleType                 // names a type
	RoleSelector             // a field or method after a dot
	RoleOther                // any other use
)

// Ident is an identifier used near the cursor.
type Ident struct {
	Name      string
	StartByte uint32
	Role      Role
}

// identifierTypes are the leaf node types that name something, across the
// grammars in the table.
var identifierTypes = map[string]bool{
	"identifier":                    true,
	"type_identifier":               true,
	"field_identifier":              true,
	"property_identifier":           true,
	"constant":                      true, // Ruby
	"name":                          true, // PHP
	"shorthand_property_identifier": true,
	"namespace_identifier":          true,
}

// IdentifiersNear lists the identifiers in the lines around the cursor:
// from the start of the line lookback lines above the cursor's up to the
// cursor. The identifier the cursor touches comes first, then the others
// from nearest to farthest, each name once.
func IdentifiersNear(root *sitter.Node, src []byte, offset, lookback int) []Ident {
	offset = max(0, min(offset, len(src)))
	from := lineStart(src, offset)
	for range lookback {
		if from == 0 {
			break
		}
		from = lineStart(src, from-1)
	}
	var found []Ident
	// Walk the leaves from the first node ending after from up to the
	// cursor, in document order, with a cursor (Node.Child is O(index)).
	tc := sitter.NewTreeCursor(root)
	defer tc.Close()
	if tc.GoToFirstChildForByte(uint32(from)) < 0 {
		return nil
	}
walk:
	for {
		n := tc.CurrentNode()
		if int(n.StartByte()) > offset {
			break
		}
		if n.ChildCount() > 0 {
			if tc.GoToFirstChildForByte(uint32(from)) >= 0 {
				continue
			}
		} else if identifierTypes[n.Type()] && int(n.EndByte()) <= len(src) {
			found = append(found, Ident{Name: n.Content(src), StartByte: n.StartByte(), Role: roleOf(n)})
		}
		for !tc.GoToNextSibling() {
			if !tc.GoToParent() {
				break walk
			}
		}
	}

	out := make([]Ident, 0, len(found))
	seen := make(map[string]bool, len(found))
	for i := len(found) - 1; i >= 0; i-- {
		id := found[i]
		if seen[id.Name] || len(id.Name) < 2 || bytes.ContainsAny([]byte(id.Name), " \n") {
			continue
		}
		seen[id.Name] = true
		out = append(out, id)
	}
	return out
}

func roleOf(n *sitter.Node) Role {
	p := n.Parent()
	if p == nil {
		return RoleOther
	}
	switch n.Type() {
	case "type_identifier":
		return RoleType
	case "constant":
		if isCall(p) {
			return RoleCall
		}
		return RoleType
	}
	if isCall(p) {
		return RoleCall
	}
	// x.f( : the selector's parent is the call.
	if gp := p.Parent(); gp != nil && isCall(gp) && (n.Type() == "field_identifier" || n.Type() == "property_identifier") {
		return RoleCall
	}
	if n.Type() == "field_identifier" || n.Type() == "property_identifier" {
		return RoleSelector
	}
	return RoleOther
}

func isCall(n *sitter.Node) bool {
	switch n.Type() {
	case "call_expression", "call", "method_invocation", "function_call_expression",
		"member_call_expression", "scoped_call_expression", "new_expression",
		"object_creation_expression", "macro_invocation":
		return true
	}
	return false
}
