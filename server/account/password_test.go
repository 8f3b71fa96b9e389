package account

import (
	"strings"
	"testing"
)

func TestHashAndCheck(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q", h)
	}
	h2, _ := HashPassword("correct horse battery")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	if !CheckPassword(h, "correct horse battery") || CheckPassword(h, "correct horse batterY") || CheckPassword(h, "") {
		t.Fatal("check")
	}
	for _, bad := range []string{"", "$argon2id$", "$argon2i$v=19$m=19456,t=2,p=1$AAAA$AAAA", strings.Replace(h, "m=19456", "m=99999999", 1),
		strings.Replace(h, "v=19", "v=16", 1), h[:len(h)-3] + "!!!"} {
		if CheckPassword(bad, "correct horse battery") {
			t.Errorf("malformed hash %q matched", bad)
		}
	}
	if CheckPasswordOrDummy("", "anything at all") {
		t.Fatal("the dummy hash matched")
	}
}

func TestValidatePassword(t *testing.T) {
	for _, tc := range []struct {
		user, pass string
		ok         bool
	}{
		{"bob", "0123456789", true},
		{"bob", "012345678", false},
		{"bob", "ééééééééé", false},
		{"bob", "éééééééééé", true},
		{"bobbybobby", "BobbyBobby", false},
		{"bob", strings.Repeat("x", 257), false},
	} {
		if err := ValidatePassword(tc.user, tc.pass); (err == nil) != tc.ok {
			t.Errorf("%q/%q: %v", tc.user, tc.pass, err)
		}
	}
}

func FuzzCheckPassword(f *testing.F) {
	h, _ := HashPassword("pw")
	f.Add(h, "pw")
	f.Add("$argon2id$v=19$m=1,t=1,p=1$$", "")
	f.Fuzz(func(t *testing.T, hash, pw string) {
		if len(hash) > 400 {
			return
		}
		CheckPassword(hash, pw) // must not panic or allocate without bound
	})
}
