package gather

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Credentials in files users keep in a workspace never become context:
// credential files are excluded by name (even when modified, as git-diff
// snippets, or open in the editor), and a token inside an allowed file is
// redacted from its snippets.
func TestCredentialsNeverReachContext(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	root := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", root, "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q")
	credFiles := map[string]string{
		".npmrc":                      "registry=https://registry.npmjs.org/\n",
		"aws/credentials":             "[default]\nregion = eu-west-1\n",
		"terraform.tfvars":            "region = \"eu-west-1\"\n",
		".pypirc":                     "[pypi]\n",
		"kube/kubeconfig":             "apiVersion: v1\n",
		"ci/gcp-service-account.json": "{}\n",
	}
	for name, content := range credFiles {
		writeFile(t, root, name, content)
	}
	writeFile(t, root, "billing.go", "package shop\n\nfunc invoice() {}\n")
	git("add", ".")
	git("commit", "-q", "-m", "init")
	g := newGatherer(t, root, Config{GitDiffDelay: 20 * time.Millisecond})

	// Each credential file is modified on disk with a line that shares the
	// words of the code at the cursor, so a diff snippet of it would score.
	leaks := map[string]string{
		".npmrc":                      "//registry.npmjs.org/:_authToken=NPMRC-LEAK ledger.appendInvoiceLine(customer, amount)\n",
		"aws/credentials":             "aws_secret_access_key = AWS-LEAK ledger.appendInvoiceLine(customer, amount)\n",
		"terraform.tfvars":            "db_password = \"TFVARS-LEAK\" # ledger.appendInvoiceLine(customer, amount)\n",
		".pypirc":                     "password = PYPIRC-LEAK ledger.appendInvoiceLine(customer, amount)\n",
		"kube/kubeconfig":             "token: KUBE-LEAK ledger.appendInvoiceLine(customer, amount)\n",
		"ci/gcp-service-account.json": "{\"private_key\": \"GCP-LEAK ledger.appendInvoiceLine(customer, amount)\"}\n",
	}
	for name, line := range leaks {
		writeFile(t, root, name, credFiles[name]+line)
	}
	writeFile(t, root, "billing.go", "package shop\n\nfunc invoice() {\n\tledger.appendInvoiceLine(customer, amount)\n}\n")
	// Keys and tool credentials opened in the editor.
	for name, text := range map[string]string{
		".ssh/id_ed25519": "-----BEGIN OPENSSH PRIVATE KEY-----\nSSHKEY-LEAK ledger.appendInvoiceLine(customer, amount)\n",
		".netrc":          "machine example.com login u password NETRC-LEAK ledger.appendInvoiceLine(customer, amount)\n",
		"id_ecdsa":        "ECDSA-LEAK ledger.appendInvoiceLine(customer, amount)\n",
		"web/.npmrc":      "//registry.npmjs.org/:_authToken=WEBNPMRC-LEAK ledger.appendInvoiceLine(customer, amount)\n",
	} {
		p := writeFile(t, root, name, text)
		g.DidOpen("file://"+p, p, "plaintext", []byte(text))
		if _, err := g.Gather(context.Background(), Request{URI: "file://" + p, Offset: 3}); !errors.Is(err, ErrExcluded) {
			t.Errorf("Gather inside %s: err = %v, want ErrExcluded", name, err)
		}
	}
	// An allowed file that holds a token: viewed, so its lines are snippets.
	deploy := filepath.Join(root, "deploy.go")
	deployText := "package shop\n\nfunc publish() {\n\tledger.appendInvoiceLine(customer, amount)\n\tclient := github.New(\"ghp_16C7e42F292c6912E7710c838347Ae178B4a\")\n\tdbPassword := \"Xk29vLq0Zr81\"\n}\n"
	writeFile(t, root, "deploy.go", deployText)
	g.DidOpen("file://"+deploy, deploy, "go", []byte(deployText))
	gather(t, g, "file://"+deploy, 40)

	uri, off := openAt(t, g, filepath.Join(root, "pay.go"), "go", "package shop\n\nfunc pay(customer string, amount int) {\n\tledger.appendInvoiceLine(<|>)\n}\n")
	var all string
	eventually(t, "the git diff of billing.go and the viewed deploy.go become snippets", func() bool {
		res := gather(t, g, uri, off)
		all = ""
		for _, d := range res.Declarations {
			all += d.Filepath + "\n" + d.Body + "\n"
		}
		for _, s := range append(res.ChangedSnippets, res.OpenedSnippets...) {
			all += s.Filepath + "\n" + s.Body + "\n"
		}
		return hasSnippet(res.ChangedSnippets, "func invoice()") && hasSnippet(res.OpenedSnippets, "func publish()")
	})
	for _, leak := range []string{"NPMRC-LEAK", "AWS-LEAK", "TFVARS-LEAK", "PYPIRC-LEAK", "KUBE-LEAK", "GCP-LEAK",
		"SSHKEY-LEAK", "NETRC-LEAK", "ECDSA-LEAK", "WEBNPMRC-LEAK", "ghp_16C7e42F292c6912E7710c838347Ae178B4a", "Xk29vLq0Zr81"} {
		if strings.Contains(all, leak) {
			t.Errorf("context carries %s:\n%s", leak, all)
		}
	}
	if !strings.Contains(all, "github.New(\"[REDACTED]\")") {
		t.Errorf("the token in deploy.go should be redacted in place:\n%s", all)
	}
}

// Users add their own globs to the defaults; they do not replace them.
func TestExtraExcludesAddToDefaults(t *testing.T) {
	root := t.TempDir()
	g := newGatherer(t, root, Config{ExtraExcludes: []string{"*.vault"}})
	for _, name := range []string{"prod.vault", ".npmrc", "id_rsa"} {
		p := writeFile(t, root, name, "x\n")
		g.DidOpen("file://"+p, p, "plaintext", []byte("x\n"))
		if _, err := g.Gather(context.Background(), Request{URI: "file://" + p, Offset: 1}); !errors.Is(err, ErrExcluded) {
			t.Errorf("Gather inside %s: err = %v, want ErrExcluded", name, err)
		}
	}
	if _, err := New(Config{ExtraExcludes: []string{"[bad"}}); err == nil {
		t.Error("a malformed extra glob was accepted")
	}
}
