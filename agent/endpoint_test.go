package agent

import (
	"strings"
	"testing"
)

func TestDescribeEndpointSource(t *testing.T) {
	env := map[string]string{}
	s := NewConfigStack(func(k string) string { return env[k] })
	s.SetFilePath("/home/u/.config/serval/agent.toml")
	if got := s.describeEndpointSource(); !strings.HasPrefix(got, "endpoint: the default; set ") || !strings.Contains(got, "[server] endpoint in /home/u/.config/serval/agent.toml") {
		t.Errorf("default: %q", got)
	}
	var file Config
	file.Server.Endpoint = "http://127.0.0.1:9000"
	s.Set(LayerFile, file)
	if got := s.describeEndpointSource(); !strings.HasPrefix(got, "endpoint from /home/u/.config/serval/agent.toml; change it in ") {
		t.Errorf("file: %q", got)
	}
	var editor Config
	editor.Server.Endpoint = "http://127.0.0.1:9001"
	s.Set(LayerInitOptions, editor)
	if got := s.EndpointSource(); got != LayerInitOptions {
		t.Errorf("source %v, want the editor's", got)
	}
}
