package prompt

import (
	"slices"
	"strings"
	"testing"
)

func TestBuiltinTemplates(t *testing.T) {
	cases := map[string]string{
		"qwen":          "<|fim_prefix|>P<|fim_suffix|>S<|fim_middle|>",
		"codegemma":     "<|fim_prefix|>P<|fim_suffix|>S<|fim_middle|>",
		"starcoder":     "<fim_prefix>P<fim_suffix>S<fim_middle>",
		"codellama":     "<PRE> P <SUF>S <MID>",
		"deepseek":      "<\uff5cfim\u2581begin\uff5c>P<\uff5cfim\u2581hole\uff5c>S<\uff5cfim\u2581end\uff5c>",
		"codestral":     "[SUFFIX]S[PREFIX]P",
		"starcoder-spm": "<fim_prefix><fim_suffix>S<fim_middle>P",
		"codellama-spm": "<PRE> <SUF>S <MID> P",
		"QWEN":          "<|fim_prefix|>P<|fim_suffix|>S<|fim_middle|>",
	}
	for name, want := range cases {
		tmpl, ok := LookupTemplate(name)
		if !ok {
			t.Fatalf("LookupTemplate(%q) not found", name)
		}
		if got := tmpl.Render("P", "S"); got != want {
			t.Errorf("%s: Render = %q, want %q", name, got, want)
		}
		for _, tok := range tmpl.SpecialTokens {
			if tok == "" {
				t.Errorf("%s: empty special token", name)
			}
		}
		// Every literal piece of the format is made of special tokens.
		for _, p := range tmpl.parts {
			rest := p.literal
			for _, tok := range tmpl.SpecialTokens {
				rest = strings.ReplaceAll(rest, tok, "")
			}
			if strings.TrimSpace(rest) != "" {
				t.Errorf("%s: template piece %q is not made of its special tokens", name, p.literal)
			}
		}
	}
	if _, ok := LookupTemplate("nope"); ok {
		t.Error("LookupTemplate(nope) found something")
	}
}

func TestRenderDoesNotExpandPlaceholdersInUserText(t *testing.T) {
	tmpl, _ := LookupTemplate("qwen")
	got := tmpl.Render("a {suffix} b", "c {prefix} d")
	want := "<|fim_prefix|>a {suffix} b<|fim_suffix|>c {prefix} d<|fim_middle|>"
	if got != want {
		t.Fatalf("Render = %q, want %q", got, want)
	}
}

func TestParseTemplate(t *testing.T) {
	tmpl, err := ParseTemplate("<s>[FIM_PRE]{prefix}[FIM_SUF]{suffix}[FIM_MID]")
	if err != nil {
		t.Fatal(err)
	}
	if got := tmpl.Render("p", "s"); got != "<s>[FIM_PRE]p[FIM_SUF]s[FIM_MID]" {
		t.Errorf("Render = %q", got)
	}
	if tmpl.Name != "custom" || !contains(tmpl.SpecialTokens, "[FIM_MID]") {
		t.Errorf("template = %+v", tmpl)
	}
	if tmpl, err := ParseTemplate("starcoder"); err != nil || tmpl.Name != "starcoder" {
		t.Errorf("ParseTemplate(starcoder) = %v, %v", tmpl.Name, err)
	}
	for _, bad := range []string{"", "llama3", "{prefix} only", "{suffix} only", "{prefix}{prefix}{suffix}"} {
		_, err := ParseTemplate(bad)
		if err == nil {
			t.Errorf("ParseTemplate(%q) succeeded", bad)
			continue
		}
		if !strings.Contains(err.Error(), "{prefix}") && !strings.Contains(err.Error(), "{suffix}") {
			t.Errorf("ParseTemplate(%q) error %q does not say what is needed", bad, err)
		}
	}
}

func TestDetectAndGuessTemplate(t *testing.T) {
	for _, c := range []struct {
		name   string
		tokens []string
		want   string
	}{
		{"", []string{"a", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"}, "qwen"},
		{"", []string{"<fim_prefix>", "<fim_suffix>", "<fim_middle>"}, "starcoder"},
		{"", []string{"▁<PRE>", "▁<SUF>", "▁<MID>"}, "codellama"},
		{"", []string{"<PRE>", "<SUF>", "<MID>"}, "codellama"},
		{"", []string{"<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"}, "deepseek"},
		{"", []string{"[PREFIX]", "[SUFFIX]"}, "codestral"},
		{"", []string{"<|fim_prefix|>", "<|fim_suffix|>"}, ""}, // one marker is not enough
		{"", []string{"<PRE>"}, ""},
		{"Qwen2.5 Coder 0.5B Instruct", nil, "qwen"},
		{"starcoderbase-1b", nil, "starcoder"},
		{"CodeLlama-7b-hf", nil, "codellama"},
		{"Code Llama 7B", nil, "codellama"},
		{"deepseek-coder-1.3b-base", nil, "deepseek"},
		{"Codestral-22B", nil, "codestral"},
		{"Llama-2", []string{"<s>", "</s>"}, ""},
		{"starcoder2", []string{"<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"}, "qwen"}, // the vocabulary wins
	} {
		if got := DetectTemplateName(c.name, func(s string) bool { return slices.Contains(c.tokens, s) }); got != c.want {
			t.Errorf("DetectTemplateName(%q, %v) = %q, want %q", c.name, c.tokens, got, c.want)
		}
	}
	for name, want := range map[string]string{
		"qwen2.5-coder-0.5b-q8_0.gguf": "qwen", "starcoderbase-1B.Q8_0.gguf": "starcoder",
		"codellama-7b.Q8_0.gguf": "codellama", "codegemma-2b.Q8_0.gguf": "qwen",
		"deepseek-coder-1.3b.gguf": "deepseek", "model.gguf": "",
	} {
		if got := GuessTemplateName(name); got != want {
			t.Errorf("GuessTemplateName(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestChooseTemplate(t *testing.T) {
	for _, c := range []struct{ override, registry, detected, want string }{
		{"", "", "", "qwen"},
		{"", "starcoder", "codellama", "starcoder"},
		{"", "", "codellama", "codellama"},
		{"deepseek", "starcoder", "codellama", "deepseek"},
		{"A{prefix}B{suffix}C", "starcoder", "", "custom"},
	} {
		tmpl, err := ChooseTemplate(c.override, c.registry, c.detected)
		if err != nil || tmpl.Name != c.want {
			t.Errorf("ChooseTemplate(%q, %q, %q) = %q, %v; want %q", c.override, c.registry, c.detected, tmpl.Name, err, c.want)
		}
	}
	if _, err := ChooseTemplate("bogus", "qwen", ""); err == nil {
		t.Error("a bad override was accepted")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
