package connlimit

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// IPv6 clients are keyed by their /64: one host owns a whole /64.
func TestKey(t *testing.T) {
	for in, want := range map[string]string{
		"2001:db8:1:2::1":     "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::": "2001:db8:1:2::/64",
		"192.0.2.7":           "192.0.2.7",
		"::ffff:192.0.2.7":    "192.0.2.7", // the same client as 192.0.2.7
		"fe80::1%eth0":        "fe80::/64",
		"not an address":      "not an address",
		"":                    "",
	} {
		if got := Key(in); got != want {
			t.Errorf("Key(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzKey: every address of one IPv6 /64 has the same key, other /64s
// another; an IPv4 address keeps its own; no input panics.
func FuzzKey(f *testing.F) {
	for _, s := range []string{"2001:db8::1", "192.0.2.1", "::ffff:10.0.0.1", "::1", "zz", "1.2.3.4.5", "fe80::1%lo"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k := Key(s)
		a, err := netip.ParseAddr(s)
		if err != nil {
			if k != s {
				t.Fatalf("Key(%q) = %q for a non-address", s, k)
			}
			return
		}
		a = a.Unmap().WithZone("")
		if a.Is4() {
			if k != a.String() {
				t.Fatalf("Key(%q) = %q, want %q", s, k, a)
			}
			return
		}
		b := a.As16()
		b[15] ^= 0xff
		b[8] ^= 0x01
		if other := Key(netip.AddrFrom16(b).String()); other != k {
			t.Fatalf("%s and %s are in one /64 but keyed %q and %q", s, netip.AddrFrom16(b), k, other)
		}
		b[7] ^= 0x01
		if other := Key(netip.AddrFrom16(b).String()); other == k {
			t.Fatalf("%s and %s are in different /64s but both keyed %q", s, netip.AddrFrom16(b), k)
		}
	})
}

// serve runs an HTTP server on a loopback listener wrapped with cfg and
// returns it and its address.
func serve(t *testing.T, cfg Config) (*Listener, string) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := Listen(inner, cfg)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }), ReadHeaderTimeout: time.Minute}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln, inner.Addr().String()
}

// dial opens a connection to addr from the loopback address from.
func dial(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// get sends a request on c and returns the answer's status line.
func get(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "error: " + err.Error()
	}
	return strings.TrimSpace(line)
}

// waitOpen waits (up to 5 s) until key holds n connections.
func waitOpen(t *testing.T, ln *Listener, key string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for ln.Open(key) != n {
		select {
		case <-ctx.Done():
			t.Fatalf("%s holds %d connections, want %d", key, ln.Open(key), n)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// One address holds at most PerAddress connections: the next is answered
// 503 with Retry-After and closed; another address is not affected; a
// closed connection gives its place back.
func TestListenerLimitsEachAddress(t *testing.T) {
	ln, addr := serve(t, Config{PerAddress: 3, LimitLoopback: true})
	var held []net.Conn
	for range 3 {
		held = append(held, dial(t, "127.0.0.1", addr)) // idle: no request yet, like a slowloris
	}
	waitOpen(t, ln, "127.0.0.1", 3)
	extra := dial(t, "127.0.0.1", addr)
	extra.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(extra, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	answer, err := io.ReadAll(extra)
	if err != nil {
		t.Fatalf("reading the refusal: %v", err)
	}
	if !strings.HasPrefix(string(answer), "HTTP/1.1 503 ") || !strings.Contains(string(answer), "Retry-After: 5\r\n") {
		t.Errorf("the fourth connection got %q, want a 503 with Retry-After", answer)
	}
	if ln.Refused() != 1 {
		t.Errorf("Refused() = %d, want 1", ln.Refused())
	}
	if got := get(t, dial(t, "127.0.0.2", addr)); got != "HTTP/1.1 200 OK" {
		t.Errorf("another address while 127.0.0.1 is full: %q", got)
	}
	held[0].Close()
	waitOpen(t, ln, "127.0.0.1", 2)
	if got := get(t, dial(t, "127.0.0.1", addr)); got != "HTTP/1.1 200 OK" {
		t.Errorf("after one connection closed: %q", got)
	}
}

// Go's HTTP client, which sends its request (and body) as soon as it has
// connected, reads the refusal as a 503 every time: the connection is not
// reset under it, which it would report as an error, not as a busy server.
func TestRefusalReachesAnHTTPClient(t *testing.T) {
	ln, addr := serve(t, Config{PerAddress: 1, LimitLoopback: true})
	dial(t, "127.0.0.1", addr)
	waitOpen(t, ln, "127.0.0.1", 1)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	body := strings.Repeat(`{"prompt":"x"}`, 2000)
	for i := range 50 {
		resp, err := client.Post("http://"+addr+"/v1/completions", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("request %d: %v; want a 503", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "5" {
			t.Fatalf("request %d: %s, Retry-After %q", i, resp.Status, resp.Header.Get("Retry-After"))
		}
	}
}

// Loopback (unless LimitLoopback) and exempt addresses are never limited,
// nor is anyone with no limit set.
func TestListenerExemptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"loopback", Config{PerAddress: 1}},
		{"exempt prefix", Config{PerAddress: 1, LimitLoopback: true, Exempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}},
		{"no limit", Config{LimitLoopback: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, addr := serve(t, tc.cfg)
			dial(t, "127.0.0.1", addr)
			dial(t, "127.0.0.1", addr)
			if got := get(t, dial(t, "127.0.0.1", addr)); got != "HTTP/1.1 200 OK" {
				t.Errorf("third connection: %q", got)
			}
			if ln.Refused() != 0 || ln.Open("127.0.0.1") != 0 {
				t.Errorf("refused %d, counted %d open", ln.Refused(), ln.Open("127.0.0.1"))
			}
		})
	}
}
