package main

import (
	"strings"
	"testing"
	"time"
)

func TestLogWriter(t *testing.T) {
	var out lockedBuffer
	l := newLogWriter(&out)
	l.Write([]byte("one\n"))
	l.Write([]byte("two\n"))
	// Out within a flush interval or so, not a line at a time.
	deadline := time.Now().Add(5 * time.Second)
	for out.String() != "one\ntwo\n" {
		if time.Now().After(deadline) {
			t.Fatalf("after 5 s the log stream holds %q, want %q", out.String(), "one\ntwo\n")
		}
		time.Sleep(10 * time.Millisecond)
	}
	l.Write([]byte("three\n"))
	l.Close()
	if got := out.String(); !strings.HasSuffix(got, "three\n") {
		t.Fatalf("after Close the log stream holds %q, want it to end with the last line %q", got, "three\n")
	}
}
