package procstat

import (
	"os"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	// A command name with a space and a ") " in it, as a process may choose.
	st, err := parse("4242 (odd) name) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 3 0 1 2 3\n")
	if err != nil {
		t.Fatal(err)
	}
	if st.PPID != 17 || st.CPU != 2810*time.Millisecond {
		t.Errorf("got %+v, want ppid 17 and 2.81s", st)
	}
	for _, bad := range []string{"", "4242 odd S 1", "1 (x) S 1 2 3", "1 (x) S p 1 1 0 -1 0 0 0 0 0 u s", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 -5 1", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 9223372036854775807 1"} {
		if _, err := parse(bad); err == nil {
			t.Errorf("parse(%q) accepted", bad)
		}
	}
}

func TestReadSelf(t *testing.T) {
	deadline := time.Now().Add(50 * time.Millisecond)
	for n := 0; time.Now().Before(deadline) && n < 1e9; n++ {
	}
	st, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.PPID != os.Getppid() || st.CPU <= 0 {
		t.Errorf("own stat %+v (ppid %d)", st, os.Getppid())
	}
}

func FuzzParse(f *testing.F) {
	f.Add("1 (a) S 0 1 1 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 1 2 3")
	f.Add("1 (a) b) S")
	f.Fuzz(func(t *testing.T, s string) {
		st, err := parse(s)
		if err == nil && (st.PPID < 0 || st.CPU < 0) {
			t.Errorf("parse(%q) = %+v: negative", s, st)
		}
	})
}
