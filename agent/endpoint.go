package agent

import "fmt"

// Where the server endpoint in use came from, so that a "disconnected"
// status and the log can say which setting to change.

// String names the layer as a user knows it.
func (l ConfigLayer) String() string {
	switch l {
	case LayerDefaults:
		return "the default"
	case LayerFile:
		return "the config file"
	case LayerEnv:
		return "SERVAL_ENDPOINT"
	case LayerInitOptions:
		return "the editor's settings (initializationOptions)"
	case LayerClient:
		return "the editor's settings (workspace/didChangeConfiguration)"
	}
	return fmt.Sprintf("layer %d", int(l))
}

// SetFilePath records where the file layer is read from, for messages.
func (s *ConfigStack) SetFilePath(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.filePath = path
}

// EndpointSource returns the layer the effective server endpoint comes from:
// the highest one that sets it.
func (s *ConfigStack) EndpointSource() ConfigLayer {
	s.mu.Lock()
	defer s.mu.Unlock()
	for l := numLayers - 1; l > LayerDefaults; l-- {
		if s.layers[l].Server.Endpoint != "" {
			return l
		}
	}
	return LayerDefaults
}

// describeEndpointSource says where the endpoint came from and how to
// change it: "(the default; set [server] endpoint in ~/.config/serval/agent.toml, ...)".
func (s *ConfigStack) describeEndpointSource() string {
	src := s.EndpointSource()
	s.mu.Lock()
	file := s.filePath
	s.mu.Unlock()
	from := src.String()
	if src == LayerFile && file != "" {
		from = file
	}
	where := "the editor's serval settings (server.endpoint), SERVAL_ENDPOINT"
	if file != "" {
		where += ", or [server] endpoint in " + file
	} else {
		where += ", or [server] endpoint in the agent's config file"
	}
	if src == LayerDefaults {
		return fmt.Sprintf("endpoint: the default; set %s", where)
	}
	return fmt.Sprintf("endpoint from %s; change it in %s", from, where)
}
