// Package sqlite holds what the binary's SQLite files share.
package sqlite

import "strings"

// DSN is the go-sqlite3 URI of the file at path with the given parameters
// ("_journal_mode=WAL", "mode=ro", …). Characters that end the path part
// of a URI are escaped, so any file name works.
func DSN(path string, params ...string) string {
	escaped := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + escaped + "?" + strings.Join(params, "&")
}
