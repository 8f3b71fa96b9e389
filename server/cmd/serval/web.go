package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/servalhq/serval/server/store"
	"github.com/servalhq/serval/server/web"
)

// newWebApp builds the web app `serval serve` mounts at /.
func newWebApp(cfg *serveConfig, proxies []netip.Prefix, st *store.Store, engines *servedEngines, signin *signIn, logger *slog.Logger) (*web.Server, error) {
	status := []web.EngineStatus{{Role: "completion", Engine: engines.completion.Engine}}
	if engines.chat != nil && engines.chat != engines.completion {
		status = append(status, web.EngineStatus{Role: "chat", Engine: engines.chat.Engine})
	}
	return web.New(web.Config{
		Store:            st,
		DataDir:          cfg.dataDir,
		Version:          buildVersion().GitDescribe,
		Engines:          status,
		ChatEnabled:      engines.chat != nil,
		TrustedProxies:   proxies,
		OIDC:             signin.providers,
		LDAP:             signin.ldap,
		PasswordDisabled: signin.passwordDisabled,
		Logger:           logger,
		MaxTokensPerUser: cfg.maxTokensPerUser,
	})
}

// parseTrustedProxies reads --trusted-proxy values: addresses or CIDR prefixes.
func parseTrustedProxies(values []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			if p, err := netip.ParsePrefix(part); err == nil {
				out = append(out, p.Masked())
				continue
			}
			a, err := netip.ParseAddr(part)
			if err != nil {
				return nil, fmt.Errorf("%w: --trusted-proxy %q is not an address or CIDR prefix", errUsage, part)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		}
	}
	return out, nil
}

// setupBaseURL is the address the setup link names: the listening one, with
// a wildcard host replaced by localhost.
func setupBaseURL(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String()
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(tcp.Port))
}
