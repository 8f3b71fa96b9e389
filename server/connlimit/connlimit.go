// Package connlimit bounds the connections one client address holds open at
// once, so that a slowloris (connections that trickle their headers or body,
// each costing the server a goroutine and its buffers until a read deadline
// cuts it) from one address cannot take every connection the machine has.
// It owns the key by which clients are counted everywhere in the server: an
// IPv4 address as is, an IPv6 one by its /64, since one host is usually
// given a whole /64 and could otherwise change address per connection.
package connlimit

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Key is the client key of addr: an IPv4 (or IPv4-mapped) address as is, an
// IPv6 one by its /64. A string that is not an address is its own key.
func Key(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	return keyOf(a)
}

func keyOf(a netip.Addr) string {
	a = a.Unmap()
	if !a.Is6() {
		return a.String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return a.String()
	}
	return p.String()
}

// refusal is the answer to the first request on a connection turned away.
var refusal = func() []byte {
	body := `{"error":"too many connections from your address: retry later"}` + "\n"
	return fmt.Appendf(nil, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 5\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}()

// Config says whom a Listener limits.
type Config struct {
	// PerAddress is the most connections one client key may hold open;
	// 0 or less: no limit.
	PerAddress int
	// Exempt are addresses never limited: reverse proxies, which carry
	// many users' connections.
	Exempt []netip.Prefix
	// LimitLoopback counts loopback clients too. Off, they are exempt: a
	// local reverse proxy not declared in Exempt would otherwise be limited
	// as one client.
	LimitLoopback bool
	// OnRefuse, when set, is called with the client key of each
	// connection turned away, on the goroutine that accepts: it must not
	// block.
	OnRefuse func(key string)
}

// Listener is a net.Listener that closes, at once, a connection whose
// client key already holds Config.PerAddress open ones.
type Listener struct {
	net.Listener
	cfg      Config
	refused  atomic.Int64
	refusing chan struct{} // a place per refusal being written (refuse)

	mu   sync.Mutex
	open map[string]int
}

// Listen wraps ln. With no limit it still counts nothing and only passes
// connections through.
func Listen(ln net.Listener, cfg Config) *Listener {
	return &Listener{Listener: ln, cfg: cfg, open: map[string]int{}, refusing: make(chan struct{}, maxRefusing)}
}

// Refused is the number of connections turned away so far.
func (l *Listener) Refused() int64 { return l.refused.Load() }

// Accept returns the next connection its client may open.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key, limited := l.keyFor(c.RemoteAddr())
		if !limited {
			return c, nil
		}
		l.mu.Lock()
		ok := l.open[key] < l.cfg.PerAddress
		if ok {
			l.open[key]++
		}
		l.mu.Unlock()
		if ok {
			return &conn{Conn: c, release: func() { l.release(key) }}, nil
		}
		l.refused.Add(1)
		if l.cfg.OnRefuse != nil {
			l.cfg.OnRefuse(key)
		}
		l.refuse(c)
	}
}

// maxRefusing bounds the refusals being written at once; past it a
// connection is closed without one.
const maxRefusing = 64

// refusalLinger bounds how long a refused connection is kept, and
// refusalMaxDrain how much of its request is read, before it is closed (see
// refuse).
const (
	refusalLinger   = time.Second
	refusalMaxDrain = 4 << 20 // the largest request body the server takes
)

// refuse answers c with the refusal and closes it, off the accepting
// goroutine (a client that sends nothing, or advertises no receive window,
// would otherwise hold Accept). The refusal waits for the client's first
// bytes: an HTTP client reads an answer that comes before its request as
// unsolicited and drops the connection with an error instead of reading
// it. After it, a half-close, and the rest of the request is read and
// dropped until the client closes: closing with it unread would reset the
// connection, and the client would report a failed write instead of the
// 503 (net/http closes its own connections the same way). Each refusal ends
// within refusalLinger, and at most maxRefusing run at once; a client that
// sends nothing in that time is closed without one.
func (l *Listener) refuse(c net.Conn) {
	select {
	case l.refusing <- struct{}{}:
		go func() {
			defer func() { <-l.refusing }()
			defer c.Close()
			c.SetDeadline(time.Now().Add(refusalLinger))
			var first [512]byte
			if _, err := c.Read(first[:]); err != nil {
				return
			}
			if _, err := c.Write(refusal); err != nil {
				return
			}
			if cw, ok := c.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
			io.CopyN(io.Discard, c, refusalMaxDrain)
		}()
	default:
		c.Close()
	}
}

// keyFor is the client key of a connection from addr and whether it is
// limited at all.
func (l *Listener) keyFor(addr net.Addr) (string, bool) {
	if l.cfg.PerAddress <= 0 {
		return "", false
	}
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return "", false // a Unix socket: the file's permissions decide who connects
	}
	a, ok := netip.AddrFromSlice(tcp.IP)
	if !ok {
		return "", false
	}
	a = a.Unmap()
	if a.IsLoopback() && !l.cfg.LimitLoopback {
		return "", false
	}
	for _, p := range l.cfg.Exempt {
		if p.Contains(a) {
			return "", false
		}
	}
	return keyOf(a), true
}

func (l *Listener) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key]--; l.open[key] <= 0 {
		delete(l.open, key)
	}
}

// Open is the number of connections key holds open now.
func (l *Listener) Open(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open[key]
}

// conn gives its client's place back once, when closed.
type conn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// CloseWrite half-closes a TCP connection: net/http does so before closing
// one it answered with "Connection: close" while the client may still be
// sending, so that the answer is not lost to a reset.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
