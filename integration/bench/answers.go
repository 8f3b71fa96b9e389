package bench

import (
	"encoding/json"
	"strings"
)

type lspRange struct {
	Start struct{ Line, Character int } `json:"start"`
	End   struct{ Line, Character int } `json:"end"`
}

type suggestionItem struct {
	InsertText json.RawMessage `json:"insertText"`
	Range      *lspRange       `json:"range"`
	TextEdit   *struct {
		NewText string    `json:"newText"`
		Range   *lspRange `json:"range"`
		Insert  *lspRange `json:"insert"`
	} `json:"textEdit"`
	Label string `json:"label"`
}

// suggestionText is the first item of a result as it would read after the
// cursor: an item whose range starts before the cursor repeats what is
// already typed on the line, which is cut off.
func suggestionText(method string, raw json.RawMessage, cursorLine int, linePrefix string) string {
	var items []suggestionItem
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	if raw[0] == '[' {
		_ = json.Unmarshal(raw, &items)
	} else {
		var list struct {
			Items []suggestionItem `json:"items"`
		}
		_ = json.Unmarshal(raw, &list)
		items = list.Items
	}
	if len(items) == 0 {
		return ""
	}
	it := items[0]
	var text string
	var rng *lspRange
	switch {
	case it.TextEdit != nil:
		text = it.TextEdit.NewText
		rng = it.TextEdit.Range
		if rng == nil {
			rng = it.TextEdit.Insert
		}
	case len(it.InsertText) > 0:
		if err := json.Unmarshal(it.InsertText, &text); err != nil {
			var snippet struct {
				Value string `json:"value"`
			}
			_ = json.Unmarshal(it.InsertText, &snippet)
			text = snippet.Value
		}
		rng = it.Range
	case method == methodCompletion:
		text = it.Label
	}
	if rng != nil && rng.Start.Line == cursorLine {
		// Characters from the range start to the cursor are already typed.
		startByte := byteOffsetUTF16(linePrefix, rng.Start.Character)
		already := linePrefix[startByte:]
		if strings.HasPrefix(text, already) {
			text = text[len(already):]
		}
	}
	return text
}

func byteOffsetUTF16(s string, units int) int {
	n := 0
	for i, r := range s {
		if n >= units {
			return i
		}
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return len(s)
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}
