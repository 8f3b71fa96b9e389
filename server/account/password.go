// Package account owns the rules of Serval's accounts that the web app and
// the CLI share: what a password must be, and how it is hashed (argon2id,
// encoded in the PHC string format) and checked in constant time.
package account

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Password rules.
const (
	MinPasswordLen = 10
	MaxPasswordLen = 256 // bytes; argon2 takes any length, this bounds the work a request can ask for
)

// ValidatePassword checks a new password for the account called username.
func ValidatePassword(username, password string) error {
	if utf8.RuneCountInString(password) < MinPasswordLen {
		return fmt.Errorf("password: at least %d characters", MinPasswordLen)
	}
	if len(password) > MaxPasswordLen {
		return fmt.Errorf("password: at most %d bytes", MaxPasswordLen)
	}
	if strings.EqualFold(password, username) {
		return errors.New("password: must not be the username")
	}
	return nil
}

// Argon2id parameters: OWASP's recommended minimum (19 MiB, 2 passes, 1 lane),
// about 20-40 ms on one core, so logins stay cheap for the server and dear for
// a guesser.
const (
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// The cost of new hashes (checks read theirs from the hash).
var (
	argonTime   uint32 = 2
	argonMemory uint32 = 19 * 1024 // KiB
)

// SetHashCostForTests lowers the cost of new hashes so that test suites
// that make many accounts under the race detector stay fast; the hashes are
// still argon2id and are checked the same way. It panics outside a test
// binary, so no server can ever store a cheap hash.
func SetHashCostForTests() {
	if !testing.Testing() {
		panic("account.SetHashCostForTests called outside a test")
	}
	argonTime, argonMemory = 1, 64
}

// HashPassword returns the PHC string of password:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
func HashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// CheckPassword reports whether password matches the PHC string hash. A
// malformed hash never matches.
func CheckPassword(hash, password string) bool {
	var version int
	var mem, passes uint32
	var threads uint8
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &passes, &threads); err != nil {
		return false
	}
	// Bounds keep a tampered row from making a login allocate gigabytes.
	if mem == 0 || mem > 1<<17 || passes == 0 || passes > 10 || threads == 0 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 || len(want) > 128 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, passes, mem, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is checked against when a login names no account, so that an
// unknown username costs the same time as a wrong password.
// Made on first use: hashing at start-up would slow every serval command.
var dummyHash = sync.OnceValue(func() string {
	h, err := HashPassword("serval-no-such-account")
	if err != nil {
		panic(err)
	}
	return h
})

// CheckPasswordOrDummy checks password against hash, or against a dummy hash
// when hash is "" (unknown account), always doing the same work.
func CheckPasswordOrDummy(hash, password string) bool {
	if hash == "" {
		CheckPassword(dummyHash(), password)
		return false
	}
	return CheckPassword(hash, password)
}
