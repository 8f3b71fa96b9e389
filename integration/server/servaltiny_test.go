package server_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/llamalib"
	"github.com/servalhq/serval/integration/testsupport/servaltest"
	"github.com/servalhq/serval/models"
	"github.com/servalhq/serval/server/api"
)

// TestServalTinyByNameOffline: `serval serve --model serval-tiny` starts on
// the model built into the binary with no network (a proxy that refuses
// everything is set), detects its FIM template, and completes real Go.
func TestServalTinyByNameOffline(t *testing.T) {
	noNet := []string{"HTTPS_PROXY=http://127.0.0.1:1", "HTTP_PROXY=http://127.0.0.1:1"}
	s := servaltest.Start(t, servaltest.Options{Model: "serval-tiny", Env: noNet, Args: []string{"--max-tokens", "16"}})
	if !strings.Contains(s.Logs(), "template qwen") {
		t.Errorf("serval-tiny is not served with the qwen FIM template:\n%s", s.Logs())
	}
	res, err := s.Client.Complete(context.Background(), &api.CompletionRequest{Language: "go", Segments: &api.Segments{
		Prefix: "func (c *Client) Close() error {\n\tif err := c.conn.Close(); err != nil {\n\t\t",
		Suffix: "\n\t}\n\treturn nil\n}\n",
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Choices) == 0 || strings.TrimSpace(res.Choices[0].Text) == "" {
		t.Errorf("no completion inside an error check: %+v", res.Choices)
	}
}

// TestServalTinyTemplateDetectedFromFile: given as a file whose name says
// nothing, the model's FIM template is found from its vocabulary.
func TestServalTinyTemplateDetectedFromFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.gguf")
	if err := os.WriteFile(path, models.ServalTiny(), 0o644); err != nil {
		t.Fatal(err)
	}
	s := servaltest.Start(t, servaltest.Options{Model: path})
	if !strings.Contains(s.Logs(), "template qwen") {
		t.Errorf("template not detected from the vocabulary:\n%s", s.Logs())
	}
}

// serveFails runs `serval serve` on model, which must fail to start, and
// returns what it printed.
func serveFails(t *testing.T, model string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	full := append([]string{"serve", "--model", model, "--host", "127.0.0.1", "--port", "0",
		"--data-dir", t.TempDir(), "--lib-dir", llamalib.Dir(t), "--threads", "1"}, args...)
	cmd := exec.CommandContext(ctx, servaltest.Binary(t), full...)
	cmd.Env = append(os.Environ(), "HTTPS_PROXY=http://127.0.0.1:1", "HTTP_PROXY=http://127.0.0.1:1")
	out, err := cmd.CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("serval serve --model %s did not fail at startup (err %v):\n%s", model, err, out)
	}
	if bytes.Contains(out, []byte("listening on")) {
		t.Fatalf("serval listened on a bad model:\n%s", out)
	}
	return string(out)
}

func writeDerived(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBadModelFilesFailClearly: files derived from serval-tiny that are
// damaged, lack FIM tokens or exceed the machine's memory stop `serval serve`
// at startup with an error that says what is wrong.
func TestBadModelFilesFailClearly(t *testing.T) {
	good := models.ServalTiny()

	t.Run("truncated", func(t *testing.T) {
		out := serveFails(t, writeDerived(t, "model.gguf", good[:len(good)*3/5]))
		if !strings.Contains(out, "not a valid GGUF model file") || !strings.Contains(out, "beyond the end of the file") {
			t.Errorf("output:\n%s", out)
		}
	})

	t.Run("corrupt metadata", func(t *testing.T) {
		b := bytes.Clone(good)
		binary.LittleEndian.PutUint64(b[24:], 1<<40) // the first key's length
		out := serveFails(t, writeDerived(t, "model.gguf", b))
		if !strings.Contains(out, "not a valid GGUF model file") {
			t.Errorf("output:\n%s", out)
		}
	})

	t.Run("no FIM tokens", func(t *testing.T) {
		// The same model with its FIM markers renamed (same lengths, so the
		// file stays valid) and the FIM metadata keys made unknown.
		b := bytes.Clone(good)
		for _, r := range [][2]string{
			{"<|fim_prefix|>", "<|xyz_prefix|>"}, {"<|fim_suffix|>", "<|xyz_suffix|>"},
			{"<|fim_middle|>", "<|xyz_middle|>"}, {"<|fim_pad|>", "<|xyz_pad|>"},
			{"tokenizer.ggml.fim_", "tokenizer.ggml.xyz_"},
		} {
			if !bytes.Contains(b, []byte(r[0])) {
				t.Fatalf("serval-tiny has no %q", r[0])
			}
			b = bytes.ReplaceAll(b, []byte(r[0]), []byte(r[1]))
		}
		out := serveFails(t, writeDerived(t, "model.gguf", b))
		if !strings.Contains(out, "no fill-in-the-middle tokens") || !strings.Contains(out, "--prompt-template") {
			t.Errorf("output:\n%s", out)
		}
	})

	t.Run("larger than memory", func(t *testing.T) {
		// serval-tiny followed by a sparse hole: a file larger than this
		// machine's memory (and swap) that takes no disk space.
		p := writeDerived(t, "model.gguf", good)
		total := meminfoTotal(t)
		if err := os.Truncate(p, int64(2*total)); err != nil {
			t.Skipf("cannot make a sparse file of %d bytes here: %v", 2*total, err)
		}
		out := serveFails(t, p)
		if !strings.Contains(out, "more than the") || !strings.Contains(out, "of memory this machine has available") {
			t.Errorf("output:\n%s", out)
		}
	})
}

// meminfoTotal is MemTotal plus SwapTotal in bytes.
func meminfoTotal(t *testing.T) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Skipf("no /proc/meminfo: %v", err)
	}
	var total uint64
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[0] == "MemTotal:" || f[0] == "SwapTotal:") {
			var kb uint64
			for _, c := range f[1] {
				kb = kb*10 + uint64(c-'0')
			}
			total += kb * 1024
		}
	}
	return total
}

// TestOfflineDefaultModelSaysHowToStart: when `make run`'s default model
// cannot be downloaded, serval says so and how to start on serval-tiny; it
// never switches models by itself.
func TestOfflineDefaultModelSaysHowToStart(t *testing.T) {
	reg := filepath.Join(t.TempDir(), "registry.toml")
	// The default's download URL pointed at a closed loopback port: offline.
	if err := os.WriteFile(reg, []byte("[models.\"Qwen2.5-Coder-0.5B\"]\nurl = \"http://127.0.0.1:1/qwen.gguf\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := serveFails(t, "Qwen2.5-Coder-0.5B", "--registry", reg)
	for _, want := range []string{"downloading it failed", "make run MODEL=serval-tiny", "--model serval-tiny"} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "serval: model serval-tiny") {
		t.Errorf("serval switched to serval-tiny by itself:\n%s", out)
	}
}
