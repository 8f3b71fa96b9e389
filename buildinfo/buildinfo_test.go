package buildinfo

import "testing"

func TestString(t *testing.T) {
	for _, c := range []struct {
		info Info
		want string
	}{
		{Info{Version: "v0.2.0-3-gabcdef1", Commit: "abcdef1234567890", Date: "2026-12-03T08:00:00Z"}, "v0.2.0-3-gabcdef1 (commit abcdef123456, 2026-12-03)"},
		{Info{Version: "devel"}, "devel"},
		{Info{Version: "abc1234", Date: "not a date"}, "abc1234"},
	} {
		if got := c.info.String(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.info, got, c.want)
		}
	}
}

func TestReadUsesStampedValues(t *testing.T) {
	defer func(v, c, d string) { version, commit, date = v, c, d }(version, commit, date)
	version, commit, date = "v1.2.3", "0123456789abcdef", "2026-01-02T03:04:05Z"
	got := Read()
	if got != (Info{Version: "v1.2.3", Commit: "0123456789abcdef", Date: "2026-01-02T03:04:05Z"}) {
		t.Fatalf("Read() = %+v", got)
	}
	version = ""
	if got := Read(); got.Version == "" || got.Version == "v1.2.3" {
		t.Fatalf("unstamped Read() = %+v, want the devel fallback", got)
	}
}
