package replicas

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/servalhq/serval/integration/testsupport/servaltest"
)

// L2 (issue 27) with the real HAProxy and docs/deploy/haproxy.cfg:
// `option forwardfor` adds an
// X-Forwarded-For line of its own after the one a client sent, so a server
// that read only the first line throttled logins by an address the client
// chose. The client here connects from 127.0.0.2 and names a new address in
// its own X-Forwarded-For on every try; serval trusts only 127.0.0.1 (the
// proxy) and must count every try against 127.0.0.2.
func TestHAProxyForwardedForNamesTheClient(t *testing.T) {
	s := servaltest.Start(t, servaltest.Options{Args: []string{"--trusted-proxy", "127.0.0.1/32"}})
	admin := s.SetupAdmin("admin", "correct horse battery")
	port, err := strconv.Atoi(s.URL[strings.LastIndexByte(s.URL, ':')+1:])
	if err != nil {
		t.Fatal(err)
	}
	proxy := startHAProxy(t, []int{port}) // docs/deploy/haproxy.cfg: option forwardfor
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 10 * time.Second}
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{DialContext: dialer.DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer client.CloseIdleConnections()
	counts := map[int]int{}
	for i := range 40 {
		form := url.Values{"username": {fmt.Sprintf("nobody%d", i)}, "password": {"not the password"}}
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, proxy+"/login", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", proxy)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i+1))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		counts[resp.StatusCode]++
	}
	t.Logf("40 wrong logins through HAProxy, each naming its own X-Forwarded-For: %v", counts)
	if counts[http.StatusTooManyRequests] < 5 {
		t.Errorf("answers %v: the address budget (30) refused fewer than 5 of 40", counts)
	}
	status, page := admin.Do(http.MethodGet, "/admin/audit?action=sign-in", nil)
	if status != 200 || !strings.Contains(page, "127.0.0.2") || strings.Contains(page, "198.51.100.") {
		t.Errorf("audit page %d: want the client's address 127.0.0.2, never the ones it named:\n%.3000s", status, page)
	}
}
