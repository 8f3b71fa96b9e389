package peers_test

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/servalhq/serval/integration/testsupport/peertest"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
)

// The requests llama.vim and llama.vscode send to /infill go to a live
// llama-server and to serval (its API key as serval's Bearer token); the
// answers must have the same fields with the same JSON types, field by
// field, plain, with response_fields, streamed, and for bad input.
func TestInfillMatchesLlamaServer(t *testing.T) {
	model := testModel(t)
	const key = "llama-key-for-the-test"
	ls := peertest.StartLlamaServer(t, model, peertest.LlamaServerOptions{Alias: testModelName, APIKey: key})
	s := servaltest.Start(t, servaltest.Options{Model: model})

	// As llama.vim sends it (autoload/llama.vim, llama#fim).
	const vimRequest = `{"id_slot":0,"input_prefix":"package main\n\nimport \"fmt\"\n\n","input_suffix":"\n}\n",
		"input_extra":[{"filename":"util.go","text":"func sub(a, b int) int {\n\treturn a - b\n}\n"}],
		"prompt":"func main() {\n\tfmt.","n_predict":16,"n_indent":1,"top_k":40,"top_p":0.9,
		"samplers":["top_k","top_p","infill"],"stream":false,"cache_prompt":true,"t_max_prompt_ms":500,"t_max_predict_ms":1000%s}`
	infill := func(url, token, body string) (int, string) {
		resp := postJSON(ctxFor(t, requestBound), t, url+"/infill", token, body)
		return resp.StatusCode, readAll(t, resp)
	}
	compare := func(name, body string) {
		t.Run(name, func(t *testing.T) {
			lcode, lbody := infill(ls.URL, key, body)
			scode, sbody := infill(s.URL, s.Token, body)
			if lcode != 200 || scode != 200 {
				t.Fatalf("llama-server %d %s\nserval %d %s", lcode, lbody, scode, sbody)
			}
			l, sv := decodeObject(t, "llama-server", lbody), decodeObject(t, "serval", sbody)
			// generation_settings dumps llama.cpp's sampler settings; serval
			// has none of them and leaves it out.
			delete(l, "generation_settings")
			compareShapes(t, l, sv)
			if c, _ := sv["content"].(string); c == "" && sv["content"] != nil {
				t.Errorf("serval content empty: %s", sbody)
			}
			if v, ok := sv["stop"]; ok && v != true {
				t.Errorf("serval stop = %v", v)
			}
		})
	}
	compare("llama.vim request", fmt.Sprintf(vimRequest, ""))
	compare("response_fields", fmt.Sprintf(vimRequest, `,"response_fields":["content","timings/prompt_n","timings/predicted_ms","truncated","tokens_cached","no/such/field"]`))
	compare("stop word", fmt.Sprintf(vimRequest, `,"stop":["\n"]`))

	t.Run("streamed", func(t *testing.T) {
		body := strings.Replace(fmt.Sprintf(vimRequest, ""), `"stream":false`, `"stream":true`, 1)
		lcode, lbody := infill(ls.URL, key, body)
		scode, sbody := infill(s.URL, s.Token, body)
		le, se := sseEvents(lbody), sseEvents(sbody)
		if lcode != 200 || scode != 200 || len(le) < 2 || len(se) < 2 {
			t.Fatalf("llama-server %d %d events %s\nserval %d %d events %s", lcode, len(le), lbody, scode, len(se), sbody)
		}
		// The first chunk and the last (the totals) have the same fields.
		compareShapes(t, decodeObject(t, "llama-server chunk", le[0]), decodeObject(t, "serval chunk", se[0]))
		lastL, lastS := decodeObject(t, "llama-server last", le[len(le)-1]), decodeObject(t, "serval last", se[len(se)-1])
		delete(lastL, "generation_settings")
		compareShapes(t, lastL, lastS)
		if lastS["stop"] != true || lastS["content"] != "" {
			t.Errorf("serval's last event: %v", lastS)
		}
		if strings.Contains(sbody, "[DONE]") != strings.Contains(lbody, "[DONE]") {
			t.Errorf("[DONE] differs:\n%s\n%s", lbody, sbody)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		for _, body := range []string{
			`{"input_prefix":"a","input_suffix":"b","input_extra":[{"filename":"x"}]}`,
			`{"input_prefix":"a","input_suffix":"b","input_extra":"nope"}`,
		} {
			lcode, lbody := infill(ls.URL, key, body)
			scode, sbody := infill(s.URL, s.Token, body)
			if lcode != scode {
				t.Errorf("%s: llama-server %d, serval %d", body, lcode, scode)
			}
			compareShapes(t, decodeObject(t, "llama-server", lbody), decodeObject(t, "serval", sbody))
		}
	})

	t.Run("wrong key", func(t *testing.T) {
		lcode, _ := infill(ls.URL, "wrong", fmt.Sprintf(vimRequest, ""))
		scode, _ := infill(s.URL, "wrong", fmt.Sprintf(vimRequest, ""))
		if lcode != 401 || scode != 401 {
			t.Errorf("wrong key: llama-server %d, serval %d; want 401 from both", lcode, scode)
		}
	})
}

// compareShapes reports each field whose presence or JSON type differs.
func compareShapes(t *testing.T, llama, serval map[string]any) {
	t.Helper()
	ls, ss := jsonShape(llama).(map[string]any), jsonShape(serval).(map[string]any)
	keys := map[string]bool{}
	for k := range ls {
		keys[k] = true
	}
	for k := range ss {
		keys[k] = true
	}
	var names []string
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !reflect.DeepEqual(ls[k], ss[k]) {
			t.Errorf("field %q: llama-server %v, serval %v", k, ls[k], ss[k])
		}
	}
}
