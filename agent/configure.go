package agent

import (
	"fmt"
	"maps"
	"net/http"
	"time"

	"github.com/servalhq/serval/server/api"
)

// SetConfigLayer replaces one configuration layer and applies the result.
// A layer that makes the configuration unusable is rejected and the previous
// one kept.
func (a *Agent) SetConfigLayer(layer ConfigLayer, c Config) error {
	a.cfgMu.Lock()
	defer a.cfgMu.Unlock()
	prev := a.cfgStack.Layer(layer)
	if err := a.apply(a.cfgStack.Set(layer, c)); err != nil {
		a.cfgStack.Set(layer, prev)
		return err
	}
	return nil
}

// apply switches to a new effective configuration.
func (a *Agent) apply(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	old := a.cfg.Load()
	a.cfg.Store(&cfg)
	if old == nil || old.Server.Endpoint != cfg.Server.Endpoint || old.Server.Token != cfg.Server.Token ||
		!maps.Equal(old.Server.RequestHeaders, cfg.Server.RequestHeaders) {
		c, err := api.NewClient(cfg.Server.Endpoint, cfg.Server.Token, a.httpc)
		if err != nil {
			return fmt.Errorf("server.endpoint: %w", err)
		}
		c.UserAgent = a.ua
		c.Header = http.Header{}
		for k, v := range cfg.Server.RequestHeaders {
			c.Header.Set(k, v)
		}
		c.Header.Set(api.SessionHeader, a.session)
		a.client.Store(c)
		// The endpoint in use, once every layer is applied, and on each change.
		a.log.Info("server endpoint", "endpoint", cfg.Server.Endpoint, "from", a.cfgStack.EndpointSource().String(), "token set", cfg.Server.Token != "")
		a.kickHealth()
	}
	a.cache.resize(cfg.Completion.Cache.Entries, time.Duration(cfg.Completion.Cache.TTLSec)*time.Second)
	return nil
}
