package sqlite

import "testing"

func TestDSN(t *testing.T) {
	for _, tt := range []struct {
		path   string
		params []string
		want   string
	}{
		{"data/dream.db", []string{"mode=ro"}, "file:data/dream.db?mode=ro"},
		{"/tmp/a?b#c%d.db", []string{"_journal_mode=WAL", "_txlock=immediate"}, "file:/tmp/a%3fb%23c%25d.db?_journal_mode=WAL&_txlock=immediate"},
	} {
		if got := DSN(tt.path, tt.params...); got != tt.want {
			t.Errorf("DSN(%q, %q) = %q, want %q", tt.path, tt.params, got, tt.want)
		}
	}
}
