// Package slapdtest starts Debian's OpenLDAP server (slapd) for a test: a
// temporary directory, free loopback ports, a small directory of people and
// groups, and optionally TLS (LDAPS and StartTLS) with a CA made here. It is
// stopped when the test ends. Without slapd the test is skipped, or fails
// when SERVAL_REQUIRE_SLAPD is set (make test installs slapd).
package slapdtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Base is the directory's suffix.
const Base = "dc=example,dc=com"

// The service account the sign-in searches as, and the people.
const (
	ServiceDN       = "cn=serval,ou=services," + Base
	ServicePassword = "service-secret-1"
	AdminsGroup     = "cn=serval-admins,ou=groups," + Base
	UsersGroup      = "cn=serval-users,ou=groups," + Base
)

// People are the directory's users and their passwords: ada (users and
// admins), bob (users), eve (no group).
var People = map[string]string{"ada": "ada-password-1", "bob": "bob-password-1", "eve": "eve-password-1"}

// Server is a running slapd.
type Server struct {
	URL    string // ldap://127.0.0.1:PORT
	LDAPS  string // ldaps://127.0.0.1:PORT, when started with TLS
	CAFile string // the CA that signed the server's certificate (TLS only)
	Dir    string
}

// Start starts slapd; withTLS adds LDAPS and StartTLS.
func Start(t testing.TB, withTLS bool) *Server {
	t.Helper()
	slapd, err := exec.LookPath("slapd")
	if err != nil {
		for _, p := range []string{"/usr/sbin/slapd", "/usr/local/sbin/slapd"} {
			if _, err2 := os.Stat(p); err2 == nil {
				slapd, err = p, nil
				break
			}
		}
	}
	if err != nil {
		if os.Getenv("SERVAL_REQUIRE_SLAPD") != "" {
			t.Fatal("slapd is not installed (apt-get install slapd); SERVAL_REQUIRE_SLAPD is set")
		}
		t.Skip("slapd is not installed (apt-get install slapd)")
	}
	dir := t.TempDir()
	s := &Server{Dir: dir}
	for _, d := range []string{"db", "run"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	conf := fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile %[1]s/run/slapd.pid
%[2]s
database mdb
maxsize 10485760
suffix "%[3]s"
rootdn "cn=root,%[3]s"
rootpw root-secret-unused
directory %[1]s/db
access to attrs=userPassword by self read by anonymous auth by * none
access to * by dn.exact="%[4]s" read by self read by * none
`, dir, tlsConfig(t, s, withTLS), Base, ServiceDN)
	confPath := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	ldif := filepath.Join(dir, "data.ldif")
	if err := os.WriteFile(ldif, []byte(directory()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(filepath.Join(filepath.Dir(slapd), "slapadd"), "-f", confPath, "-l", ldif).CombinedOutput(); err != nil {
		t.Fatalf("slapadd: %v\n%s", err, out)
	}
	port := freePort(t)
	s.URL = fmt.Sprintf("ldap://127.0.0.1:%d", port)
	urls := s.URL + "/"
	if withTLS {
		s.LDAPS = fmt.Sprintf("ldaps://127.0.0.1:%d", freePort(t))
		urls += " " + s.LDAPS + "/"
	}
	cmd := exec.Command(slapd, "-f", confPath, "-h", urls, "-d", "0")
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return s
		}
		select {
		case <-done:
			t.Fatalf("slapd exited: %s", log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("slapd did not listen within 15 s: %s", log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func directory() string {
	var b strings.Builder
	fmt.Fprintf(&b, "dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n", Base)
	for _, ou := range []string{"people", "groups", "services"} {
		fmt.Fprintf(&b, "dn: ou=%s,%s\nobjectClass: organizationalUnit\nou: %s\n\n", ou, Base, ou)
	}
	fmt.Fprintf(&b, "dn: %s\nobjectClass: person\nobjectClass: simpleSecurityObject\ncn: serval\nsn: service\nuserPassword: %s\n\n", ServiceDN, ServicePassword)
	for _, name := range []string{"ada", "bob", "eve"} {
		fmt.Fprintf(&b, "dn: uid=%s,ou=people,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\nmail: %s@example.com\nuserPassword: %s\n\n",
			name, Base, name, name, name, name, People[name])
	}
	fmt.Fprintf(&b, "dn: %s\nobjectClass: groupOfNames\ncn: serval-users\nmember: uid=ada,ou=people,%s\nmember: uid=bob,ou=people,%s\n\n", UsersGroup, Base, Base)
	fmt.Fprintf(&b, "dn: %s\nobjectClass: groupOfNames\ncn: serval-admins\nmember: uid=ada,ou=people,%s\n\n", AdminsGroup, Base)
	return b.String()
}

// tlsConfig makes a CA and a certificate for 127.0.0.1 and returns slapd's TLS lines.
func tlsConfig(t testing.TB, s *Server, withTLS bool) string {
	if !withTLS {
		return ""
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "slapdtest CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(24 * time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(s.Dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	s.CAFile = write("ca.pem", "CERTIFICATE", caDER)
	return fmt.Sprintf("TLSCACertificateFile %s\nTLSCertificateFile %s\nTLSCertificateKeyFile %s\n",
		s.CAFile, write("server.pem", "CERTIFICATE", leafDER), write("server.key", "EC PRIVATE KEY", keyDER))
}
