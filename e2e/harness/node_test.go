package harness

import (
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	line := "4242 (dream (serve) x) S 4200 4242 4200 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 9 0 100 2000000 7000 18446744073709551615\n"
	s, err := ParseProcStat([]byte(line))
	if err != nil || s.State != 'S' || s.PPID != 4200 || s.CPU != 3250*time.Millisecond {
		t.Fatalf("%+v, %v; want state S, parent 4200 and 3.25s of CPU", s, err)
	}
	if _, err := ParseProcStat([]byte("4242 (dream) S 1")); err == nil {
		t.Fatal("parsing a truncated stat line gave no error, want it refused")
	}
}
