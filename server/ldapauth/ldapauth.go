// Package ldapauth owns sign-in against an LDAP directory (OpenLDAP,
// Active Directory): a bind as the service account, a search for the user
// with the typed name escaped into the filter, a bind as the user with the
// typed password, and group membership (allowed group, admin group). TLS is
// LDAPS (ldaps://) or StartTLS, verified against the system's or a given CA;
// a server that refuses TLS is an error, never a fallback to plain text.
package ldapauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Config is the `[auth.ldap]` table of the server's TOML config.
type Config struct {
	// URL is ldap://host:389 (with StartTLS) or ldaps://host:636.
	URL string `toml:"url"`
	// StartTLS upgrades an ldap:// connection before anything is sent.
	StartTLS bool `toml:"start_tls"`
	// CAFile is a PEM file of the CA that signed the server's certificate
	// (default: the system's roots).
	CAFile string `toml:"ca_file"`
	// InsecurePlaintext allows ldap:// without StartTLS: passwords cross
	// the network in clear. Only for a directory on loopback.
	InsecurePlaintext bool `toml:"insecure_plaintext"`
	// BindDN and its password (from a file or the environment) are the
	// service account that searches for users.
	BindDN           string `toml:"bind_dn"`
	BindPasswordFile string `toml:"bind_password_file"`
	BindPasswordEnv  string `toml:"bind_password_env"`
	// BaseDN is where users are searched (subtree).
	BaseDN string `toml:"base_dn"`
	// UserFilter finds one user; "{username}" is replaced by the typed name,
	// escaped (default "(&(objectClass=person)(uid={username}))"; Active
	// Directory: "(&(objectClass=user)(sAMAccountName={username}))").
	UserFilter string `toml:"user_filter"`
	// UsernameAttribute names the account made in Serval (default "uid").
	UsernameAttribute string `toml:"username_attribute"`
	// IDAttribute is the user's stable id (default: the entry's DN;
	// "entryUUID" for OpenLDAP, "objectGUID" for Active Directory).
	IDAttribute    string `toml:"id_attribute"`
	EmailAttribute string `toml:"email_attribute"` // default "mail"
	// GroupBaseDN and GroupFilter find the user's groups: "{dn}" is the
	// user's DN, escaped (default: BaseDN and
	// "(|(&(objectClass=groupOfNames)(member={dn}))(&(objectClass=groupOfUniqueNames)(uniqueMember={dn}))(&(objectClass=group)(member={dn})))").
	GroupBaseDN string `toml:"group_base_dn"`
	GroupFilter string `toml:"group_filter"`
	// AllowedGroup, when set, admits only its members (a group's DN).
	AllowedGroup string `toml:"allowed_group"`
	// AdminGroup, when set, makes its members admins and others not, at every sign-in.
	AdminGroup string `toml:"admin_group"`
	// Timeout bounds the connection and each operation (default 10s).
	Timeout string `toml:"timeout"`
}

const (
	defaultUserFilter  = "(&(objectClass=person)(uid={username}))"
	defaultGroupFilter = "(|(&(objectClass=groupOfNames)(member={dn}))(&(objectClass=groupOfUniqueNames)(uniqueMember={dn}))(&(objectClass=group)(member={dn})))"
	defaultTimeout     = 10 * time.Second
	// maxUsernameLen bounds what is typed into a filter.
	maxUsernameLen = 256
)

// Errors of a sign-in.
var (
	// ErrInvalidCredentials: no such user, a wrong or empty password.
	ErrInvalidCredentials = errors.New("wrong username or password")
	// ErrNotAllowed: the password is right, but the user is not in the allowed group.
	ErrNotAllowed = errors.New("not a member of the allowed group")
	// ErrUnavailable: the directory did not answer, refused TLS or the service bind.
	ErrUnavailable = errors.New("the directory is not answering")
)

// Identity is who signed in.
type Identity struct {
	Issuer   string // "ldap:" and the URL: the directory
	Subject  string // IDAttribute's value, or the DN
	DN       string
	Username string
	Email    string
	Groups   []string // DNs
	Admin    *bool    // nil without AdminGroup
}

// Directory signs people in against one LDAP server. Safe for concurrent
// use: every sign-in has its own connection.
type Directory struct {
	cfg          Config
	bindPassword string
	tls          *tls.Config
	timeout      time.Duration
	host         string
}

// New checks cfg and reads the service account's password and the CA file.
// It does not connect: a directory down at start does not stop the server.
func New(cfg Config, getenv func(string) string) (*Directory, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "" {
		return nil, fmt.Errorf("url %q: want ldap://host[:port] or ldaps://host[:port]", cfg.URL)
	}
	if u.Scheme == "ldap" && !cfg.StartTLS && !cfg.InsecurePlaintext {
		return nil, fmt.Errorf("url %q: ldap:// sends passwords in clear; set start_tls = true, use ldaps://, or (a directory on this host only) insecure_plaintext = true", cfg.URL)
	}
	if u.Scheme == "ldaps" && cfg.StartTLS {
		return nil, errors.New("start_tls is for ldap:// URLs; ldaps:// is TLS already")
	}
	if cfg.BaseDN == "" {
		return nil, errors.New("base_dn is missing")
	}
	if cfg.UserFilter == "" {
		cfg.UserFilter = defaultUserFilter
	}
	if !strings.Contains(cfg.UserFilter, "{username}") {
		return nil, fmt.Errorf("user_filter %q must contain {username}", cfg.UserFilter)
	}
	if cfg.GroupFilter == "" {
		cfg.GroupFilter = defaultGroupFilter
	}
	if cfg.GroupBaseDN == "" {
		cfg.GroupBaseDN = cfg.BaseDN
	}
	if cfg.UsernameAttribute == "" {
		cfg.UsernameAttribute = "uid"
	}
	if cfg.EmailAttribute == "" {
		cfg.EmailAttribute = "mail"
	}
	d := &Directory{cfg: cfg, timeout: defaultTimeout, host: u.Hostname()}
	if cfg.Timeout != "" {
		if d.timeout, err = time.ParseDuration(cfg.Timeout); err != nil || d.timeout <= 0 {
			return nil, fmt.Errorf("timeout %q: a duration such as \"10s\"", cfg.Timeout)
		}
	}
	switch {
	case cfg.BindPasswordFile != "" && cfg.BindPasswordEnv != "":
		return nil, errors.New("give bind_password_file or bind_password_env, not both")
	case cfg.BindPasswordFile != "":
		b, err := os.ReadFile(cfg.BindPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("bind_password_file: %w", err)
		}
		d.bindPassword = strings.TrimRight(string(b), "\r\n")
	case cfg.BindPasswordEnv != "":
		d.bindPassword = getenv(cfg.BindPasswordEnv)
	}
	if cfg.BindDN != "" && d.bindPassword == "" {
		return nil, errors.New("bind_dn needs a password: bind_password_file or bind_password_env (set and not empty)")
	}
	d.tls = &tls.Config{ServerName: d.host, MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", cfg.CAFile)
		}
		d.tls.RootCAs = pool
	}
	return d, nil
}

// Issuer names the directory in account links: "ldap:" and its URL.
func (d *Directory) Issuer() string { return "ldap:" + d.cfg.URL }

// Authenticate checks username and password against the directory.
func (d *Directory) Authenticate(ctx context.Context, username, password string) (Identity, error) {
	// An empty password would be an unauthenticated bind, which servers
	// accept as anonymous: never a sign-in.
	if username == "" || password == "" || len(username) > maxUsernameLen {
		return Identity{}, ErrInvalidCredentials
	}
	conn, err := d.connect(ctx)
	if err != nil {
		return Identity{}, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	if d.cfg.BindDN != "" {
		if err := conn.Bind(d.cfg.BindDN, d.bindPassword); err != nil {
			return Identity{}, fmt.Errorf("%w: the service bind as %s failed: %v", ErrUnavailable, d.cfg.BindDN, err)
		}
	}
	filter := strings.ReplaceAll(d.cfg.UserFilter, "{username}", escape(username))
	attrs := []string{d.cfg.UsernameAttribute, d.cfg.EmailAttribute}
	if d.cfg.IDAttribute != "" {
		attrs = append(attrs, d.cfg.IDAttribute)
	}
	res, err := conn.Search(ldap.NewSearchRequest(d.cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		2, int(d.timeout/time.Second), false, filter, attrs, nil))
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		return Identity{}, d.opError("search for the user", err)
	}
	if res == nil || len(res.Entries) != 1 {
		// None, or a filter matching several: nobody signs in as "someone".
		return Identity{}, ErrInvalidCredentials
	}
	entry := res.Entries[0]
	if err := conn.Bind(entry.DN, password); err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			return Identity{}, ErrInvalidCredentials
		}
		return Identity{}, d.opError("bind as the user", err)
	}
	id := Identity{
		Issuer: d.Issuer(), Subject: entry.DN, DN: entry.DN,
		Username: entry.GetAttributeValue(d.cfg.UsernameAttribute), Email: entry.GetAttributeValue(d.cfg.EmailAttribute),
	}
	if d.cfg.IDAttribute != "" {
		if v := entry.GetRawAttributeValue(d.cfg.IDAttribute); len(v) > 0 {
			id.Subject = d.cfg.IDAttribute + ":" + fmt.Sprintf("%x", v)
		}
	}
	if id.Username == "" {
		id.Username = username
	}
	if d.cfg.AllowedGroup != "" || d.cfg.AdminGroup != "" {
		// Searched as the service account again: the user may not read groups.
		if d.cfg.BindDN != "" {
			if err := conn.Bind(d.cfg.BindDN, d.bindPassword); err != nil {
				return Identity{}, fmt.Errorf("%w: the service bind as %s failed: %v", ErrUnavailable, d.cfg.BindDN, err)
			}
		}
		if id.Groups, err = d.groups(conn, entry.DN); err != nil {
			return Identity{}, err
		}
	}
	if d.cfg.AllowedGroup != "" && !hasDN(id.Groups, d.cfg.AllowedGroup) {
		return id, ErrNotAllowed
	}
	if d.cfg.AdminGroup != "" {
		admin := hasDN(id.Groups, d.cfg.AdminGroup)
		id.Admin = &admin
	}
	return id, nil
}

// connect dials the directory and secures the connection.
func (d *Directory) connect(ctx context.Context) (*ldap.Conn, error) {
	dialer := &net.Dialer{Timeout: d.timeout}
	if dl, ok := ctx.Deadline(); ok {
		dialer.Deadline = dl
	}
	conn, err := ldap.DialURL(d.cfg.URL, ldap.DialWithDialer(dialer), ldap.DialWithTLSConfig(d.tls))
	if err != nil {
		return nil, d.opError("connect", err)
	}
	conn.SetTimeout(d.timeout)
	if d.cfg.StartTLS {
		if err := conn.StartTLS(d.tls); err != nil {
			conn.Close()
			return nil, fmt.Errorf("%w: StartTLS refused or failed at %s (passwords are never sent without TLS): %v", ErrUnavailable, d.cfg.URL, err)
		}
	}
	return conn, nil
}

// groups returns the DNs of the groups that list dn as a member.
func (d *Directory) groups(conn *ldap.Conn, dn string) ([]string, error) {
	filter := strings.ReplaceAll(d.cfg.GroupFilter, "{dn}", escape(dn))
	res, err := conn.Search(ldap.NewSearchRequest(d.cfg.GroupBaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		1000, int(d.timeout/time.Second), false, filter, []string{"dn"}, nil))
	if err != nil {
		return nil, d.opError("search for the user's groups", err)
	}
	out := make([]string, 0, len(res.Entries))
	for _, e := range res.Entries {
		out = append(out, e.DN)
	}
	return out, nil
}

// opError wraps a failed operation as ErrUnavailable, naming it.
func (d *Directory) opError(op string, err error) error {
	return fmt.Errorf("%w: %s at %s: %v", ErrUnavailable, op, d.cfg.URL, err)
}

// hasDN reports whether dns holds dn, compared as DNs (case and spacing
// of attribute names do not matter).
func hasDN(dns []string, dn string) bool {
	want, err := ldap.ParseDN(dn)
	for _, g := range dns {
		if err != nil {
			if strings.EqualFold(g, dn) {
				return true
			}
			continue
		}
		if got, err := ldap.ParseDN(g); err == nil && got.EqualFold(want) {
			return true
		}
	}
	return false
}

// escape makes a typed value a literal in a filter (RFC 4515): '*', '(',
// ')', '\\' and NUL become \\XX escapes.
func escape(v string) string { return ldap.EscapeFilter(v) }
